"""How ambiguous a principle is: do interpreters who apply it to the same item agree?
(docs/algorithms.md#principle-ambiguity)

Input, for one principle (and one kind of item, one group of interpreters): a
raters × units matrix of verdict codes (the layout of
:func:`curation.metrics.agreement.krippendorff_alpha`, ``NaN`` = the rater gave
no verdict on that item). Only items with two or more verdicts say anything
about agreement; the others are dropped before anything is computed, so the
bootstrap resamples the items that were judged by several interpreters.

Everything here reuses the agreement module: α is
:func:`~curation.metrics.agreement.krippendorff_alpha_bootstrap` (nominal), the
per-item counts are :func:`~curation.metrics.agreement.value_counts`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .agreement import krippendorff_alpha_bootstrap, krippendorff_alpha_from_counts, value_counts
from .bootstrap import BootstrapResult

__all__ = ["PrincipleAgreement", "VersionComparison", "principle_agreement", "versions_compare", "verdicts_split"]

NO_PAIRS = "no item has verdicts from two or more interpreters"
ONE_VALUE = "every verdict is the same, so α is undefined (no disagreement to measure)"


def verdicts_split(counts: npt.ArrayLike) -> np.ndarray:
    """Per unit of a units × values count matrix: True when its verdicts take two
    or more different values (the interpreters split). One rule, used by the audit
    and by the export filter ``drop_split_principle``."""
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"counts must be 2-D units × values, got shape {c.shape}")
    return (c > 0).sum(axis=1) >= 2


@dataclass(frozen=True)
class PrincipleAgreement:
    """One principle's agreement among its interpreters.

    ``alpha``: Krippendorff's α (nominal) with a percentile bootstrap over the
    items (``interval``; NaN figures when undefined, ``reason`` says why);
    ``split_share``: share of the items whose verdicts take two or more values
    (NaN with no such item); ``n_items``: items with two or more verdicts;
    ``n_verdicts``: the verdicts on them; ``units``: indices (into the input's
    columns) of those items, and per item ``split``, ``disagreement`` (1 − the
    share of its most frequent verdict) and ``n_ratings``.
    """

    alpha: float
    interval: BootstrapResult
    split_share: float
    n_items: int
    n_verdicts: int
    units: np.ndarray
    split: np.ndarray
    disagreement: np.ndarray
    n_ratings: np.ndarray
    reason: str = ""


def principle_agreement(
    data: npt.ArrayLike, *, n_boot: int = 1000, seed: int | None = 0, confidence: float = 0.95
) -> PrincipleAgreement:
    """Agreement of the interpreters of one principle (docs/algorithms.md#principle-ambiguity).

    ``data``: raters × units verdict codes, NaN for no verdict (numbers or
    strings, as :func:`~curation.metrics.agreement.krippendorff_alpha` takes).
    """
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise ValueError(f"data must be a 2-D raters × units matrix, got shape {arr.shape}")
    counts, _ = value_counts(arr)
    m = counts.sum(axis=1)
    units = np.flatnonzero(m >= 2)
    nan = float("nan")
    empty = BootstrapResult(nan, nan, nan, nan, nan, confidence, 0)
    if units.size == 0:
        none = np.zeros(0)
        return PrincipleAgreement(
            nan, empty, nan, 0, 0, units, none.astype(bool), none, none.astype(np.int64), reason=NO_PAIRS
        )
    kept = arr[:, units]
    judged = counts[units]
    split = verdicts_split(judged)
    interval = krippendorff_alpha_bootstrap(kept, "nominal", n_boot=n_boot, seed=seed, confidence=confidence)
    # α is undefined only when every verdict has one value (no expected disagreement);
    # items that are each unanimous but differ from one another give α = 1.
    reason = ONE_VALUE if not np.isfinite(interval.estimate) else ""
    return PrincipleAgreement(
        alpha=interval.estimate,
        interval=interval,
        split_share=float(split.mean()),
        n_items=int(units.size),
        n_verdicts=int(m[units].sum()),
        units=units,
        split=split,
        disagreement=1.0 - judged.max(axis=1) / m[units],
        n_ratings=m[units].astype(np.int64),
        reason=reason,
    )


# ---------------------------------------------------------------- versions compared


@dataclass(frozen=True)
class VersionComparison:
    """Two versions of a principle applied to the same items (docs/algorithms.md#paired-bootstrap).

    ``shared``: indices (into the inputs' rows) of the items with two or more
    verdicts under both versions, the only ones compared; ``old`` and ``new``:
    each version's α (nominal) on them with its percentile interval;
    ``difference``: α(new) − α(old) with the paired bootstrap's interval (both
    versions' α on the same resampled items); ``beyond_noise``: that interval
    leaves out 0; ``split_old`` / ``split_new``: share of the shared items whose
    verdicts split under each version.
    """

    n_items: int
    shared: np.ndarray
    old: BootstrapResult
    new: BootstrapResult
    difference: BootstrapResult
    split_old: float
    split_new: float
    beyond_noise: bool
    reason: str = ""


NO_SHARED = "no item has two or more verdicts under both versions"


def _interval(estimate: float, values: list[float], confidence: float) -> BootstrapResult:
    finite = np.asarray([v for v in values if np.isfinite(v)], dtype=np.float64)
    nan = float("nan")
    if finite.size == 0:
        return BootstrapResult(estimate, nan, nan, nan, nan, confidence, 0)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return BootstrapResult(
        estimate, float(finite.mean()), float(finite.std()), float(low), float(high), confidence, int(finite.size)
    )


def _alpha_or_nan(counts: np.ndarray) -> float:
    try:
        return krippendorff_alpha_from_counts(counts, level="nominal")
    except ValueError:
        return float("nan")


def versions_compare(
    old_counts: npt.ArrayLike,
    new_counts: npt.ArrayLike,
    *,
    n_boot: int = 1000,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> VersionComparison:
    """Old vs new version of a principle on the same items, with a paired bootstrap
    (docs/algorithms.md#paired-bootstrap).

    ``old_counts`` / ``new_counts``: items × verdict values count matrices with the
    same rows (the same item in the same row) and the same columns (the same
    verdict value in the same column). Items without two verdicts under both
    versions are left out. Each replicate draws the shared items with
    replacement once and computes both versions' α on that same draw; a
    replicate where either α is undefined is left out of the difference (each
    version's own interval keeps its finite replicates).
    """
    old = np.asarray(old_counts, dtype=np.float64)
    new = np.asarray(new_counts, dtype=np.float64)
    if old.ndim != 2 or old.shape != new.shape:
        raise ValueError(f"old and new counts must be 2-D of one shape, got {old.shape} and {new.shape}")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    shared = np.flatnonzero((old.sum(axis=1) >= 2) & (new.sum(axis=1) >= 2))
    nan = float("nan")
    if shared.size == 0:
        empty = BootstrapResult(nan, nan, nan, nan, nan, confidence, 0)
        return VersionComparison(0, shared, empty, empty, empty, nan, nan, False, reason=NO_SHARED)
    old, new = old[shared], new[shared]
    a_old, a_new = _alpha_or_nan(old), _alpha_or_nan(new)
    rng = np.random.default_rng(seed)
    olds, news, diffs = [], [], []
    for _ in range(n_boot):
        idx = rng.integers(0, shared.size, size=shared.size)
        o, n = _alpha_or_nan(old[idx]), _alpha_or_nan(new[idx])
        olds.append(o)
        news.append(n)
        if np.isfinite(o) and np.isfinite(n):
            diffs.append(n - o)
    difference = _interval(a_new - a_old, diffs, confidence)
    beyond = bool(difference.n_ok) and (difference.low > 0 or difference.high < 0)
    reason = "" if np.isfinite(a_old) and np.isfinite(a_new) else ONE_VALUE
    return VersionComparison(
        n_items=int(shared.size),
        shared=shared,
        old=_interval(a_old, olds, confidence),
        new=_interval(a_new, news, confidence),
        difference=difference,
        split_old=float(verdicts_split(old).mean()),
        split_new=float(verdicts_split(new).mean()),
        beyond_noise=beyond,
        reason=reason,
    )
