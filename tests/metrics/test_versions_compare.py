"""Old vs new version of a principle on the same items: α per version and the
paired bootstrap of their difference (docs/algorithms.md#paired-bootstrap)."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from curation.metrics import versions_compare

OLD = [[1, 1, 0], [2, 0, 0], [0, 2, 0]]  # items × (A, B, na): (A, B), (A, A), (B, B)
NEW = [[2, 0, 0], [2, 0, 0], [0, 2, 0]]  # (A, A), (A, A), (B, B)


def test_versions_compare_hand_worked():
    c = versions_compare(OLD, NEW, n_boot=1000, seed=0)
    assert c.n_items == 3 and list(c.shared) == [0, 1, 2]
    assert c.old.estimate == pytest.approx(1 - 10 / 18)  # 0.444
    assert c.new.estimate == pytest.approx(1.0)
    assert c.difference.estimate == pytest.approx(10 / 18)  # 0.556
    assert (c.split_old, c.split_new) == (pytest.approx(1 / 3), 0.0)
    assert c.difference.low == pytest.approx(0.0) and c.difference.high == pytest.approx(1.25)
    assert not c.beyond_noise  # three items convince nobody


def _reliability(counts) -> np.ndarray:
    """The count matrix as the reference package's raters × units layout (NaN = no verdict)."""
    counts = np.asarray(counts, dtype=int)
    width = counts.sum(axis=1).max()
    data = np.full((width, len(counts)), np.nan)
    for unit, row in enumerate(counts):
        values = [v for v, n in enumerate(row) for _ in range(n)]
        data[: len(values), unit] = values
    return data


def _reference_alpha(counts) -> float:
    try:
        return float(krippendorff.alpha(_reliability(counts), level_of_measurement="nominal", value_domain=[0, 1, 2]))
    except (ValueError, ZeroDivisionError):
        return float("nan")


def test_paired_bootstrap_matches_the_reference_resample_by_resample():
    rng = np.random.default_rng(7)
    n = 25
    old = np.zeros((n, 3))
    new = np.zeros((n, 3))
    for unit in range(n):
        for _ in range(3):
            old[unit, rng.integers(0, 3)] += 1
            new[unit, 0 if rng.random() < 0.8 else rng.integers(0, 3)] += 1
    old[4] = [1, 0, 0]  # one verdict under the old version: left out
    c = versions_compare(old, new, n_boot=200, seed=3, confidence=0.9)
    shared = [u for u in range(n) if u != 4]
    assert list(c.shared) == shared
    o, w = old[shared], new[shared]
    assert c.old.estimate == pytest.approx(_reference_alpha(o))
    assert c.new.estimate == pytest.approx(_reference_alpha(w))
    draws = np.random.default_rng(3)
    diffs = []
    for _ in range(200):  # the same draws, both versions on each
        idx = draws.integers(0, len(shared), size=len(shared))
        a_old, a_new = _reference_alpha(o[idx]), _reference_alpha(w[idx])
        if np.isfinite(a_old) and np.isfinite(a_new):
            diffs.append(a_new - a_old)
    low, high = np.percentile(diffs, [5, 95])
    assert (c.difference.low, c.difference.high, c.difference.n_ok) == (
        pytest.approx(low),
        pytest.approx(high),
        len(diffs),
    )


def test_a_clear_improvement_is_beyond_noise_and_no_change_is_not():
    rng = np.random.default_rng(1)
    n = 60
    noisy = np.zeros((n, 3))
    clear = np.zeros((n, 3))
    for unit in range(n):
        truth = unit % 2
        for _ in range(3):
            noisy[unit, truth if rng.random() < 0.5 else rng.integers(0, 3)] += 1
            clear[unit, truth if rng.random() < 0.95 else rng.integers(0, 3)] += 1
    better = versions_compare(noisy, clear, n_boot=300)
    assert better.difference.estimate > 0 and better.difference.low > 0 and better.beyond_noise
    same = versions_compare(noisy, noisy, n_boot=300)
    assert same.difference.estimate == 0 and same.difference.low == 0 == same.difference.high
    assert not same.beyond_noise
    nothing = versions_compare([[1, 0, 0]], [[2, 0, 0]])
    assert nothing.n_items == 0 and nothing.reason and not nothing.beyond_noise
    with pytest.raises(ValueError):
        versions_compare(OLD, NEW[:2])
