"""Setting up a project through the API: its principles (list, add, edit,
reorder, retire), its custom questions (list, add, edit: a new version, retire) and its members (list, add, change a role, remove), over
the services the pages and ``manage.py create_project`` use
(``curation.projects.services``). Creating a project and changing its
settings are ``POST /projects/`` and ``PATCH /projects/<slug>/`` (``api.views``).

Reading: principles by anyone who reads the project through the API (owner,
curator, researcher), members by owners and curators; every change by owners
(another member who may read gets 403, everyone else 404).
"""

from __future__ import annotations

from django.db import models
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import CURATE_ROLES, Membership, Principle, Question, Role
from curation.projects.questions import question_add, question_definition, question_retire, question_update
from curation.projects.selectors import principles_with_verdicts
from curation.projects.services import (
    membership_add,
    membership_remove,
    membership_set_role,
    principle_add,
    principle_reorder,
    principle_retire,
    principle_update,
)

from .views import (
    ERRORS,
    OWNER_ERRORS,
    ErrorSerializer,
    GuidanceEntry,
    PrincipleInput,
    QuestionInput,
    _refuse_unknown,
    project_for_api,
    project_for_owner_api,
)

ONLY_OWNERS_PRINCIPLES = "Only owners change principles."
ONLY_OWNERS_MEMBERS = "Only owners change members."
ONLY_OWNERS_QUESTIONS = "Only owners change questions."


class PrincipleVersionOutput(serializers.Serializer):
    number = serializers.IntegerField(help_text="1, 2, …: each change of wording is the next version.")
    name = serializers.CharField()
    description = serializers.CharField()
    guidance = GuidanceEntry(many=True)
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    verdict_count = serializers.IntegerField(help_text="Verdicts given under this version.")


class PrincipleOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    guidance = GuidanceEntry(many=True, help_text="Interpretive guidance: canons and worked examples.")
    version = serializers.IntegerField(
        source="current_version.number", allow_null=True, default=None, help_text="The current version's number."
    )
    versions = PrincipleVersionOutput(many=True, source="version_list", help_text="Every version, newest first.")
    position = serializers.IntegerField(help_text="Place in the list (0 first); retired principles come last.")
    retired = serializers.BooleanField(help_text="Retired: no longer asked about; its past verdicts stay.")
    retired_at = serializers.DateTimeField(allow_null=True)
    verdict_count = serializers.IntegerField(help_text="Verdicts given on this principle so far.")


def _principle_out(principle: Principle) -> dict:
    return PrincipleOutput(principle).data


def _principle_of(project, principle_id: int) -> Principle:
    principle = Principle.objects.filter(project=project, pk=principle_id).first()
    if principle is None:
        raise NotFound("No such principle.")
    return principle


def _with_count(project, pk: int) -> Principle:
    return next(p for p in principles_with_verdicts(project=project) if p.pk == pk)


class PrincipleListApi(APIView):
    """A project's principles, in use first in their order, then the retired;
    ``POST`` adds one at the end (owners)."""

    @extend_schema(responses={200: PrincipleOutput(many=True), **ERRORS})
    def get(self, request, slug):
        project = project_for_api(request, slug)
        return Response([_principle_out(p) for p in principles_with_verdicts(project=project)])

    @extend_schema(request=PrincipleInput, responses={201: PrincipleOutput, 400: ErrorSerializer, **OWNER_ERRORS})
    def post(self, request, slug):
        project = project_for_owner_api(request, slug, ONLY_OWNERS_PRINCIPLES)
        data = PrincipleInput(data=request.data)
        data.is_valid(raise_exception=True)
        principle = principle_add(project=project, user=request.user, **data.validated_data)
        return Response(_principle_out(_with_count(project, principle.pk)), status=201)


class PrincipleUpdateApi(APIView):
    """Change a principle's wording (owners): its name, description or interpretive
    guidance. A change is a new version; verdicts keep the version they were given under."""

    @extend_schema_serializer(component_name="PrincipleUpdateRequest")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, required=False)
        description = serializers.CharField(required=False, allow_blank=True)
        guidance = GuidanceEntry(many=True, required=False, help_text="Replaces the guidance; [] removes it.")

    @extend_schema(request=InputSerializer, responses={200: PrincipleOutput, 400: ErrorSerializer, **OWNER_ERRORS})
    def patch(self, request, slug, principle_id):
        project = project_for_owner_api(request, slug, ONLY_OWNERS_PRINCIPLES)
        principle = _principle_of(project, principle_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        principle_update(principle=principle, user=request.user, **data.validated_data)
        return Response(_principle_out(_with_count(project, principle.pk)))


class PrincipleRetireApi(APIView):
    """Retire a principle (owners): annotators and judges are no longer asked
    about it, its past verdicts stay. ``{"retired": false}`` brings it back at
    the end of the list."""

    @extend_schema_serializer(component_name="PrincipleRetireRequest")
    class InputSerializer(serializers.Serializer):
        retired = serializers.BooleanField(required=False, default=True)

    @extend_schema(request=InputSerializer, responses={200: PrincipleOutput, 400: ErrorSerializer, **OWNER_ERRORS})
    def post(self, request, slug, principle_id):
        project = project_for_owner_api(request, slug, ONLY_OWNERS_PRINCIPLES)
        principle = _principle_of(project, principle_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        principle_retire(principle=principle, retired=data.validated_data["retired"], user=request.user)
        return Response(_principle_out(_with_count(project, principle.pk)))


class PrincipleOrderApi(APIView):
    """Put the principles in use in a new order (owners): every one's id, exactly once."""

    @extend_schema_serializer(component_name="PrincipleOrderRequest")
    class InputSerializer(serializers.Serializer):
        order = serializers.ListField(child=serializers.IntegerField(), help_text="Principle ids, first to last.")

    @extend_schema(
        request=InputSerializer, responses={200: PrincipleOutput(many=True), 400: ErrorSerializer, **OWNER_ERRORS}
    )
    def post(self, request, slug):
        project = project_for_owner_api(request, slug, ONLY_OWNERS_PRINCIPLES)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        principle_reorder(project=project, order=data.validated_data["order"], user=request.user)
        return Response([_principle_out(p) for p in principles_with_verdicts(project=project)])


class QuestionOutput(serializers.Serializer):
    """A question's current definition (what ``POST`` takes back) and where it stands."""

    key = serializers.CharField()
    type = serializers.CharField()
    target = serializers.CharField()
    version = serializers.IntegerField(help_text="The current version (answers record theirs).")
    label = serializers.CharField()
    description = serializers.CharField()
    required = serializers.BooleanField()
    kinds = serializers.ListField(child=serializers.CharField())
    options = serializers.ListField(child=serializers.JSONField(), required=False)
    scale = serializers.IntegerField(required=False, allow_null=True)
    low_label = serializers.CharField(required=False)
    high_label = serializers.CharField(required=False)
    max_length = serializers.IntegerField(required=False, allow_null=True)
    retired = serializers.BooleanField()
    answer_count = serializers.IntegerField(help_text="Answers given so far (all versions).")


def _questions_out(project, key: str | None = None) -> list[dict]:
    rows = (
        Question.objects.filter(project=project, **({"key": key} if key else {}))
        .select_related("current")
        .annotate(answer_count=models.Count("answers"))
        .order_by(models.F("retired_at").asc(nulls_first=True), "position", "id")
    )
    return [QuestionOutput({**question_definition(q), "answer_count": q.answer_count}).data for q in rows]


def _question_of(project, key: str) -> Question:
    question = Question.objects.select_related("current").filter(project=project, key=key).first()
    if question is None:
        raise NotFound("No such question.")
    return question


class QuestionListApi(APIView):
    """A project's custom questions, in use first in their order, then the
    retired; ``POST`` adds one at the end (owners)."""

    @extend_schema(responses={200: QuestionOutput(many=True), **ERRORS})
    def get(self, request, slug):
        return Response(_questions_out(project_for_api(request, slug)))

    @extend_schema(request=QuestionInput, responses={201: QuestionOutput, 400: ErrorSerializer, **OWNER_ERRORS})
    def post(self, request, slug):
        project = project_for_owner_api(request, slug, ONLY_OWNERS_QUESTIONS)
        _refuse_unknown(QuestionInput, request.data, "not a question field")
        data = QuestionInput(data=request.data)
        data.is_valid(raise_exception=True)
        question = question_add(project=project, spec=dict(data.validated_data), user=request.user)
        return Response(_questions_out(project, question.key)[0], status=201)


class QuestionUpdateApi(APIView):
    """Change a question's wording, options, scale, required flag or kinds
    (owners): the next version; its key, type and target stay."""

    @extend_schema_serializer(component_name="QuestionUpdateRequest")
    class InputSerializer(QuestionInput):
        key = serializers.CharField(max_length=64, required=False)
        type = serializers.CharField(required=False)
        label = serializers.CharField(max_length=300, required=False)

    @extend_schema(request=InputSerializer, responses={200: QuestionOutput, 400: ErrorSerializer, **OWNER_ERRORS})
    def patch(self, request, slug, key):
        project = project_for_owner_api(request, slug, ONLY_OWNERS_QUESTIONS)
        question = _question_of(project, key)
        _refuse_unknown(self.InputSerializer, request.data, "not a question field")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        question_update(question=question, spec=dict(data.validated_data), user=request.user)
        return Response(_questions_out(project, key)[0])


class QuestionRetireApi(APIView):
    """Retire a question (owners): no longer asked, its answers stay.
    ``{"retired": false}`` asks it again, at the end of the list."""

    @extend_schema_serializer(component_name="QuestionRetireRequest")
    class InputSerializer(serializers.Serializer):
        retired = serializers.BooleanField(required=False, default=True)

    @extend_schema(request=InputSerializer, responses={200: QuestionOutput, 400: ErrorSerializer, **OWNER_ERRORS})
    def post(self, request, slug, key):
        project = project_for_owner_api(request, slug, ONLY_OWNERS_QUESTIONS)
        question = _question_of(project, key)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        question_retire(question=question, retired=data.validated_data["retired"], user=request.user)
        return Response(_questions_out(project, key)[0])


class MemberOutput(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Role.choices)
    since = serializers.DateTimeField(source="created_at")


def _members(project):
    return Membership.objects.filter(project=project).select_related("user").order_by("user__username")


class MemberListApi(APIView):
    """A project's members and their roles (owners and curators); ``POST`` adds
    an existing user with a role (owners)."""

    @extend_schema_serializer(component_name="MemberAddRequest")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(responses={200: MemberOutput(many=True), **ERRORS})
    def get(self, request, slug):
        project = project_for_api(request, slug, CURATE_ROLES)
        return Response(MemberOutput(_members(project), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: MemberOutput, 400: ErrorSerializer, **OWNER_ERRORS})
    def post(self, request, slug):
        project = project_for_owner_api(request, slug, ONLY_OWNERS_MEMBERS, roles=CURATE_ROLES)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_add(project=project, by=request.user, **data.validated_data)
        return Response(MemberOutput(membership).data, status=201)


class MemberDetailApi(APIView):
    """Change a member's role, or remove them (owners; a project keeps at least one owner)."""

    @extend_schema_serializer(component_name="MemberRoleRequest")
    class InputSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=Role.choices)

    def _project(self, request, slug, username):
        project = project_for_owner_api(request, slug, ONLY_OWNERS_MEMBERS, roles=CURATE_ROLES)
        if not Membership.objects.filter(project=project, user__username=username).exists():
            raise NotFound("No such member.")
        return project

    @extend_schema(request=InputSerializer, responses={200: MemberOutput, 400: ErrorSerializer, **OWNER_ERRORS})
    def patch(self, request, slug, username):
        project = self._project(request, slug, username)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_set_role(
            project=project, username=username, role=data.validated_data["role"], by=request.user
        )
        return Response(MemberOutput(membership).data)

    @extend_schema(
        request=None,
        responses={204: OpenApiResponse(description="Removed"), 400: ErrorSerializer, **OWNER_ERRORS},
    )
    def delete(self, request, slug, username):
        project = self._project(request, slug, username)
        membership_remove(project=project, username=username, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
