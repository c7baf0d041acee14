"""Inter-annotator agreement (docs/algorithms.md#agreement).

All functions are pure numpy/scipy. Reliability data is a **raters × units** matrix
(``data[r, u]`` = the value rater ``r`` gave unit ``u``) with ``NaN`` for a missing rating,
the layout of the ``krippendorff`` package. String/object matrices are accepted for the
nominal level (missing = ``None``, ``NaN`` or ``"nan"``).

Our Krippendorff α is an independent implementation of the coincidence-matrix form in
docs/algorithms.md#krippendorff-alpha (the ``krippendorff`` package is GPL-3 and is only a *test-time*
reference). It never builds a (units × values × values) tensor: per-unit value counts come
from one ``bincount`` over ``(unit, value)`` codes and the coincidence matrix is one
matrix product ``counts.T @ (counts / (m_u − 1))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

from .bootstrap import BootstrapResult, bootstrap

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")

__all__ = [
    "RaterAgreement",
    "annotator_vs_consensus",
    "cohen_kappa",
    "cohen_kappa_matrix",
    "fleiss_kappa",
    "unit_entropy",
    "kendall_w",
    "kendall_w_chi2",
    "krippendorff_alpha",
    "krippendorff_alpha_bootstrap",
    "krippendorff_alpha_from_counts",
    "value_counts",
]


# --------------------------------------------------------------------------------------------
# Encoding: raters × units matrix -> integer codes into an ordered value domain
# --------------------------------------------------------------------------------------------


def _as_matrix(data: npt.ArrayLike, name: str = "data") -> np.ndarray:
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D raters × units matrix, got shape {arr.shape}")
    return arr


def _missing_mask(arr: np.ndarray) -> np.ndarray:
    kind = arr.dtype.kind
    if kind == "f":
        return np.isnan(arr)
    if kind in "biu":
        return np.zeros(arr.shape, dtype=bool)
    if kind in "US":
        return arr == ("nan" if kind == "U" else b"nan")  # np.asarray turns NaN into "nan"
    if kind == "O":
        flat = arr.ravel()
        miss = np.fromiter(
            (v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and v == "nan") for v in flat),
            dtype=bool,
            count=flat.size,
        )
        return miss.reshape(arr.shape)
    raise ValueError(f"data: unsupported dtype {arr.dtype} (use numbers with NaN for missing, or strings)")


def _encode_present(present: np.ndarray, value_domain: npt.ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
    """Map the present (non-missing) values to indices into an ordered domain.

    Returns ``(domain, idx)`` with ``domain[idx] == present``.
    """
    if value_domain is not None:
        domain = np.asarray(value_domain)
        if domain.ndim != 1:
            raise ValueError("value_domain must be 1-D")
        if present.dtype.kind == "O" or domain.dtype.kind == "O":
            lookup = {v: i for i, v in enumerate(domain.tolist())}
            try:
                idx = np.fromiter((lookup[v] for v in present.tolist()), dtype=np.intp, count=present.size)
            except KeyError as exc:
                raise ValueError(f"data contains a value outside value_domain: {exc.args[0]!r}") from None
            return domain, idx
        sorter = np.argsort(domain, kind="stable")
        sorted_domain = domain[sorter]
        pos = np.searchsorted(sorted_domain, present)
        pos_c = np.minimum(pos, len(domain) - 1) if len(domain) else pos
        if len(domain) == 0 or not np.array_equal(sorted_domain[pos_c], present):
            bad = present[(pos >= len(domain)) | (sorted_domain[pos_c] != present)] if len(domain) else present
            raise ValueError(f"data contains a value outside value_domain: {bad[:1].tolist()[0]!r}")
        return domain, sorter[pos_c]

    if present.dtype.kind == "O":
        present = present.astype(str)
    domain, idx = np.unique(present, return_inverse=True)
    return domain, idx.reshape(-1)


def _wide_counts(
    data: npt.ArrayLike, value_domain: npt.ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-unit value counts in a "wide" layout that avoids copies on the hot path.

    Returns ``(wide, cols, domain)``: ``wide`` is float64 (units × W) with
    ``wide[:, cols[c]]`` = number of raters who gave ``domain[c]`` to the unit; the other
    columns hold missing entries or unseen codes and must be ignored.
    """
    arr = _as_matrix(data)
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    n_units = arr.shape[1]
    unit_offsets = np.arange(n_units, dtype=np.intp)

    if arr.dtype.kind == "f" and value_domain is None and arr.size:
        lo = np.fmin.reduce(arr, axis=None)  # NaN-ignoring min/max
        hi = np.fmax.reduce(arr, axis=None)
        if np.isnan(lo):  # nothing rated at all
            return np.zeros((n_units, 0)), np.zeros(0, dtype=np.intp), np.zeros(0)
        span = hi - lo
        if span <= 1_000_000:
            # Integer-coded ratings (the common case): O(n) bincounts, no sort.
            n_raw = int(span) + 1  # raw codes 0..span; code n_raw = missing
            shifted = arr - lo
            np.nan_to_num(shifted, copy=False, nan=n_raw)
            off = shifted.astype(np.intp)
            if np.array_equal(off, shifted):
                if n_raw <= 32:
                    width = n_raw + 1
                    off += unit_offsets * width
                    wide = np.bincount(off.ravel(), minlength=n_units * width).reshape(n_units, width)
                    wide = wide.astype(np.float64)
                    seen = (np.ones(n_units) @ wide)[:n_raw] > 0
                    cols = np.flatnonzero(seen)
                    return wide, cols, (cols + lo).astype(np.float64)
                seen = np.bincount(off.ravel(), minlength=n_raw + 1)[:n_raw] > 0
                lut = np.append(np.cumsum(seen) - 1, int(seen.sum()))  # missing -> n_values
                n_values = int(seen.sum())
                codes = lut[off]
                domain = (np.flatnonzero(seen) + lo).astype(np.float64)
                return _bincount_codes(codes, n_values, unit_offsets), np.arange(n_values), domain

    missing = _missing_mask(arr)
    present_mask = ~missing
    domain, idx = _encode_present(arr[present_mask], value_domain)
    n_values = len(domain)
    codes = np.full(arr.shape, n_values, dtype=np.intp)
    codes[present_mask] = idx
    return _bincount_codes(codes, n_values, unit_offsets), np.arange(n_values), domain


def _bincount_codes(codes: np.ndarray, n_values: int, unit_offsets: np.ndarray) -> np.ndarray:
    width = n_values + 1  # last column collects missing entries
    keys = codes + unit_offsets * width
    n_units = len(unit_offsets)
    return np.bincount(keys.ravel(), minlength=n_units * width).reshape(n_units, width).astype(np.float64)


def value_counts(data: npt.ArrayLike, value_domain: npt.ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit value counts of a raters × units matrix (docs/algorithms.md#krippendorff-alpha ``n_uc``).

    Returns ``(counts, domain)``: ``counts[u, c]`` = number of raters who gave ``domain[c]`` to
    unit ``u`` (float64, shape units × values), ``domain`` the ordered value domain (the sorted
    distinct values when ``value_domain`` is None).
    """
    wide, cols, domain = _wide_counts(data, value_domain)
    return wide[:, cols], domain


# --------------------------------------------------------------------------------------------
# Krippendorff's alpha (docs/algorithms.md#krippendorff-alpha)
# --------------------------------------------------------------------------------------------


def _distance_matrix(level: str, domain: np.ndarray, n_v: np.ndarray) -> np.ndarray:
    """δ² between every pair of domain values (docs/algorithms.md#krippendorff-alpha)."""
    n_values = len(domain)
    if level == "nominal":
        return 1.0 - np.eye(n_values)
    if level == "ordinal":
        cum = np.concatenate(([0.0], np.cumsum(n_v)))
        i = np.arange(n_values)
        lo = np.minimum(i[:, None], i[None, :])
        hi = np.maximum(i[:, None], i[None, :])
        between = cum[hi + 1] - cum[lo]
        return (between - (n_v[lo] + n_v[hi]) / 2.0) ** 2
    if domain.dtype.kind not in "biuf":
        raise ValueError(f"level={level!r} needs a numeric value_domain, got dtype {domain.dtype}")
    v = domain.astype(np.float64)
    diff = v[:, None] - v[None, :]
    if level == "interval":
        return diff**2
    if level == "ratio":
        total = v[:, None] + v[None, :]
        out = np.zeros_like(diff)
        np.divide(diff, total, out=out, where=total != 0)
        return out**2
    raise ValueError(f"level must be one of {LEVELS}, got {level!r}")


def krippendorff_alpha_from_counts(
    counts: npt.ArrayLike, value_domain: npt.ArrayLike | None = None, level: Level = "nominal"
) -> float:
    """Krippendorff's α from a units × values count matrix (docs/algorithms.md#krippendorff-alpha coincidence form).

    ``value_domain`` defaults to ``0..V-1`` (only matters for interval/ratio; ordinal uses
    the column order). Useful for bootstrapping over units without re-encoding.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"counts must be 2-D units × values, got shape {c.shape}")
    domain = np.arange(c.shape[1]) if value_domain is None else np.asarray(value_domain)
    if len(domain) != c.shape[1]:
        raise ValueError(f"value_domain has {len(domain)} values but counts has {c.shape[1]} columns")
    return _alpha_wide(c, np.arange(c.shape[1]), domain, level)


def _alpha_wide(wide: np.ndarray, cols: np.ndarray, domain: np.ndarray, level: str) -> float:
    if len(domain) < 2:
        raise ValueError("Krippendorff's alpha needs at least 2 values in the value domain")
    o = _coincidences(wide, cols)
    return alpha_from_coincidences(o, _distance_matrix(level, domain, o.sum(axis=0)))


def _coincidences(wide: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The observed coincidence matrix ``o_ck`` (docs/algorithms.md#krippendorff-alpha) of per-unit counts."""
    valid = np.zeros(wide.shape[1])
    valid[cols] = 1.0
    m_u = wide @ valid  # ratings per unit (BLAS; faster than a row reduction over few columns)
    # Units with fewer than 2 ratings contribute nothing (weight 0).
    weight = np.zeros_like(m_u)
    np.divide(1.0, m_u - 1.0, out=weight, where=m_u >= 2)
    if not weight.any():
        raise ValueError("Krippendorff's alpha needs at least one unit rated by two or more raters")
    weighted = wide * weight[:, None]
    o = (weighted.T @ wide)[np.ix_(cols, cols)]  # Σ_u n_uc n_uk / (m_u − 1)
    o[np.diag_indices_from(o)] -= (np.ones(len(m_u)) @ weighted)[cols]  # − δ_ck n_uc / (m_u − 1)
    return o


def alpha_from_coincidences(o: np.ndarray, d: np.ndarray) -> float:
    """α = 1 − Σ o·δ / Σ e·δ from an observed coincidence matrix and a distance matrix between
    its values (docs/algorithms.md#krippendorff-alpha; any distance, e.g. MASI between label sets,
    docs/algorithms.md#multi-label-alpha). NaN when the expected disagreement is 0."""
    n_v = o.sum(axis=0)
    n = n_v.sum()
    e = (np.outer(n_v, n_v) - np.diag(n_v)) / (n - 1.0)
    expected = (e * d).sum()
    if expected == 0:  # every pairable value identical: α is undefined (the package gives NaN too)
        return float("nan")
    return float(1.0 - (o * d).sum() / expected)


def krippendorff_alpha(
    data: npt.ArrayLike, level: Level = "nominal", value_domain: npt.ArrayLike | None = None
) -> float:
    """Krippendorff's α of a raters × units matrix with NaN for missing (docs/algorithms.md#krippendorff-alpha).

    ``level``: ``"nominal"`` (A/B/tie labels), ``"ordinal"``, ``"interval"`` or ``"ratio"``.
    ``value_domain``: the ordered possible values (defaults to the sorted distinct values in
    ``data``); needed for ordinal data whose order is not the natural sort order.

    Equals ``krippendorff.alpha(data, level_of_measurement=level, value_domain=...)``.
    Note our default level is **nominal** (the package defaults to interval).

    Raises ValueError when the domain has fewer than 2 values, when no unit has two or more
    ratings, for a value outside ``value_domain`` or an unknown level. Returns NaN when the
    expected disagreement is 0 (all pairable values identical).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    arr = _as_matrix(data)
    if arr.dtype.kind in "USO" and level != "nominal" and value_domain is None:
        raise ValueError("string data needs an ordered value_domain for levels other than 'nominal'")
    wide, cols, domain = _wide_counts(arr, value_domain)
    return _alpha_wide(wide, cols, domain, level)


def krippendorff_alpha_bootstrap(
    data: npt.ArrayLike,
    level: Level = "nominal",
    value_domain: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> BootstrapResult:
    """α with a percentile bootstrap interval over units (units resampled with replacement).

    The value domain (and so the ordinal/interval metric) is fixed from the full data;
    replicates where α is undefined are skipped (see ``BootstrapResult.n_ok``).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    wide, cols, domain = _wide_counts(_as_matrix(data), value_domain)
    counts = wide[:, cols]
    all_cols = np.arange(len(cols))
    return bootstrap(
        lambda idx: _alpha_wide(counts[idx], all_cols, domain, level),
        counts.shape[0],
        n_boot=n_boot,
        seed=seed,
        level=confidence,
    )


# --------------------------------------------------------------------------------------------
# Per-item agreement
# --------------------------------------------------------------------------------------------


def unit_entropy(data: npt.ArrayLike, value_domain: npt.ArrayLike | None = None, base: float = 2.0) -> np.ndarray:
    """Shannon entropy of each unit's value distribution in ``base`` (0 = unanimous, NaN = unrated)
    of a raters × units matrix (docs/algorithms.md#item-agreement ``H(s)``). The majority and its share are
    :mod:`curation.consensus`'s (one rule, docs/algorithms.md#consensus)."""
    counts, _ = value_counts(data, value_domain)
    m = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = counts / np.where(m > 0, m, 1)[:, None]
        logs = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0)
        entropy = -(p * logs).sum(axis=1) / np.log(base)
    entropy = np.where(m > 0, entropy, np.nan)
    return np.where(np.abs(entropy) < 1e-15, 0.0, entropy)


# --------------------------------------------------------------------------------------------
# Fleiss' kappa (docs/algorithms.md#fleiss-kappa)
# --------------------------------------------------------------------------------------------


def fleiss_kappa(counts: npt.ArrayLike, method: Literal["fleiss", "randolph"] = "fleiss") -> float:
    """Fleiss' κ from a units × categories count table (docs/algorithms.md#fleiss-kappa; statsmodels ``fleiss_kappa``).

    Every unit must have the same number ``n ≥ 2`` of ratings. ``method="randolph"`` uses the
    free-marginal chance agreement ``1/k``.
    """
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] == 0 or table.shape[1] < 2:
        raise ValueError(f"counts must be a units × categories table with ≥ 2 categories, got shape {table.shape}")
    if (table < 0).any():
        raise ValueError("counts must be non-negative")
    n_per = table.sum(axis=1)
    n = n_per[0]
    if not np.all(n_per == n):
        bad = int(np.flatnonzero(n_per != n)[0])
        raise ValueError(
            f"Fleiss' kappa needs the same number of ratings per unit (row {bad} has {n_per[bad]:g}, row 0 has {n:g})"
        )
    if n < 2:
        raise ValueError("Fleiss' kappa needs at least 2 ratings per unit")
    n_units = table.shape[0]
    p_j = table.sum(axis=0) / (n_units * n)
    p_i = ((table**2).sum(axis=1) - n) / (n * (n - 1))
    p_bar = p_i.mean()
    if method == "fleiss":
        p_e = float((p_j**2).sum())
    elif method == "randolph":
        p_e = 1.0 / table.shape[1]
    else:
        raise ValueError(f"method must be 'fleiss' or 'randolph', got {method!r}")
    if p_e == 1.0:
        return float("nan")
    return float((p_bar - p_e) / (1.0 - p_e))


# --------------------------------------------------------------------------------------------
# Kendall's W (docs/algorithms.md#kendall-w)
# --------------------------------------------------------------------------------------------


def kendall_w(ranks: npt.ArrayLike, ties: bool = True) -> float:
    """Kendall's coefficient of concordance W of a raters × objects matrix (docs/algorithms.md#kendall-w).

    Each row is re-ranked with mid-ranks (``scipy.stats.rankdata(method="average")``), so
    rows may hold ranks (1 = first) or any scores ranked in the same direction; a tie written
    as ``[1, 1, 3, 4]`` becomes ``[1.5, 1.5, 3, 4]``. ``ties=True`` applies the tie correction
    ``m Σ_r T_r``, ``T_r = Σ (t³ − t)`` over the tie groups of rater ``r``.
    """
    r = np.asarray(ranks, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError(f"ranks must be 2-D raters × objects, got shape {r.shape}")
    m, n = r.shape
    if m < 2 or n < 2:
        raise ValueError("Kendall's W needs at least 2 raters and 2 objects")
    if np.isnan(r).any():
        raise ValueError("ranks must not contain NaN (Kendall's W needs complete rankings)")
    mid = rankdata(r, method="average", axis=1)
    totals = mid.sum(axis=0)
    s = float(((totals - totals.mean()) ** 2).sum())
    denom = m**2 * (n**3 - n)
    if ties:
        t_sum = 0.0
        for row in r:
            _, cnt = np.unique(row, return_counts=True)
            t_sum += float((cnt**3 - cnt).sum())
        denom -= m * t_sum
    if denom == 0:
        return float("nan")
    return 12.0 * s / denom


def kendall_w_chi2(w: float, n_raters: int, n_objects: int) -> tuple[float, float]:
    """Friedman χ² = m (n − 1) W with n − 1 degrees of freedom and its p-value (docs/algorithms.md#kendall-w)."""
    from scipy.stats import chi2

    stat = n_raters * (n_objects - 1) * w
    return float(stat), float(chi2.sf(stat, n_objects - 1))


# --------------------------------------------------------------------------------------------
# Cohen's kappa
# --------------------------------------------------------------------------------------------


def cohen_kappa(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    weights: Literal["linear", "quadratic"] | None = None,
    labels: npt.ArrayLike | None = None,
) -> float:
    """Cohen's κ between two raters over the units both rated (NaN = missing).

    Matches ``sklearn.metrics.cohen_kappa_score`` on the jointly rated units (``weights``
    as there: None, "linear" or "quadratic"; ``labels`` fixes the label set and order).
    Returns NaN when fewer than one jointly rated unit exists or chance agreement is 1.
    """
    x = np.asarray(a)
    y = np.asarray(b)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"a and b must be 1-D of equal length, got shapes {x.shape} and {y.shape}")
    both = ~(_missing_mask(x[None, :])[0] | _missing_mask(y[None, :])[0])
    x = x[both]
    y = y[both]
    if x.size == 0:
        return float("nan")
    if labels is None:
        domain = np.unique(np.concatenate([x, y]))
    else:
        domain = np.asarray(labels)
    _, xi = _encode_present(x, domain)
    _, yi = _encode_present(y, domain)
    k = len(domain)
    confusion = np.bincount(xi * k + yi, minlength=k * k).reshape(k, k).astype(np.float64)
    expected = np.outer(confusion.sum(axis=1), confusion.sum(axis=0)) / confusion.sum()
    idx = np.arange(k)
    if weights is None:
        w = 1.0 - np.eye(k)
    elif weights == "linear":
        w = np.abs(idx[:, None] - idx[None, :]).astype(np.float64)
    elif weights == "quadratic":
        w = (idx[:, None] - idx[None, :]).astype(np.float64) ** 2
    else:
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")
    denom = (w * expected).sum()
    if denom == 0:
        return float("nan")
    return float(1.0 - (w * confusion).sum() / denom)


def cohen_kappa_matrix(data: npt.ArrayLike, min_overlap: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Cohen's κ for every pair of raters of a raters × units matrix.

    Returns ``(kappa, overlap)``, both raters × raters: ``overlap[i, j]`` = units rated by
    both; ``kappa[i, j]`` = NaN where the overlap is below ``min_overlap`` or κ is undefined;
    the diagonal is NaN.
    """
    arr = _as_matrix(data)
    rated = ~_missing_mask(arr)
    overlap = rated.astype(np.int64) @ rated.T.astype(np.int64)
    m = arr.shape[0]
    kappa = np.full((m, m), np.nan)
    for i in range(m):
        for j in range(i + 1, m):
            if overlap[i, j] >= max(min_overlap, 1):
                kappa[i, j] = kappa[j, i] = cohen_kappa(arr[i], arr[j])
    return kappa, overlap


# --------------------------------------------------------------------------------------------
# Agreement of each rater with the consensus
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RaterAgreement:
    """Per rater: ``share`` of their ratings equal to the consensus (NaN when none overlap)
    and ``n`` = number of units they rated that have a consensus."""

    share: np.ndarray
    n: np.ndarray


def annotator_vs_consensus(data: npt.ArrayLike, consensus: npt.ArrayLike) -> RaterAgreement:
    """Share of each rater's ratings that agree with the per-unit ``consensus`` (NaN = none)."""
    arr = _as_matrix(data)
    cons = np.asarray(consensus)
    if cons.shape != (arr.shape[1],):
        raise ValueError(f"consensus must have one value per unit ({arr.shape[1]}), got shape {cons.shape}")
    rated = ~_missing_mask(arr) & ~_missing_mask(cons[None, :])
    if arr.dtype.kind in "biuf" and cons.dtype.kind in "biuf":
        equal = arr == cons[None, :]
    else:
        equal = arr.astype(object) == cons.astype(object)[None, :]
    n = rated.sum(axis=1)
    hits = (equal & rated).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n > 0, hits / np.where(n > 0, n, 1), np.nan)
    return RaterAgreement(share=share, n=n.astype(np.int64))


def leave_one_out_z(values: npt.ArrayLike, min_peers: int = 3, sd_floor: float = 0.05) -> np.ndarray:
    """Each value's z against the others (docs/algorithms.md#outliers): ``(x_i − mean of the others) /
    max(sample sd of the others, sd_floor)``; all NaN when fewer than ``min_peers`` others exist.

    The low-agreement outlier rule of the audit (``z < −2``), for annotators overall and per question.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {v.shape}")
    z = np.full(v.shape, np.nan)
    if len(v) - 1 < min_peers:
        return z
    for i in range(len(v)):
        others = np.delete(v, i)
        sd = max(float(others.std(ddof=1)) if others.size > 1 else 0.0, sd_floor)
        z[i] = (v[i] - others.mean()) / sd
    return z
