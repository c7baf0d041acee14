"""Audit stage: annotators against the consensus, and the outlier rule.

    * Agreement = share of an annotator's pairwise/thumb votes equal to the
      consensus (their own vote included); Cohen's κ against the consensus
      on their main kind; ranking-only annotators get the mean
      (τ_b + 1)/2 with the consensus order instead.

Outlier rule (``AnnotatorAudit.outlier``)
    An annotator is an outlier when
    (a) ``low_agreement``: they have ≥ ``min_compared`` (10) votes on items
    with a consensus, at least ``min_peers`` (3) other annotators do too, and
    their agreement lies more than 2 standard deviations below the mean of
    those others (leave-one-out; the standard deviation is floored at 0.05
    so that near-unanimous peers do not turn a small gap into a huge z); or
    (b) ``low_probe_consistency``: probe consistency < 0.6 over ≥
    ``min_probes`` (5) probes.
    Informational flags (not outliers): ``too_fast`` (a human whose median
    seconds is below a quarter of the median over humans, ≥ 10 timed
    annotations, ≥ 3 timed humans), ``intransitive``, ``thumbs_contradiction``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict

import numpy as np

from annotate.models import Kind
from curation import metrics
from curation.audit import batched
from curation.audit.common import KIND_CODES, group_slices, num
from curation.audit.load import ProjectData
from curation.audit.params import AuditParams
from curation.audit.rows import AuditRows
from curation.audit.summary import AnnotatorsSummary

OUTLIER_RULE = (
    "low_agreement: agreement with the consensus more than 2 SD (SD floored at 0.05) below the mean of the other "
    "annotators with >= {min_compared} compared votes (needs >= {min_peers} such others); "
    "low_probe_consistency: probe consistency < {probe_floor} over >= {min_probes} probes"
)


def annotators_vs_consensus(
    data: ProjectData,
    rows: AuditRows,
    *,
    consensus_code: np.ndarray,
    mid_ranks: dict[int, np.ndarray],
    ranking_order: dict[int, np.ndarray],
) -> None:
    """Each annotator's agreement with the consensus, κ on their main kind and median seconds (written to ``rows``)."""
    d = data
    vote = d.usable  # every annotator is compared with the consensus, voter or not
    ranking_tau = _ranking_taus(data, mid_ranks, ranking_order)
    for a_idx, part in group_slices(d.ann_annotator):
        row = rows.annotators[int(a_idx)]
        by_kind = {}
        hits, compared = 0.0, 0
        for kind in KIND_CODES:
            sel = part[(d.ann_kind[part] == kind) & vote[part] & ~np.isnan(d.ann_code[part])]
            if sel.size == 0:
                continue
            labels = d.ann_code[sel]
            cons = consensus_code[d.ann_item[sel]]
            res = metrics.annotator_vs_consensus(labels[None, :], cons)
            n = int(res.n[0])
            kappa = metrics.cohen_kappa(labels, cons) if n else float("nan")
            by_kind[kind] = {"n": int(sel.size), "compared": n, "agreement": num(res.share[0]),
                             "kappa": num(kappa)}  # fmt: skip
            if n:
                hits += float(res.share[0]) * n
                compared += n
        sel = part[(d.ann_kind[part] == Kind.RANKING.value) & vote[part]]
        taus = [ranking_tau[a] for a in sel.tolist() if math.isfinite(ranking_tau.get(a, math.nan))]
        if sel.size:
            by_kind[Kind.RANKING.value] = {"n": int(sel.size), "compared": len(taus),
                                           "tau": num(np.mean(taus)) if taus else None}  # fmt: skip
        row.details["by_kind"] = by_kind
        if compared:
            row.agreement = hits / compared
            row.details["agreement_basis"] = "pairwise/thumb votes equal to the consensus"
        elif taus:
            row.agreement = float((np.mean(taus) + 1) / 2)
            row.details["agreement_basis"] = "mean (tau_b + 1) / 2 with the consensus ranking"
        row.details["compared"] = compared or len(taus)
        main = max((k for k in by_kind if "kappa" in by_kind[k]), key=lambda k: by_kind[k]["compared"],
                   default=None)  # fmt: skip
        if main is not None:
            row.kappa = by_kind[main]["kappa"]
            row.details["kappa_kind"] = main
        seconds = d.ann_seconds[part]
        seconds = seconds[~np.isnan(seconds)]
        row.details["timed"] = int(seconds.size)
        if seconds.size:
            row.median_seconds = float(np.median(seconds))


def _ranking_taus(
    data: ProjectData, mid_ranks: dict[int, np.ndarray], ranking_order: dict[int, np.ndarray]
) -> dict[int, float]:
    """τ_b of every ranking vote with its item's consensus order, in batches of equal length."""
    d = data
    by_length: dict[int, list[int]] = defaultdict(list)
    for a in mid_ranks:
        if int(d.ann_item[a]) in ranking_order:
            by_length[len(mid_ranks[a])].append(a)
    taus: dict[int, float] = {}
    for anns in by_length.values():
        x = np.stack([mid_ranks[a] for a in anns])
        y = np.stack([ranking_order[int(d.ann_item[a])] for a in anns])
        taus.update(zip(anns, batched.tau_b_many(x, y).tolist(), strict=True))
    return taus


def outliers(rows: AuditRows, params: AuditParams) -> AnnotatorsSummary:
    """Flag outliers and too-fast humans (the rule is in the module docstring); the annotators' summary."""
    p = params
    rows = rows.annotators
    eligible = [
        i for i, r in enumerate(rows) if r.agreement is not None and r.details.get("compared", 0) >= p.min_compared
    ]
    z = metrics.leave_one_out_z([rows[i].agreement for i in eligible], min_peers=p.min_peers)
    for pos, i in enumerate(eligible):
        if not math.isnan(z[pos]):
            rows[i].details["agreement_z"] = round(float(z[pos]), 4)
            if z[pos] < -2:
                rows[i].flag("low_agreement")
    for r in rows:
        probed = r.probe_consistency is not None and r.details.get("n_probes", 0) >= p.min_probes
        if probed and r.probe_consistency < p.probe_floor:
            r.flag("low_probe_consistency")
        r.outlier = "low_agreement" in r.flags or "low_probe_consistency" in r.flags
    humans = [r for r in rows if r.details.get("type") == "human" and r.median_seconds is not None
              and r.details.get("timed", 0) >= 10]  # fmt: skip
    human_median = float(np.median([r.median_seconds for r in humans])) if len(humans) >= 3 else None
    if human_median:
        for r in humans:
            if r.median_seconds < 0.25 * human_median:
                r.flag("too_fast")
    agreements = [r.agreement for r in rows if r.agreement is not None]
    medians = [r.median_seconds for r in rows if r.median_seconds is not None]
    return {
        "n": len(rows),
        "outliers": sum(r.outlier for r in rows),
        "rule": OUTLIER_RULE.format(**asdict(p)),
        "agreement_mean": num(np.mean(agreements)) if agreements else None,
        "median_seconds": num(np.median(medians)) if medians else None,
    }
