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

from .agreement import krippendorff_alpha_bootstrap, value_counts
from .bootstrap import BootstrapResult

__all__ = ["PrincipleAgreement", "principle_agreement", "verdicts_split"]

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
