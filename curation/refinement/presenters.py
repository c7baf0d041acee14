"""What the refine page and the Ambiguity dashboard show of re-judgment samples:
each sample's versions, what it asked, and its stored comparison per group of
interpreters, old beside new (nothing is computed here)."""

from __future__ import annotations

from django.db.models import Count

from annotate.models import Principle, Project, Rejudgment
from curation import plots
from curation.audit.presenters import AMBIGUITY_GROUPS, _svg


def _num(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _plot(r: Rejudgment, groups: list[dict]) -> str:
    """α per version and group of interpreters with its interval, old above new (an SVG; "" when none)."""
    bars = []
    for g in groups:
        if not g.get("n_items"):
            continue
        for version, side in ((r.old_version, "old"), (r.new_version, "new")):
            est = g.get(side) or {}
            bars.append(
                plots.Bar(
                    f"{g['label']} v{version.number}",
                    _num(est.get("estimate")),
                    _num(est.get("low")),
                    _num(est.get("high")),
                    note=f"{g['n_items']} items",
                    css="" if side == "old" else "flagged",
                )
            )
    if not bars:
        return ""
    lows = [v for b in bars for v in (b.low, b.value) if v is not None]
    return _svg(
        plots.bar_chart(
            bars,
            title=f"α of {r.principle.name}, version {r.old_version.number} vs {r.new_version.number}",
            value_label="α on the same items (1 = perfect agreement, 0 = chance), 95% bootstrap interval",
            domain=(min([0.0, *lows]), 1.0),
        )
    )


def _row(r: Rejudgment) -> dict:
    result = r.result or {}
    groups = []
    for key, label in AMBIGUITY_GROUPS.items():
        g = (result.get("groups") or {}).get(key)
        if g:
            groups.append({"key": key, "label": label, **g})
    return {
        "uuid": str(r.uuid),
        "principle": r.principle,
        "old": r.old_version,
        "new": r.new_version,
        "size": r.size,
        "copies": r.copy_count,
        "overlap": r.overlap,
        "panel": r.panel,
        "job_uuid": r.job_uuid,
        "created_at": r.created_at,
        "created_by": r.created_by,
        "compared_at": r.compared_at,
        "groups": groups,
        "plot": _plot(r, groups),
    }


def _rows(queryset) -> list[dict]:
    rows = queryset.select_related("principle", "old_version", "new_version", "created_by").annotate(
        copy_count=Count("copies")
    )
    return [_row(r) for r in rows]


def rejudgment_rows(*, principle: Principle) -> list[dict]:
    """The principle's re-judgment samples, newest first."""
    return _rows(Rejudgment.objects.filter(principle=principle))


def rejudgment_latest_rows(*, project: Project) -> list[dict]:
    """Per principle of the project, its latest re-judgment sample (for the Ambiguity dashboard)."""
    latest = {}
    for r in Rejudgment.objects.filter(project=project).order_by("-created_at", "-id").values("pk", "principle_id"):
        latest.setdefault(r["principle_id"], r["pk"])
    return _rows(Rejudgment.objects.filter(pk__in=list(latest.values())))
