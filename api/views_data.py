"""Jobs, exports and datasets in the researchers' API.

``POST projects/<slug>/exports/`` queues an export job and answers 202 with
the job's URL (also in ``Location``); ``GET jobs/<uuid>/`` reports its
progress and, once it succeeded, the dataset's URLs; ``GET
datasets/<uuid>/files/<name>`` streams one file of the dataset with its
sha256 as ETag. Everything is scoped by membership: a project, job or
dataset the caller holds no reading role in is a 404.
"""

from __future__ import annotations

from types import SimpleNamespace

import django_filters
from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import CURATE_ROLES, READ_DATA_ROLES, Project
from curation.exports.downloads import dataset_archive_response, dataset_file_response
from curation.exports.selectors import dataset_file_path, datasets_for_project
from curation.exports.services import export_create
from curation.imports.files import rejected_download
from curation.jobs.lifecycle import job_cancel
from curation.jobs.selectors import job_shards_summary
from curation.models import Dataset, Job, JobKind

from .export_options import ExportOptionsSerializer
from .schema import EXPORT_FORMAT_CHOICES
from .views import ERRORS, ErrorSerializer, project_for_api

# Job kinds a researcher may follow; curators and owners see every job of their projects.
RESEARCHER_JOB_KINDS = (JobKind.EXPORT, JobKind.AUDIT)


def _readable_projects(user):
    return Project.objects.filter(memberships__user=user, memberships__role__in=list(READ_DATA_ROLES))


def job_get_for_user(user, job_id) -> Job:
    """The job if the caller may follow it; 404 otherwise (also for jobs of
    other kinds than export/audit when the caller is only a researcher)."""
    job = (
        Job.objects.filter(uuid=job_id, project__in=_readable_projects(user))
        .select_related("project", "dataset")
        .first()
    )
    if job is None:
        raise NotFound("No such job.")
    job.curated_by_caller = job.project.memberships.filter(user=user, role__in=list(CURATE_ROLES)).exists()
    if not job.curated_by_caller and job.kind not in RESEARCHER_JOB_KINDS:
        raise NotFound("No such job.")
    return job


def dataset_get_for_user(user, dataset_id) -> Dataset:
    dataset = (
        Dataset.objects.filter(uuid=dataset_id, project__in=_readable_projects(user))
        .select_related("project", "job")
        .first()
    )
    if dataset is None:
        raise NotFound("No such dataset.")
    return dataset


def _url(request, view: str, **kwargs) -> str:
    return request.build_absolute_uri(reverse(view, kwargs=kwargs))


def _file_url(request, dataset: Dataset, name: str) -> str:
    return _url(request, "api-dataset-file", dataset_id=dataset.uuid, name=name)


def dataset_urls(request, dataset: Dataset) -> dict:
    """The dataset's own URL and one download URL per data file, card and manifest."""
    return {
        "url": _url(request, "api-dataset", dataset_id=dataset.uuid),
        "files": {f["name"]: _file_url(request, dataset, f["name"]) for f in dataset.files},
        "card": _file_url(request, dataset, "README.md"),
        "manifest": _file_url(request, dataset, "manifest.json"),
        "archive": _url(request, "api-dataset-archive", dataset_id=dataset.uuid),
    }


# ----------------------------------------------------------------- jobs


class DatasetLinks(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.URLField()
    files = serializers.DictField(child=serializers.URLField(), help_text="Download URL per data file name.")
    card = serializers.URLField()
    manifest = serializers.URLField()
    archive = serializers.URLField(help_text="The whole dataset as one .tar.")


class JobProgressOutput(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    percent = serializers.IntegerField(min_value=0, max_value=100)


class JobShardsOutput(serializers.Serializer):
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    running = serializers.IntegerField()
    waiting = serializers.IntegerField()
    workers = serializers.ListField(
        child=serializers.CharField(), help_text="host:pid of each live worker holding one."
    )
    reclaimed = serializers.IntegerField(help_text="Shards taken over after their worker stopped.")


class JobOutput(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    url = serializers.SerializerMethodField()
    project = serializers.CharField(source="project.slug")
    kind = serializers.CharField(help_text="generate, judge, encode, audit, synthesize, export or import.")
    status = serializers.ChoiceField(choices=Job.Status.choices)
    progress = serializers.SerializerMethodField()
    shards = serializers.SerializerMethodField(
        help_text="A sharded job's (encode, judge, generate) shards, which any number of workers share; else null."
    )
    message = serializers.CharField()
    result = serializers.JSONField()
    error = serializers.SerializerMethodField()
    dataset = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_url(self, job) -> str:
        return _url(self.context["request"], "api-job", job_id=job.uuid)

    @extend_schema_field(JobProgressOutput)
    def get_progress(self, job) -> dict:
        return {"done": job.progress_done, "total": job.progress_total, "percent": job.percent}

    @extend_schema_field(JobShardsOutput(allow_null=True))
    def get_shards(self, job) -> dict | None:
        return job_shards_summary(job=job)

    def get_error(self, job) -> str:
        """The last line of a failed job's traceback (the exception), else empty."""
        lines = [line for line in (job.error or "").strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""

    @extend_schema_field(DatasetLinks(allow_null=True))
    def get_dataset(self, job) -> dict | None:
        dataset = getattr(job, "dataset", None) if job.status == Job.Status.SUCCEEDED else None
        if dataset is None:
            return None
        return {"id": str(dataset.uuid), **dataset_urls(self.context["request"], dataset)}


class JobDetailApi(APIView):
    """A background job's status and progress; once an export succeeded, the
    URLs of its dataset. Poll until ``status`` is succeeded, failed or cancelled."""

    @extend_schema(responses={200: JobOutput, **ERRORS})
    def get(self, request, job_id):
        job = job_get_for_user(request.user, job_id)
        return Response(JobOutput(job, context={"request": request}).data)


class JobCancelApi(APIView):
    """Cancel a job: a queued one at once, a running one after its current
    batch (poll it). Curators and owners cancel any job of their projects,
    researchers the jobs they started."""

    @extend_schema(
        request=None,
        responses={
            200: JobOutput,
            403: OpenApiResponse(ErrorSerializer, description="A researcher's cancel of someone else's job"),
            **ERRORS,
        },
    )
    def post(self, request, job_id):
        job = job_get_for_user(request.user, job_id)
        if not job.curated_by_caller and job.created_by_id != request.user.pk:
            raise PermissionDenied("Only the job's creator or a curator of the project can cancel it.")
        job = job_cancel(job=job)
        return Response(JobOutput(job, context={"request": request}).data)


class AnyMediaNegotiation(DefaultContentNegotiation):
    """A download answers with the file's own media type whatever ``Accept``
    says; errors are still JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except Exception:
            return renderers[0], renderers[0].media_type


class JobRejectedApi(APIView):
    """The lines an import job rejected, as JSONL: one ``{"line", "field",
    "error", "text"}`` object per line (``text`` is the line as uploaded).
    Curators and owners of the project; 404 when the job rejected nothing."""

    content_negotiation_class = AnyMediaNegotiation

    @extend_schema(responses={(200, "application/jsonl"): OpenApiTypes.BINARY, **ERRORS})
    def get(self, request, job_id):
        job = job_get_for_user(request.user, job_id)
        response = rejected_download(job) if job.kind == JobKind.IMPORT and job.curated_by_caller else None
        if response is None:
            raise NotFound("This job rejected no line.")
        return response


# ----------------------------------------------------------------- exports


class _ExportShape(serializers.Serializer):
    format = serializers.ChoiceField(choices=EXPORT_FORMAT_CHOICES)
    options = serializers.DictField(required=False)


_SHAPE = ("format", "options")


class ExportCreateApi(APIView):
    """Queue an export of the project as a versioned dataset.

    Answers 202 with the job's URL (body and ``Location``); poll it. Options
    (format options, filters, split, ``name``: see ``ExportOptions``) go in
    ``options``, or flat beside ``format``; they are validated before
    anything is queued, and a bad or unknown one is a 400 whose ``fields``
    names it.
    """

    class InputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=EXPORT_FORMAT_CHOICES, help_text="The dataset format (TRL's).")
        options = ExportOptionsSerializer(required=False)

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField(help_text="The export job's id.")
        job = serializers.URLField(help_text="The job's URL: poll it until its status is succeeded.")
        status = serializers.ChoiceField(choices=Job.Status.choices)

    @extend_schema(
        request=InputSerializer,
        responses={202: OutputSerializer, 400: ErrorSerializer, **ERRORS},
    )
    def post(self, request, slug):
        project = project_for_api(request, slug)
        body = request.data if isinstance(request.data, dict) else {}
        # The format and the shape of "options" first; then every option, nested or flat, checked by name.
        shape = _ExportShape(data=body)
        shape.is_valid(raise_exception=True)
        merged = {**shape.validated_data.get("options", {}), **{k: v for k, v in body.items() if k not in _SHAPE}}
        options = ExportOptionsSerializer(data=merged)
        options.is_valid(raise_exception=True)
        job = export_create(
            project=project,
            user=request.user,
            params={"format": shape.validated_data["format"], "options": dict(options.validated_data)},
        )
        url = _url(request, "api-job", job_id=job.uuid)
        out = self.OutputSerializer({"id": job.uuid, "job": url, "status": job.status}).data
        return Response(out, status=202, headers={"Location": url})


# ----------------------------------------------------------------- datasets


class DatasetFileOutput(serializers.Serializer):
    name = serializers.CharField(help_text="Path inside the dataset folder, e.g. data/train-00000-of-00001.jsonl")
    split = serializers.CharField()
    format = serializers.CharField(help_text="File type: jsonl or parquet.")
    rows = serializers.IntegerField()
    bytes = serializers.IntegerField()
    sha256 = serializers.CharField()
    url = serializers.URLField()


class DatasetOutput(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    url = serializers.SerializerMethodField()
    project = serializers.CharField(source="project.slug")
    name = serializers.CharField()
    format = serializers.CharField()
    filters = serializers.JSONField()
    row_count = serializers.IntegerField()
    sha256 = serializers.CharField(
        help_text="sha256 of the data files' sorted 'name  sha256' lines: equal for equal data and options."
    )
    files = serializers.SerializerMethodField()
    card = serializers.SerializerMethodField(help_text="Download URL of the dataset card (README.md).")
    manifest_url = serializers.SerializerMethodField(help_text="Download URL of manifest.json.")
    archive = serializers.SerializerMethodField(help_text="Download URL of the whole dataset as one .tar.")
    manifest = serializers.JSONField()
    job = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_url(self, dataset) -> str:
        return _url(self.context["request"], "api-dataset", dataset_id=dataset.uuid)

    @extend_schema_field(DatasetFileOutput(many=True))
    def get_files(self, dataset) -> list[dict]:
        request = self.context["request"]
        return [
            {
                "name": f.get("name", ""),
                "split": f.get("split", ""),
                "format": f.get("format", ""),
                "rows": f.get("rows", 0),
                "bytes": f.get("bytes", 0),
                "sha256": f.get("sha256", ""),
                "url": _file_url(request, dataset, f.get("name", "")),
            }
            for f in dataset.files
        ]

    def get_card(self, dataset) -> str:
        return _file_url(self.context["request"], dataset, "README.md")

    def get_manifest_url(self, dataset) -> str:
        return _file_url(self.context["request"], dataset, "manifest.json")

    def get_archive(self, dataset) -> str:
        return _url(self.context["request"], "api-dataset-archive", dataset_id=dataset.uuid)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_job(self, dataset) -> str | None:
        if dataset.job is None:
            return None
        return _url(self.context["request"], "api-job", job_id=dataset.job.uuid)


class DatasetFilter(django_filters.FilterSet):
    format = django_filters.CharFilter()

    class Meta:
        model = Dataset
        fields = ["format"]


class FormatIsAFilter(DefaultContentNegotiation):
    """``?format=`` filters datasets by format here instead of choosing a renderer."""

    settings = SimpleNamespace(URL_FORMAT_OVERRIDE=None)


class DatasetListApi(generics.ListAPIView):
    """A project's exported datasets, newest first."""

    content_negotiation_class = FormatIsAFilter
    serializer_class = DatasetOutput
    filterset_class = DatasetFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Dataset.objects.none()
        project = project_for_api(self.request, self.kwargs["slug"])
        return datasets_for_project(project=project).select_related("project")


class DatasetDetailApi(APIView):
    """One dataset: format, filters, row count, files with sha256, manifest, download URLs."""

    @extend_schema(responses={200: DatasetOutput, **ERRORS})
    def get(self, request, dataset_id):
        dataset = dataset_get_for_user(request.user, dataset_id)
        return Response(DatasetOutput(dataset, context={"request": request}).data)


class DatasetFileApi(APIView):
    """Download one file of a dataset (streamed): a data file listed in
    ``files``, ``README.md`` (the card) or ``manifest.json``. The ETag is the
    file's sha256; ``If-None-Match`` with it answers 304."""

    content_negotiation_class = AnyMediaNegotiation

    @extend_schema(
        responses={
            (200, "application/jsonl"): OpenApiTypes.BINARY,
            (200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY,
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/markdown"): OpenApiTypes.BINARY,
            304: OpenApiResponse(description="Not modified (If-None-Match matched the ETag)"),
            401: OpenApiResponse(ErrorSerializer, description="Not authenticated"),
            404: OpenApiResponse(ErrorSerializer, description="No such dataset or file"),
        },
    )
    def get(self, request, dataset_id, name):
        dataset = dataset_get_for_user(request.user, dataset_id)
        try:
            path = dataset_file_path(dataset=dataset, name=name)
        except Http404 as exc:
            raise NotFound("No such file in this dataset.") from exc
        return dataset_file_response(request, dataset=dataset, path=path, name=name)


class DatasetArchiveApi(APIView):
    """The whole dataset as one ``.tar`` (streamed): a folder named after the
    dataset holding its data files, ``README.md`` and ``manifest.json``. The
    ETag is stable; ``If-None-Match`` with it answers 304."""

    content_negotiation_class = AnyMediaNegotiation

    @extend_schema(
        responses={
            (200, "application/x-tar"): OpenApiTypes.BINARY,
            304: OpenApiResponse(description="Not modified (If-None-Match matched the ETag)"),
            401: OpenApiResponse(ErrorSerializer, description="Not authenticated"),
            404: OpenApiResponse(ErrorSerializer, description="No such dataset, or one of its files is missing"),
        },
    )
    def get(self, request, dataset_id):
        dataset = dataset_get_for_user(request.user, dataset_id)
        try:
            return dataset_archive_response(request, dataset=dataset)
        except Http404 as exc:
            raise NotFound("A file of this dataset is missing.") from exc
