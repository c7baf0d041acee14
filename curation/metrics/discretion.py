"""Alignment discretion metrics (docs/algorithms.md#discretion; Buyl et al., arXiv 2502.10441).

``P``: items × principles matrix of principle-specific preferences in {+1, −1, NaN}
(+1 = the principle prefers y1); ``a``: the annotator's preference per item in
{+1, −1, 0, NaN} (0 = order-inconsistent judgment, excluded like NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from scipy.stats import kendalltau, rankdata

from .bootstrap import BootstrapResult, bootstrap

__all__ = [
    "CONFLICT",
    "CONSENSUS",
    "INDIFFERENCE",
    "AgreementCategories",
    "PrinciplePriority",
    "agreement_categories",
    "discretion_arbitrariness",
    "discretion_arbitrariness_bootstrap",
    "discretion_discrepancy",
    "principle_priority",
    "principle_supremacy",
]

INDIFFERENCE = "indifference"
CONFLICT = "conflict"
CONSENSUS = "consensus"


def _principles(P: npt.ArrayLike) -> np.ndarray:
    p = np.asarray(P, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"P must be a 2-D items × principles matrix, got shape {p.shape}")
    ok = np.isnan(p) | (p == 1) | (p == -1)
    if not ok.all():
        r, c = np.argwhere(~ok)[0]
        raise ValueError(f"P must hold +1, -1 or NaN; P[{r}, {c}] = {p[r, c]!r}")
    return p


def _annotator(a: npt.ArrayLike, n_items: int) -> np.ndarray:
    v = np.asarray(a, dtype=np.float64)
    if v.shape != (n_items,):
        raise ValueError(f"a must have one preference per item ({n_items}), got shape {v.shape}")
    ok = np.isnan(v) | np.isin(v, (-1.0, 0.0, 1.0))
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"a must hold +1, -1, 0 or NaN; a[{i}] = {v[i]!r}")
    return v


# --------------------------------------------------------------------------------------------
# docs/algorithms.md#agreement-categories agreement categories
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementCategories:
    """``category[i]`` in {'indifference', 'conflict', 'consensus'}; ``consensus_sign[i]`` the
    shared sign κ for consensus items, NaN otherwise."""

    category: np.ndarray
    consensus_sign: np.ndarray


def agreement_categories(P: npt.ArrayLike) -> AgreementCategories:
    """Indifference (all NaN) / conflict (both signs present) / consensus per item (docs/algorithms.md#agreement-categories)."""
    p = _principles(P)
    has_pos = (p == 1).any(axis=1)
    has_neg = (p == -1).any(axis=1)
    category = np.where(has_pos & has_neg, CONFLICT, np.where(has_pos | has_neg, CONSENSUS, INDIFFERENCE))
    sign = np.where(has_pos & ~has_neg, 1.0, np.where(has_neg & ~has_pos, -1.0, np.nan))
    return AgreementCategories(category=category.astype(object), consensus_sign=sign)


# --------------------------------------------------------------------------------------------
# docs/algorithms.md#discretion-arbitrariness discretion arbitrariness
# --------------------------------------------------------------------------------------------


def _da_parts(P: npt.ArrayLike, a: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p = _principles(P)
    v = _annotator(a, p.shape[0])
    kappa = agreement_categories(p).consensus_sign
    return kappa, v


def _da(kappa: np.ndarray, v: np.ndarray) -> float:
    rows = ~np.isnan(kappa) & ~np.isnan(v) & (v != 0)
    if not rows.any():
        return float("nan")
    return float((kappa[rows] * v[rows] < 0).mean())


def discretion_arbitrariness(P: npt.ArrayLike, a: npt.ArrayLike) -> float:
    """DA(a): share of consensus items (with a usable annotator label) where the annotator
    goes against the unanimous principles (docs/algorithms.md#discretion-arbitrariness). NaN when there is no such item."""
    return _da(*_da_parts(P, a))


def discretion_arbitrariness_bootstrap(
    P: npt.ArrayLike, a: npt.ArrayLike, n_boot: int = 1000, seed: int | None = 0, level: float = 0.95
) -> BootstrapResult:
    """Bootstrap of DA over the consensus items, as in the authors' analysis (docs/algorithms.md#discretion-arbitrariness):
    resample all consensus rows with replacement, recompute DA; mean, SD, percentile CI."""
    kappa, v = _da_parts(P, a)
    rows = np.flatnonzero(~np.isnan(kappa))
    if rows.size == 0:
        nan = float("nan")
        return BootstrapResult(nan, nan, nan, nan, nan, level, 0)
    kc, vc = kappa[rows], v[rows]
    return bootstrap(lambda idx: _da(kc[idx], vc[idx]), len(rows), n_boot=n_boot, seed=seed, level=level)


# --------------------------------------------------------------------------------------------
# docs/algorithms.md#principle-supremacy principle supremacy
# --------------------------------------------------------------------------------------------


def principle_supremacy(P: npt.ArrayLike, a: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Supremacy matrix PS and conflict counts N (docs/algorithms.md#principle-supremacy).

    ``N[i, j]`` = items where principles i and j disagree and the annotator gave a usable
    label; ``PS[i, j]`` = share of those where the annotator sides with i (NaN where N = 0,
    including the diagonal). PS(i, j) + PS(j, i) = 1 where defined.
    """
    p = _principles(P)
    v = _annotator(a, p.shape[0])
    valid = ~np.isnan(v) & (v != 0)
    pv = np.nan_to_num(p[valid], nan=0.0)  # 0 = principle silent
    av = v[valid]
    pos = (pv == 1).astype(np.float64)
    neg = (pv == -1).astype(np.float64)
    conflicts = pos.T @ neg + neg.T @ pos  # items where p_i · p_j < 0
    # annotator sides with i in a conflict (i, j): p_i = a and p_j = −a
    a_pos = (av > 0).astype(np.float64)[:, None]
    a_neg = (av < 0).astype(np.float64)[:, None]
    wins = (pos * a_pos).T @ neg + (neg * a_neg).T @ pos
    with np.errstate(invalid="ignore", divide="ignore"):
        ps = np.where(conflicts > 0, wins / np.where(conflicts > 0, conflicts, 1), np.nan)
    return ps, conflicts


# --------------------------------------------------------------------------------------------
# docs/algorithms.md#principle-priority principle priority ("Elo")
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrinciplePriority:
    """``elo[c]``: fitted score (finite ones centred to mean 0), ``+inf`` for a principle that
    wins every conflict it is in, ``−inf`` for one that loses every one, NaN for a principle
    never in a conflict; ``rank[c]``: 1 = highest priority (average ranks on ties, NaN where
    elo is NaN); ``converged``: optimiser status."""

    elo: np.ndarray
    rank: np.ndarray
    converged: bool


def principle_priority(PS: npt.ArrayLike, N: npt.ArrayLike) -> PrinciplePriority:
    """Bradley–Terry/Elo fit of principle scores to the supremacy matrix (docs/algorithms.md#principle-priority).

    Minimises Σ_{i,j} N_ij · BCEWithLogits(e_i − e_j, PS_ij) over the principles that are
    neither always-win nor always-lose (L-BFGS; the authors used Adam on the N-weighted
    mean, which has the same minimiser). Pairs involving a ±inf principle are dropped.
    Differences are identifiable, the overall shift is not: finite scores are centred.

    Departure from the authors' code: a principle whose PS row is all NaN (never in a
    conflict) gets NaN (their code gives it −inf).
    """
    ps = np.asarray(PS, dtype=np.float64)
    n = np.asarray(N, dtype=np.float64)
    if ps.ndim != 2 or ps.shape[0] != ps.shape[1] or n.shape != ps.shape:
        raise ValueError(f"PS and N must be square matrices of the same shape, got {ps.shape} and {n.shape}")
    k = ps.shape[0]
    defined = ~np.isnan(ps) & (n > 0)
    none = ~defined.any(axis=1)
    always_win = np.where(defined, ps == 1, True).all(axis=1) & ~none
    always_lose = np.where(defined, ps == 0, True).all(axis=1) & ~none
    free = ~(none | always_win | always_lose)
    elo = np.full(k, np.nan)
    elo[always_win] = np.inf
    elo[always_lose] = -np.inf
    converged = True
    idx = np.flatnonzero(free)
    if idx.size:
        sub_ps = np.where(defined, ps, 0.5)[np.ix_(idx, idx)]
        sub_n = np.where(defined, n, 0.0)[np.ix_(idx, idx)]

        def loss(e: np.ndarray) -> tuple[float, np.ndarray]:
            x = e[:, None] - e[None, :]
            # BCE with logits: −[y log σ(x) + (1 − y) log σ(−x)]
            val = -(sub_n * (sub_ps * log_expit(x) + (1.0 - sub_ps) * log_expit(-x))).sum()
            g = sub_n * (expit(x) - sub_ps)
            return float(val), g.sum(axis=1) - g.sum(axis=0)

        res = minimize(
            loss,
            np.zeros(idx.size),
            jac=True,
            method="L-BFGS-B",
            options={"gtol": 1e-10, "ftol": 0.0, "maxiter": 30_000},
        )
        converged = bool(res.success) or float(np.abs(res.jac).max()) < 1e-7
        e = res.x - res.x.mean()
        elo[idx] = e
    rank = np.full(k, np.nan)
    known = ~np.isnan(elo)
    rank[known] = rankdata(-elo[known], method="average")
    return PrinciplePriority(elo=elo, rank=rank, converged=converged)


# --------------------------------------------------------------------------------------------
# docs/algorithms.md#discretion-discrepancy discretion discrepancy
# --------------------------------------------------------------------------------------------


def discretion_discrepancy(rank_a: npt.ArrayLike, rank_b: npt.ArrayLike) -> float:
    """DD(a, b) = (1 − τ_b(rank_a, rank_b)) / 2 over principles ranked by both (docs/algorithms.md#discretion-discrepancy).

    0 = identical priority order, 1 = reversed; NaN when τ is undefined (fewer than two
    common principles or a constant ranking). Elo vectors work too (τ only uses order).
    """
    ra = np.asarray(rank_a, dtype=np.float64)
    rb = np.asarray(rank_b, dtype=np.float64)
    if ra.shape != rb.shape or ra.ndim != 1:
        raise ValueError(f"rank_a and rank_b must be 1-D of equal length, got {ra.shape} and {rb.shape}")
    both = ~np.isnan(ra) & ~np.isnan(rb)
    if both.sum() < 2:
        return float("nan")
    tau = kendalltau(ra[both], rb[both], variant="b").statistic
    return float((1.0 - tau) / 2.0)
