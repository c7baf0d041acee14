"""The researchers' REST API, under ``/api/v1/``.

One class per operation, each with nested ``InputSerializer`` /
``OutputSerializer`` and no logic beyond parsing and calling a service or
selector (HackSoft style). Every project-scoped endpoint resolves the project
through ``project_for_api`` so a project the caller has no role in is a 404.
"""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Count
from django.urls import Resolver404, resolve, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.models import NAME_MAX_LENGTH, ApiToken
from accounts.selectors import tokens_for_user
from accounts.services import TOKEN_MAX_TTL, token_create, token_revoke
from annotate.models import (
    CURATE_ROLES,
    GUIDANCE_KINDS,
    READ_DATA_ROLES,
    Annotation,
    Annotator,
    Item,
    Kind,
    Membership,
    Project,
    Prompt,
    QuestionTarget,
    QuestionType,
    Role,
)
from annotate.selectors import principles_in_use, user_may_create_projects
from annotate.services.annotations import AnnotationInput, annotation_record, annotator_for_model
from annotate.services.assignment import annotator_for_user
from annotate.services.principles import GUIDANCE_MAX_ENTRIES, GUIDANCE_TEXT_MAX
from curation.imports.services import import_create
from curation.models import Job
from curation.projects.services import SETTINGS_FIELDS, project_create, project_update

from .errors import ErrorSerializer, error_response

USERNAME_MAX_LENGTH = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD).max_length
PASSWORD_MAX_LENGTH = 4096


def project_for_owner_api(request, slug: str, denied: str, roles=READ_DATA_ROLES) -> Project:
    """The project if the caller owns it; 403 (``denied``) for another role that
    may read it through the API, 404 for everyone else."""
    membership = (
        Membership.objects.select_related("project")
        .filter(project__slug=slug, user=request.user, role__in=list(set(roles) | {Role.OWNER}))
        .first()
    )
    if membership is None:
        raise NotFound("No such project.")
    if membership.role != Role.OWNER:
        raise PermissionDenied(denied)
    return membership.project


def project_for_api(request, slug: str, roles=READ_DATA_ROLES) -> Project:
    """The project if the caller holds one of ``roles`` in it; 404 otherwise."""
    membership = (
        Membership.objects.select_related("project")
        .filter(project__slug=slug, user=request.user, role__in=list(roles))
        .first()
    )
    if membership is None:
        raise NotFound("No such project.")
    return membership.project


ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="Not authenticated"),
    404: OpenApiResponse(ErrorSerializer, description="No such project (or no role in it)"),
}
OWNER_ERRORS = {**ERRORS, 403: OpenApiResponse(ErrorSerializer, description="Only the project's owners may do this")}


class TokenCreateApi(APIView):
    """Exchange a username and password for a named, expiring API token.

    Tokens are stored hashed (SHA-512); the plain token is shown once, in
    this response. Send it as ``Authorization: Token <token>``. The same
    tokens are listed and revoked on the page ``/account/tokens/`` and by
    ``auth/tokens/``; a password change revokes them all.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema_serializer(component_name="TokenRequest")
    class InputSerializer(serializers.Serializer):
        # Bounded like the user table (and django-axes' varchar(255) log of failed logins)
        username = serializers.CharField(max_length=USERNAME_MAX_LENGTH)
        password = serializers.CharField(max_length=PASSWORD_MAX_LENGTH, style={"input_type": "password"})
        name = serializers.CharField(
            required=False,
            max_length=NAME_MAX_LENGTH,
            default="API login",
            help_text="What will use the token (shown on the tokens page).",
        )
        ttl_hours = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=int(TOKEN_MAX_TTL.total_seconds() // 3600),
            help_text="Lifetime in hours (default DOCKET_API_TOKEN_TTL_HOURS, a week).",
        )

    @extend_schema_serializer(component_name="Token")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(help_text="The token itself: shown once, stored only hashed.")
        id = serializers.UUIDField(help_text="The token's public id (to revoke it).")
        name = serializers.CharField()
        expiry = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer, 400: ErrorSerializer}, auth=[])
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, username=data.validated_data["username"], password=data.validated_data["password"])
        if user is None or not user.is_active:
            return error_response(400, "invalid_credentials", "Wrong username or password.")
        hours = data.validated_data.get("ttl_hours") or settings.DOCKET_API_TOKEN_TTL_HOURS
        instance, token = token_create(user=user, name=data.validated_data["name"], ttl=timedelta(hours=hours))
        body = {"token": token, "id": instance.uuid, "name": instance.name, "expiry": instance.expiry}
        return Response(self.OutputSerializer(body).data, status=201)


class TokenDeleteApi(APIView):
    """Revoke the token used for this request."""

    @extend_schema(request=None, responses={204: None, **ERRORS})
    def post(self, request):
        if isinstance(request.auth, ApiToken):
            token_revoke(user=request.user, token_id=request.auth.uuid)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiTokenOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid")
    prefix = serializers.CharField(source="token_key", help_text="The token's first characters, to tell it apart.")
    current = serializers.SerializerMethodField(help_text="Whether this request was made with this token.")

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created", "last_used_at", "expiry", "current"]

    def get_current(self, token) -> bool:
        auth = self.context.get("auth")
        return isinstance(auth, ApiToken) and auth.pk == token.pk


class TokenListApi(generics.ListAPIView):
    """My API tokens (never the tokens themselves: they are stored hashed), newest first."""

    serializer_class = ApiTokenOutput

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return tokens_for_user(user=self.request.user)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "auth": self.request.auth}


class TokenRevokeApi(APIView):
    """Revoke one of my tokens by its id (404 for anyone else's)."""

    @extend_schema(responses={204: None, **ERRORS})
    def delete(self, request, token_id):
        token_revoke(user=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectOutput(serializers.ModelSerializer):
    principles = serializers.SerializerMethodField(help_text="The names of the principles in use, in order.")
    role = serializers.CharField()
    item_count = serializers.IntegerField()
    annotation_count = serializers.IntegerField()

    class Meta:
        model = Project
        fields = [
            "slug",
            *SETTINGS_FIELDS,
            "principles",
            "role",
            "item_count",
            "annotation_count",
            "created_at",
        ]

    def get_principles(self, project) -> list[str]:
        return [p.name for p in principles_in_use(project)]


def _refuse_unknown(serializer_class, data, problem: str) -> None:
    """A 400 naming the first field of ``data`` that ``serializer_class`` does not take (DRF ignores them)."""
    extra = sorted(set(data) - set(serializer_class().fields)) if isinstance(data, dict) else []
    if extra:
        raise ValidationError({extra[0]: [problem]})


class ProjectSettingsInput(serializers.Serializer):
    """A project's settings (the rules, ranges and field errors are ``project_update``'s)."""

    description = serializers.CharField(required=False, allow_blank=True)
    guidelines = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="Markdown shown to annotators."
    )
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=Kind.choices), required=False, help_text="Kinds of items enabled."
    )
    overlap = serializers.IntegerField(required=False, help_text="Distinct annotators wanted per item.")
    max_overlap = serializers.IntegerField(
        required=False, help_text="Adaptive overlap: most judgments a low-agreement item may get (0 = off)."
    )
    agreement_threshold = serializers.FloatField(
        required=False, help_text="Adaptive overlap: items whose agreement (0-1) is under this get another judgment."
    )
    probe_rate = serializers.FloatField(required=False, help_text="Share (0-0.5) of items repeated as hidden probes.")
    randomize_order = serializers.BooleanField(required=False, help_text="Shuffle response positions per annotator.")
    lease_seconds = serializers.IntegerField(required=False, help_text="How long an item stays reserved.")
    model_name = serializers.CharField(required=False, allow_blank=True, help_text="The model the project's jobs use.")


class GuidanceEntry(serializers.Serializer):
    """One entry of a principle's interpretive guidance."""

    kind = serializers.ChoiceField(
        choices=list(GUIDANCE_KINDS),
        help_text="canon (how to read it), counts (it applies when), excludes (it does not)",
    )
    text = serializers.CharField(max_length=GUIDANCE_TEXT_MAX)


class PrincipleInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    guidance = GuidanceEntry(
        many=True, required=False, default=list, help_text=f"At most {GUIDANCE_MAX_ENTRIES} entries."
    )


class QuestionInput(serializers.Serializer):
    """A custom question's definition (the rules and field errors are ``question_add``'s; docs/questions.md)."""

    key = serializers.CharField(max_length=64, help_text="Lower-case letters, digits and _: the export column.")
    type = serializers.ChoiceField(choices=QuestionType.choices)
    target = serializers.ChoiceField(choices=QuestionTarget.choices, required=False, help_text="Default: item.")
    label = serializers.CharField(max_length=300, help_text="The question as annotators read it.")
    description = serializers.CharField(required=False, allow_blank=True)
    required = serializers.BooleanField(required=False)
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=Kind.choices), required=False, help_text="Default: every kind enabled."
    )
    options = serializers.ListField(
        child=serializers.JSONField(),
        required=False,
        help_text='Single choice / multi-label: names, or {"value", "label", "description", "subcategories": [...]}.',
    )
    scale = serializers.IntegerField(required=False, allow_null=True, help_text="Rating: N points (2-10).")
    low_label = serializers.CharField(required=False, allow_blank=True, max_length=100)
    high_label = serializers.CharField(required=False, allow_blank=True, max_length=100)
    max_length = serializers.IntegerField(required=False, allow_null=True, help_text="Text: most characters.")


def _projects_for(user):
    return (
        Project.objects.filter(memberships__user=user, memberships__role__in=list(READ_DATA_ROLES))
        .annotate(
            item_count=Count("items", distinct=True),
            annotation_count=Count("items__annotations", distinct=True),
        )
        .prefetch_related("principles")
        .order_by("slug")
    )


def _with_roles(projects, user):
    roles = dict(Membership.objects.filter(user=user).values_list("project_id", "role"))
    for project in projects:
        project.role = roles.get(project.pk, "")
    return projects


class ProjectListApi(generics.ListAPIView):
    """Projects the caller can read (owner, curator or researcher); ``POST``
    creates one (staff, or users with the ``add_project`` permission; the
    caller becomes its owner)."""

    serializer_class = ProjectOutput

    @extend_schema_serializer(component_name="ProjectCreateRequest")
    class InputSerializer(ProjectSettingsInput):
        slug = serializers.CharField(max_length=64, help_text="The project's name in URLs; it cannot change.")
        name = serializers.CharField(max_length=200)
        principles = PrincipleInput(many=True, required=False, help_text="Principles, in order.")
        questions = QuestionInput(many=True, required=False, help_text="Custom questions, in order.")

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Project.objects.none()
        return _projects_for(self.request.user)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(_with_roles(page, request.user), many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: ProjectOutput,
            400: ErrorSerializer,
            401: ERRORS[401],
            403: OpenApiResponse(ErrorSerializer, description="Not allowed to create projects"),
        },
    )
    def post(self, request):
        if not user_may_create_projects(request.user):
            raise PermissionDenied("You may not create projects; ask an administrator.")
        _refuse_unknown(self.InputSerializer, request.data, "not a project field")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        principles = [(p["name"], p.get("description", "")) for p in values.pop("principles", [])]
        questions = [dict(q) for q in values.pop("questions", [])]
        project = project_create(**values, principles=principles, questions=questions, user=request.user)
        created = _projects_for(request.user).get(pk=project.pk)
        url = request.build_absolute_uri(reverse("api-project", kwargs={"slug": project.slug}))
        return Response(
            ProjectOutput(_with_roles([created], request.user)[0]).data, status=201, headers={"Location": url}
        )


class ProjectDetailApi(APIView):
    """A project the caller can read; ``PATCH`` changes its settings (owners)."""

    @extend_schema_serializer(component_name="ProjectUpdateRequest")
    class InputSerializer(ProjectSettingsInput):
        name = serializers.CharField(max_length=200, required=False)

    @extend_schema(responses={200: ProjectOutput, **ERRORS})
    def get(self, request, slug):
        project_for_api(request, slug)
        project = _projects_for(request.user).get(slug=slug)
        return Response(ProjectOutput(_with_roles([project], request.user)[0]).data)

    @extend_schema(request=InputSerializer, responses={200: ProjectOutput, 400: ErrorSerializer, **OWNER_ERRORS})
    def patch(self, request, slug):
        project = project_for_owner_api(request, slug, "Only owners change a project's settings.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _refuse_unknown(self.InputSerializer, request.data, "not a setting that can change (the slug cannot)")
        project_update(project=project, user=request.user, **data.validated_data)
        fresh = _projects_for(request.user).get(pk=project.pk)
        return Response(ProjectOutput(_with_roles([fresh], request.user)[0]).data)


class PromptOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid")

    class Meta:
        model = Prompt
        fields = ["id", "messages", "source", "tags", "metadata", "created_at"]


class PromptFilter(django_filters.FilterSet):
    source = django_filters.CharFilter()

    class Meta:
        model = Prompt
        fields = ["source"]


class PromptListApi(generics.ListAPIView):
    """A project's prompts (conversations), oldest first."""

    serializer_class = PromptOutput
    filterset_class = PromptFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Prompt.objects.none()
        project = project_for_api(self.request, self.kwargs["slug"])
        return Prompt.objects.filter(project=project).order_by("id")


class ItemOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid")
    prompt_id = serializers.UUIDField(source="prompt.uuid")
    responses = serializers.SerializerMethodField()

    class Meta:
        model = Item
        fields = [
            "id",
            "kind",
            "external_id",
            "prompt_id",
            "responses",
            "status",
            "annotation_count",
            "excluded",
            "resolution",
            "metadata",
            "created_at",
        ]

    def get_responses(self, item) -> list[dict]:
        return [
            {
                "id": str(link.response.uuid),
                "position": link.position,
                "text": link.response.text,
                "model_name": link.response.model_name,
                "source": link.response.source,
            }
            for link in item.links.all()
        ]


class ItemFilter(django_filters.FilterSet):
    kind = django_filters.CharFilter()
    status = django_filters.CharFilter()
    excluded = django_filters.BooleanFilter()
    since = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Only items created at or after this time (ISO 8601)."
    )

    class Meta:
        model = Item
        fields = ["kind", "status", "excluded"]


class ItemListApi(generics.ListAPIView):
    """A project's items with their responses in canonical order (A = position 0)."""

    serializer_class = ItemOutput
    filterset_class = ItemFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Item.objects.none()
        project = project_for_api(self.request, self.kwargs["slug"])
        return (
            Item.objects.filter(project=project, probe_of__isnull=True, rejudge_of__isnull=True)
            .select_related("prompt")
            .prefetch_related("links__response")
            .order_by("id")
        )


def annotator_public(annotator: Annotator) -> dict:
    """How the API names an annotator: by its opaque id, with the name only
    for judges and imported sources (a person's name or account never
    appears), the same for every endpoint so rows can be joined."""
    return {
        "id": str(annotator.uuid),
        "type": annotator.type,
        "name": annotator.name if annotator.type != Annotator.Type.HUMAN else "",
        "model_name": annotator.model_name,
    }


class AnnotatorRef(serializers.Serializer):
    id = serializers.UUIDField(help_text="Opaque, stable id of the annotator.")
    type = serializers.ChoiceField(choices=Annotator.Type.choices)
    name = serializers.CharField(help_text="Empty for people.")
    model_name = serializers.CharField()


class AnnotationOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid")
    item_id = serializers.UUIDField(source="item.uuid")
    annotator = serializers.SerializerMethodField()
    verdicts = serializers.SerializerMethodField()
    verdict_versions = serializers.SerializerMethodField()
    answers = serializers.SerializerMethodField(
        help_text="Answers to custom questions by key: the typed value, or for a question about each response "
        "an object keyed by response uuid (docs/questions.md)."
    )

    class Meta:
        model = Annotation
        fields = [
            "id",
            "item_id",
            "kind",
            "annotator",
            "choice",
            "strength",
            "ranking",
            "critique",
            "corrected_response",
            "rationale",
            "verdicts",
            "verdict_versions",
            "answers",
            "display_order",
            "time_spent_ms",
            "probabilities",
            "consistent",
            "created_at",
        ]

    @extend_schema_field(AnnotatorRef)
    def get_annotator(self, annotation) -> dict:
        return annotator_public(annotation.annotator)

    def get_verdicts(self, annotation) -> dict:
        return {v.principle.name: v.verdict for v in annotation.verdicts.all()}

    def get_verdict_versions(self, annotation) -> dict[str, int]:
        """Per principle (by its current name), the number of the version its verdict was given under."""
        return {v.principle.name: v.version.number for v in annotation.verdicts.all()}

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_answers(self, annotation) -> dict:
        out: dict = {}
        for answer in annotation.answers.all():
            if answer.response_id is None:
                out[answer.question.key] = answer.value
            else:
                out.setdefault(answer.question.key, {})[str(answer.response.uuid)] = answer.value
        return out


class AnnotationFilter(django_filters.FilterSet):
    kind = django_filters.CharFilter()
    annotator_type = django_filters.CharFilter(field_name="annotator__type")
    item = django_filters.UUIDFilter(field_name="item__uuid")
    since = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Only annotations made at or after this time (ISO 8601)."
    )

    class Meta:
        model = Annotation
        fields = ["kind"]


class AnnotationListApi(generics.ListAPIView):
    """A project's annotations. Human annotators appear by an opaque id only."""

    serializer_class = AnnotationOutput
    filterset_class = AnnotationFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Annotation.objects.none()
        project = project_for_api(self.request, self.kwargs["slug"])
        return (
            Annotation.objects.filter(item__project=project)
            .select_related("item", "annotator")
            .prefetch_related("verdicts__principle", "verdicts__version", "answers__question", "answers__response")
            .order_by("id")
        )


class ImportApi(APIView):
    """Import a JSONL file as a background job (same importer as the CLI and the upload page).

    Answers 202 with the job's URL (body and ``Location``); poll it. All or
    nothing by default: a file with a bad line fails the job, importing
    nothing, and the job's ``result.rejected`` lists each bad line (``line``,
    ``field``, ``message``). With ``skip_invalid=true`` the valid lines are
    imported and the rejected ones listed the same way; all of them are at
    ``/api/v1/jobs/<id>/rejected/`` as JSONL.
    """

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="A JSONL file, one item per line.")
        source_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
        skip_invalid = serializers.BooleanField(
            required=False, default=False, help_text="Import the valid lines and list the rejected ones."
        )

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField(help_text="The import job's id.")
        job = serializers.URLField(help_text="The job's URL: poll it until its status is succeeded or failed.")
        status = serializers.ChoiceField(choices=Job.Status.choices)

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={202: OutputSerializer, 400: ErrorSerializer, **ERRORS},
    )
    def post(self, request, slug):
        project = project_for_api(request, slug, CURATE_ROLES)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        params = {
            "file": values["file"],
            "file_name": values["file"].name,
            "source_name": values["source_name"],
            "skip_invalid": values["skip_invalid"],
        }
        try:
            job = import_create(project=project, user=request.user, params=params)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None
        url = request.build_absolute_uri(reverse("api-job", kwargs={"job_id": job.uuid}))
        out = self.OutputSerializer({"id": job.uuid, "job": url, "status": job.status}).data
        return Response(out, status=202, headers={"Location": url})


class AnnotationCreateApi(APIView):
    """Submit an annotation from an external algorithmic annotator, or as a person.

    With ``annotator``, the annotator is identified by ``annotator.name`` and
    ``annotator.model_name`` and stored like any judge: a model annotator,
    whose labels never take one of the item's human slots nor count towards
    its overlap. Without it, the token's user submits as a person (their own
    ``human`` annotator, the one the annotate page uses): the judgment takes
    one of the item's slots like an imported label (no lease), and the
    project's required questions must be answered (the service's rule,
    ``annotate.services.answers.answers_required``). Stored by
    ``annotate.services.annotations.annotation_record``, like every other
    judgment. The same ``idempotency_key`` (or a second annotation of the
    same item by the same annotator) returns the first one with 200 instead
    of 201; a key this annotator already used for another item is a 409.
    """

    @extend_schema_serializer(component_name="AnnotationSubmission")
    class InputSerializer(serializers.Serializer):
        class AnnotatorInput(serializers.Serializer):
            name = serializers.CharField(max_length=200)
            model_name = serializers.CharField(max_length=500)
            prompt = serializers.CharField(required=False, allow_blank=True, default="")

        annotator = AnnotatorInput(
            required=False,
            allow_null=True,
            default=None,
            help_text="An external algorithmic annotator; leave it out to submit as yourself (a person: the "
            "project's required questions must be answered).",
        )
        idempotency_key = serializers.UUIDField(required=False)
        choice = serializers.CharField(required=False, allow_blank=True, default="")
        strength = serializers.IntegerField(required=False, allow_null=True, default=None)
        ranking = serializers.ListField(
            child=serializers.ListField(child=serializers.UUIDField()), required=False, allow_null=True, default=None
        )
        critique = serializers.CharField(required=False, allow_blank=True, default="")
        corrected_response = serializers.CharField(required=False, allow_blank=True, default="")
        rationale = serializers.CharField(required=False, allow_blank=True, default="")
        verdicts = serializers.DictField(child=serializers.CharField(), required=False, default=dict)
        probabilities = serializers.JSONField(required=False, allow_null=True, default=None)
        answers = serializers.DictField(
            child=serializers.JSONField(),
            required=False,
            default=dict,
            help_text="Answers to the project's custom questions by key: a value, or for a question about each "
            "response an object keyed by response uuid (docs/questions.md).",
        )

    @extend_schema(
        request=InputSerializer,
        responses={
            201: AnnotationOutput,
            200: AnnotationOutput,
            400: ErrorSerializer,
            409: OpenApiResponse(ErrorSerializer, description="The idempotency key was used for another item"),
            **ERRORS,
        },
    )
    def post(self, request, slug, item_id):
        project = project_for_api(request, slug, CURATE_ROLES)
        item = Item.objects.filter(project=project, uuid=item_id).select_related("project").first()
        if item is None:
            raise NotFound("No such item.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        principles = dict(project.principles.filter(retired_at__isnull=True).values_list("name", "pk"))
        unknown = [name for name in values["verdicts"] if name not in principles]
        if unknown:
            return error_response(
                400,
                "invalid",
                f"Invalid input: verdicts: unknown principle {unknown[0]!r}",
                {"verdicts": [f"unknown principle {unknown[0]!r}"]},
            )
        who = values["annotator"]
        # A person's annotator row is theirs whatever comes of this submission (the annotate page makes
        # the same one); an external annotator's is made in the submission's transaction, so a refused
        # submission leaves no new annotator behind.
        person = annotator_for_user(request.user) if who is None else None
        with transaction.atomic():
            annotator = person or annotator_for_model(
                name=who["name"], model_name=who["model_name"], judge_prompt=who["prompt"]
            )
            annotation, created = annotation_record(
                item=item,
                annotator=annotator,
                data=self._input(values, principles),
                idempotency_key=values.get("idempotency_key"),
            )
        return Response(AnnotationOutput(annotation).data, status=201 if created else 200)

    @staticmethod
    def _input(values: dict, principles: dict) -> AnnotationInput:
        return AnnotationInput(
            choice=values["choice"],
            strength=values["strength"],
            ranking=[[str(r) for r in group] for group in values["ranking"]] if values["ranking"] else None,
            critique=values["critique"],
            corrected_response=values["corrected_response"],
            rationale=values["rationale"],
            verdicts={principles[name]: verdict for name, verdict in values["verdicts"].items()},
            probabilities=values["probabilities"],
            metadata={"source": "api"},
            answers=dict(values["answers"]),
        )


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={
            200: inline_serializer(
                "Me", fields={"username": serializers.CharField(), "projects": serializers.DictField()}
            )
        }
    )
    def get(self, request):
        roles = dict(Membership.objects.filter(user=request.user).values_list("project__slug", "role"))
        return Response({"username": request.user.get_username(), "projects": roles})


class ApiRootApi(APIView):
    """``/api/v1/``: where to go from here (in a browser, DRF's browsable API with these links)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: inline_serializer("ApiRoot", fields={"projects": serializers.URLField()})})
    def get(self, request):
        names = {
            "projects": "api-projects",
            "me": "api-me",
            "schema": "api-schema",
            "docs": "api-docs",
        }
        return Response({key: request.build_absolute_uri(reverse(name)) for key, name in names.items()})


class UnknownApi(APIView):
    """Any other path under /api/: a 404 in the API's error shape, not an HTML page."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = None

    def initial(self, request, *args, **kwargs):
        path = request.path_info
        if not path.endswith("/"):
            try:
                slashed = resolve(path + "/")
            except Resolver404:
                slashed = None
            if slashed is not None and slashed.url_name != "api-unknown":
                raise NotFound(f"No such API endpoint; did you mean {path}/ (with the slash)?")
        raise NotFound("No such API endpoint.")
