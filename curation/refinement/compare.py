"""Re-judgment samples compared: the old version's verdicts on the sampled items
against the new version's on their copies (docs/algorithms.md#paired-bootstrap).
Apart from ``services`` so the judge job's runner can call it (no import of the
job machinery)."""

from __future__ import annotations

import math

import numpy as np
from django.utils import timezone

from annotate.models import Item, Principle, PrincipleVerdict, Rejudgment, Verdict
from curation.audit.ambiguity import GROUPS
from curation.metrics import versions_compare

N_BOOT = 1000


def rejudgment_principle(rejudgment: Rejudgment) -> Principle:
    """The principle in the wording the re-judgment asks about (its new version),
    as the judge takes it; its verdicts are recorded under that version."""
    version = rejudgment.new_version
    return Principle(
        pk=rejudgment.principle_id,
        project_id=rejudgment.project_id,
        name=version.name,
        description=version.description,
        guidance=version.guidance,
        current_version_id=version.pk,
    )


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _interval(result) -> dict:
    return {"estimate": _finite(result.estimate), "low": _finite(result.low), "high": _finite(result.high),
            "n_ok": result.n_ok}  # fmt: skip


def rejudgment_compare(*, rejudgment: Rejudgment, n_boot: int = N_BOOT) -> dict:
    """Compare the old version's verdicts on the sampled items with the new version's
    on their copies, per group of interpreters (the ambiguity audit's ``GROUPS``), and
    store it on the re-judgment (``result``, ``compared_at``)."""
    pairs = list(
        Item.objects.filter(rejudgment=rejudgment).order_by("rejudge_of_id").values_list("pk", "rejudge_of_id")
    )
    row_of = {original: row for row, (_, original) in enumerate(pairs)}
    original_of = dict(pairs)
    values = {v: i for i, v in enumerate(Verdict.values)}
    old = list(
        PrincipleVerdict.objects.filter(version=rejudgment.old_version, annotation__item_id__in=list(row_of))
        .values_list("annotation__item_id", "annotation__annotator__type", "verdict")
        .order_by()
    )
    new = list(
        PrincipleVerdict.objects.filter(version=rejudgment.new_version, annotation__item_id__in=list(original_of))
        .values_list("annotation__item_id", "annotation__annotator__type", "verdict")
        .order_by()
    )
    groups = {}
    for group, types in GROUPS.items():
        counts = []
        for rows, item_row in ((old, row_of), (new, {c: row_of[o] for c, o in original_of.items()})):
            matrix = np.zeros((len(pairs), len(values)))
            for item_id, annotator_type, verdict in rows:
                if types is None or annotator_type in types:
                    matrix[item_row[item_id], values[verdict]] += 1
            counts.append(matrix)
        c = versions_compare(counts[0], counts[1], n_boot=n_boot, seed=0)
        groups[group] = {
            "n_items": c.n_items,
            "old": _interval(c.old),
            "new": _interval(c.new),
            "difference": _interval(c.difference),
            "split_old": _finite(c.split_old),
            "split_new": _finite(c.split_new),
            "beyond_noise": c.beyond_noise,
            "reason": c.reason,
            "old_verdicts": int(counts[0].sum()),
            "new_verdicts": int(counts[1].sum()),
        }
    result = {"items": len(pairs), "n_boot": n_boot, "groups": groups}
    Rejudgment.objects.filter(pk=rejudgment.pk).update(result=result, compared_at=timezone.now())
    rejudgment.result, rejudgment.compared_at = result, timezone.now()
    return result
