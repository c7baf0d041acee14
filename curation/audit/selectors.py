"""Reads of stored audits for the dashboards and the API.

Every function takes an already access-checked project or audit (use
``annotate.selectors.project_for_curator`` / ``project_for_reader`` first) and
returns a queryset or a row; nothing here recomputes a figure. The layout of
``Audit.summary`` and of the rows' JSON fields is documented in
``curation.audit.pipeline``.
"""

from __future__ import annotations

from django.db.models import F, Q, QuerySet

from curation.models import AnnotatorAudit, Audit, ItemAudit

# Orders the disagreement / CHES / annotator tables accept (name -> ORM ordering).
ITEM_ORDERS = {
    "-disagreement": (F("disagreement").desc(nulls_last=True), "id"),
    "disagreement": (F("disagreement").asc(nulls_last=True), "id"),
    "-ln_ches": (F("ln_ches").desc(nulls_last=True), "id"),
    "ln_ches": (F("ln_ches").asc(nulls_last=True), "id"),
    "-ches": (F("ches").desc(nulls_last=True), "id"),
    "-entropy": (F("entropy").desc(nulls_last=True), "id"),
    "item": ("item_id",),
}
ANNOTATOR_ORDERS = {
    "outlier": ("-outlier", F("agreement").asc(nulls_last=True), "id"),
    "agreement": (F("agreement").asc(nulls_last=True), "id"),
    "-agreement": (F("agreement").desc(nulls_last=True), "id"),
    "speed": (F("median_seconds").asc(nulls_last=True), "id"),
    "arbitrariness": (F("arbitrariness").desc(nulls_last=True), "id"),
    "probe_consistency": (F("probe_consistency").asc(nulls_last=True), "id"),
}


def audits_recent(*, project, limit: int = 10) -> QuerySet[Audit]:
    """The project's audits, newest first."""
    return Audit.objects.filter(project=project).select_related("job").order_by("-created_at", "-id")[:limit]


def audit_latest(*, project) -> Audit | None:
    """The project's newest audit, or None when it was never audited."""
    return Audit.objects.filter(project=project).order_by("-created_at", "-id").first()


def audit_get(*, project, pk) -> Audit | None:
    """One audit of ``project`` by primary key (None when it is another project's)."""
    try:
        return Audit.objects.filter(project=project, pk=int(pk)).first()
    except (TypeError, ValueError):
        return None


def audit_items(
    *, audit: Audit, kind: str | None = None, order: str = "-disagreement", flag: str | None = None
) -> QuerySet[ItemAudit]:
    """The audit's item rows with their item and prompt, sorted by ``order``
    (a key of ``ITEM_ORDERS``), optionally of one kind or carrying one flag."""
    rows = ItemAudit.objects.filter(audit=audit).select_related("item", "item__prompt", "chosen", "rejected")
    if kind:
        rows = rows.filter(item__kind=kind)
    if flag:
        rows = rows.filter(flags__contains=[flag])
    return rows.order_by(*ITEM_ORDERS.get(order, ITEM_ORDERS["-disagreement"]))


def audit_items_with_ches(*, audit: Audit) -> QuerySet[ItemAudit]:
    """Pairwise rows that have a CHES score, highest length-normalised CHES first."""
    return audit_items(audit=audit, order="-ln_ches").filter(ln_ches__isnull=False)


def audit_annotators(*, audit: Audit, order: str = "outlier", outliers_only: bool = False) -> QuerySet[AnnotatorAudit]:
    """The audit's annotator rows (outliers first by default)."""
    rows = AnnotatorAudit.objects.filter(audit=audit).select_related("annotator", "annotator__user")
    if outliers_only:
        rows = rows.filter(outlier=True)
    return rows.order_by(*ANNOTATOR_ORDERS.get(order, ANNOTATOR_ORDERS["outlier"]))


def audit_item_for(*, audit: Audit, item) -> ItemAudit | None:
    return ItemAudit.objects.filter(audit=audit, item=item).first()


def audit_annotator_for(*, audit: Audit, annotator) -> AnnotatorAudit | None:
    return AnnotatorAudit.objects.filter(audit=audit, annotator=annotator).first()


def audit_item_figures(*, audit: Audit, item_ids) -> dict[int, ItemAudit]:
    """``{item_id: ItemAudit}`` for many items at once (exports, item tables)."""
    return {row.item_id: row for row in ItemAudit.objects.filter(audit=audit, item_id__in=list(item_ids))}


def audit_flag_counts(*, audit: Audit) -> dict[str, int]:
    """How many item rows carry each flag (one query per known flag)."""
    flags = (
        "low_agreement", "no_consensus", "resolved", "ds_disagrees", "swap_inconsistent",
        "retest_inconsistent", "transitivity", "thumbs_contradiction",
    )  # fmt: skip
    rows = ItemAudit.objects.filter(audit=audit)
    return {flag: rows.filter(flags__contains=[flag]).count() for flag in flags}


def audit_discretion_categories(*, audit: Audit) -> dict[str, int]:
    """Item counts per discretion category (consensus / conflict / indifference)."""
    rows = ItemAudit.objects.filter(audit=audit).exclude(discretion_category="")
    return {name: rows.filter(discretion_category=name).count() for name in ("consensus", "conflict", "indifference")}


def audit_items_flagged(*, audit: Audit) -> QuerySet[ItemAudit]:
    """Rows with any flag, most disagreement first."""
    return audit_items(audit=audit).filter(~Q(flags=[]))
