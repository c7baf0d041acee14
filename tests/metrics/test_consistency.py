"""Consistency checks: hand-worked cases and brute-force references (docs/algorithms.md#consistency)."""

from __future__ import annotations

from itertools import combinations, permutations

import numpy as np
import pytest
from scipy.stats import kendalltau, rankdata

from curation.metrics.consistency import (
    cream_consistency,
    judge_order_consistency,
    retest_agreement,
    swap_consistency,
    thumbs_contradictions,
    transitivity_violations,
)

nan = np.nan


# ---------------------------------------------------------------- test–retest


def test_retest_maps_swapped_repeats_back():
    first = [1, -1, 1, 0, 1, nan]
    # repeat 0 plain and same; repeat 1 swapped: A (= original B) -> same; repeat 2 swapped, says A
    # (= original B) -> differs; repeat 3 swapped tie stays tie; repeat 4 plain, differs; 5 missing
    second = [1, 1, 1, 0, -1, 1]
    swapped = [False, True, True, True, False, False]
    res = retest_agreement(first, second, swapped)
    assert res.same.tolist() == [True, True, False, True, False, False]
    assert res.usable.tolist() == [True] * 5 + [False]
    assert res.n == 5
    assert res.agreement == pytest.approx(3 / 5)
    # kappa on (first, re-oriented second) = ([1,-1,1,0,1], [1,-1,-1,0,-1])
    from sklearn.metrics import cohen_kappa_score

    assert res.kappa == pytest.approx(cohen_kappa_score([1, -1, 1, 0, 1], [1, -1, -1, 0, -1]))


def test_retest_without_swaps_and_empty():
    assert retest_agreement([1, 1], [1, -1]).agreement == 0.5
    assert np.isnan(retest_agreement([nan], [1]).agreement)


# ---------------------------------------------------------------- position swap (FastChat)


def test_swap_consistency_fastchat_rule():
    # g1 verdicts in (A=x, B=y); g2 verdicts with (A=y, B=x)
    g1 = [1, 1, 0, -1, 0, nan]
    g2 = [-1, 1, 0, 1, 1, -1]
    res = swap_consistency(g1, g2)
    assert res.consistent.tolist() == [True, False, True, True, False, False]
    assert res.rate == pytest.approx(3 / 5)
    assert res.combined[[0, 2, 3]].tolist() == [1, 0, -1]
    assert np.isnan(res.combined[[1, 4, 5]]).all()
    assert judge_order_consistency is swap_consistency


# ---------------------------------------------------------------- transitivity


def test_transitivity_cycle_and_transitive_triads():
    cyc = [("a", "b"), ("b", "c"), ("c", "a")]
    assert transitivity_violations(cyc) == (1, 1)
    assert transitivity_violations(cyc, mode="strict_cycles") == (1, 1)
    assert transitivity_violations([("a", "b"), ("b", "c"), ("a", "c")]) == (0, 1)
    assert transitivity_violations([("a", "b"), ("b", "c")]) == (0, 0)  # a–c never judged


def test_transitivity_ties():
    # a~b, b≻c, c≻a: no ranking with ties gives this
    assert transitivity_violations([("b", "c"), ("c", "a")], ties=[("a", "b")]) == (1, 1)
    assert transitivity_violations([("b", "c"), ("c", "a")], ties=[("a", "b")], mode="strict_cycles") == (0, 1)
    # a~b, b~c, a≻c: ties must be transitive in a weak order
    assert transitivity_violations([("a", "c")], ties=[("a", "b"), ("b", "c")]) == (1, 1)
    # a~b, a≻c, b≻c: fine
    assert transitivity_violations([("a", "c"), ("b", "c")], ties=[("a", "b")]) == (0, 1)
    # repeated judgments are netted: a≻b twice, b≻a once -> a≻b
    assert transitivity_violations([("a", "b"), ("a", "b"), ("b", "a"), ("b", "c"), ("c", "a")]) == (1, 1)


def _brute_force_cycles(edges, n):
    beats = set(edges)
    cycles = 0
    judged = 0
    for tri in combinations(range(n), 3):
        pairs = list(combinations(tri, 2))
        if all((x, y) in beats or (y, x) in beats for x, y in pairs):
            judged += 1
            if any((x, y) in beats and (y, z) in beats and (z, x) in beats for x, y, z in permutations(tri)):
                cycles += 1
    return cycles, judged


def test_transitivity_matches_brute_force_and_kendall_formula():
    rng = np.random.default_rng(4)
    for _ in range(20):
        n = int(rng.integers(3, 9))
        edges = []
        for i, j in combinations(range(n), 2):
            if rng.random() < 0.8:
                edges.append((i, j) if rng.random() < 0.5 else (j, i))
        assert transitivity_violations(edges) == _brute_force_cycles(edges, n)
    # complete tournament: Kendall's circular-triad count C(n,3) − Σ C(s_i, 2)
    n = 7
    edges = [(i, j) if rng.random() < 0.5 else (j, i) for i, j in combinations(range(n), 2)]
    scores = np.bincount([w for w, _ in edges], minlength=n)
    expected = n * (n - 1) * (n - 2) // 6 - sum(s * (s - 1) // 2 for s in scores)
    assert transitivity_violations(edges) == (expected, 35)


# ---------------------------------------------------------------- thumbs vs pairwise


def test_thumbs_contradictions():
    thumbs = {"x": -1, "y": 1, "z": 1}
    choices = [("x", "y"), ("y", "x"), ("x", "w"), ("z", "y"), ("x", "z")]
    res = thumbs_contradictions(choices, thumbs)
    assert res.mask.tolist() == [True, False, False, False, True]
    assert (res.contradictions, res.comparable) == (2, 4)


# ---------------------------------------------------------------- CREAM


def test_cream_worked_example():
    r_t = [0.1, 0.5, 0.3, 0.9, 0.2]
    r_prev = [0.2, 0.4, 0.1, 0.8, 0.3]
    assert cream_consistency(r_t, r_prev) == pytest.approx(0.8)
    assert int(np.argmax(r_t)) == 3 and int(np.argmin(r_t)) == 0


def test_cream_matches_scipy_with_ordinal_ranks():
    rng = np.random.default_rng(8)
    a = rng.integers(0, 3, 6).astype(float)  # ties broken by position as in CREAM
    b = rng.normal(size=6)
    tau = kendalltau(rankdata(a, method="ordinal"), rankdata(b, method="ordinal")).statistic
    assert cream_consistency(a, b) == pytest.approx((tau + 1) / 2)
    assert cream_consistency([1, 2, 3], [3, 2, 1]) == pytest.approx(0.0)
    assert np.isnan(cream_consistency([1], [1]))
