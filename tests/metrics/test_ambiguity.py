"""Principle ambiguity against the krippendorff package and docs/algorithms.md#principle-ambiguity."""

from __future__ import annotations

import krippendorff  # GPL-3: test-time reference only, never imported by curation/
import numpy as np
import pytest

from curation.metrics.agreement import krippendorff_alpha_bootstrap, value_counts
from curation.metrics.ambiguity import NO_PAIRS, ONE_VALUE, principle_agreement, verdicts_split

nan = np.nan
A, B, NEITHER, NA = 0.0, 1.0, 2.0, 3.0

# The worked example of docs/algorithms.md#principle-ambiguity: h1, h2 (people) and j (a judge).
H1 = [A, A, B, NA, A]
H2 = [A, B, B, A, nan]
J = [A, B, nan, A, nan]


def test_hand_worked_example():
    everyone = principle_agreement([H1, H2, J], n_boot=200, seed=0)
    assert everyone.alpha == pytest.approx(1 - 4 / 6.8)
    assert round(everyone.alpha, 6) == 0.411765
    assert everyone.n_items == 4  # item5 has one verdict
    assert everyone.n_verdicts == 11
    assert everyone.split_share == pytest.approx(0.5)
    assert everyone.units.tolist() == [0, 1, 2, 3]
    assert everyone.split.tolist() == [False, True, False, True]
    assert everyone.disagreement == pytest.approx([0, 1 / 3, 0, 1 / 3])
    assert everyone.reason == ""
    humans = principle_agreement([H1, H2], n_boot=200, seed=0)
    assert humans.alpha == pytest.approx(1 - 28 / 38)
    assert round(humans.alpha, 6) == 0.263158
    assert humans.split_share == pytest.approx(0.5)
    judge = principle_agreement([J], n_boot=200, seed=0)
    assert np.isnan(judge.alpha) and judge.n_items == 0 and judge.reason == NO_PAIRS
    # and the reference package agrees on the same matrices
    assert krippendorff.alpha(np.array([H1, H2, J]), level_of_measurement="nominal") == pytest.approx(
        0.411765, abs=1e-6
    )
    assert krippendorff.alpha(np.array([H1, H2]), level_of_measurement="nominal") == pytest.approx(0.263158, abs=1e-6)


def test_alpha_and_split_match_the_krippendorff_package():
    rng = np.random.default_rng(7)
    for _ in range(40):
        raters, units = rng.integers(2, 7), rng.integers(5, 40)
        data = rng.integers(0, 4, size=(raters, units)).astype(float)
        data[rng.random(data.shape) < 0.35] = nan
        result = principle_agreement(data, n_boot=50, seed=1)
        reference = krippendorff.alpha(data, level_of_measurement="nominal", value_domain=[0, 1, 2, 3])
        assert result.alpha == pytest.approx(reference, abs=1e-9)
        present = ~np.isnan(data)
        judged = present.sum(axis=0) >= 2
        assert result.n_items == judged.sum()
        assert result.n_verdicts == present[:, judged].sum()
        split = [len(set(data[present[:, u], u].tolist())) > 1 for u in np.flatnonzero(judged)]
        assert result.split.tolist() == split
        assert result.split_share == pytest.approx(np.mean(split))


def test_undefined_cases_say_why():
    same = principle_agreement([[A, B, nan], [A, B, A]], n_boot=20)
    assert same.alpha == pytest.approx(1.0) and same.split_share == 0  # unanimous items that differ: α = 1
    one_value = principle_agreement([[A, A], [A, A]], n_boot=20)
    assert np.isnan(one_value.alpha) and one_value.reason == ONE_VALUE
    assert one_value.split_share == 0 and one_value.n_items == 2
    with pytest.raises(ValueError):
        krippendorff.alpha(np.array([[A, A], [A, A]]), level_of_measurement="nominal")  # the package refuses too
    nobody = principle_agreement([[A, nan], [nan, B]], n_boot=20)
    assert nobody.reason == NO_PAIRS and nobody.n_items == 0 and np.isnan(nobody.split_share)
    with pytest.raises(ValueError):
        principle_agreement([A, B])


def test_bootstrap_resamples_the_judged_items():
    """The interval is α's bootstrap over the items with two or more verdicts only (seeded)."""
    data = np.array([H1 + [nan, A], H2 + [B, nan], J + [nan, nan]])
    result = principle_agreement(data, n_boot=300, seed=3)
    expected = krippendorff_alpha_bootstrap(data[:, :4], "nominal", n_boot=300, seed=3)
    assert result.interval == expected
    assert result.interval.low <= result.alpha <= result.interval.high
    assert principle_agreement(data, n_boot=300, seed=3).interval == result.interval


def test_verdicts_split_is_two_or_more_values():
    counts, _ = value_counts([[A, A, B, nan], [A, B, B, nan], [nan, nan, B, NA]])
    assert verdicts_split(counts).tolist() == [False, True, False, False]
    with pytest.raises(ValueError):
        verdicts_split([1, 2])
