"""Audit stage: discretion (docs/algorithms.md#discretion).

Principle verdicts of the ``source`` annotators (default all) are summed per
item and principle (pairwise: A +1, B −1; thumb/judgment: A "upholds" +1,
neither "violates" −1; na 0) and the sign is the principle's preference; the
item's category follows. Annotator preference: A/up +1, B/down −1, tie 0,
both_bad none, a judge's inconsistent vote 0. Groups "human", "judge",
"imported" (every annotation a row) and "consensus" (the item's consensus):
arbitrariness with bootstrap, supremacy matrix, priority (Elo) with a
bootstrap of the Elo scores (``n_boot_priority``), and the discrepancy human
vs judge; per annotator the same without the matrix bootstrap, and their
discrepancy with the human group.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from annotate.models import Kind
from curation import metrics
from curation.audit import batched
from curation.audit.common import KIND_CODES, boot, group_slices, index_of, matrix, num, nums
from curation.audit.load import ProjectData
from curation.audit.params import AuditParams
from curation.audit.rows import AuditRows
from curation.audit.summary import DiscretionSummary


def discretion(
    data: ProjectData,
    rows: AuditRows,
    *,
    params: AuditParams,
    consensus_code: np.ndarray,
    verdict_rows: list[tuple[int, int, str]],
    principles: list[tuple[int, str]],
) -> DiscretionSummary:
    """Principle preferences, categories, and arbitrariness / supremacy / priority
    per group and per annotator (see the module docstring)."""
    d = data
    p = params
    info = {"source": p.discretion_source, "principles": [{"id": pk, "name": name} for pk, name in principles],
            "categories": {"consensus": 0, "conflict": 0, "indifference": 0, "assessed": 0}, "groups": {},
            "discrepancy": {"human_vs_judge": None, "annotators": {}}}  # fmt: skip
    if not principles or not verdict_rows:
        return info
    principle_col = {pk: c for c, (pk, _) in enumerate(principles)}
    ann_index = index_of(d.ann_id, [r[0] for r in verdict_rows])
    allowed_types = {"all": None, "human": {"human"}, "model": {"model"}}[p.discretion_source]
    sums = defaultdict(float)
    assessed: set[int] = set()
    for a, (_, principle_id, verdict) in zip(ann_index.tolist(), verdict_rows, strict=True):
        if a < 0 or principle_id not in principle_col:
            continue
        item = int(d.ann_item[a])
        if item not in rows.items or d.item_kind[item] == Kind.RANKING.value:
            continue
        if allowed_types is not None and d.annotator_type[d.ann_annotator[a]] not in allowed_types:
            continue
        assessed.add(item)
        if d.item_kind[item] == Kind.PAIRWISE.value:
            value = {"A": 1.0, "B": -1.0}.get(verdict, 0.0)
        else:
            value = {"A": 1.0, "neither": -1.0}.get(verdict, 0.0)
        sums[(item, principle_col[principle_id])] += value
    if not assessed:
        return info
    rows_items = np.array(sorted(assessed), dtype=np.int64)
    row_of = {int(item): r for r, item in enumerate(rows_items.tolist())}
    P = np.full((len(rows_items), len(principles)), np.nan)
    for (item, col), total in sums.items():
        if total:
            P[row_of[item], col] = np.sign(total)
    cats = metrics.agreement_categories(P)
    for r, item in enumerate(rows_items.tolist()):
        row = rows.items[item]
        row.discretion_category = str(cats.category[r])
        row.details["principles"] = {str(pk): num(P[r, c]) for c, (pk, _) in enumerate(principles)}
        info["categories"][row.discretion_category] += 1
    info["categories"]["assessed"] = len(rows_items)

    # annotator preferences on the assessed items
    sel = np.flatnonzero(np.isin(d.ann_item, rows_items) & np.isin(d.ann_kind, list(KIND_CODES)))
    pref = np.full(len(d.ann_id), np.nan)
    code = d.ann_code
    pair = d.ann_kind == Kind.PAIRWISE.value
    pref = np.where(pair & (code == 0), 1.0, pref)
    pref = np.where(pair & (code == 1), -1.0, pref)
    pref = np.where(pair & (code == 2), 0.0, pref)
    pref = np.where(~pair & (code == 0), 1.0, pref)
    pref = np.where(~pair & (code == 1), -1.0, pref)
    pref = np.where(d.ann_consistent == 0, 0.0, pref)
    sel = sel[~np.isnan(pref[sel])]
    rows_of_sel = np.array([row_of[int(i)] for i in d.ann_item[sel]], dtype=np.int64)

    groups = {"human": "human", "model": "judge", "imported": "imported"}
    group_rank = {}
    for type_name, group in groups.items():
        mask = np.array([d.annotator_type[a] == type_name for a in d.ann_annotator[sel]], dtype=bool)
        if not mask.any():
            continue
        result = _discretion_group(params, P[rows_of_sel[mask]], pref[sel][mask], bootstrap_priority=True)
        info["groups"][group] = result
        group_rank[group] = result.pop("_rank")
    cons = np.array([_consensus_sign(data, consensus_code, int(item)) for item in rows_items.tolist()])
    if (~np.isnan(cons)).any():
        result = _discretion_group(params, P, cons, bootstrap_priority=True)
        info["groups"]["consensus"] = result
        group_rank["consensus"] = result.pop("_rank")
    if "human" in group_rank and "judge" in group_rank:
        info["discrepancy"]["human_vs_judge"] = num(
            metrics.discretion_discrepancy(group_rank["human"], group_rank["judge"])
        )
    # per annotator
    for a_idx, part in group_slices(d.ann_annotator[sel]):
        a_rows = rows_of_sel[part]
        a_pref = pref[sel][part]
        result = _discretion_group(params, P[a_rows], a_pref, bootstrap_priority=False)
        rank = result.pop("_rank")
        row = rows.annotators[int(a_idx)]
        row.arbitrariness = result["arbitrariness"]["estimate"]
        dd = num(metrics.discretion_discrepancy(group_rank["human"], rank)) if "human" in group_rank else None
        result.pop("supremacy", None)
        result.pop("conflicts", None)
        result["discrepancy_vs_human"] = dd
        row.details["discretion"] = result
        if dd is not None:
            info["discrepancy"]["annotators"][d.annotator_uuid[int(a_idx)]] = dd
    return info


def _consensus_sign(data: ProjectData, consensus_code: np.ndarray, item: int) -> float:
    code = consensus_code[item]
    if np.isnan(code):
        return np.nan
    if data.item_kind[item] == Kind.PAIRWISE.value:
        return {0.0: 1.0, 1.0: -1.0, 2.0: 0.0}.get(float(code), np.nan)
    return 1.0 if code == 0 else -1.0


def _discretion_group(params: AuditParams, P: np.ndarray, a: np.ndarray, *, bootstrap_priority: bool) -> dict:
    p = params
    da = batched.discretion_arbitrariness_bootstrap_fast(P, a, n_boot=p.n_boot, seed=p.seed)
    ps, n = metrics.principle_supremacy(P, a)
    priority = metrics.principle_priority(ps, n)
    status = [
        "never_in_conflict" if np.isnan(e) else "always_wins" if e == np.inf else "always_loses"
        if e == -np.inf else "fitted" for e in priority.elo
    ]  # fmt: skip
    out = {
        "n_rows": int(len(a)),
        "arbitrariness": boot(da),
        "supremacy": matrix(ps),
        "conflicts": [[int(x) for x in row] for row in n],
        "priority": {
            "elo": nums(priority.elo),
            "status": status,
            "rank": nums(priority.rank),
            "converged": priority.converged,
        },  # fmt: skip
        "_rank": priority.rank,
    }
    if bootstrap_priority and p.n_boot_priority and len(a) > 1 and np.isfinite(priority.elo).any():
        rng = np.random.default_rng(p.seed)
        samples = []
        for _ in range(p.n_boot_priority):
            idx = rng.integers(0, len(a), size=len(a))
            ps_b, n_b = metrics.principle_supremacy(P[idx], a[idx])
            elo = metrics.principle_priority(ps_b, n_b).elo
            samples.append(np.where(np.isfinite(elo), elo, np.nan))
        with np.errstate(all="ignore"), _quiet_nan():
            low = np.nanpercentile(np.array(samples), 2.5, axis=0)
            high = np.nanpercentile(np.array(samples), 97.5, axis=0)
        out["priority"]["low"] = nums(low)
        out["priority"]["high"] = nums(high)
    return out


class _quiet_nan:
    """Silence numpy's 'All-NaN slice' RuntimeWarning inside nanpercentile."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
