"""Agreement on custom questions (docs/algorithms.md#question-agreement).

Single-choice and rating questions are plain reliability data and go through
:func:`curation.metrics.agreement.krippendorff_alpha` (nominal for a choice,
ordinal or interval for a rating). This module adds what set-valued answers
need:

* :func:`multilabel_alpha` — Krippendorff's α whose values are *label sets*,
  with the MASI or Jaccard distance between sets instead of the nominal 0/1
  (docs/algorithms.md#multi-label-alpha). Same coincidence form as the scalar
  α (one implementation: ``agreement.alpha_from_coincidences``).
* :func:`category_agreement` — per category, the share of answers that carry
  it and α (nominal) on the yes/no answer "is this category in the set"
  (docs/algorithms.md#category-agreement).
* :func:`rater_distance_agreement` — each rater's agreement with a per-unit
  consensus as ``1 − mean distance`` (for a nominal distance, the share equal
  to the consensus, as ``agreement.annotator_vs_consensus``).

Multi-label reliability data is a raters × units matrix (a list of lists or an
object array) whose cells are label sets (any iterable of hashable labels;
the empty set is an answer: "none of the categories") or ``None`` for
missing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from .agreement import _bincount_codes, _coincidences, alpha_from_coincidences, krippendorff_alpha
from .bootstrap import BootstrapResult, bootstrap

SetDistance = Literal["masi", "jaccard"]
SET_DISTANCES: tuple[str, ...] = ("masi", "jaccard")

__all__ = [
    "SET_DISTANCES",
    "CategoryAgreement",
    "RaterDistanceAgreement",
    "category_agreement",
    "jaccard_distance",
    "masi_distance",
    "multilabel_alpha",
    "multilabel_alpha_bootstrap",
    "rater_distance_agreement",
    "set_distance_matrix",
    "set_value_counts",
]


def jaccard_distance(a: Iterable[Hashable], b: Iterable[Hashable]) -> float:
    """``1 − |a ∩ b| / |a ∪ b|``; two empty sets are identical (0)."""
    a, b = frozenset(a), frozenset(b)
    union = len(a | b)
    if union == 0:
        return 0.0
    return (union - len(a & b)) / union


def masi_distance(a: Iterable[Hashable], b: Iterable[Hashable]) -> float:
    """Passonneau's MASI distance ``1 − J · M`` (docs/algorithms.md#multi-label-alpha).

    ``J`` = Jaccard similarity, ``M`` = 1 for equal sets, 2/3 when one is a subset of the
    other, 1/3 when they overlap otherwise, 0 when disjoint (Passonneau 2006, as NLTK's
    ``masi_distance``); two empty sets are identical (0).
    """
    a, b = frozenset(a), frozenset(b)
    union = len(a | b)
    if union == 0:
        return 0.0
    inter = len(a & b)
    if a == b:
        m = 1.0
    elif inter == min(len(a), len(b)):
        m = 2.0 / 3.0
    elif inter > 0:
        m = 1.0 / 3.0
    else:
        m = 0.0
    return 1.0 - inter / union * m


_DISTANCES: dict[str, Callable[[frozenset, frozenset], float]] = {"masi": masi_distance, "jaccard": jaccard_distance}


def _set_distance(distance: str) -> Callable[[frozenset, frozenset], float]:
    try:
        return _DISTANCES[distance]
    except KeyError:
        raise ValueError(f"distance must be one of {SET_DISTANCES}, got {distance!r}") from None


def _is_missing(cell) -> bool:
    return cell is None or (isinstance(cell, float) and cell != cell)


def _set_matrix(data) -> list[list[frozenset | None]]:
    rows = [list(r) for r in data]
    if not rows:
        raise ValueError("data must be a raters × units matrix with at least one rater")
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise ValueError("data must be a raters × units matrix (every rater row the same length)")
    out = []
    for r in rows:
        line = []
        for cell in r:
            if _is_missing(cell):
                line.append(None)
            elif isinstance(cell, str | bytes):
                raise ValueError(f"a multi-label answer must be a set of labels, got the string {cell!r}")
            else:
                line.append(frozenset(cell))
        out.append(line)
    return out


def set_value_counts(data) -> tuple[np.ndarray, list[frozenset]]:
    """``(counts, domain)``: units × distinct label sets counts and the sets (first-seen order)
    (the ``n_uc`` of docs/algorithms.md#multi-label-alpha)."""
    rows = _set_matrix(data)
    n_units = len(rows[0])
    index: dict[frozenset, int] = {}
    for r in rows:
        for cell in r:
            if cell is not None:
                index.setdefault(cell, len(index))
    n_values = len(index)
    codes = np.array([[n_values if c is None else index[c] for c in r] for r in rows], dtype=np.intp)
    wide = _bincount_codes(codes.reshape(len(rows), n_units), n_values, np.arange(n_units, dtype=np.intp))
    return wide[:, :n_values], list(index)


def _alpha_sets(counts: np.ndarray, d: np.ndarray) -> float:
    if counts.shape[1] < 2:
        raise ValueError("Krippendorff's alpha needs at least 2 values in the value domain")
    o = _coincidences(counts, np.arange(counts.shape[1]))
    return alpha_from_coincidences(o, d)


def set_distance_matrix(domain: Sequence[frozenset], distance: str) -> np.ndarray:
    """δ between every pair of label sets of ``domain`` (``"masi"`` or ``"jaccard"``)."""
    fn = _set_distance(distance)
    return np.array([[fn(x, y) for y in domain] for x in domain], dtype=np.float64)


def multilabel_alpha(data, distance: SetDistance = "masi") -> float:
    """Krippendorff's α of set-valued answers with the MASI or Jaccard distance
    (docs/algorithms.md#multi-label-alpha).

    ``data``: raters × units, cells label sets or ``None`` (missing). Each distinct set is
    one value of the domain; ``δ(c, k)`` is the set distance (not squared, as in NLTK's
    ``AnnotationTask``). Equals ``nltk.metrics.agreement.AnnotationTask(data,
    distance=masi_distance).alpha()`` when every rater answered every unit (NLTK ignores
    missing ratings differently) and no answer is the empty set (NLTK divides by zero).
    Raises ValueError with fewer than two distinct sets or no unit answered twice; NaN when
    the expected disagreement is 0.
    """
    counts, domain = set_value_counts(data)
    return _alpha_sets(counts, set_distance_matrix(domain, distance))


def multilabel_alpha_bootstrap(
    data, distance: SetDistance = "masi", n_boot: int = 1000, seed: int | None = 0, confidence: float = 0.95
) -> BootstrapResult:
    """:func:`multilabel_alpha` with a percentile bootstrap over units, exactly as
    ``agreement.krippendorff_alpha_bootstrap`` (docs/algorithms.md#bootstrap)."""
    counts, domain = set_value_counts(data)
    d = set_distance_matrix(domain, distance)
    return bootstrap(lambda idx: _alpha_sets(counts[idx], d), counts.shape[0], n_boot=n_boot, seed=seed,
                     level=confidence)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Per category (docs/algorithms.md#category-agreement)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryAgreement:
    """One category of a multi-label question: ``rate`` = share of the answers that include it
    (NaN without answers), ``n_labelled`` = how many did, ``n_answers`` = answers, ``alpha`` =
    Krippendorff's α (nominal) on the yes/no "category in the set" (NaN when undefined: nobody
    ever or everybody always chose it, or no unit has two answers)."""

    category: Hashable
    rate: float
    n_labelled: int
    n_answers: int
    alpha: float


def category_matrix(data, category: Hashable) -> np.ndarray:
    """The raters × units yes/no matrix of one category: 1 = in the set, 0 = not, NaN = missing."""
    rows = _set_matrix(data)
    return np.array([[np.nan if c is None else float(category in c) for c in r] for r in rows], dtype=np.float64)


def category_agreement(data, categories: Sequence[Hashable]) -> list[CategoryAgreement]:
    """Per category (in the order given): label rate and α nominal on its yes/no (docs/algorithms.md#category-agreement)."""
    out = []
    for category in categories:
        yes_no = category_matrix(data, category)
        answered = ~np.isnan(yes_no)
        n_answers = int(answered.sum())
        n_labelled = int(np.nansum(yes_no))
        try:
            alpha = krippendorff_alpha(yes_no, "nominal", value_domain=[0.0, 1.0])
        except ValueError:
            alpha = float("nan")
        rate = n_labelled / n_answers if n_answers else float("nan")
        out.append(CategoryAgreement(category, rate, n_labelled, n_answers, alpha))
    return out


# --------------------------------------------------------------------------------------------
# Raters against a consensus, with a distance
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RaterDistanceAgreement:
    """Per rater: ``agreement`` = 1 − mean distance to the consensus over the units they
    answered that have one (NaN when none), ``n`` = how many such units."""

    agreement: np.ndarray
    n: np.ndarray


def rater_distance_agreement(
    data: npt.ArrayLike | Sequence[Sequence], consensus: Sequence, distance: Callable[[object, object], float]
) -> RaterDistanceAgreement:
    """Each rater's ``1 − mean δ(answer, consensus)`` (docs/algorithms.md#question-outliers).

    ``data``: raters × units (``None``/NaN = missing); ``consensus``: one value per unit
    (``None``/NaN = no consensus); ``distance``: δ in [0, 1] — ``lambda a, b: float(a != b)``
    for a choice (then ``agreement`` is ``annotator_vs_consensus``'s share), ``|a − b| /
    (N − 1)`` for a 1..N rating, :func:`masi_distance` or :func:`jaccard_distance` for sets.
    """
    rows = [list(r) for r in data]
    cons = list(consensus)
    agreement = np.full(len(rows), np.nan)
    n = np.zeros(len(rows), dtype=np.int64)
    for i, r in enumerate(rows):
        if len(r) != len(cons):
            raise ValueError(f"consensus must have one value per unit ({len(r)}), got {len(cons)}")
        ds = [distance(a, c) for a, c in zip(r, cons, strict=True) if not _is_missing(a) and not _is_missing(c)]
        n[i] = len(ds)
        if ds:
            agreement[i] = 1.0 - float(np.mean(ds))
    return RaterDistanceAgreement(agreement=agreement, n=n)
