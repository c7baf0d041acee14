"""Audit summaries in the researchers' API: the project's latest audit
(project-level figures), its per-item rows (filterable, sortable by
disagreement or ln CHES) and its per-annotator rows (annotators by opaque id,
as everywhere in the API). Reads go through ``curation.selectors_audit``, as
the dashboards' do; the layout is documented in ``curation.services.auditing``."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Kind
from curation.models import AnnotatorAudit, Audit, ItemAudit
from curation.selectors_audit import ANNOTATOR_ORDERS, ITEM_ORDERS, audit_annotators, audit_items, audit_latest

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
    """Per-item figures of the latest audit, most disagreement first unless ``ordering`` says otherwise."""

    serializer_class = ItemAuditOutput
    filterset_class = ItemAuditFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ItemAudit.objects.none()
        return audit_items(audit=_latest_for(self.request, self.kwargs["slug"]))


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
