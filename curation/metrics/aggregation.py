"""A second opinion on consensus labels (docs/algorithms.md#dawid-skene).

The consensus rules themselves (majority, mean Borda) live in
:mod:`curation.consensus`, once.

* :func:`dawid_skene` — EM with per-worker confusion matrices, replicating
  ``crowdkit.aggregation.DawidSkene`` (majority-vote initialisation, log2 E-step, clipped
  M-step, ELBO stopping rule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["DawidSkeneResult", "dawid_skene"]

_EPS = 1e-10  # crowd-kit's clipping constant


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
