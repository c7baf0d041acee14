"""Audit stage: agreement and consensus of the choice kinds (pairwise, thumb).

* Krippendorff α with a percentile bootstrap over items (``n_boot``,
  ``seed``): pairwise choice nominal; pairwise signed strength ordinal
  (A with strength s → +s, B → −s, tie → 0; only when strengths exist);
  thumbs nominal.
* Votes: the usable judgments of the voters (``params.voters``, by default
  people and imported labels; ``ProjectData.vote``).
* Per item: votes, agreement (``curation.consensus.item_agreement``, the
  majority share, stored as ``majority_share``), entropy (bits),
  disagreement = 1 − agreement.
* Consensus: ``curation.consensus.choice_vote``, the majority (a tied top
  has none), or a curator's ``resolution`` (flag ``resolved``): the rule
  every export applies (docs/algorithms.md#consensus). Dawid–Skene is a
  second opinion in ``details`` (flag ``ds_disagrees``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from annotate.models import Kind
from curation import consensus, metrics
from curation.audit import batched
from curation.audit.common import KIND_CODES, num, nums
from curation.audit.load import ProjectData
from curation.audit.params import AuditParams
from curation.audit.rows import AuditRows
from curation.audit.summary import AlphaEntry, ConsensusInfo, DisagreementSummary


@dataclass
class ChoiceKinds:
    """What the stage returns: its summary sections and each item's consensus code."""

    consensus_code: np.ndarray  # per item index: code of the consensus choice, NaN = none (later stages read it)
    alpha: dict[str, AlphaEntry] = field(default_factory=dict)
    consensus: dict[str, ConsensusInfo] = field(default_factory=dict)


def alpha_entry(slots: np.ndarray, level: str, params: AuditParams, seed_offset: int) -> AlphaEntry:
    """Krippendorff's α of a (coders × units) matrix with its bootstrap interval over units."""
    ratings = ~np.isnan(slots)
    m_u = ratings.sum(axis=0)
    out = {
        "level": level,
        "n_units": int((m_u > 0).sum()),
        "n_pairable_units": int((m_u >= 2).sum()),
        "n_ratings": int(m_u.sum()),
        "n_boot": params.n_boot,
        "level_ci": 0.95,
    }
    if out["n_pairable_units"] == 0:
        return {**out, "alpha": None, "low": None, "high": None, "mean": None, "sd": None,
                "reason": "no item has two or more judgments"}  # fmt: skip
    if np.unique(slots[ratings]).size < 2:
        return {**out, "alpha": None, "low": None, "high": None, "mean": None, "sd": None,
                "reason": "every judgment has the same value (α is undefined)"}  # fmt: skip
    pairable = slots[:, m_u >= 2]  # units with a single rating add nothing to α
    # Same figures as metrics.krippendorff_alpha_bootstrap (same resamples), in one matrix product per chunk.
    result = batched.krippendorff_alpha_bootstrap_fast(
        pairable, level=level, n_boot=params.n_boot, seed=params.seed + seed_offset
    )
    return {
        **out,
        "alpha": num(result.estimate),
        "low": num(result.low),
        "high": num(result.high),
        "mean": num(result.mean),
        "sd": num(result.sd),
    }


def choice_kinds(data: ProjectData, rows: AuditRows, *, params: AuditParams, threshold: float) -> ChoiceKinds:
    """Pairwise and thumb items: α per kind (and of pairwise strengths), per-item
    votes, majority share, entropy and disagreement, the majority consensus
    (a curator's resolution overrides it) and Dawid–Skene as a second opinion."""
    d = data
    result = ChoiceKinds(consensus_code=np.full(len(d.item_id), np.nan))
    consensus_code = result.consensus_code
    for offset, (kind, codes) in enumerate(KIND_CODES.items()):
        mask = d.vote & (d.ann_kind == kind) & ~np.isnan(d.ann_code)
        items = np.flatnonzero(d.audited & (d.item_kind == kind))
        if items.size == 0:
            continue
        unit_of = np.full(len(d.item_id), -1)
        unit_of[items] = np.arange(items.size)
        ann = np.flatnonzero(mask)
        units = unit_of[d.ann_item[ann]]
        slots = batched.slots(units, d.ann_code[ann], items.size)
        domain = np.arange(len(codes), dtype=np.float64)
        result.alpha[kind] = alpha_entry(slots, "nominal", params, offset)
        if kind == Kind.PAIRWISE.value:
            strength = _strength_alpha(data, params, ann, units, items.size)
            if strength is not None:
                result.alpha["pairwise_strength"] = strength
        entropy = metrics.unit_entropy(slots, value_domain=domain)
        counts, _ = metrics.value_counts(slots, value_domain=domain)
        ds = _dawid_skene(data, rows, ann, units, len(codes), kind)
        info = {"method": "majority", "second_opinion": "dawid_skene" if ds else None, "items": int(items.size),
                "with_consensus": 0, "resolved": 0, "ds_disagrees": 0}  # fmt: skip
        for u, item in enumerate(items.tolist()):
            row = rows.items[item]
            votes = {codes[c]: int(counts[u, c]) for c in range(len(codes)) if counts[u, c]}
            choices = [choice for choice, n in votes.items() for _ in range(n)]
            m = len(choices)
            row.n_judgments = m
            row.details["votes"] = votes
            majority = consensus.choice_vote(choices, pairwise=kind == Kind.PAIRWISE.value)
            if m:
                agreement = consensus.item_agreement(kind=kind, votes=choices)
                row.majority_share = agreement
                row.entropy = num(entropy[u])
                row.disagreement = 1.0 - agreement
                if m >= 2 and (majority.choice is None or agreement < threshold):
                    row.flag("low_agreement")
            shares = {choice: n / m for choice, n in votes.items()}
            resolved = (d.item_resolution[item] or {}).get("choice")
            if resolved in codes:
                outcome = consensus.choice_vote(choices, resolution=resolved)
                method = "resolution"
                row.flag("resolved")
                info["resolved"] += 1
            else:
                outcome, method = majority, "majority"
                if m and outcome.choice is None:
                    row.flag("no_consensus")
            choice = outcome.choice
            row.consensus = {"choice": choice, "method": method, "shares": shares}
            if choice is not None:
                consensus_code[item] = codes.index(choice)
                info["with_consensus"] += 1
            if ds is not None and ds.get(u) is not None:
                ds_code, probs = ds[u]
                row.details["dawid_skene"] = {"choice": codes[ds_code], "p": {codes[c]: round(float(p), 6)
                                                                              for c, p in enumerate(probs)}}  # fmt: skip
                majority_choice = row.consensus["choice"] if method == "majority" else None
                if majority_choice is not None and codes[ds_code] != majority_choice:
                    row.flag("ds_disagrees")
                    info["ds_disagrees"] += 1
        result.consensus[kind] = info
    return result


def _strength_alpha(data: ProjectData, params: AuditParams, ann: np.ndarray, units: np.ndarray, n_units: int):
    """α of the signed pairwise strengths (A with strength s → +s, B → −s, tie → 0), when strengths exist."""
    d = data
    strength = d.ann_strength[ann]
    if np.isnan(strength).all():
        return None
    code = d.ann_code[ann]
    signed = np.where(code == 0, strength, np.where(code == 1, -strength, np.where(code == 2, 0.0, np.nan)))
    keep = ~np.isnan(signed)
    slots = batched.slots(units[keep], signed[keep], n_units)
    return alpha_entry(slots, "ordinal", params, 7)


def _dawid_skene(
    data: ProjectData, rows: AuditRows, ann: np.ndarray, units: np.ndarray, n_classes: int, kind: str
) -> dict | None:
    d = data
    if ann.size == 0:
        return None
    result = metrics.dawid_skene(units, d.ann_annotator[ann], d.ann_code[ann].astype(np.int64), n_classes)
    out = {}
    for t, unit in enumerate(result.tasks.tolist()):
        out[int(unit)] = (int(result.labels[t]), result.probas[t])
    # Each annotator's probability of answering the true class (prior-weighted).
    for w, a in enumerate(result.workers.tolist()):
        diag = np.diagonal(result.errors[w])
        acc = float((diag * result.priors).sum() / result.priors.sum())
        details = rows.annotators[int(a)].details
        details.setdefault("dawid_skene_accuracy", {})[kind] = round(acc, 6)
    return out


def disagreement(rows: AuditRows) -> DisagreementSummary:
    """The histogram of per-item disagreement (1 − majority share) and the flagged counts."""
    values = [r.disagreement for r in rows.items.values() if r.disagreement is not None]
    edges = np.linspace(0, 1, 11)
    counts = np.histogram(values, bins=edges)[0] if values else np.zeros(10, dtype=int)
    return {
        "edges": nums(edges),
        "counts": [int(c) for c in counts],
        "mean": num(np.mean(values)) if values else None,
        "low_agreement": sum("low_agreement" in r.flags for r in rows.items.values()),
        "no_consensus": sum("no_consensus" in r.flags for r in rows.items.values()),
    }
