"""Audit stage: principle ambiguity (docs/algorithms.md#principle-ambiguity).

For each principle, each kind of audited item and each group of interpreters
(``all``, ``human``, ``judge``), the principle's verdicts become a raters ×
items matrix of verdict codes and :func:`curation.metrics.principle_agreement`
gives Krippendorff's α (nominal) with a bootstrap over the items, the share of
items where the interpreters split, and the counts. The summary keeps, per
entry, the split items with the largest spread (``TOP_SPLIT``), which the
Ambiguity dashboard lists with a link to each item's verdicts.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from annotate.models import Verdict
from curation import metrics
from curation.audit import batched
from curation.audit.common import index_of, num
from curation.audit.load import ProjectData
from curation.audit.params import AuditParams
from curation.audit.rows import AuditRows
from curation.audit.summary import AmbiguitySummary, PrincipleAgreementEntry, SplitItem

VERDICT_CODES: tuple[str, ...] = tuple(Verdict.values)  # A, B, neither, na
GROUPS: dict[str, frozenset[str] | None] = {"all": None, "human": frozenset({"human"}), "judge": frozenset({"model"})}
TOP_SPLIT = 10


def ambiguity(
    data: ProjectData,
    rows: AuditRows,
    *,
    params: AuditParams,
    verdict_rows: list[tuple[int, int, str]],
    principles: list[tuple[int, str]],
) -> AmbiguitySummary:
    """Per principle × kind × group agreement of the principle's verdicts (see the module docstring)."""
    d = data
    info: AmbiguitySummary = {
        "principles": [{"id": pk, "name": name} for pk, name in principles],
        "verdicts": list(VERDICT_CODES),
        "groups": list(GROUPS),
        "n_boot": params.n_boot,
        "entries": [],
    }
    if not principles or not verdict_rows:
        return info
    code_of = {v: float(i) for i, v in enumerate(VERDICT_CODES)}
    ann = index_of(d.ann_id, [r[0] for r in verdict_rows])
    principle = np.fromiter((r[1] for r in verdict_rows), dtype=np.int64, count=len(verdict_rows))
    code = np.fromiter((code_of.get(r[2], np.nan) for r in verdict_rows), dtype=np.float64, count=len(verdict_rows))
    keep = (ann >= 0) & ~np.isnan(code)
    ann, principle, code = ann[keep], principle[keep], code[keep]
    item = d.ann_item[ann]
    audited = np.zeros(len(d.item_id), dtype=bool)
    audited[list(rows.items)] = True
    keep = audited[item]
    ann, principle, code, item = ann[keep], principle[keep], code[keep], item[keep]
    kind = d.item_kind[item]
    annotator_type = np.array(d.annotator_type, dtype=object)[d.ann_annotator[ann]] if len(ann) else np.array([])
    for pk, _name in principles:
        of_principle = principle == pk
        for kind_name in sorted(set(kind[of_principle].tolist())):
            base = of_principle & (kind == kind_name)
            for group, types in GROUPS.items():
                mask = base if types is None else base & np.isin(annotator_type, list(types))
                if not mask.any():
                    continue
                info["entries"].append(_entry(d, params, pk, kind_name, group, item[mask], code[mask], ann[mask]))
    return info


def _entry(
    d: ProjectData,
    params: AuditParams,
    principle: int,
    kind: str,
    group: str,
    item: np.ndarray,
    code: np.ndarray,
    ann: np.ndarray,
) -> PrincipleAgreementEntry:
    items, unit = np.unique(item, return_inverse=True)
    # Rater identity does not enter α or the per-item counts (one verdict per annotation
    # and principle, one annotation per item and annotator), so the compact layout serves.
    matrix = batched.slots(unit, code, len(items))
    result = metrics.principle_agreement(matrix, n_boot=0)
    if result.n_items and np.isfinite(result.alpha):
        # The same resamples of the judged items as principle_agreement's interval
        # (metrics.krippendorff_alpha_bootstrap), one matrix product per chunk of replicates.
        interval = batched.krippendorff_alpha_bootstrap_fast(
            matrix[:, result.units], "nominal", n_boot=params.n_boot, seed=params.seed
        )
        result = dataclasses.replace(result, interval=interval)
    entry: PrincipleAgreementEntry = {
        "principle": principle,
        "kind": kind,
        "group": group,
        "alpha": num(result.alpha),
        "low": num(result.interval.low),
        "high": num(result.interval.high),
        "mean": num(result.interval.mean),
        "sd": num(result.interval.sd),
        "n_ok": result.interval.n_ok,
        "split_share": num(result.split_share),
        "n_items": result.n_items,
        "n_verdicts": result.n_verdicts,
        "n_interpreters": int(np.unique(d.ann_annotator[ann]).size),
        "top_split": [],
    }
    if result.reason:
        entry["reason"] = result.reason
    split = np.flatnonzero(result.split)
    if split.size:
        uuids = [d.item_uuid[int(items[result.units[s]])] for s in split]
        order = sorted(
            range(len(split)),
            key=lambda k: (-result.disagreement[split[k]], -int(result.n_ratings[split[k]]), uuids[k]),
        )[:TOP_SPLIT]
        for k in order:
            column = matrix[:, result.units[split[k]]]
            values = column[~np.isnan(column)].astype(int)
            counts = np.bincount(values, minlength=len(VERDICT_CODES))
            top: SplitItem = {
                "item": uuids[k],
                "spread": num(result.disagreement[split[k]]),
                "verdicts": {VERDICT_CODES[c]: int(n) for c, n in enumerate(counts) if n},
            }
            entry["top_split"].append(top)
    return entry
