"""Consensus labels from several annotators (docs/algorithms.md#bradley-terry, docs/algorithms.md#dawid-skene).

* :func:`majority_vote` on a raters × units matrix (NaN = missing).
* :func:`bradley_terry` — Hunter's (2004) MM algorithm for pairwise comparisons, the same
  iteration, scaling, regularisation and stopping rule as ``choix.mm_pairwise``.
* :func:`dawid_skene` — EM with per-worker confusion matrices, replicating
  ``crowdkit.aggregation.DawidSkene`` (majority-vote initialisation, log2 E-step, clipped
  M-step, ELBO stopping rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .agreement import value_counts

__all__ = [
    "BradleyTerryResult",
    "DawidSkeneResult",
    "MajorityVoteResult",
    "bradley_terry",
    "dawid_skene",
    "majority_vote",
]

_EPS = 1e-10  # crowd-kit's clipping constant


# --------------------------------------------------------------------------------------------
# Majority vote
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MajorityVoteResult:
    """Per unit: ``label`` (NaN when unrated, or tied with ``ties="nan"``), ``share`` of the
    ratings equal to the winning value (NaN when unrated) and ``n`` ratings."""

    label: np.ndarray
    share: np.ndarray
    n: np.ndarray


def majority_vote(
    data: npt.ArrayLike,
    ties: Literal["nan", "smallest"] = "nan",
    value_domain: npt.ArrayLike | None = None,
) -> MajorityVoteResult:
    """Most frequent value per unit of a numeric raters × units matrix (NaN = missing).

    ``ties="nan"`` leaves tied units without a label; ``ties="smallest"`` takes the smallest
    (first in ``value_domain``) tied value — crowd-kit's ``MajorityVote`` behaviour.
    ``share`` is the top count over the unit's ratings in both cases.
    """
    if ties not in ("nan", "smallest"):
        raise ValueError(f"ties must be 'nan' or 'smallest', got {ties!r}")
    arr = np.asarray(data)
    if arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise ValueError("data must be a numeric 2-D raters × units matrix with NaN for missing")
    counts, domain = value_counts(arr, value_domain)
    n = counts.sum(axis=1)
    if counts.shape[1] == 0:
        nan = np.full(len(n), np.nan)
        return MajorityVoteResult(nan, nan.copy(), n.astype(np.int64))
    top = counts.max(axis=1)
    label = domain.astype(np.float64)[counts.argmax(axis=1)]
    if ties == "nan":
        label = np.where((counts == top[:, None]).sum(axis=1) > 1, np.nan, label)
    label = np.where(n > 0, label, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n > 0, top / np.where(n > 0, n, 1), np.nan)
    return MajorityVoteResult(label=label, share=share, n=n.astype(np.int64))


# --------------------------------------------------------------------------------------------
# Bradley–Terry (Hunter's MM)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BradleyTerryResult:
    """``p``: strengths summing to 1; ``log_strength``: log-strengths centred to mean 0
    (``choix``'s parameters); ``P(i ≻ j) = p_i / (p_i + p_j)``."""

    p: np.ndarray
    log_strength: np.ndarray
    n_iter: int
    converged: bool

    def win_probability(self, i: int, j: int) -> float:
        return float(self.p[i] / (self.p[i] + self.p[j]))


def bradley_terry(
    n_items: int,
    comparisons: npt.ArrayLike,
    alpha: float = 0.0,
    max_iter: int = 10_000,
    tol: float = 1e-8,
) -> BradleyTerryResult:
    """Bradley–Terry strengths by Hunter's MM algorithm (docs/algorithms.md#bradley-terry).

    ``comparisons``: integer array of shape (K, 2), one ``(winner, loser)`` row per
    comparison (a tie may be entered as half a win each way by listing both orders).
    ``alpha > 0`` is choix's MAP regularisation ``(wins + α) / (denoms + α)`` on weights
    scaled to mean 1. Iteration and stopping rule (L1 change of centred log-strengths
    ≤ ``tol · n_items``) are those of ``choix.mm_pairwise``; ``converged`` is False when
    ``max_iter`` is reached (choix raises instead).

    With ``alpha == 0`` the maximum-likelihood estimate exists only if the comparison graph
    (edge loser → winner) is strongly connected; otherwise a ValueError says to use alpha > 0.
    """
    if n_items < 1:
        raise ValueError("n_items must be at least 1")
    comp = np.asarray(comparisons, dtype=np.int64)
    if comp.size == 0:
        comp = comp.reshape(0, 2)
    if comp.ndim != 2 or comp.shape[1] != 2:
        raise ValueError(f"comparisons must have shape (K, 2) of (winner, loser), got {comp.shape}")
    if comp.size and (comp.min() < 0 or comp.max() >= n_items):
        raise ValueError(f"comparisons refer to an item outside 0..{n_items - 1}")
    if (comp[:, 0] == comp[:, 1]).any():
        row = int(np.flatnonzero(comp[:, 0] == comp[:, 1])[0])
        raise ValueError(f"comparison row {row} has winner == loser")
    if alpha < 0:
        raise ValueError("alpha must be ≥ 0")
    winners, losers = comp[:, 0], comp[:, 1]
    if alpha == 0 and n_items > 1:
        graph = coo_matrix((np.ones(len(comp)), (losers, winners)), shape=(n_items, n_items))
        n_comp, _ = connected_components(graph, directed=True, connection="strong")
        if n_comp > 1:
            raise ValueError(
                "the comparison graph is not strongly connected (some item never wins or never loses "
                "against a group), so the maximum-likelihood strengths do not exist; use alpha > 0"
            )
    wins = np.bincount(winners, minlength=n_items).astype(np.float64)
    # Aggregate unordered pairs: T_ij = number of comparisons between i and j.
    lo = np.minimum(winners, losers)
    hi = np.maximum(winners, losers)
    keys, counts = np.unique(lo * n_items + hi, return_counts=True)
    pi, pj = keys // n_items, keys % n_items
    counts = counts.astype(np.float64)

    params = np.zeros(n_items)
    prev = params - params.mean()
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        w = np.exp(params - params.mean())
        w *= n_items / w.sum()
        val = counts / (w[pi] + w[pj])
        denoms = np.bincount(pi, weights=val, minlength=n_items) + np.bincount(pj, weights=val, minlength=n_items)
        with np.errstate(divide="ignore"):
            params = np.log((wins + alpha) / (denoms + alpha))
        params = params - params.mean()
        if it > 1 and np.abs(prev - params).sum() <= tol * n_items:
            converged = True
            break
        prev = params
    p = np.exp(params - params.max())
    p /= p.sum()
    return BradleyTerryResult(p=p, log_strength=params, n_iter=it, converged=converged)


# --------------------------------------------------------------------------------------------
# Dawid–Skene (crowd-kit replica)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DawidSkeneResult:
    """Dawid–Skene fit.

    ``tasks`` / ``workers``: the distinct ids (sorted) indexing the rows of ``probas`` /
    ``errors``; ``probas[t, c]`` posterior of class c; ``labels[t]`` argmax (first on ties);
    ``priors[c]``; ``errors[w, k, c]`` = P(worker w answers k | true class c) (0 for answers
    the worker never gave); ``loss_history`` the ELBO per annotation after each EM step.
    """

    tasks: np.ndarray
    workers: np.ndarray
    probas: np.ndarray
    labels: np.ndarray
    priors: np.ndarray
    errors: np.ndarray
    loss_history: tuple[float, ...]

    @property
    def n_iter(self) -> int:
        return len(self.loss_history)


def dawid_skene(
    tasks: npt.ArrayLike,
    workers: npt.ArrayLike,
    labels: npt.ArrayLike,
    n_classes: int | None = None,
    n_iter: int = 100,
    tol: float = 1e-5,
) -> DawidSkeneResult:
    """Dawid–Skene EM (docs/algorithms.md#dawid-skene), step for step as ``crowdkit.aggregation.DawidSkene``.

    One row per annotation: ``tasks[i]``, ``workers[i]`` (any ids) and ``labels[i]`` (an
    integer class in ``0..n_classes-1``). Initialisation: majority-vote probabilities;
    priors = mean posterior; M-step sums posteriors per (worker, answer), clips at 1e-10 and
    normalises per worker and true class (only over answers the worker gave); E-step in
    log2 with the row maximum shifted out; stops after ``n_iter`` EM steps or when the ELBO
    per annotation improves by less than ``tol``.

    Classes that nobody used get prior 1e-10 (crowd-kit drops them from its columns).
    """
    t_raw = np.asarray(tasks)
    w_raw = np.asarray(workers)
    y = np.asarray(labels)
    if not (t_raw.ndim == w_raw.ndim == y.ndim == 1) or not (len(t_raw) == len(w_raw) == len(y)):
        raise ValueError("tasks, workers and labels must be 1-D arrays of the same length")
    if len(y) == 0:
        raise ValueError("dawid_skene needs at least one annotation")
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.array_equal(y, np.floor(y)):
            y = y.astype(np.int64)
        else:
            raise ValueError("labels must be integer class indices (no NaN)")
    y = y.astype(np.intp)
    if n_classes is None:
        n_classes = int(y.max()) + 1
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    task_ids, t = np.unique(t_raw, return_inverse=True)
    worker_ids, w = np.unique(w_raw, return_inverse=True)
    t = t.reshape(-1)
    w = w.reshape(-1)
    n_tasks, n_workers, k = len(task_ids), len(worker_ids), n_classes
    wk = w * k + y  # (worker, answer) cell of each annotation
    present = np.bincount(wk, minlength=n_workers * k).reshape(n_workers, k) > 0

    # Majority-vote initialisation.
    mv = np.bincount(t * k + y, minlength=n_tasks * k).reshape(n_tasks, k).astype(np.float64)
    probas = mv / mv.sum(axis=1, keepdims=True)

    def m_step(q: np.ndarray) -> np.ndarray:
        err = np.zeros((n_workers * k, k))
        np.add.at(err, wk, q[t])
        err = err.reshape(n_workers, k, k)
        err = np.where(present[:, :, None], np.maximum(err, _EPS), 0.0)
        return err / err.sum(axis=1, keepdims=True)

    def e_step(prior: np.ndarray, err: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            log_err = np.log2(err)
        ll = np.zeros((n_tasks, k))
        np.add.at(ll, t, log_err[w, y])
        ll += np.log2(np.maximum(prior, _EPS))
        scaled = np.exp2(ll - ll.max(axis=1, keepdims=True))
        return scaled / scaled.sum(axis=1, keepdims=True)

    def elbo(q: np.ndarray, prior: np.ndarray, err: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(divide="ignore"):
            log_err = np.log(err[w, y])  # (annotations, classes)
        joint = float((q[t] * (log_err + np.log(np.maximum(prior, _EPS)))).sum())
        qc = np.maximum(q, _EPS)
        entropy = float(-(np.log(qc) * qc).sum())
        return joint + entropy, qc

    priors = probas.mean(axis=0)
    errors = m_step(probas)
    loss = -np.inf
    history: list[float] = []
    for _ in range(n_iter):
        probas = e_step(priors, errors)
        priors = probas.mean(axis=0)
        errors = m_step(probas)
        value, probas = elbo(probas, priors, errors)
        new_loss = value / len(y)
        history.append(new_loss)
        if new_loss - loss < tol:
            break
        loss = new_loss
    priors = np.maximum(priors, _EPS)
    return DawidSkeneResult(
        tasks=task_ids,
        workers=worker_ids,
        probas=probas,
        labels=probas.argmax(axis=1),
        priors=priors,
        errors=errors,
        loss_history=tuple(history),
    )
