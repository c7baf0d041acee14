"""Dawid–Skene against crowd-kit (docs/algorithms.md#dawid-skene; the consensus rules: tests/curation/test_consensus.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene

from curation.metrics.aggregation import dawid_skene

nan = np.nan
pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore:.*:Warning:crowdkit.*"
)


# ---------------------------------------------------------------- Dawid–Skene


def _noisy_workers(seed: int, n_tasks: int = 150, n_workers: int = 8, k: int = 3, per_task: int = 4):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_tasks)
    skill = rng.uniform(0.35, 0.95, n_workers)
    rows = []
    for t in range(n_tasks):
        for w in rng.choice(n_workers, per_task, replace=False):
            label = truth[t] if rng.random() < skill[w] else int(rng.integers(0, k))
            rows.append((f"t{t}", f"w{w}", int(label)))
    return pd.DataFrame(rows, columns=["task", "worker", "label"]), k


@pytest.mark.parametrize("seed", [1, 2])
def test_dawid_skene_matches_crowdkit(seed):
    df, k = _noisy_workers(seed, n_tasks=100)
    ref = DawidSkene(n_iter=100, tol=1e-5).fit(df)
    res = dawid_skene(df.task.to_numpy(), df.worker.to_numpy(), df.label.to_numpy(), n_classes=k)
    classes = list(range(k))
    ref_probas = ref.probas_.loc[res.tasks, classes].to_numpy()
    assert res.probas == pytest.approx(ref_probas, abs=1e-9)
    assert res.n_iter == len(ref.loss_history_)
    assert list(res.loss_history) == pytest.approx(ref.loss_history_, abs=1e-12)
    assert res.priors == pytest.approx(ref.priors_.loc[classes].to_numpy(), abs=1e-9)
    unique_max = (ref_probas == ref_probas.max(axis=1, keepdims=True)).sum(axis=1) == 1
    assert np.array_equal(res.labels[unique_max], ref.labels_.loc[res.tasks].to_numpy()[unique_max])
    for wi, worker in enumerate(res.workers):
        ref_err = ref.errors_.loc[worker]
        for answer in ref_err.index:
            assert res.errors[wi, answer] == pytest.approx(ref_err.loc[answer, classes].to_numpy(), abs=1e-9)


def test_dawid_skene_recovers_truth_with_reliable_workers():
    df, k = _noisy_workers(9, n_tasks=200, per_task=5)
    res = dawid_skene(df.task, df.worker, df.label, n_classes=k)
    assert res.probas.sum(axis=1) == pytest.approx(np.ones(len(res.tasks)))
    assert res.errors.sum(axis=1) == pytest.approx(np.ones((len(res.workers), k)))


def test_dawid_skene_rejects_bad_labels():
    with pytest.raises(ValueError, match="0..1"):
        dawid_skene([0, 1], [0, 0], [0, 2], n_classes=2)
    with pytest.raises(ValueError, match="integer"):
        dawid_skene([0, 1], [0, 0], [0.5, 1])
