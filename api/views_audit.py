"""Audit summaries in the researchers' API: the project's latest completed
audit (project-level figures), its per-item rows (filterable, sortable by
disagreement or ln CHES) and its per-annotator rows (annotators by opaque id,
as everywhere in the API)."""

from __future__ import annotations

import django_filters
from django.db.models import F, Q
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Kind
from curation.models import AnnotatorAudit, Audit, ItemAudit, Job

from .views import ERRORS, AnnotatorRef, annotator_public, project_for_api


def audit_latest(*, project) -> Audit | None:
    """The project's newest audit whose run finished (one still being written,
    or whose job failed, is skipped)."""
    return (
        Audit.objects.filter(project=project)
        .filter(Q(job__isnull=True) | Q(job__status=Job.Status.SUCCEEDED))
        .select_related("job")
        .order_by("-created_at", "-id")
        .first()
    )


def _latest_for(request, slug: str) -> Audit:
    project = project_for_api(request, slug)
    audit = audit_latest(project=project)
    if audit is None:
        raise NotFound("No audit of this project has finished yet; run one from the curator pages.", code="no_audit")
    return audit


class AuditOutput(serializers.Serializer):
    project = serializers.CharField(source="project.slug")
    created_at = serializers.DateTimeField()
    item_count = serializers.IntegerField()
    annotator_count = serializers.IntegerField()
    summary = serializers.JSONField(help_text="Project-level figures (agreement per kind, discretion, CHES, …).")


class AuditSummaryApi(APIView):
    """The latest finished audit's project-level summary (404 ``no_audit`` if none yet)."""

    @extend_schema(responses={200: AuditOutput, **ERRORS})
    def get(self, request, slug):
        audit = _latest_for(request, slug)
        audit.item_count = audit.items.count()
        audit.annotator_count = audit.annotators.count()
        return Response(AuditOutput(audit).data)


class ItemAuditOutput(serializers.ModelSerializer):
    item_id = serializers.UUIDField(source="item.uuid")
    kind = serializers.CharField(source="item.kind")
    chosen = serializers.UUIDField(source="chosen.uuid", allow_null=True, default=None)
    rejected = serializers.UUIDField(source="rejected.uuid", allow_null=True, default=None)

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
        ]


ITEM_ORDERINGS = {
    "disagreement": F("disagreement").asc(nulls_last=True),
    "-disagreement": F("disagreement").desc(nulls_last=True),
    "ln_ches": F("ln_ches").asc(nulls_last=True),
    "-ln_ches": F("ln_ches").desc(nulls_last=True),
}


class ItemAuditFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(field_name="item__kind", choices=Kind.choices)
    flag = django_filters.CharFilter(method="filter_flag", help_text="Only items carrying this flag.")
    min_disagreement = django_filters.NumberFilter(field_name="disagreement", lookup_expr="gte")
    discretion_category = django_filters.CharFilter()
    ordering = django_filters.ChoiceFilter(
        method="order",
        choices=[(key, key) for key in ITEM_ORDERINGS],
        help_text="Sort by disagreement or ln CHES; '-' for descending (missing values last).",
    )

    class Meta:
        model = ItemAudit
        fields = ["kind", "discretion_category"]

    def filter_flag(self, queryset, name, value):
        return queryset.filter(flags__contains=[value])

    def order(self, queryset, name, value):
        return queryset.order_by(ITEM_ORDERINGS[value], "id")


class ItemAuditListApi(generics.ListAPIView):
    """Per-item figures of the latest finished audit."""

    serializer_class = ItemAuditOutput
    filterset_class = ItemAuditFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ItemAudit.objects.none()
        audit = _latest_for(self.request, self.kwargs["slug"])
        # ordered by the itemaudit_disagreement_idx / itemaudit_ln_ches_idx indexes when sorted
        return ItemAudit.objects.filter(audit=audit).select_related("item", "chosen", "rejected").order_by("id")


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
        ]

    @extend_schema_field(AnnotatorRef)
    def get_annotator(self, row) -> dict:
        return annotator_public(row.annotator)


class AnnotatorAuditFilter(django_filters.FilterSet):
    annotator_type = django_filters.CharFilter(field_name="annotator__type")
    outlier = django_filters.BooleanFilter()

    class Meta:
        model = AnnotatorAudit
        fields = ["outlier"]


class AnnotatorAuditListApi(generics.ListAPIView):
    """Per-annotator figures of the latest finished audit; people appear by opaque id only."""

    serializer_class = AnnotatorAuditOutput
    filterset_class = AnnotatorAuditFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AnnotatorAudit.objects.none()
        audit = _latest_for(self.request, self.kwargs["slug"])
        return AnnotatorAudit.objects.filter(audit=audit).select_related("annotator").order_by("id")
