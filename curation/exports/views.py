"""The datasets pages, ``/p/<slug>/datasets/`` (namespace ``datasets``): researchers,
curators and owners of the project; annotators and outsiders get 404.

* the list: the export form (every option of ``EXPORT_OPTIONS``, with a live
  count of the rows the current options keep, computed by the export job's
  own code through ``export_preview``; htmx asks for it, debounced, as the
  form changes) and the project's datasets;
* POST launches the export through ``export_create`` and goes to the job's
  progress page (polled with htmx, HTTP 286 once it ended);
* a dataset: manifest, removals per filter, files with size and sha256, the
  downloads (one file, or everything as one ``.tar``) and copy-paste snippets
  for ``datasets.load_dataset`` and the Python client.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from annotate.models import CURATE_ROLES, READ_DATA_ROLES
from annotate.selectors import project_get_for_user
from curation.exports.downloads import dataset_archive_response, dataset_file_response
from curation.exports.forms import ExportForm
from curation.exports.presenters import count_removals, dataset_snippets, manifest_removals
from curation.exports.runner import export_preview
from curation.exports.selectors import dataset_file_path, datasets_for_project
from curation.exports.services import export_create
from curation.jobs.selectors import jobs_recent
from curation.jobs.views import form_errors_add, polled
from curation.models import Dataset, Job, JobKind

DATASETS_LISTED = 100


def _reader(request, slug: str):
    project, role = project_get_for_user(request.user, slug, READ_DATA_ROLES)
    return project, role in CURATE_ROLES


def _principles(project) -> list[str]:
    """The project's principle names (retired ones too: their verdicts stay), for ``drop_split_principle``."""
    return list(project.principles.order_by("position", "id").values_list("name", flat=True))


def _dataset(request, slug: str, dataset_uuid) -> Dataset:
    project, _ = _reader(request, slug)
    dataset = (
        Dataset.objects.filter(project=project, uuid=dataset_uuid)
        .select_related("project", "job", "created_by")
        .first()
    )
    if dataset is None:
        raise Http404("No such dataset")
    return dataset


@login_required
@require_http_methods(["GET", "POST"])
def dataset_list(request, slug):
    project, can_curate = _reader(request, slug)
    status = 200
    if request.method == "POST":
        form = ExportForm(request.POST, principles=_principles(project))
        if form.is_valid():
            try:
                with transaction.atomic():
                    job = export_create(project=project, user=request.user, params=form.params())
            except ValidationError as error:
                form_errors_add(form, error)
            else:
                return redirect("datasets:job", slug=project.slug, job_uuid=job.uuid)
        status = 422
    else:
        form = ExportForm(principles=_principles(project))
    context = {
        "project": project,
        "form": form,
        "can_curate": can_curate,
        "datasets": datasets_for_project(project=project)[:DATASETS_LISTED],
        "running": jobs_recent(project=project, limit=5, kinds=[JobKind.EXPORT]),
    }
    return render(request, "curation/datasets/list.html", context, status=status)


@login_required
@require_GET
def export_count_view(request, slug):
    """The live count (the ``count`` partial): what the options in the query string would keep
    (the defaults when it names no format: a bare link counts the default export)."""
    project, _ = _reader(request, slug)
    count = None
    if "format" in request.GET:
        form = ExportForm(request.GET)
        params = form.params() if form.is_valid() else None
    else:
        form = ExportForm()
        params = {"format": form.fields["format"].initial, "options": {}}
    if params is not None:
        try:
            count = export_preview(project=project, fmt=params["format"], options=params["options"])
        except ValidationError as error:
            form_errors_add(form, error)
    context = {"project": project, "form": form, "count": count, "removals": count_removals(count) if count else []}
    return render(request, "curation/datasets/list.html#count", context, status=200 if count else 422)


@login_required
@require_GET
def export_job(request, slug, job_uuid):
    project, can_curate = _reader(request, slug)
    job = Job.objects.filter(project=project, uuid=job_uuid, kind=JobKind.EXPORT).select_related("created_by").first()
    if job is None:
        raise Http404("No such export")
    dataset = Dataset.objects.filter(job=job).first() if job.status == Job.Status.SUCCEEDED else None
    context = {"project": project, "job": job, "dataset": dataset, "can_curate": can_curate}
    return polled(request, job, "curation/datasets/job.html", context)


@login_required
@require_GET
def dataset_detail(request, slug, dataset_uuid):
    dataset = _dataset(request, slug, dataset_uuid)
    context = {
        "project": dataset.project,
        "dataset": dataset,
        "removals": manifest_removals(dataset.manifest),
        "snippets": dataset_snippets(request, dataset=dataset),
        "settings_json": dataset.manifest.get("export_settings") or dataset.filters,
    }
    return render(request, "curation/datasets/detail.html", context)


@login_required
@require_GET
def dataset_file(request, slug, dataset_uuid, name):
    dataset = _dataset(request, slug, dataset_uuid)
    path = dataset_file_path(dataset=dataset, name=name)
    return dataset_file_response(request, dataset=dataset, path=path, name=name)


@login_required
@require_GET
def dataset_archive(request, slug, dataset_uuid):
    return dataset_archive_response(request, dataset=_dataset(request, slug, dataset_uuid))
