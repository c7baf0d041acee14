"""Agreement metrics against the krippendorff package, scikit-learn and docs/algorithms.md#agreement."""

from __future__ import annotations

import zlib

import krippendorff  # GPL-3: test-time reference only, never imported by curation/
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from curation.metrics.agreement import (
    annotator_vs_consensus,
    cohen_kappa,
    cohen_kappa_matrix,
    fleiss_kappa,
    kendall_w,
    kendall_w_chi2,
    krippendorff_alpha,
    krippendorff_alpha_bootstrap,
    krippendorff_alpha_from_counts,
    unit_entropy,
    value_counts,
)

nan = np.nan

WIKI = [
    [nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
    [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
    [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4],
]
FOUR = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
]
WORDS = ["very low", "low", "mid", "high", "very high"]


# ---------------------------------------------------------------- Krippendorff: documented values


def test_alpha_wikipedia_example():
    assert krippendorff_alpha(WIKI, "nominal") == pytest.approx(0.691358, abs=1e-6)
    assert krippendorff_alpha(WIKI, "interval") == pytest.approx(0.810845, abs=1e-6)
    assert krippendorff_alpha(WIKI, "ordinal") == pytest.approx(0.806721, abs=1e-6)


def test_alpha_four_rater_example():
    assert round(krippendorff_alpha(FOUR, "ordinal"), 3) == 0.815
    assert round(krippendorff_alpha(FOUR, "ordinal", value_domain=[1, 2, 3, 4, 5]), 3) == 0.815
    assert round(krippendorff_alpha(FOUR, "ratio"), 3) == 0.797
    words = np.array([[WORDS[int(v) - 1] if v == v else "nan" for v in row] for row in FOUR])
    assert round(krippendorff_alpha(words, "nominal"), 3) == 0.743
    assert round(krippendorff_alpha(words, "ordinal", value_domain=WORDS), 3) == 0.815


def test_alpha_value_counts_input():
    counts, domain = value_counts(WIKI)
    assert domain.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert counts[5].tolist() == [0, 0, 2, 1]
    assert krippendorff_alpha_from_counts(counts, domain, "nominal") == pytest.approx(0.691358, abs=1e-6)


def test_alpha_hand_worked_preference_example():
    # docs/algorithms.md#krippendorff-alpha: A=1, B=0; o = [[4,2],[2,3]], e_AB = 3 -> alpha = 1 - 4/6
    data = [[1, 1, 0, 1], [1, 0, 0, 0], [1, 1, nan, 0]]
    assert krippendorff_alpha(data, "nominal") == pytest.approx(1 / 3, abs=1e-12)


def test_alpha_three_point_example():
    data = [[1, 1, -1, 0, 1], [1, 0, -1, 0, 1], [1, 1, 0, nan, -1]]
    assert krippendorff_alpha(data, "nominal") == pytest.approx(0.360656, abs=1e-6)
    assert krippendorff_alpha(data, "ordinal") == pytest.approx(0.404267, abs=1e-6)
    assert krippendorff_alpha(data, "interval") == pytest.approx(0.370968, abs=1e-6)


# ---------------------------------------------------------------- Krippendorff: property test vs package


def _random_matrix(rng: np.random.Generator, kind: str) -> np.ndarray:
    raters = int(rng.integers(2, 8))
    units = int(rng.integers(2, 60))
    if kind == "small_ints":
        data = rng.integers(1, int(rng.integers(3, 7)), size=(raters, units)).astype(float)
    elif kind == "wide_ints":  # span > 32: lookup-table path
        data = rng.choice([1.0, 7.0, 40.0, 90.0, 250.0], size=(raters, units))
    elif kind == "floats":  # non-integral: sort/unique path
        data = rng.choice([0.5, 1.25, 2.0, 3.75], size=(raters, units))
    else:  # near-unanimous units with ties
        base = rng.integers(1, 4, size=units).astype(float)
        data = np.tile(base, (raters, 1))
        flip = rng.random(data.shape) < 0.2
        data[flip] = rng.integers(1, 4, size=int(flip.sum()))
    data[rng.random(data.shape) < rng.uniform(0.0, 0.5)] = nan
    return data


@pytest.mark.parametrize("kind", ["small_ints", "wide_ints", "floats", "ties"])
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_equals_package_on_random_matrices(kind, level):
    rng = np.random.default_rng(zlib.crc32(f"{kind}-{level}".encode()))
    checked = 0
    for _ in range(40):
        data = _random_matrix(rng, kind)
        try:
            expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
        except ValueError:
            with pytest.raises(ValueError):
                krippendorff_alpha(data, level)
            continue
        assert krippendorff_alpha(data, level) == pytest.approx(expected, abs=1e-9, nan_ok=True)
        checked += 1
    assert checked >= 30


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_alpha_with_explicit_domain_equals_package(level):
    rng = np.random.default_rng(7)
    domain = [3.0, 1.0, 2.0, 5.0]  # unsorted on purpose: ordinal order follows the domain
    for _ in range(20):
        data = rng.choice([1.0, 2.0, 3.0], size=(4, 25))
        data[rng.random(data.shape) < 0.3] = nan
        expected = krippendorff.alpha(reliability_data=data, value_domain=domain, level_of_measurement=level)
        assert krippendorff_alpha(data, level, value_domain=domain) == pytest.approx(expected, abs=1e-9)


def test_alpha_large_matrix_equals_package():
    rng = np.random.default_rng(0)
    data = rng.integers(0, 3, size=(10, 20_000)).astype(float)
    data[rng.random(data.shape) < 0.2] = nan
    for level in ("nominal", "interval"):
        expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
        assert krippendorff_alpha(data, level) == pytest.approx(expected, abs=1e-9)


def test_alpha_perfect_agreement_is_one():
    data = [[1, 2, 3, 1], [1, 2, 3, nan], [1, 2, nan, 1]]
    assert krippendorff_alpha(data, "nominal") == pytest.approx(1.0)


def test_alpha_errors_are_clear():
    with pytest.raises(ValueError, match="at least 2 values"):
        krippendorff_alpha([[1, 1, 1], [1, 1, nan]])
    with pytest.raises(ValueError, match="two or more raters"):
        krippendorff_alpha([[1, nan, 2], [nan, 2, nan]])
    with pytest.raises(ValueError, match="outside value_domain"):
        krippendorff_alpha([[1, 2], [1, 3]], value_domain=[1, 2])
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha([[1, 2], [1, 2]], level="cardinal")
    with pytest.raises(ValueError, match="2-D"):
        krippendorff_alpha([1, 2, 3])
    with pytest.raises(ValueError, match="value_domain"):
        krippendorff_alpha(np.array([["a", "b"], ["a", "a"]]), "ordinal")
    with pytest.raises(ValueError):
        krippendorff_alpha([[nan, nan], [nan, nan]])


# ---------------------------------------------------------------- per-item agreement


def test_unit_entropy():
    data = [[1, 1, 0, nan], [1, 0, 0, nan], [1, 0, nan, nan], [1, 1, nan, nan]]
    entropy = unit_entropy(data)
    assert entropy[0] == 0.0
    assert entropy[1] == pytest.approx(1.0)  # 2/2 split = 1 bit
    assert entropy[2] == 0.0  # unit 2: two ratings, both 0
    assert np.isnan(entropy[3])


# ---------------------------------------------------------------- Fleiss


def test_fleiss_hand_example():
    assert fleiss_kappa([[3, 0], [2, 1], [0, 3], [1, 2]]) == pytest.approx(1 / 3, abs=1e-12)


def _fleiss_by_definition(table: np.ndarray) -> float:
    # Independent loop version of the statsmodels formula (docs/algorithms.md#fleiss-kappa).
    n_units, k = table.shape
    n = table[0].sum()
    p_i = [sum(c * (c - 1) for c in row) / (n * (n - 1)) for row in table]
    p_j = [table[:, j].sum() / (n_units * n) for j in range(k)]
    p_bar = sum(p_i) / n_units
    p_e = sum(p * p for p in p_j)
    return (p_bar - p_e) / (1 - p_e)


def test_fleiss_random_tables_and_relation_to_alpha():
    rng = np.random.default_rng(3)
    for _ in range(20):
        raters, units, k = int(rng.integers(2, 7)), int(rng.integers(3, 40)), int(rng.integers(2, 5))
        data = rng.integers(0, k, size=(raters, units)).astype(float)
        counts, _ = value_counts(data)
        kappa = fleiss_kappa(counts)
        assert kappa == pytest.approx(_fleiss_by_definition(counts), abs=1e-12)
        # complete nominal data: alpha = 1 - (N n - 1)/(N n) (1 - kappa)  (both vs the package's alpha)
        total = raters * units
        expected_alpha = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
        assert 1 - (total - 1) / total * (1 - kappa) == pytest.approx(expected_alpha, abs=1e-9)


def test_fleiss_randolph_and_errors():
    assert fleiss_kappa([[3, 0], [2, 1], [0, 3], [1, 2]], method="randolph") == pytest.approx((2 / 3 - 0.5) / 0.5)
    with pytest.raises(ValueError, match="same number of ratings"):
        fleiss_kappa([[3, 0], [1, 1]])


# ---------------------------------------------------------------- Kendall's W


def test_kendall_w_examples():
    assert kendall_w([[1, 2, 3, 4], [1, 3, 2, 4], [2, 1, 3, 4]]) == pytest.approx(0.777778, abs=1e-6)
    assert kendall_w([[1, 1, 3, 4], [1, 3, 2, 4], [2, 1, 3, 4]]) == pytest.approx(0.770115, abs=1e-6)
    # without the correction the tie just lowers S
    assert kendall_w([[1, 1, 3, 4], [1, 3, 2, 4], [2, 1, 3, 4]], ties=False) == pytest.approx(12 * 33.5 / 540)


def test_kendall_w_matches_friedman_statistic():
    from scipy.stats import friedmanchisquare

    rng = np.random.default_rng(5)
    scores = rng.integers(0, 4, size=(5, 6)).astype(float)  # with ties
    w = kendall_w(scores)
    chi2, p = kendall_w_chi2(w, 5, 6)
    ref = friedmanchisquare(*scores.T)  # objects as treatments, raters as blocks
    assert chi2 == pytest.approx(ref.statistic, rel=1e-9)
    assert p == pytest.approx(ref.pvalue, rel=1e-9)


# ---------------------------------------------------------------- Cohen's kappa


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_sklearn(weights):
    rng = np.random.default_rng(11)
    for _ in range(25):
        n = int(rng.integers(5, 60))
        a = rng.integers(0, 4, size=n).astype(float)
        b = np.where(rng.random(n) < 0.6, a, rng.integers(0, 4, size=n)).astype(float)
        a[rng.random(n) < 0.15] = nan
        b[rng.random(n) < 0.15] = nan
        both = ~np.isnan(a) & ~np.isnan(b)
        expected = cohen_kappa_score(a[both], b[both], weights=weights)
        assert cohen_kappa(a, b, weights=weights) == pytest.approx(expected, abs=1e-12)


def test_cohen_kappa_no_overlap_is_nan():
    assert np.isnan(cohen_kappa([1, nan], [nan, 1]))


# ---------------------------------------------------------------- annotator vs consensus


def test_annotator_vs_consensus():
    data = [[1, 0, 1, nan], [1, 1, 1, 0], [nan, nan, nan, nan]]
    res = annotator_vs_consensus(data, [1, 0, nan, 0])
    assert res.n.tolist() == [2, 3, 0]
    assert res.share[0] == 1.0
    assert res.share[1] == pytest.approx(2 / 3)
    assert np.isnan(res.share[2])


# ---------------------------------------------------------------- input kinds, bootstrap, kappa matrix


def test_alpha_accepts_int_and_object_matrices():
    rng = np.random.default_rng(12)
    ints = rng.integers(0, 4, size=(4, 30))
    expected = krippendorff.alpha(reliability_data=ints.astype(float), level_of_measurement="ordinal")
    assert krippendorff_alpha(ints, "ordinal") == pytest.approx(expected, abs=1e-12)
    labels = np.array(["A", "B", "tie"], dtype=object)[rng.integers(0, 3, size=(3, 25))]
    labels[0, :5] = None
    as_str = np.where(labels == None, "nan", labels).astype(str)  # noqa: E711 - the package's missing marker
    expected = krippendorff.alpha(reliability_data=as_str, level_of_measurement="nominal")
    assert krippendorff_alpha(labels, "nominal") == pytest.approx(expected, abs=1e-12)


def test_alpha_bootstrap_interval():
    rng = np.random.default_rng(13)
    truth = rng.integers(0, 3, size=400)
    data = np.where(rng.random((5, 400)) < 0.7, truth, rng.integers(0, 3, size=(5, 400))).astype(float)
    data[rng.random(data.shape) < 0.2] = nan
    res = krippendorff_alpha_bootstrap(data, "nominal", n_boot=300, seed=1)
    assert res.estimate == pytest.approx(krippendorff_alpha(data, "nominal"), abs=1e-12)
    assert res.low < res.estimate < res.high
    assert res.n_ok == 300
    assert res == krippendorff_alpha_bootstrap(data, "nominal", n_boot=300, seed=1)


def test_cohen_kappa_matrix_matches_sklearn_pairs():
    rng = np.random.default_rng(14)
    data = rng.integers(0, 3, size=(4, 40)).astype(float)
    data[rng.random(data.shape) < 0.25] = nan
    data[3, :] = nan
    data[3, 0] = 1.0
    kappa, overlap = cohen_kappa_matrix(data)
    for i in range(3):
        for j in range(3):
            both = ~np.isnan(data[i]) & ~np.isnan(data[j])
            assert overlap[i, j] == both.sum()
            if i != j:
                assert kappa[i, j] == pytest.approx(cohen_kappa_score(data[i, both], data[j, both]))
    assert np.isnan(np.diag(kappa)).all()
    assert np.isnan(kappa[3, :3]).all()  # overlap of 1 < min_overlap
