"""Discretion metrics: the docs/algorithms.md#discretion-worked-example toy example and brute-force references (docs/algorithms.md#discretion)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.stats import kendalltau

from curation.metrics.bootstrap import bootstrap
from curation.metrics.discretion import (
    agreement_categories,
    discretion_arbitrariness,
    discretion_arbitrariness_bootstrap,
    discretion_discrepancy,
    principle_priority,
    principle_supremacy,
)

nan = np.nan
# docs/algorithms.md#discretion-worked-example: rows (p0, p1, p2 | a)
TOY_P = np.array([[1, 1, nan], [1, -1, nan], [-1, 1, 1], [nan, nan, nan], [-1, -1, nan], [1, -1, -1]])
TOY_A = np.array([1, 1, 1, -1, 1, -1])


def test_toy_categories_and_arbitrariness():
    cat = agreement_categories(TOY_P)
    assert cat.category.tolist() == ["consensus", "conflict", "conflict", "indifference", "consensus", "conflict"]
    assert cat.consensus_sign[[0, 4]].tolist() == [1, -1]
    assert np.isnan(cat.consensus_sign[[1, 2, 3, 5]]).all()
    assert discretion_arbitrariness(TOY_P, TOY_A) == pytest.approx(0.5)


def test_toy_supremacy():
    ps, n = principle_supremacy(TOY_P, TOY_A)
    assert ps[0, 1] == pytest.approx(1 / 3) and n[0, 1] == 3
    assert ps[1, 0] == pytest.approx(2 / 3)
    assert ps[0, 2] == 0 and n[0, 2] == 2
    assert ps[2, 0] == 1
    assert np.isnan(ps[1, 2]) and n[1, 2] == 0
    assert np.isnan(np.diag(ps)).all()


def test_toy_priority():
    ps, n = principle_supremacy(TOY_P, TOY_A)
    prio = principle_priority(ps, n)
    assert prio.converged
    assert prio.elo[2] == np.inf
    assert prio.elo[0] - prio.elo[1] == pytest.approx(np.log(0.5), abs=1e-8)
    assert prio.elo[0] - prio.elo[1] == pytest.approx(-0.693147, abs=1e-6)
    assert prio.rank.tolist() == [3, 2, 1]  # p2 > p1 > p0


def _supremacy_by_loops(P, a):
    k = P.shape[1]
    ps = np.full((k, k), nan)
    n = np.zeros((k, k))
    valid = ~np.isnan(a) & (a != 0)
    for i in range(k):
        for j in range(k):
            conflict = (P[:, i] * P[:, j] < 0) & valid
            n[i, j] = conflict.sum()
            if n[i, j]:
                ps[i, j] = (P[conflict, i] * a[conflict] > 0).mean()
    return ps, n


def test_supremacy_matches_reference_loops_on_random_data():
    rng = np.random.default_rng(6)
    P = rng.choice([1.0, -1.0, nan], size=(200, 6), p=[0.4, 0.35, 0.25])
    a = rng.choice([1.0, -1.0, 0.0, nan], size=200, p=[0.5, 0.4, 0.05, 0.05])
    ps, n = principle_supremacy(P, a)
    ref_ps, ref_n = _supremacy_by_loops(P, a)
    assert np.array_equal(n, ref_n)
    assert np.allclose(ps, ref_ps, equal_nan=True)
    defined = ~np.isnan(ps)
    assert np.allclose((ps + ps.T)[defined], 1.0)


def test_priority_is_the_weighted_bce_minimiser():
    # Two principles: the optimum of N·BCE(e0 − e1, PS) is logit(PS(0, 1)).
    ps = np.array([[nan, 0.8], [0.2, nan]])
    n = np.array([[0, 10], [10, 0]])
    prio = principle_priority(ps, n)
    assert prio.elo[0] - prio.elo[1] == pytest.approx(np.log(0.8 / 0.2), abs=1e-7)
    # four principles: no coordinate move lowers the weighted BCE at the fitted scores
    rng = np.random.default_rng(1)
    P = rng.choice([1.0, -1.0, nan], size=(300, 4), p=[0.45, 0.45, 0.1])
    a = np.where(rng.random(300) < 0.7, np.nan_to_num(P[:, 0], nan=1.0), -np.nan_to_num(P[:, 0], nan=1.0))
    ps, n = principle_supremacy(P, a)
    prio = principle_priority(ps, n)
    assert np.all(np.isfinite(prio.elo))

    def loss(e):
        x = e[:, None] - e[None, :]
        y = np.nan_to_num(ps, nan=0.5)
        return (n * (np.logaddexp(0, x) - y * x)).sum()

    best = loss(prio.elo)
    for direction in np.eye(4):
        res = minimize_scalar(lambda t, d=direction: loss(prio.elo + t * d), bounds=(-1, 1), method="bounded")
        assert res.fun >= best - 1e-9


def test_priority_always_lose_and_never_in_conflict():
    ps = np.array([[nan, 0.0, 0.0, nan], [1.0, nan, 0.5, nan], [1.0, 0.5, nan, nan], [nan, nan, nan, nan]])
    n = np.array([[0, 2, 3, 0], [2, 0, 4, 0], [3, 4, 0, 0], [0, 0, 0, 0]])
    prio = principle_priority(ps, n)
    assert prio.elo[0] == -np.inf
    assert prio.elo[1] == pytest.approx(prio.elo[2])
    assert np.isnan(prio.elo[3]) and np.isnan(prio.rank[3])
    assert prio.rank[:3].tolist() == [3, 1.5, 1.5]


def test_discrepancy():
    assert discretion_discrepancy([1, 2, 3, 4], [1, 2, 3, 4]) == 0.0
    assert discretion_discrepancy([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(1.0)
    a, b = [1, 2, 3, 4, 5], [2, 1, 3, 5, 4]
    assert discretion_discrepancy(a, b) == pytest.approx((1 - kendalltau(a, b).statistic) / 2)
    # ranks with a NaN principle: compared over the common ones
    assert discretion_discrepancy([1, 2, nan, 3], [1, 2, 3, 3.5]) == 0.0


def test_bootstrap_is_seeded_and_centred():
    rng = np.random.default_rng(3)
    P = rng.choice([1.0, -1.0, nan], size=(400, 3), p=[0.3, 0.3, 0.4])
    a = rng.choice([1.0, -1.0], size=400)
    r1 = discretion_arbitrariness_bootstrap(P, a, n_boot=300, seed=5)
    r2 = discretion_arbitrariness_bootstrap(P, a, n_boot=300, seed=5)
    assert r1 == r2
    assert r1.estimate == pytest.approx(discretion_arbitrariness(P, a))
    assert r1.low < r1.estimate < r1.high
    assert abs(r1.mean - r1.estimate) < 2 * r1.sd
    # SD of a bootstrapped proportion ≈ sqrt(p(1 − p)/m)
    m = int((~np.isnan(agreement_categories(P).consensus_sign)).sum())
    p = r1.estimate
    assert r1.sd == pytest.approx(np.sqrt(p * (1 - p) / m), rel=0.2)


def test_generic_bootstrap_mean():
    x = np.arange(50.0)
    res = bootstrap(lambda idx: x[idx].mean(), len(x), n_boot=500, seed=0)
    assert res.estimate == pytest.approx(24.5)
    assert res.low < 24.5 < res.high
    assert res.sd == pytest.approx(x.std() / np.sqrt(50), rel=0.2)


def test_bad_input():
    with pytest.raises(ValueError, match=r"P\[0, 0\]"):
        agreement_categories([[2, 1]])
    with pytest.raises(ValueError, match="one preference per item"):
        discretion_arbitrariness(TOY_P, [1, 1])
