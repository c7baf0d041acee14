"""The audit's batched per-item maths equals the pure functions item by item."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata

from curation import metrics
from curation.audit import batched


def random_rankings(rng, m, n, ties=True):
    rows = []
    for _ in range(m):
        scores = rng.integers(0, n if not ties else max(2, n - 1), size=n) if ties else rng.permutation(n)
        rows.append(rankdata(scores, method="average"))
    return np.array(rows)


def test_kendall_w_many_matches_kendall_w():
    rng = np.random.default_rng(1)
    for m, n in [(2, 3), (3, 4), (5, 6), (3, 3)]:
        stack = np.stack([random_rankings(rng, m, n) for _ in range(40)])
        got = batched.kendall_w_many(stack)
        want = [metrics.kendall_w(r) for r in stack]
        np.testing.assert_allclose(got, want, equal_nan=True)
    # docs/algorithms.md#kendall-w: no ties 0.7778, a tie in rater 1 0.7701
    w = batched.kendall_w_many(
        np.array([[[1, 2, 3, 4], [1, 3, 2, 4], [2, 1, 3, 4]], [[1.5, 1.5, 3, 4], [1, 3, 2, 4], [2, 1, 3, 4]]])
    )
    assert w == pytest.approx([0.777778, 0.770115], abs=1e-6)


def test_mid_ranks_matches_rankdata():
    rng = np.random.default_rng(2)
    for _ in range(50):
        scores = rng.integers(0, 4, size=6) / 3.0
        np.testing.assert_allclose(batched.mid_ranks(scores), rankdata(-scores, method="average"))


def test_slots_keeps_every_rating_per_unit():
    units = np.array([2, 0, 2, 2, 1])
    values = np.array([1.0, 0.0, 3.0, 2.0, 5.0])
    mat = batched.slots(units, values, 4)
    assert mat.shape == (3, 4)
    assert sorted(mat[:, 2].tolist()) == [1.0, 2.0, 3.0] and np.isnan(mat[:, 3]).all()
    assert np.nansum(mat) == values.sum()


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_fast_alpha_bootstrap_equals_the_reference(level):
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 4, size=300)
    data = np.where(rng.random((5, 300)) < 0.7, truth, rng.integers(0, 4, size=(5, 300))).astype(float)
    data[rng.random(data.shape) < 0.4] = np.nan
    want = metrics.krippendorff_alpha_bootstrap(data, level=level, n_boot=200, seed=7)
    got = batched.krippendorff_alpha_bootstrap_fast(data, level=level, n_boot=200, seed=7)
    assert got.n_ok == want.n_ok
    for name in ("estimate", "mean", "sd", "low", "high"):
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-9, abs=1e-12), name


def test_fast_alpha_bootstrap_worked_example():
    data = [[1, 1, 0, 1], [1, 0, 0, 0], [1, 1, np.nan, 0]]  # docs/algorithms.md#krippendorff-alpha: α = 1/3
    assert batched.krippendorff_alpha_bootstrap_fast(np.array(data, float), n_boot=10).estimate == pytest.approx(1 / 3)


def test_fast_discretion_bootstrap_equals_the_reference():
    rng = np.random.default_rng(5)
    P = rng.choice([1.0, -1.0, np.nan], size=(150, 4), p=[0.4, 0.3, 0.3])
    a = rng.choice([1.0, -1.0, 0.0, np.nan], size=150, p=[0.45, 0.35, 0.1, 0.1])
    want = metrics.discretion_arbitrariness_bootstrap(P, a, n_boot=300, seed=2)
    got = batched.discretion_arbitrariness_bootstrap_fast(P, a, n_boot=300, seed=2)
    assert got.n_ok == want.n_ok
    for name in ("estimate", "mean", "sd", "low", "high"):
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-12), name
    empty = batched.discretion_arbitrariness_bootstrap_fast(np.full((3, 2), np.nan), np.ones(3), n_boot=5)
    assert empty.n_ok == 0 and np.isnan(empty.estimate)


def test_tau_b_many_matches_scipy():
    from scipy.stats import kendalltau

    rng = np.random.default_rng(6)
    x = rng.integers(0, 3, size=(50, 5)).astype(float)
    y = rng.integers(0, 4, size=(50, 5)).astype(float)
    x[0] = 1.0  # constant: undefined
    got = batched.tau_b_many(x, y)
    want = [kendalltau(a, b).statistic for a, b in zip(x, y, strict=True)]
    np.testing.assert_allclose(got, want, equal_nan=True)


def test_fast_multilabel_alpha_bootstrap_equals_the_reference():
    """The audit's batched bootstrap on label sets (MASI) replays ``multilabel_alpha_bootstrap``."""
    from curation.metrics import multilabel_alpha_bootstrap
    from curation.metrics.questions import set_distance_matrix, set_value_counts

    rng = np.random.default_rng(4)
    cats = ["a", "b", "c", "d"]
    data = [
        [None if rng.random() < 0.2 else frozenset(rng.choice(cats, size=rng.integers(0, 3), replace=False).tolist())
         for _ in range(40)]
        for _ in range(3)
    ]  # fmt: skip
    ref = multilabel_alpha_bootstrap(data, "masi", n_boot=200, seed=3)
    counts, domain = set_value_counts(data)
    d = set_distance_matrix(domain, "masi")
    fast = batched.alpha_bootstrap_counts_fast(counts, d, n_boot=200, seed=3)
    assert fast.n_ok == ref.n_ok
    for field in ("estimate", "mean", "sd", "low", "high"):
        assert getattr(fast, field) == pytest.approx(getattr(ref, field), abs=1e-9)
