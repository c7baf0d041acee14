"""What every audit stage shares: the choice codes and small array and JSON helpers.

Pairwise codes are canonical (A = the item's response at position 0):
A=0, B=1, tie=2, both_bad=3 (nominal); thumb up=0, down=1.
"""

from __future__ import annotations

import math

import numpy as np

from annotate.models import Kind
from curation import metrics

PAIRWISE_CODES = ("A", "B", "tie", "both_bad")
THUMB_CODES = ("up", "down")
KIND_CODES = {Kind.PAIRWISE.value: PAIRWISE_CODES, Kind.THUMB.value: THUMB_CODES}
KINDS = [k.value for k in Kind]


# ---------------------------------------------------------------- JSON helpers (NaN/undefined → null)


def num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def nums(values) -> list:
    return [num(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def matrix(values) -> list:
    return [nums(row) for row in np.asarray(values, dtype=np.float64)]


def boot(result: metrics.BootstrapResult) -> dict:
    return {
        "estimate": num(result.estimate),
        "mean": num(result.mean),
        "sd": num(result.sd),
        "low": num(result.low),
        "high": num(result.high),
        "n_ok": result.n_ok,
    }


# ---------------------------------------------------------------- array helpers


def index_of(sorted_ids: np.ndarray, ids) -> np.ndarray:
    """Positions of ``ids`` in ``sorted_ids`` (-1 where absent)."""
    ids = np.asarray(ids, dtype=np.int64)
    if sorted_ids.size == 0:
        return np.full(ids.shape, -1, dtype=np.int64)
    pos = np.searchsorted(sorted_ids, ids)
    pos = np.minimum(pos, len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == ids, pos, -1)


def group_slices(keys: np.ndarray):
    """(key, indices) for each distinct key, indices into ``keys``."""
    if keys.size == 0:
        return
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    cuts = np.flatnonzero(np.diff(sorted_keys)) + 1
    for part in np.split(order, cuts):
        yield keys[part[0]], part


def signed(code: float) -> float:
    """Pairwise code → signed label: A +1, B −1, tie 0, both_bad 2 (its own value)."""
    if np.isnan(code):
        return np.nan
    return (1.0, -1.0, 0.0, 2.0)[int(code)]


def rank_groups(order: np.ndarray) -> list[list[int]]:
    """Positions grouped by mid-rank, best first (position order inside a group)."""
    levels = sorted(set(order.tolist()))
    return [[i for i, r in enumerate(order.tolist()) if r == level] for level in levels]
