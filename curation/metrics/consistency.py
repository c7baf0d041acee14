"""Intra-annotator and judge consistency (docs/algorithms.md#consistency).

Preference labels are **signed numbers in the orientation shown to the annotator**:
``+1`` = the response shown as A is preferred, ``−1`` = B, ``0`` = tie; a signed Likert
scale (``−2 … +2``) works the same way. Swapping the presentation order therefore maps a
label ``x`` to ``−x`` ("flip"). NaN means no label.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from itertools import chain, combinations, product
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.stats import kendalltau, rankdata

from .agreement import cohen_kappa

__all__ = [
    "RetestResult",
    "SwapConsistency",
    "ThumbsCheck",
    "cream_consistency",
    "judge_order_consistency",
    "retest_agreement",
    "swap_consistency",
    "thumbs_contradictions",
    "transitivity_violations",
]


def _signed(x: npt.ArrayLike, name: str) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {v.shape}")
    return v


# --------------------------------------------------------------------------------------------
# Test–retest (docs/algorithms.md#retest-agreement)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetestResult:
    """``agreement``: share of repeats that reproduce the first label (NaN if none);
    ``kappa``: Cohen's κ between first and (re-oriented) second labels; ``n``: usable
    repeats; ``same``: per repeat, True/False, or False where a label is missing (see
    ``usable``)."""

    agreement: float
    kappa: float
    n: int
    same: np.ndarray
    usable: np.ndarray


def retest_agreement(first: npt.ArrayLike, second: npt.ArrayLike, swapped: npt.ArrayLike | None = None) -> RetestResult:
    """Self-agreement between an annotator's first judgment and a repeat of the same item.

    ``swapped[i]`` is True when the repeat showed the responses in the opposite order; its
    label is flipped back (A of the swapped repeat means the original B) before comparing.
    """
    a = _signed(first, "first")
    b = _signed(second, "second")
    if a.shape != b.shape:
        raise ValueError(f"first and second must have the same length, got {a.shape} and {b.shape}")
    if swapped is not None:
        sw = np.asarray(swapped, dtype=bool)
        if sw.shape != a.shape:
            raise ValueError(f"swapped must have one flag per repeat, got shape {sw.shape}")
        b = np.where(sw, -b, b)
    usable = ~(np.isnan(a) | np.isnan(b))
    same = usable & (a == b)
    n = int(usable.sum())
    agreement = float(same.sum() / n) if n else float("nan")
    kappa = cohen_kappa(a, b) if n else float("nan")
    return RetestResult(agreement=agreement, kappa=kappa, n=n, same=same, usable=usable)


# --------------------------------------------------------------------------------------------
# Position-swap consistency (docs/algorithms.md#swap-consistency)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SwapConsistency:
    """``consistent[i]``: verdict(A,B) == flip(verdict(B,A)) (False where a verdict is
    missing, see ``usable``); ``rate``: share consistent among usable pairs (NaN if none);
    ``combined[i]``: the verdict in the original orientation where consistent, NaN where
    inconsistent or missing (FastChat's "inconsistent")."""

    consistent: np.ndarray
    usable: np.ndarray
    rate: float
    combined: np.ndarray


def swap_consistency(verdict_ab: npt.ArrayLike, verdict_ba: npt.ArrayLike) -> SwapConsistency:
    """FastChat's position-swap rule: ``verdict_ab`` judged (A=x, B=y), ``verdict_ba`` the same
    pair shown as (A=y, B=x), both signed in the orientation shown (docs/algorithms.md#swap-consistency). A tie (0) is
    consistent with a tie."""
    g1 = _signed(verdict_ab, "verdict_ab")
    g2 = _signed(verdict_ba, "verdict_ba")
    if g1.shape != g2.shape:
        raise ValueError(f"verdict_ab and verdict_ba must have the same length, got {g1.shape} and {g2.shape}")
    usable = ~(np.isnan(g1) | np.isnan(g2))
    consistent = usable & (g1 == -g2)
    n = int(usable.sum())
    rate = float(consistent.sum() / n) if n else float("nan")
    combined = np.where(consistent, g1, np.nan)
    return SwapConsistency(consistent=consistent, usable=usable, rate=rate, combined=combined)


judge_order_consistency = swap_consistency
"""Judge order-consistency (PC, docs/algorithms.md#position-swap) is the same rule applied to an LLM judge's two runs."""


# --------------------------------------------------------------------------------------------
# Transitivity (docs/algorithms.md#transitivity)
# --------------------------------------------------------------------------------------------


def _weak_order_table() -> np.ndarray:
    """consistent[a+1, b+1, c+1] for a = s(i,j), b = s(j,k), c = s(i,k) in {−1, 0, +1}:
    True iff some ranking with ties of (i, j, k) yields exactly these three relations."""
    table = np.zeros((3, 3, 3), dtype=bool)
    for si, sj, sk in product(range(3), repeat=3):
        a = int(np.sign(si - sj))
        b = int(np.sign(sj - sk))
        c = int(np.sign(si - sk))
        table[a + 1, b + 1, c + 1] = True
    return table


_WEAK_ORDER = _weak_order_table()


def transitivity_violations(
    edges: Iterable[tuple[Hashable, Hashable]],
    ties: Iterable[tuple[Hashable, Hashable]] = (),
    mode: Literal["weak_order", "strict_cycles"] = "weak_order",
) -> tuple[int, int]:
    """Count intransitive triads among one annotator's pairwise choices on one prompt.

    ``edges``: ``(winner, loser)`` pairs (any hashable response ids); ``ties``: pairs judged
    equal. Repeated judgments of a pair are netted (wins − losses); a balance counts as a
    tie. A triad is *fully judged* when all three of its pairs were judged.

    ``mode="weak_order"`` (default) counts triads whose three relations no ranking with ties
    could produce: strict cycles ``i≻j≻k≻i`` and tie violations such as ``i~j, j~k, i≻k`` or
    ``i~j, j≻k, k≻i``. ``mode="strict_cycles"`` counts only the 3-cycles of strict
    preferences (triads with a tie never count), the classic circular-triad count.

    Returns ``(violations, fully_judged_triads)``.
    """
    if mode not in ("weak_order", "strict_cycles"):
        raise ValueError(f"mode must be 'weak_order' or 'strict_cycles', got {mode!r}")
    edges = list(edges)
    ties = list(ties)
    ids: dict[Hashable, int] = {}
    for pair in edges + ties:
        if len(pair) != 2:
            raise ValueError(f"each edge must be a (winner, loser) pair, got {pair!r}")
        x, y = pair
        if x == y:
            raise ValueError(f"an item cannot be compared with itself: {pair!r}")
        ids.setdefault(x, len(ids))
        ids.setdefault(y, len(ids))
    n = len(ids)
    if n < 3:
        return 0, 0
    net = np.zeros((n, n), dtype=np.int64)
    judged = np.zeros((n, n), dtype=bool)
    for x, y in edges:
        i, j = ids[x], ids[y]
        net[i, j] += 1
        net[j, i] -= 1
        judged[i, j] = judged[j, i] = True
    for x, y in ties:
        i, j = ids[x], ids[y]
        judged[i, j] = judged[j, i] = True
    rel = np.sign(net)
    n_tri = n * (n - 1) * (n - 2) // 6
    flat = np.fromiter(chain.from_iterable(combinations(range(n), 3)), dtype=np.intp, count=3 * n_tri)
    i, j, k = flat.reshape(n_tri, 3).T
    full = judged[i, j] & judged[j, k] & judged[i, k]
    i, j, k = i[full], j[full], k[full]
    a, b, c = rel[i, j], rel[j, k], rel[i, k]
    if mode == "weak_order":
        bad = ~_WEAK_ORDER[a + 1, b + 1, c + 1]
    else:
        bad = (a != 0) & (a == b) & (c == -a)
    return int(bad.sum()), int(full.sum())


# --------------------------------------------------------------------------------------------
# Thumbs vs pairwise choices
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThumbsCheck:
    """``contradictions``: pairwise choices whose winner got a thumbs-down and loser a
    thumbs-up from the same annotator; ``comparable``: choices where both responses have a
    thumb; ``mask[i]``: whether choice i contradicts."""

    contradictions: int
    comparable: int
    mask: np.ndarray


def thumbs_contradictions(
    choices: Iterable[tuple[Hashable, Hashable]], thumbs: Mapping[Hashable, float]
) -> ThumbsCheck:
    """Pairwise choices ``(winner, loser)`` of one annotator against the same annotator's
    thumbs (``thumbs[response] > 0`` up, ``< 0`` down; absent or 0 = no thumb)."""
    rows = list(choices)
    mask = np.zeros(len(rows), dtype=bool)
    comparable = 0
    for n, (winner, loser) in enumerate(rows):
        tw = thumbs.get(winner)
        tl = thumbs.get(loser)
        if tw is None or tl is None or tw != tw or tl != tl or tw == 0 or tl == 0:
            continue
        comparable += 1
        mask[n] = tw < 0 < tl
    return ThumbsCheck(contradictions=int(mask.sum()), comparable=comparable, mask=mask)


# --------------------------------------------------------------------------------------------
# CREAM consistency (docs/algorithms.md#cream-consistency)
# --------------------------------------------------------------------------------------------


def cream_consistency(scores1: npt.ArrayLike, scores2: npt.ArrayLike) -> float:
    """CREAM's C = (τ_b + 1)/2 between two scorings of the same responses (docs/algorithms.md#cream-consistency).

    As in ``cal_consistency.py``: each scoring is ranked with ``rankdata(method="ordinal")``
    (ties broken by position) and τ is ``scipy.stats.kendalltau`` (τ-b) of the ranks.
    Returns NaN for fewer than 2 responses; raises on NaN scores or length mismatch.
    """
    a = _signed(scores1, "scores1")
    b = _signed(scores2, "scores2")
    if a.shape != b.shape:
        raise ValueError(f"scores1 and scores2 must have the same length, got {a.shape} and {b.shape}")
    if np.isnan(a).any() or np.isnan(b).any():
        raise ValueError("scores must not contain NaN")
    if len(a) < 2:
        return float("nan")
    tau = kendalltau(rankdata(a, method="ordinal"), rankdata(b, method="ordinal")).statistic
    return float((tau + 1.0) / 2.0)
