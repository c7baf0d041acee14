"""Audit stage: CHES per pairwise item with consensus A or B (chosen = the
winner), from the stored response encodings of the project's model
(``curation.ches.selectors.pair_ches``); items whose responses are not
encoded keep null CHES."""

from __future__ import annotations

import math

import numpy as np

from annotate.models import Kind, Project
from curation.audit.common import num, nums
from curation.audit.load import ProjectData
from curation.audit.rows import AuditRows
from curation.audit.summary import ChesSummary
from curation.ches.selectors import encoding_model_name, pair_ches

CHES_TOP = 20


class ChesUnavailable(Exception):
    """CHES cannot be computed for this project (no model, no encoding service)."""


def ches_for_pairs(*, project: Project, pairs: list[tuple[int, int]]) -> tuple[str, np.ndarray, np.ndarray]:
    """``(model_name, ches [N], ln_ches [N])`` from the stored encodings (NaN where not encoded)."""
    try:
        model_name = encoding_model_name(project=project)
    except Exception as exc:  # ModelNotFoundError and friends: say why in the summary
        raise ChesUnavailable(f"no model to encode with: {exc}") from None
    values, normalised = pair_ches(pairs=pairs, model_name=model_name)
    return model_name, values, normalised


def ches(data: ProjectData, rows: AuditRows, *, project: Project, consensus_code: np.ndarray) -> ChesSummary:
    """CHES of every pairwise item with a consensus winner, from the stored encodings."""
    d = data
    pairs, items = [], []
    for item, row in rows.items.items():
        if d.item_kind[item] != Kind.PAIRWISE.value:
            continue
        code = consensus_code[item]
        responses = d.item_responses[item]
        if code not in (0.0, 1.0) or len(responses) != 2:
            continue
        chosen, rejected = (responses[0], responses[1]) if code == 0 else (responses[1], responses[0])
        row.chosen, row.rejected = chosen, rejected
        pairs.append((chosen, rejected))
        items.append(item)
    info = {"model": None, "status": "no_pairs", "reason": "", "eligible": len(pairs), "scored": 0,
            "mean_ln_ches": None, "histogram": {"edges": [], "counts": []}, "quantiles": {}, "top": []}  # fmt: skip
    if not pairs:
        info["reason"] = "no pairwise item has a consensus winner"
        return info
    try:
        model_name, values, normalised = ches_for_pairs(project=project, pairs=pairs)
    except ChesUnavailable as exc:
        info["status"] = "unavailable"
        info["reason"] = str(exc)
        return info
    info["model"] = model_name
    scored = []
    for item, value, ln_value in zip(items, values.tolist(), normalised.tolist(), strict=True):
        if not math.isfinite(ln_value):
            continue
        row = rows.items[item]
        row.ches, row.ln_ches, row.ches_model = num(value), ln_value, model_name
        scored.append((ln_value, item))
    info["scored"] = len(scored)
    if not scored:
        info["status"] = "no_encodings"
        info["reason"] = "none of the pairs' responses are encoded with this model; run the encode job"
        return info
    info["status"] = "ok"
    ln = np.array([s for s, _ in scored])
    counts, edges = np.histogram(ln, bins=20)
    info["histogram"] = {"edges": nums(edges), "counts": [int(c) for c in counts]}
    q = np.quantile(ln, [0.05, 0.25, 0.5, 0.75, 0.95])
    info["quantiles"] = dict(zip(("p05", "p25", "p50", "p75", "p95"), nums(q), strict=True))
    info["mean_ln_ches"] = num(ln.mean())
    for value, item in sorted(scored, key=lambda s: -s[0])[:CHES_TOP]:
        row = rows.items[item]
        info["top"].append({
            "item": d.item_uuid[item], "chosen": d.response_uuid[row.chosen],
            "rejected": d.response_uuid[row.rejected], "ches": row.ches, "ln_ches": value,
        })  # fmt: skip
    return info
