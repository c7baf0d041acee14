"""Audit summaries in the researchers' API: the project's latest audit
(project-level figures), its per-item rows (filterable, sortable by
disagreement or ln CHES), its per-principle agreement (how ambiguous each
principle is, docs/algorithms.md#principle-ambiguity) and its per-annotator rows (annotators by opaque id,
as everywhere in the API). Reads go through ``curation.audit.selectors``, as
the dashboards' do; the layout is ``curation.audit.summary``."""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Kind, QuestionType, Source
from curation.audit.ambiguity import GROUPS, VERDICT_CODES
from curation.audit.selectors import (
    ANNOTATOR_ORDERS,
    ITEM_ORDERS,
    audit_annotators,
    audit_items,
    audit_latest,
    audit_principle_agreement,
    audit_question_agreement,
)
from curation.models import AnnotatorAudit, Audit, ItemAudit

from .views import ERRORS, AnnotatorRef, annotator_public, project_for_api


def _latest_for(request, slug: str) -> Audit:
    project = project_for_api(request, slug)
    audit = audit_latest(project=project)
    if audit is None:
        raise NotFound("No audit of this project has been run yet; a curator starts one.", code="no_audit")
    return audit


class AuditOutput(serializers.Serializer):
    project = serializers.CharField(source="project.slug")
    created_at = serializers.DateTimeField()
    item_count = serializers.IntegerField()
    annotator_count = serializers.IntegerField()
    summary = serializers.JSONField(help_text="Project-level figures (agreement per kind, discretion, CHES, …).")


class AuditSummaryApi(APIView):
    """The latest audit's project-level summary (404 ``no_audit`` if none yet)."""

    @extend_schema(responses={200: AuditOutput, **ERRORS})
    def get(self, request, slug):
        audit = _latest_for(request, slug)
        audit.item_count = audit.items.count()
        audit.annotator_count = audit.annotators.count()
        return Response(AuditOutput(audit).data)


class ItemResponseOutput(serializers.Serializer):
    id = serializers.UUIDField(source="response.uuid")
    position = serializers.IntegerField(help_text="0 = response A (canonical order).")
    text = serializers.CharField(source="response.text")
    model_name = serializers.CharField(source="response.model_name")
    source = serializers.ChoiceField(source="response.source", choices=Source.choices)


class ItemPromptOutput(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    messages = serializers.JSONField(help_text="The conversation: [{role, content}, ...].")


# What ``?expand=`` may add to each audit row.
EXPAND = ("prompt", "responses")


class ItemAuditOutput(serializers.ModelSerializer):
    item_id = serializers.UUIDField(source="item.uuid")
    kind = serializers.CharField(source="item.kind")
    chosen = serializers.UUIDField(source="chosen.uuid", allow_null=True, default=None)
    rejected = serializers.UUIDField(source="rejected.uuid", allow_null=True, default=None)
    prompt = serializers.SerializerMethodField(help_text="The item's prompt with ?expand=prompt, else null.")
    responses = serializers.SerializerMethodField(
        help_text="The item's responses with their texts, in canonical order, with ?expand=responses; else null."
    )

    class Meta:
        model = ItemAudit
        fields = [
            "item_id",
            "kind",
            "n_judgments",
            "majority_share",
            "entropy",
            "disagreement",
            "consensus",
            "chosen",
            "rejected",
            "ches",
            "ln_ches",
            "ches_model",
            "discretion_category",
            "flags",
            "details",
            "prompt",
            "responses",
        ]

    @extend_schema_field(ItemPromptOutput(allow_null=True))
    def get_prompt(self, row) -> dict | None:
        if "prompt" not in self.context.get("expand", ()):
            return None
        return ItemPromptOutput(row.item.prompt).data

    @extend_schema_field(ItemResponseOutput(many=True, allow_null=True))
    def get_responses(self, row) -> list[dict] | None:
        if "responses" not in self.context.get("expand", ()):
            return None
        return ItemResponseOutput(row.item.links.all(), many=True).data


class OrderingChoiceFilter(django_filters.ChoiceFilter):
    """``?ordering=`` with one of the selector's named orders (an unknown one is a 400)."""

    def __init__(self, orders: dict, **kwargs):
        self.orders = orders
        super().__init__(choices=[(key, key) for key in orders], **kwargs)

    def filter(self, qs, value):
        return qs.order_by(*self.orders[value]) if value else qs


class ItemAuditFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(field_name="item__kind", choices=Kind.choices)
    flag = django_filters.CharFilter(method="filter_flag", help_text="Only items carrying this flag.")
    min_disagreement = django_filters.NumberFilter(field_name="disagreement", lookup_expr="gte")
    discretion_category = django_filters.CharFilter()
    ordering = OrderingChoiceFilter(
        ITEM_ORDERS, help_text="Sort key, '-' for descending, missing values last (default -disagreement)."
    )

    class Meta:
        model = ItemAudit
        fields = ["kind", "discretion_category"]

    def filter_flag(self, queryset, name, value):
        return queryset.filter(flags__contains=[value])


class ItemAuditListApi(generics.ListAPIView):
    """Per-item figures of the latest audit, most disagreement first unless ``ordering`` says otherwise.

    ``?expand=responses`` adds each item's responses with their texts (so the
    chosen and rejected of a high-CHES pair need no second request),
    ``?expand=prompt`` its conversation; ``?expand=prompt,responses`` both.
    """

    serializer_class = ItemAuditOutput
    filterset_class = ItemAuditFilter

    def expand(self) -> tuple[str, ...]:
        asked = [part.strip() for part in self.request.query_params.get("expand", "").split(",") if part.strip()]
        unknown = [part for part in asked if part not in EXPAND]
        if unknown:
            raise ValidationError({"expand": [f"unknown expansion {unknown[0]!r}; known: {', '.join(EXPAND)}"]})
        return tuple(asked)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ItemAudit.objects.none()
        rows = audit_items(audit=_latest_for(self.request, self.kwargs["slug"]))
        if "responses" in self.expand():
            rows = rows.prefetch_related("item__links__response")
        return rows

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["expand"] = self.expand()
        return context

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "expand",
                OpenApiTypes.STR,
                description="Comma-separated: responses (texts of the item's responses), prompt (its conversation).",
                enum=["responses", "prompt", "prompt,responses"],
            )
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class AnnotatorAuditOutput(serializers.ModelSerializer):
    annotator = serializers.SerializerMethodField()

    class Meta:
        model = AnnotatorAudit
        fields = [
            "annotator",
            "n_annotations",
            "agreement",
            "kappa",
            "probe_consistency",
            "swap_consistency",
            "transitivity_violations",
            "median_seconds",
            "arbitrariness",
            "outlier",
            "flags",
            "details",
        ]

    @extend_schema_field(AnnotatorRef)
    def get_annotator(self, row) -> dict:
        return annotator_public(row.annotator)


class AnnotatorAuditFilter(django_filters.FilterSet):
    annotator_type = django_filters.CharFilter(field_name="annotator__type")
    outlier = django_filters.BooleanFilter()
    ordering = OrderingChoiceFilter(
        ANNOTATOR_ORDERS, help_text="Sort key (default outlier: outliers first, then lowest agreement)."
    )

    class Meta:
        model = AnnotatorAudit
        fields = ["outlier"]


class AnnotatorAuditListApi(generics.ListAPIView):
    """Per-annotator figures of the latest audit (outliers first); people appear by opaque id only."""

    serializer_class = AnnotatorAuditOutput
    filterset_class = AnnotatorAuditFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AnnotatorAudit.objects.none()
        return audit_annotators(audit=_latest_for(self.request, self.kwargs["slug"]))


class PrincipleRefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SplitItemOutput(serializers.Serializer):
    item = serializers.UUIDField(help_text="The item's id (GET …/audit/items/ has its figures).")
    spread = serializers.FloatField(allow_null=True, help_text="1 − the share of its most frequent verdict.")
    verdicts = serializers.DictField(
        child=serializers.IntegerField(), help_text=f"Verdict ({', '.join(VERDICT_CODES)}) -> how many gave it."
    )


class PrincipleAgreementOutput(serializers.Serializer):
    """One principle's agreement on one kind of item among one group of interpreters."""

    principle = PrincipleRefOutput()
    kind = serializers.ChoiceField(choices=Kind.choices)
    group = serializers.ChoiceField(
        choices=list(GROUPS), help_text="all (every annotator), human, or judge (algorithmic judges)."
    )
    alpha = serializers.FloatField(
        allow_null=True, help_text="Krippendorff's α (nominal) of the verdicts; null when undefined."
    )
    low = serializers.FloatField(allow_null=True, help_text="2.5 % percentile of the bootstrap over the items.")
    high = serializers.FloatField(allow_null=True, help_text="97.5 % percentile of the bootstrap over the items.")
    mean = serializers.FloatField(allow_null=True)
    sd = serializers.FloatField(allow_null=True)
    n_ok = serializers.IntegerField(help_text="Bootstrap replicates where α was defined.")
    split_share = serializers.FloatField(
        allow_null=True, help_text="Share of the items whose verdicts take two or more values."
    )
    n_items = serializers.IntegerField(help_text="Items with verdicts from two or more interpreters.")
    n_verdicts = serializers.IntegerField()
    n_interpreters = serializers.IntegerField()
    reason = serializers.CharField(default="", help_text="Why α is undefined, when it is.")
    top_split = SplitItemOutput(many=True, help_text="The split items with the largest spread (at most 10).")


class AuditPrinciplesApi(APIView):
    """Per-principle agreement of the latest audit: for each principle, kind of
    item and group of interpreters, Krippendorff's α with its bootstrap interval,
    the share of items where interpreters split and the counts; most ambiguous
    (lowest α) first, undefined α last. Empty for an audit run before these
    figures existed (run the audit again)."""

    class FilterSerializer(serializers.Serializer):
        group = serializers.ChoiceField(choices=list(GROUPS), required=False)
        kind = serializers.ChoiceField(choices=Kind.choices, required=False)
        principle = serializers.CharField(required=False, max_length=100, help_text="A principle's name or id.")

    @extend_schema(parameters=[FilterSerializer], responses={200: PrincipleAgreementOutput(many=True), **ERRORS})
    def get(self, request, slug):
        audit = _latest_for(request, slug)
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        entries = audit_principle_agreement(audit=audit, **query.validated_data)
        return Response(PrincipleAgreementOutput(entries, many=True).data)


class QuestionAlphaOutput(serializers.Serializer):
    level = serializers.CharField(help_text="nominal, interval, ordinal, masi or jaccard.")
    n_units = serializers.IntegerField(help_text="Units (items, or responses) answered by two or more voters.")
    alpha = serializers.FloatField(allow_null=True, help_text="Krippendorff's α; null when undefined.")
    low = serializers.FloatField(allow_null=True, default=None, help_text="2.5 % bootstrap percentile (headline α).")
    high = serializers.FloatField(allow_null=True, default=None, help_text="97.5 % bootstrap percentile.")
    n_ok = serializers.IntegerField(allow_null=True, default=None)
    reason = serializers.CharField(default="", help_text="Why α is undefined, when it is.")


class QuestionCategoryOutput(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()
    rate = serializers.FloatField(allow_null=True, help_text="Share of the answers that carry the category.")
    n_labelled = serializers.IntegerField()
    n_answers = serializers.IntegerField()
    alpha = serializers.FloatField(allow_null=True, help_text="α (nominal) of the yes/no 'carries the category'.")


class QuestionAnnotatorOutput(serializers.Serializer):
    annotator = serializers.UUIDField(help_text="Opaque id of the annotator (as in the annotators endpoint).")
    type = serializers.CharField()
    agreement = serializers.FloatField(allow_null=True, help_text="1 − mean distance to the question's consensus.")
    n = serializers.IntegerField(help_text="Answers compared with a consensus.")
    z = serializers.FloatField(allow_null=True, help_text="Leave-one-out z of the agreement (the outlier rule).")
    outlier = serializers.BooleanField()


class QuestionSplitOutput(serializers.Serializer):
    item = serializers.UUIDField()
    response = serializers.UUIDField(allow_null=True, help_text="For questions asked of each response.")
    agreement = serializers.FloatField(allow_null=True)
    answers = serializers.DictField(child=serializers.IntegerField(), help_text="Answer -> voters.")
    consensus = serializers.JSONField(help_text="Option, list of labels or mean rating.")


class QuestionAgreementOutput(serializers.Serializer):
    """One custom question's agreement in the latest audit (docs/algorithms.md#question-agreement)."""

    key = serializers.CharField()
    label = serializers.CharField()
    type = serializers.ChoiceField(choices=QuestionType.choices)
    target = serializers.CharField(help_text="item, or response (asked of each response).")
    retired = serializers.BooleanField()
    n_answers = serializers.IntegerField()
    n_annotators = serializers.IntegerField()
    n_units = serializers.IntegerField(default=0)
    n_votes = serializers.IntegerField(default=0)
    alpha = QuestionAlphaOutput(default=None, allow_null=True,
                                help_text="Headline α: nominal (choice), interval (rating), MASI (multi-label).")  # fmt: skip
    alpha_ordinal = QuestionAlphaOutput(default=None, allow_null=True, help_text="Ratings: α ordinal.")
    alpha_jaccard = QuestionAlphaOutput(default=None, allow_null=True, help_text="Multi-label: α with Jaccard.")
    distribution = serializers.DictField(child=serializers.IntegerField(), default=dict)
    categories = QuestionCategoryOutput(many=True, default=list)
    annotators = QuestionAnnotatorOutput(many=True, default=list)
    outliers = serializers.IntegerField(default=0)
    top_split = QuestionSplitOutput(many=True, default=list, help_text="Units whose answers agree least (10).")
    reason = serializers.CharField(default="", help_text="Free text: no agreement measure.")


class AuditQuestionsApi(APIView):
    """Per-question agreement of the latest audit: for each custom question, Krippendorff's α
    with its bootstrap interval, the answers' distribution, per category the label rate and α
    (multi-label), each annotator's agreement with the consensus (outliers flagged) and the
    units that split most. Empty for an audit run before custom questions were measured."""

    class FilterSerializer(serializers.Serializer):
        question = serializers.SlugField(required=False, max_length=64, help_text="A question's key.")
        type = serializers.ChoiceField(choices=QuestionType.choices, required=False)

    @extend_schema(parameters=[FilterSerializer], responses={200: QuestionAgreementOutput(many=True), **ERRORS})
    def get(self, request, slug):
        audit = _latest_for(request, slug)
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        entries = audit_question_agreement(audit=audit, **query.validated_data)
        return Response(QuestionAgreementOutput(entries, many=True).data)
