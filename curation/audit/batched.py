"""Many small problems at once: the per-item maths of the audit, vectorised
over every item so a project with thousands of ranking items costs a few
array passes instead of thousands of Python-level calls.

Each function reproduces, item by item, what the matching pure function in
:mod:`curation.metrics` returns for that item alone (tests compare them).
"""

from __future__ import annotations

import numpy as np


def slots(unit: np.ndarray, values: np.ndarray, n_units: int) -> np.ndarray:
    """A compact raters × units matrix: the ratings of each unit stacked in rows
    0..m_u−1 (NaN below). Rater identity is irrelevant to α and to per-unit
    counts, so this carries all they need in max(m_u) × units cells."""
    order = np.argsort(unit, kind="stable")
    u = unit[order]
    v = values[order]
    starts = np.searchsorted(u, np.arange(n_units))
    pos = np.arange(len(u)) - starts[u] if len(u) else np.zeros(0, dtype=np.int64)
    height = int(pos.max()) + 1 if len(u) else 1
    mat = np.full((height, n_units), np.nan)
    mat[pos, u] = v
    return mat


def mid_ranks(scores: np.ndarray) -> np.ndarray:
    """Mid-ranks (1 = best) of one score vector, higher = better; scores equal to
    9 significant digits (relative to the largest) tie. Same as
    ``scipy.stats.rankdata(-scores, method="average")`` without its overhead."""
    s = np.asarray(scores, dtype=np.float64)
    scale = max(float(np.abs(s).max()), 1e-300) if s.size else 1.0
    r = np.round(s / scale, 9)
    higher = (r[None, :] > r[:, None]).sum(axis=1)
    equal = (r[None, :] == r[:, None]).sum(axis=1)
    return higher + (equal + 1) / 2.0


def kendall_w_many(ranks: np.ndarray) -> np.ndarray:
    """Kendall's W with tie correction for B problems of m raters × n objects.

    ``ranks``: [B, m, n] mid-ranks (as ``metrics.kendall_w`` re-ranks each row with
    mid-ranks, rows must already be mid-ranks). Returns [B]; NaN where undefined.
    """
    r = np.asarray(ranks, dtype=np.float64)
    _, m, n = r.shape
    totals = r.sum(axis=1)  # [B, n]
    s = ((totals - totals.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    # Σ over tie groups of (t³ − t) = Σ over elements of (t_i² − 1), t_i = size of i's group
    t = (r[:, :, :, None] == r[:, :, None, :]).sum(axis=3)
    ties = (t**2 - 1).sum(axis=(1, 2))
    denom = m**2 * (n**3 - n) - m * ties
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom != 0, 12.0 * s / np.where(denom != 0, denom, 1), np.nan)


def krippendorff_alpha_bootstrap_fast(
    data: np.ndarray, level: str = "nominal", n_boot: int = 1000, seed: int | None = 0, confidence: float = 0.95
):
    """``metrics.krippendorff_alpha_bootstrap`` for large data, same resamples.

    A bootstrap replicate only changes how many times each unit is drawn, and the
    coincidence matrix is a sum of per-unit contributions, so replicate b's matrix
    is ``counts_b @ F`` (F: units × values², built once) instead of a fresh pass
    over the resampled units. The random draws are those of
    :func:`curation.metrics.bootstrap.bootstrap` (``default_rng(seed)``, one
    ``integers(0, n, n)`` per replicate), so the result equals the reference's up
    to floating-point summation order.
    """
    from curation.metrics.agreement import _distance_matrix, _wide_counts

    wide, cols, domain = _wide_counts(np.asarray(data), None)
    counts = wide[:, cols]
    n_values = counts.shape[1]
    if level == "ordinal":  # the ordinal metric depends on each replicate's value totals

        def distance(n_v: np.ndarray) -> np.ndarray:
            return _distance_matrix(level, domain, n_v)

    else:
        distance = _distance_matrix(level, domain, np.zeros(n_values))
    return alpha_bootstrap_counts_fast(counts, distance, n_boot=n_boot, seed=seed, confidence=confidence)


def alpha_bootstrap_counts_fast(counts: np.ndarray, distance, n_boot: int = 1000, seed: int | None = 0,
                                confidence: float = 0.95):  # fmt: skip
    """The bootstrap of :func:`krippendorff_alpha_bootstrap_fast` on a units × values count
    matrix with any distance between the values: ``distance`` is the values × values matrix, or
    a function of the replicate's value totals ``n_v`` returning it (the ordinal metric). The
    multi-label α (``metrics.multilabel_alpha_bootstrap``, MASI/Jaccard between label sets)
    uses it with a fixed matrix; same draws as ``metrics.bootstrap``.

    With a fixed matrix D a replicate needs no coincidence matrix: its observed disagreement
    is ``Σ_u draws_u · n_uᵀ D n_u / (m_u − 1)`` (D has a zero diagonal) and its expected one
    ``n_vᵀ D n_v / (n − 1)`` with ``n_v = Σ_u draws_u · n_u`` over pairable units, so a chunk
    of replicates is two matrix products of units × values."""
    n_units, n_values = counts.shape
    if n_units < 1:
        raise ValueError("bootstrap needs at least one row")
    m_u = counts.sum(axis=1)
    weight = np.zeros(n_units)
    np.divide(1.0, m_u - 1.0, out=weight, where=m_u >= 2)
    pairable = (weight > 0).astype(np.float64)
    fixed = None if callable(distance) else np.asarray(distance, dtype=np.float64)
    if fixed is not None:
        observed_u = np.einsum("uc,ck,uk->u", counts, fixed, counts) * weight  # per unit Σ n_uc n_uk δ_ck / (m_u − 1)
        pairable_counts = counts * pairable[:, None]

        def replicate(draws: np.ndarray) -> list[float]:
            n_v = draws @ pairable_counts  # [B, values]
            n = n_v.sum(axis=1)
            expected = np.einsum("bc,ck,bk->b", n_v, fixed, n_v) / np.where(n > 1, n - 1.0, 1.0)
            observed = draws @ observed_u
            ok = (draws @ pairable > 0) & (n > 1) & (expected != 0) & (n_values >= 2)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(ok, 1.0 - observed / np.where(ok, expected, 1.0), np.nan).tolist()

    else:
        contrib = counts[:, :, None] * counts[:, None, :]
        contrib[:, np.arange(n_values), np.arange(n_values)] -= counts
        contrib = (contrib * weight[:, None, None]).reshape(n_units, n_values * n_values)

        def alpha_of(o: np.ndarray) -> float:
            n_v = o.sum(axis=0)
            n = n_v.sum()
            if n_values < 2 or n <= 1:
                return float("nan")
            e = (np.outer(n_v, n_v) - np.diag(n_v)) / (n - 1.0)
            d = distance(n_v)
            expected = (e * d).sum()
            if expected == 0:
                return float("nan")
            return float(1.0 - (o * d).sum() / expected)

        def replicate(draws: np.ndarray) -> list[float]:
            o = (draws @ contrib).reshape(len(draws), n_values, n_values)
            ok = draws @ pairable > 0  # a replicate with no pairable unit is undefined (skipped)
            return [alpha_of(o[b]) if ok[b] else float("nan") for b in range(len(draws))]

    estimate = replicate(np.ones((1, n_units)))[0] if pairable.any() else float("nan")
    rng = np.random.default_rng(seed)
    values: list[float] = []
    chunk = max(1, min(n_boot, 2_000_000 // max(n_units, 1)))
    done = 0
    while done < n_boot:
        size = min(chunk, n_boot - done)
        draws = np.stack([np.bincount(rng.integers(0, n_units, size=n_units), minlength=n_units) for _ in range(size)])
        values += replicate(draws.astype(np.float64))
        done += size
    return _summarise(np.array(values), estimate, confidence)


def _summarise(values: np.ndarray, estimate: float, confidence: float):
    """Replicate statistics → ``BootstrapResult`` exactly as ``metrics.bootstrap`` summarises them."""
    from curation.metrics.bootstrap import BootstrapResult

    values = values[np.isfinite(values)]
    if values.size == 0:
        nan = float("nan")
        return BootstrapResult(estimate, nan, nan, nan, nan, confidence, 0)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return BootstrapResult(
        estimate, float(values.mean()), float(values.std()), float(low), float(high), confidence, int(values.size)
    )


def _bootstrap_ratio(hits: np.ndarray, usable: np.ndarray, estimate: float, n_boot: int, seed, confidence: float):
    """Bootstrap of Σ hits / Σ usable over rows, with the resamples of ``metrics.bootstrap``."""
    n = len(hits)
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    for b in range(n_boot):
        counts = np.bincount(rng.integers(0, n, size=n), minlength=n)
        total = counts @ usable
        values[b] = counts @ hits / total if total else np.nan
    return _summarise(values, estimate, confidence)


def discretion_arbitrariness_bootstrap_fast(P, a, n_boot: int = 1000, seed: int | None = 0, level: float = 0.95):
    """``metrics.discretion_arbitrariness_bootstrap`` with the same resamples of the
    consensus rows, each replicate a weighted count instead of a fresh mean."""
    from curation.metrics.bootstrap import BootstrapResult
    from curation.metrics.discretion import agreement_categories, discretion_arbitrariness

    kappa = agreement_categories(P).consensus_sign
    rows = np.flatnonzero(~np.isnan(kappa))
    if rows.size == 0:
        nan = float("nan")
        return BootstrapResult(nan, nan, nan, nan, nan, level, 0)
    v = np.asarray(a, dtype=np.float64)[rows]
    k = kappa[rows]
    usable = (~np.isnan(v) & (v != 0)).astype(np.float64)
    hits = (usable > 0) & (k * np.nan_to_num(v) < 0)
    return _bootstrap_ratio(hits.astype(np.float64), usable, discretion_arbitrariness(P, a), n_boot, seed, level)


def tau_b_many(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's τ_b of B pairs of short score vectors ([B, n] each); NaN where undefined."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    i, j = np.triu_indices(x.shape[1], 1)
    sx = np.sign(x[:, i] - x[:, j])
    sy = np.sign(y[:, i] - y[:, j])
    if len(i) == 0:
        return np.full(len(x), np.nan)
    denom = np.sqrt(np.count_nonzero(sx, axis=1) * np.count_nonzero(sy, axis=1).astype(np.float64))
    safe = np.where(denom > 0, denom, 1.0)
    return np.where(denom > 0, (sx * sy).sum(axis=1) / safe, np.nan)
