"""CHES and length-normalised CHES (docs/algorithms.md#ches, Razin et al., ICLR 2025).

Inputs are the per-response sums of last-layer hidden states ``S = Σ_k h_{x, y<k}`` over
the positions that predict each response token (last prompt position through the
second-to-last position, terminator included, docs/algorithms.md#ches-encoding) and the number of summed vectors.

    CHES    = <S+, S-> − ||S+||²
    LN-CHES = <S+, S-> / (|y+|·|y-|) − ||S+||² / |y+|²

Higher means more similar preferences, i.e. more likelihood displacement. CHES is
asymmetric: ``ches(a, b) != ches(b, a)`` in general; ``ches(s, s) == 0``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["ches", "ches_batch", "ches_select", "ln_ches"]


def _vec(x: npt.ArrayLike, name: str) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"{name} must be a 1-D hidden-state sum, got shape {v.shape}")
    return v


def _count(n: float, name: str) -> float:
    if not n > 0:
        raise ValueError(f"{name} must be a positive token count, got {n!r}")
    return float(n)


def ches(s_pos: npt.ArrayLike, s_neg: npt.ArrayLike) -> float:
    """CHES(y+, y-) = <S+, S-> − ||S+||² (docs/algorithms.md#ches)."""
    p = _vec(s_pos, "s_pos")
    n = _vec(s_neg, "s_neg")
    if p.shape != n.shape:
        raise ValueError(f"s_pos and s_neg must have the same dimension, got {p.shape} and {n.shape}")
    return float(p @ n - p @ p)


def ln_ches(s_pos: npt.ArrayLike, n_pos: float, s_neg: npt.ArrayLike, n_neg: float) -> float:
    """Length-normalised CHES = <S+, S->/(|y+||y-|) − ||S+||²/|y+|² (docs/algorithms.md#ches)."""
    p = _vec(s_pos, "s_pos")
    n = _vec(s_neg, "s_neg")
    if p.shape != n.shape:
        raise ValueError(f"s_pos and s_neg must have the same dimension, got {p.shape} and {n.shape}")
    lp = _count(n_pos, "n_pos")
    ln = _count(n_neg, "n_neg")
    return float((p @ n) / (lp * ln) - (p @ p) / lp**2)


def ches_batch(
    s_pos: npt.ArrayLike, s_neg: npt.ArrayLike, n_pos: npt.ArrayLike, n_neg: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised CHES and LN-CHES for B pairs (docs/algorithms.md#ches-encoding).

    ``s_pos``, ``s_neg``: [B, d] hidden-state sums; ``n_pos``, ``n_neg``: [B] token counts.
    Returns ``(ches [B], ln_ches [B])`` in float64.
    """
    p = np.asarray(s_pos, dtype=np.float64)
    n = np.asarray(s_neg, dtype=np.float64)
    if p.ndim != 2 or p.shape != n.shape:
        raise ValueError(f"s_pos and s_neg must both have shape [B, d], got {p.shape} and {n.shape}")
    lp = np.asarray(n_pos, dtype=np.float64).reshape(-1)
    ln = np.asarray(n_neg, dtype=np.float64).reshape(-1)
    if lp.shape != (p.shape[0],) or ln.shape != (p.shape[0],):
        raise ValueError(f"n_pos and n_neg must have shape [{p.shape[0]}], got {lp.shape} and {ln.shape}")
    if not (np.all(lp > 0) and np.all(ln > 0)):
        raise ValueError("n_pos and n_neg must be positive token counts")
    cross = np.einsum("bd,bd->b", p, n)
    self_sq = np.einsum("bd,bd->b", p, p)
    return cross - self_sq, cross / (lp * ln) - self_sq / lp**2


def ches_select(
    scores: npt.ArrayLike,
    keep_fraction: float | None = None,
    drop_above_quantile: float | None = None,
    center_quantile: float = 0.0,
) -> np.ndarray:
    """Boolean keep-mask over pairs from their (LN-)CHES scores (docs/algorithms.md#ches-selection).

    Exactly one of:

    * ``keep_fraction=p``: the paper's window rule — sort ascending, keep
      ``n = ceil(p·N)`` samples centred at quantile ``center_quantile`` (``idx =
      round(q·(N−1))``, ``start = max(0, idx − n//2)``, shifted back inside the array);
      ``center_quantile=0`` (default) keeps the ``n`` lowest, the paper's §6.3 setting (p = 0.05).
    * ``drop_above_quantile=q``: keep samples whose score is ≤ the q-quantile of the scores
      (``numpy.quantile``, linear interpolation); e.g. ``q=0.85`` drops the top 15 %.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if np.isnan(s).any():
        raise ValueError("scores must not contain NaN")
    if (keep_fraction is None) == (drop_above_quantile is None):
        raise ValueError("give exactly one of keep_fraction or drop_above_quantile")
    total = len(s)
    keep = np.zeros(total, dtype=bool)
    if total == 0:
        return keep
    if keep_fraction is not None:
        if not 0 < keep_fraction <= 1:
            raise ValueError("keep_fraction must be in (0, 1]")
        if not 0 <= center_quantile <= 1:
            raise ValueError("center_quantile must be in [0, 1]")
        n = min(total, max(1, math.ceil(round(keep_fraction * total, 9))))
        order = np.argsort(s, kind="stable")
        idx = round(center_quantile * (total - 1))
        start = max(0, idx - n // 2)
        end = start + n
        if end > total:
            end = total
            start = max(0, end - n)
        keep[order[start:end]] = True
        return keep
    q = float(drop_above_quantile)  # type: ignore[arg-type]
    if not 0 <= q <= 1:
        raise ValueError("drop_above_quantile must be in [0, 1]")
    return s <= np.quantile(s, q)
