"""Audit stage: rankings.

* α ordinal with units = (item, response) and values = the mid-rank
  (1 = best, a tie group shares its mean rank).
* Per item: share and entropy over the distinct full orders, plus
  Kendall's W of the item's rankings (responses missing from a ranking
  are tied last).
* Consensus: Bradley–Terry strengths (maximum likelihood when the
  comparison graph is strongly connected, else MAP with ``alpha=0.1``);
  a curator's ``resolution`` overrides it (flag ``resolved``).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from annotate.models import Kind
from curation.audit import batched
from curation.audit.agreement import alpha_entry
from curation.audit.common import num, rank_groups
from curation.audit.load import ProjectData
from curation.audit.params import AuditParams
from curation.audit.rows import AuditRows
from curation.audit.summary import AlphaEntry, ConsensusInfo, KendallW

BT_FALLBACK_ALPHA = 0.1


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
    Kendall's W and the consensus order (Bradley–Terry, or a curator's resolution)."""
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
    info = {"method": "bradley_terry", "second_opinion": None, "items": int(items.size), "with_consensus": 0,
            "resolved": 0, "ds_disagrees": 0}  # fmt: skip

    # Per item: share of the most common full order, its entropy; Kendall's W in batches of equal shape.
    w_batches: dict[tuple[int, int], list[int]] = defaultdict(list)
    fit: list[int] = []
    for item in items.tolist():
        row = rows.items[item]
        uuids = [d.response_uuid[r] for r in d.item_responses[item]]
        rank_rows = [mid_ranks[a] for a in by_item.get(item, [])]
        row.n_judgments = len(rank_rows)
        if rank_rows:
            keys = Counter(tuple(r.tolist()) for r in rank_rows)
            share = max(keys.values()) / len(rank_rows)
            p = np.array(list(keys.values()), dtype=np.float64) / len(rank_rows)
            row.majority_share = share
            row.entropy = num(max(0.0, float(-(p * np.log2(p)).sum())))
            row.disagreement = 1.0 - share
            if len(rank_rows) >= 2:
                w_batches[(len(rank_rows), len(uuids))].append(item)
                if share < threshold:
                    row.flag("low_agreement")
        resolved = (d.item_resolution[item] or {}).get("ranking")
        order = _order_from_groups(resolved, uuids) if resolved else None
        if order is not None:
            row.consensus = {"order": [[uuids[i] for i in g] for g in rank_groups(order)], "scores": {},
                             "method": "resolution"}  # fmt: skip
            ranking_order[item] = order
            row.flag("resolved")
            info["resolved"] += 1
            info["with_consensus"] += 1
        elif rank_rows:
            fit.append(item)
    ws = []
    for batch in w_batches.values():
        stacked = np.stack([np.vstack([mid_ranks[a] for a in by_item[item]]) for item in batch])
        for item, w in zip(batch, batched.kendall_w_many(stacked).tolist(), strict=True):
            rows.items[item].details["kendall_w"] = num(w)
            if math.isfinite(w):
                ws.append(w)
    _bradley_terry(data, rows, fit, by_item, mid_ranks, ranking_order)
    info["with_consensus"] += len(fit)
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


def _bradley_terry(
    data: ProjectData,
    rows: AuditRows,
    items: list[int],
    by_item: dict[int, list[int]],
    mid_ranks: dict[int, np.ndarray],
    ranking_order: dict[int, np.ndarray],
) -> None:
    """Consensus orders from Bradley–Terry fits of every item's rankings, read as
    pairwise comparisons (a tie is half a win each way: both orders listed)."""
    if not items:
        return
    d = data
    sizes = np.array([len(d.item_responses[item]) for item in items], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    winners, losers = [], []
    pairs = {}
    for item, base in zip(items, offsets.tolist(), strict=True):
        for a in by_item[item]:
            ranks = mid_ranks[a]
            n = len(ranks)
            if n not in pairs:
                pairs[n] = np.triu_indices(n, 1)
            i, j = pairs[n]
            ri, rj = ranks[i], ranks[j]
            tie = ri == rj
            winners.append(np.concatenate([i[ri < rj], j[rj < ri], i[tie], j[tie]]) + base)
            losers.append(np.concatenate([j[ri < rj], i[rj < ri], j[tie], i[tie]]) + base)
    p, alphas = batched.bradley_terry_many(
        sizes, np.concatenate(winners), np.concatenate(losers), fallback_alpha=BT_FALLBACK_ALPHA
    )
    for item, base, size, alpha in zip(items, offsets.tolist(), sizes.tolist(), alphas.tolist(), strict=True):
        strengths = p[base : base + size]
        uuids = [d.response_uuid[r] for r in d.item_responses[item]]
        order = batched.mid_ranks(strengths)
        ranking_order[item] = order
        rows.items[item].consensus = {
            "order": [[uuids[i] for i in g] for g in rank_groups(order)],
            "scores": {uuids[i]: round(float(x), 6) for i, x in enumerate(strengths)},
            "method": "bradley_terry",
            "alpha": alpha,
        }


def _order_from_groups(groups, uuids: list[str]) -> np.ndarray | None:
    position = {u: i for i, u in enumerate(uuids)}
    scores = np.zeros(len(uuids))
    seen = set()
    try:
        for level, group in enumerate(groups):
            for u in group:
                scores[position[str(u)]] = -level
                seen.add(str(u))
    except (KeyError, TypeError):
        return None
    for u in set(uuids) - seen:
        scores[position[u]] = -len(groups)
    return batched.mid_ranks(scores)
