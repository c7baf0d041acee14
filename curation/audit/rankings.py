"""Audit stage: rankings.

* α ordinal with units = (item, response) and values = the mid-rank
  (1 = best, a tie group shares its mean rank).
* Votes: the usable rankings of the voters (``params.voters``).
* Per item: agreement (``curation.consensus.item_agreement``: mean pairwise
  Kendall agreement, stored as ``majority_share``), entropy over the
  distinct full orders, Kendall's W of the item's rankings (responses
  missing from a ranking are tied last).
* Consensus: ``curation.consensus.ranking_consensus``, mean Borda scores,
  or a curator's ``resolution`` (flag ``resolved``): the rule every export
  applies (docs/algorithms.md#consensus).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from annotate.models import Kind
from curation import consensus
from curation.audit import batched
from curation.audit.agreement import alpha_entry
from curation.audit.common import num
from curation.audit.load import ProjectData
from curation.audit.params import AuditParams
from curation.audit.rows import AuditRows
from curation.audit.summary import AlphaEntry, ConsensusInfo, KendallW


@dataclass
class Rankings:
    """What the stage returns. ``mid_ranks`` and ``order`` are what later stages
    (annotators vs consensus, probes) read; the rest are summary sections,
    None when the project has no ranking items."""

    mid_ranks: dict[int, np.ndarray] = field(default_factory=dict)  # annotation index -> mid-ranks per item position
    order: dict[int, np.ndarray] = field(default_factory=dict)  # item index -> consensus mid-ranks per position
    alpha: AlphaEntry | None = None
    kendall_w: KendallW | None = None
    consensus: ConsensusInfo | None = None


def rankings(data: ProjectData, rows: AuditRows, *, params: AuditParams, threshold: float) -> Rankings:
    """Every ranking's mid-ranks; for ranking items α, per-item agreement,
    Kendall's W and the consensus order (mean Borda, or a curator's resolution)."""
    d = data
    result = Rankings()
    mid_ranks, ranking_order = result.mid_ranks, result.order
    items = np.flatnonzero(d.audited & (d.item_kind == Kind.RANKING.value))
    for a in np.flatnonzero(d.ann_kind == Kind.RANKING.value).tolist():
        ranks = _ranks(data, a, d.item_responses[d.ann_item[a]])
        if ranks is not None:
            mid_ranks[a] = ranks
    if items.size == 0:
        return result
    votes = [a for a in np.flatnonzero(d.vote & (d.ann_kind == Kind.RANKING.value)).tolist() if a in mid_ranks]
    by_item: dict[int, list[int]] = defaultdict(list)
    for a in votes:
        by_item[int(d.ann_item[a])].append(a)
    # α over (item, response) units, value = mid-rank
    link_base = {}
    offset = 0
    for item in items.tolist():
        link_base[item] = offset
        offset += len(d.item_responses[item])
    units, values = [], []
    for a in votes:
        base = link_base[int(d.ann_item[a])]
        ranks = mid_ranks[a]
        units.extend(range(base, base + len(ranks)))
        values.extend(ranks.tolist())
    slots = batched.slots(np.asarray(units, dtype=np.int64), np.asarray(values, dtype=np.float64), offset)
    result.alpha = alpha_entry(slots, "ordinal", params, 13)
    info = {"method": "borda", "second_opinion": None, "items": int(items.size), "with_consensus": 0,
            "resolved": 0, "ds_disagrees": 0}  # fmt: skip

    # Per item: agreement, entropy of the full orders, consensus; Kendall's W in batches of equal shape.
    w_batches: dict[tuple[int, int], list[int]] = defaultdict(list)
    for item in items.tolist():
        row = rows.items[item]
        uuids = [d.response_uuid[r] for r in d.item_responses[item]]
        voted = by_item.get(item, [])
        rank_rows = [mid_ranks[a] for a in voted]
        rankings_of = [d.rankings[int(d.ann_id[a])] for a in voted]
        row.n_judgments = len(rank_rows)
        if rank_rows:
            keys = Counter(tuple(r.tolist()) for r in rank_rows)
            p = np.array(list(keys.values()), dtype=np.float64) / len(rank_rows)
            row.entropy = num(max(0.0, float(-(p * np.log2(p)).sum())))
            agreement = consensus.item_agreement(kind=Kind.RANKING.value, votes=rankings_of)
            row.majority_share = agreement
            row.disagreement = None if agreement is None else 1.0 - agreement
            if len(rank_rows) >= 2:
                w_batches[(len(rank_rows), len(uuids))].append(item)
                if agreement is not None and agreement < threshold:
                    row.flag("low_agreement")
        resolved = (d.item_resolution[item] or {}).get("ranking")
        if resolved and not _names_only(resolved, uuids):
            resolved = None  # names responses the item does not have: not a usable resolution
        if not resolved and not rank_rows:
            continue
        outcome = consensus.ranking_consensus(rankings_of, uuids, resolution=resolved)
        row.consensus = {
            "order": [list(g) for g in outcome.groups],
            "scores": {u: outcome.scores[u] for u in uuids},
            "method": "resolution" if outcome.resolved else "borda",
        }
        ranking_order[item] = batched.mid_ranks(np.array([outcome.scores[u] for u in uuids]))
        info["with_consensus"] += 1
        if outcome.resolved:
            row.flag("resolved")
            info["resolved"] += 1
    ws = []
    for batch in w_batches.values():
        stacked = np.stack([np.vstack([mid_ranks[a] for a in by_item[item]]) for item in batch])
        for item, w in zip(batch, batched.kendall_w_many(stacked).tolist(), strict=True):
            rows.items[item].details["kendall_w"] = num(w)
            if math.isfinite(w):
                ws.append(w)
    result.kendall_w = {"mean": num(np.mean(ws)) if ws else None, "n_items": len(ws)}
    result.consensus = info
    return result


def _ranks(data: ProjectData, ann_index: int, responses: list[int]) -> np.ndarray | None:
    """Mid-ranks (1 = best) of the item's responses in one ranking; missing ones tied last."""
    d = data
    ranking = d.rankings.get(int(d.ann_id[ann_index]))
    if not ranking:
        return None
    position = {d.response_uuid[r]: i for i, r in enumerate(responses)}
    ranks = np.full(len(responses), np.nan)
    placed = 0
    for group in ranking:
        idx = [position[str(u)] for u in group if str(u) in position and np.isnan(ranks[position[str(u)]])]
        if not idx:
            continue
        ranks[idx] = placed + (len(idx) + 1) / 2.0
        placed += len(idx)
    missing = np.isnan(ranks)
    if missing.all():
        return None
    if missing.any():
        ranks[missing] = placed + (missing.sum() + 1) / 2.0
    return ranks


def _names_only(groups, uuids: list[str]) -> bool:
    """Whether a resolution's groups name only the item's responses, each once."""
    try:
        flat = [str(u) for group in groups for u in group]
    except TypeError:
        return False
    return len(set(flat)) == len(flat) and set(flat) <= set(uuids)
