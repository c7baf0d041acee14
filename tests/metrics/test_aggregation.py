"""Consensus methods against choix, crowd-kit and docs/algorithms.md#bradley-terry."""

from __future__ import annotations

import choix
import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene, MajorityVote

from curation.metrics.aggregation import bradley_terry, dawid_skene, majority_vote

nan = np.nan
pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore:.*:Warning:crowdkit.*"
)


# ---------------------------------------------------------------- majority vote


def test_majority_vote_ties_and_missing():
    data = [[1, 0, 2, nan], [1, 1, 2, nan], [0, nan, 2, nan], [nan, nan, 1, nan]]
    res = majority_vote(data)
    assert res.label[0] == 1 and np.isnan(res.label[1]) and res.label[2] == 2 and np.isnan(res.label[3])
    assert res.share[:3].tolist() == pytest.approx([2 / 3, 0.5, 0.75])
    assert res.n.tolist() == [3, 2, 4, 0]
    assert majority_vote(data, ties="smallest").label[1] == 0


def test_majority_vote_matches_crowdkit():
    rng = np.random.default_rng(2)
    data = rng.integers(0, 3, size=(5, 80)).astype(float)
    data[rng.random(data.shape) < 0.3] = nan
    rows = [(u, r, int(data[r, u])) for r in range(5) for u in range(80) if data[r, u] == data[r, u]]
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    ref = MajorityVote().fit(df)
    ours = majority_vote(data)
    tasks = ref.labels_.index.to_numpy()
    probas = ref.probas_.reindex(columns=[0, 1, 2], fill_value=0.0).to_numpy()
    tied = (probas == probas.max(axis=1, keepdims=True)).sum(axis=1) > 1
    assert tied.any() and (~tied).any()
    # crowd-kit breaks ties by its column order; compare labels where the vote is clear
    assert np.array_equal(ours.label[tasks][~tied], ref.labels_.to_numpy()[~tied].astype(float))
    assert np.isnan(ours.label[tasks][tied]).all()
    assert np.allclose(ours.share[tasks], probas.max(axis=1))


# ---------------------------------------------------------------- Bradley–Terry


EXAMPLE = [(0, 1)] * 2 + [(1, 0)] + [(1, 2)] * 2 + [(2, 1)] + [(0, 2)] * 2 + [(2, 0)]


def test_bradley_terry_worked_example():
    res = bradley_terry(3, EXAMPLE)
    assert res.converged
    assert res.p == pytest.approx([0.495502, 0.310246, 0.194253], abs=1e-6)
    assert res.log_strength == pytest.approx([0.468206, 0.0, -0.468206], abs=1e-6)
    assert res.win_probability(0, 1) == pytest.approx(0.6150, abs=1e-4)
    assert res.log_strength == pytest.approx(choix.mm_pairwise(3, EXAMPLE), abs=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.1, 1.0])
def test_bradley_terry_matches_choix_on_random_data(alpha):
    rng = np.random.default_rng(int(alpha * 10) + 1)
    for _ in range(5):
        n = int(rng.integers(3, 12))
        skill = rng.normal(size=n)
        comps = []
        for _ in range(int(rng.integers(40, 300))):
            i, j = rng.choice(n, 2, replace=False)
            comps.append((i, j) if rng.random() < 1 / (1 + np.exp(skill[j] - skill[i])) else (j, i))
        try:
            ref = choix.mm_pairwise(n, comps, alpha=alpha)
        except (RuntimeError, FloatingPointError):
            continue
        if not np.all(np.isfinite(ref)):
            continue
        res = bradley_terry(n, comps, alpha=alpha)
        assert res.log_strength == pytest.approx(ref, abs=1e-9)
        assert res.p.sum() == pytest.approx(1.0)


def test_bradley_terry_needs_strong_connectivity_without_prior():
    with pytest.raises(ValueError, match="strongly connected"):
        bradley_terry(3, [(0, 1), (1, 2), (0, 2)])  # 0 never loses
    res = bradley_terry(3, [(0, 1), (1, 2), (0, 2)], alpha=1.0)
    assert res.p[0] > res.p[1] > res.p[2]
    with pytest.raises(ValueError, match="winner == loser"):
        bradley_terry(2, [(0, 0)])
    with pytest.raises(ValueError, match="outside"):
        bradley_terry(2, [(0, 2)])


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
