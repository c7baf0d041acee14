"""Reads of stored audits for the dashboards, the API and the exports.

Every function takes an already access-checked project or audit (use
``annotate.selectors.project_for_curator`` / ``project_for_reader`` first) and
returns a queryset, a row or a small dataclass; nothing here recomputes a
figure, so the pages open fast however large the project (they only fetch,
filter, sort and count what an audit run stored). The layout of
``Audit.summary`` and of the rows' JSON fields is ``curation.audit.summary``.
The one live read is :func:`annotations_per_day`, the grouped count the
audit also stores.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.db import models
from django.db.models import Count, F, Func, Max, Q, QuerySet
from django.db.models.functions import TruncDate

from annotate.models import Annotation, Project
from curation.audit.common import KINDS
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


# ---------------------------------------------------------------- dashboards

SORTS = {
    # name: (label, ordering). Nulls last (items nobody judged yet) keeps the
    # DESC index out of play; sorting 50,000 rows of one table takes ~20 ms.
    "disagreement": ("Disagreement", [F("disagreement").desc(nulls_last=True), "item_id"]),
    "entropy": ("Entropy", [F("entropy").desc(nulls_last=True), F("disagreement").desc(nulls_last=True), "item_id"]),
    "flags": ("Flags", [F("n_flags").desc(), F("disagreement").desc(nulls_last=True), "item_id"]),
}


class JsonbArrayLength(Func):
    function = "jsonb_array_length"
    output_field = models.IntegerField()


class JsonbArrayElementsText(Func):
    function = "jsonb_array_elements_text"
    output_field = models.CharField()


@dataclass(frozen=True)
class Freshness:
    latest_annotation_at: object  # datetime or None
    newer_annotations: int  # annotations made after the audit (0 without an audit)

    @property
    def stale(self) -> bool:
        return self.newer_annotations > 0


def audit_freshness(*, project: Project, audit: Audit | None) -> Freshness:
    """When the last annotation was made and how many came after the audit."""
    annotations = Annotation.objects.filter(item__project=project)
    latest = annotations.aggregate(latest=Max("created_at"))["latest"]
    newer = annotations.filter(created_at__gt=audit.created_at).count() if audit is not None and latest else 0
    return Freshness(latest_annotation_at=latest, newer_annotations=newer)


def item_audits(*, audit: Audit, kind: str = "", flag: str = "", sort: str = "disagreement"):
    """The disagreement table: one row per audited item, sorted, its item and
    prompt fetched for the page's rows only (a join before the sort would
    join every row of a 50,000-item audit: 350 ms instead of 20)."""
    rows = ItemAudit.objects.filter(audit=audit).prefetch_related("item__prompt")
    if kind:
        rows = rows.filter(item__kind=kind)
    if flag:
        rows = rows.filter(flags__contains=[flag])
    if sort == "flags":
        rows = rows.annotate(n_flags=JsonbArrayLength("flags"))
    return rows.order_by(*SORTS.get(sort, SORTS["disagreement"])[1])


def item_audit_flags(*, audit: Audit) -> list[tuple[str, int]]:
    """Each flag raised in the audit and on how many items, most frequent first."""
    rows = (
        ItemAudit.objects.filter(audit=audit)
        .annotate(flag=JsonbArrayElementsText("flags"))
        .values("flag")
        .annotate(n=Count("pk"))
        .order_by("-n", "flag")
    )
    return [(row["flag"], row["n"]) for row in rows]


def ches_values(*, audit: Audit) -> list[float]:
    """Every stored length-normalised CHES of the audit (pairs with a consensus and encodings)."""
    return list(ItemAudit.objects.filter(audit=audit, ln_ches__isnull=False).values_list("ln_ches", flat=True))


def ches_top_pairs(*, audit: Audit, limit: int = 10, exclude_excluded: bool = False):
    """The pairs with the highest length-normalised CHES (itemaudit_ln_ches_idx)."""
    rows = ItemAudit.objects.filter(audit=audit, ln_ches__isnull=False)
    if exclude_excluded:
        rows = rows.filter(item__excluded=False)
    return rows.select_related("item", "item__prompt", "chosen", "rejected").order_by("-ln_ches", "item_id")[:limit]


@dataclass(frozen=True)
class ChesCut:
    threshold: float | None  # pairs with ln_ches above this are dropped
    total: int  # pairs with a score
    dropped: int

    @property
    def kept(self) -> int:
        return self.total - self.dropped

    @property
    def dropped_pct(self) -> float:
        return 100.0 * self.dropped / self.total if self.total else 0.0


class PercentileCont(models.Aggregate):
    function = "PERCENTILE_CONT"
    template = "%(function)s(%(q)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = models.FloatField()


def ches_cut(*, audit: Audit, value: float | None = None, keep_quantile: float | None = None) -> ChesCut:
    """How many scored pairs a length-normalised CHES cut drops: those above
    ``value``, or those above the ``keep_quantile`` quantile (keep the lowest
    share, as Razin et al. keep the lowest 5–15 %). Counted in the database."""
    rows = ItemAudit.objects.filter(audit=audit, ln_ches__isnull=False)
    if keep_quantile is not None:
        q = min(max(float(keep_quantile), 0.0), 1.0)
        value = rows.aggregate(t=PercentileCont("ln_ches", q=q))["t"]
    if value is None:
        return ChesCut(threshold=None, total=rows.count(), dropped=0)
    counts = rows.aggregate(total=Count("pk"), dropped=Count("pk", filter=Q(ln_ches__gt=value)))
    return ChesCut(threshold=value, total=counts["total"], dropped=counts["dropped"])


# ---------------------------------------------------------------- progress over time


def annotations_per_day(*, project: Project) -> dict:
    rows = (
        Annotation.objects.filter(item__project=project)
        .annotate(day=TruncDate("created_at"))
        .values_list("day", "kind")
        .annotate(n=Count("id"))
        .order_by("day")
    )
    per = defaultdict(dict)
    for day, kind, n in rows:
        per[day.isoformat()][kind] = n
    days = sorted(per)
    by_kind = {k: [per[day].get(k, 0) for day in days] for k in KINDS if any(k in per[day] for day in days)}
    total = [sum(per[day].values()) for day in days]
    return {"days": days, "by_kind": by_kind, "total": total, "cumulative": np.cumsum(total).tolist() if total else []}


def audit_principle_agreement(*, audit: Audit, group: str = "", kind: str = "", principle: str = "") -> list[dict]:
    """The audit's per-principle agreement entries (docs/algorithms.md#principle-ambiguity),
    each with its principle as ``{"id", "name"}``, optionally only one ``group``,
    ``kind`` or ``principle`` (its name or id); most ambiguous (lowest α) first,
    undefined α last. Empty for an audit stored before the figures existed."""
    info = (audit.summary or {}).get("ambiguity") or {}
    names = {p["id"]: p["name"] for p in info.get("principles") or []}
    out = []
    for entry in info.get("entries") or []:
        pk = entry.get("principle")
        if group and entry.get("group") != group or kind and entry.get("kind") != kind:
            continue
        if principle and principle not in (str(pk), names.get(pk)):
            continue
        out.append({**entry, "principle": {"id": pk, "name": names.get(pk, str(pk))}})
    out.sort(key=lambda e: (e.get("alpha") is None, e.get("alpha") or 0.0, -(e.get("split_share") or 0.0)))
    return out


def audit_question_agreement(*, audit: Audit, question: str = "", type: str = "") -> list[dict]:  # noqa: A002
    """The audit's per-question entries (docs/algorithms.md#question-agreement), in the
    project's question order, optionally one ``question`` (its key) or one ``type``. Empty
    for an audit stored before custom questions were measured."""
    entries = ((audit.summary or {}).get("questions") or {}).get("entries") or []
    return [e for e in entries if (not question or e.get("key") == question) and (not type or e.get("type") == type)]
