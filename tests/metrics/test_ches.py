"""CHES and LN-CHES (docs/algorithms.md#ches worked example, docs/algorithms.md#ches-selection selection rule)."""

from __future__ import annotations

import numpy as np
import pytest

from curation.metrics.ches import ches, ches_batch, ches_select, ln_ches


def _worked_example():
    # h(x_last)=(1,0), h(a1)=(1,1), h(a2)=(0,1) -> S+=(2,2), |y+|=3; h(x_last)=(1,0), h(b1)=(3,1) -> S-=(4,1), |y-|=2
    pos_states = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    neg_states = np.array([[1.0, 0.0], [3.0, 1.0]])
    return pos_states.sum(0), len(pos_states), neg_states.sum(0), len(neg_states)


def test_worked_example():
    s_pos, n_pos, s_neg, n_neg = _worked_example()
    assert s_pos.tolist() == [2, 2] and s_neg.tolist() == [4, 1]
    assert ches(s_pos, s_neg) == pytest.approx(2.0)
    assert ln_ches(s_pos, n_pos, s_neg, n_neg) == pytest.approx(0.777778, abs=1e-6)
    assert ln_ches(s_pos, n_pos, s_neg, n_neg) == pytest.approx(10 / 6 - 8 / 9)


def test_identical_responses_score_zero_and_ches_is_asymmetric():
    rng = np.random.default_rng(0)
    s = rng.normal(size=16)
    assert ches(s, s) == 0.0
    assert ln_ches(s, 7, s, 7) == pytest.approx(0.0, abs=1e-12)
    s_pos, n_pos, s_neg, n_neg = _worked_example()
    assert ches(s_neg, s_pos) == pytest.approx(10 - 17)  # <S-,S+> − ||S-||²
    assert ches(s_neg, s_pos) != ches(s_pos, s_neg)
    assert ln_ches(s_neg, n_neg, s_pos, n_pos) != ln_ches(s_pos, n_pos, s_neg, n_neg)


def test_batch_equals_single_pairs():
    rng = np.random.default_rng(1)
    b, d = 32, 24
    s_pos = rng.normal(size=(b, d)).astype(np.float32)
    s_neg = rng.normal(size=(b, d)).astype(np.float32)
    n_pos = rng.integers(1, 50, size=b)
    n_neg = rng.integers(1, 50, size=b)
    c, ln = ches_batch(s_pos, s_neg, n_pos, n_neg)
    assert c.dtype == np.float64
    for i in range(b):
        assert c[i] == pytest.approx(ches(s_pos[i], s_neg[i]), rel=1e-12)
        assert ln[i] == pytest.approx(ln_ches(s_pos[i], n_pos[i], s_neg[i], n_neg[i]), rel=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="n_pos"):
        ln_ches([1.0], 0, [1.0], 1)
    with pytest.raises(ValueError, match="same dimension"):
        ches([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match=r"\[B, d\]"):
        ches_batch(np.zeros((2, 3)), np.zeros((2, 4)), [1, 1], [1, 1])


def test_select_keeps_lowest_fraction_by_default():
    rng = np.random.default_rng(2)
    scores = rng.permutation(100).astype(float)
    keep = ches_select(scores, keep_fraction=0.05)
    assert sorted(scores[keep].tolist()) == [0, 1, 2, 3, 4]
    # paper §6.3: 19 of ≈370 pairs kept (5 %, rounded up)
    assert ches_select(np.arange(370.0), keep_fraction=0.05).sum() == 19


def test_select_window_rule_matches_runner_code():
    scores = np.array([5.0, 1.0, 9.0, 3.0, 7.0, 0.0, 8.0, 2.0, 6.0, 4.0])
    order = np.argsort(scores)

    def runner(q, n):  # docs/algorithms.md#ches-selection, sorrybench/similarity_measures experiment runners
        total = len(scores)
        idx = round(q * (total - 1))
        start = max(0, idx - n // 2)
        end = start + n
        if end > total:
            end = total
            start = max(0, end - n)
        return set(order[start:end].tolist())

    for q in (0.0, 0.25, 0.5, 0.75, 1.0):
        keep = ches_select(scores, keep_fraction=0.3, center_quantile=q)
        assert set(np.flatnonzero(keep).tolist()) == runner(q, 3)
    assert sorted(scores[ches_select(scores, keep_fraction=0.3, center_quantile=1.0)].tolist()) == [7, 8, 9]


def test_select_drop_above_quantile():
    scores = np.arange(20.0)
    keep = ches_select(scores, drop_above_quantile=0.85)
    assert scores[keep].max() <= np.quantile(scores, 0.85)
    assert keep.sum() == 17
    with pytest.raises(ValueError, match="exactly one"):
        ches_select(scores)
    with pytest.raises(ValueError, match="NaN"):
        ches_select([1.0, np.nan], keep_fraction=0.5)
