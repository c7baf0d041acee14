"""Question agreement (docs/algorithms.md#question-agreement) against NLTK, the krippendorff package and
hand-worked cases."""

from __future__ import annotations

import krippendorff  # GPL-3: test-time reference only
import numpy as np
import pytest
from nltk.metrics import agreement as nltk_agreement
from nltk.metrics import distance as nltk_distance

from curation.metrics import annotator_vs_consensus, krippendorff_alpha_bootstrap, leave_one_out_z
from curation.metrics.questions import (
    category_agreement,
    jaccard_distance,
    masi_distance,
    multilabel_alpha,
    multilabel_alpha_bootstrap,
    rater_distance_agreement,
)

CATS = ["violence", "hate", "self_harm", "privacy", "fraud"]


def _random_sets(rng, raters, units, p_missing=0.0, allow_empty=False):
    data = []
    for _ in range(raters):
        row = []
        for _ in range(units):
            if rng.random() < p_missing:
                row.append(None)
                continue
            k = rng.integers(0 if allow_empty else 1, 3)
            row.append(frozenset(rng.choice(CATS, size=k, replace=False).tolist()))
        data.append(row)
    return data


def _nltk_alpha(data, distance):
    triples = [(f"r{r}", f"u{u}", cell) for r, row in enumerate(data) for u, cell in enumerate(row)]
    return nltk_agreement.AnnotationTask(data=triples, distance=distance).alpha()


@pytest.mark.parametrize("seed", range(6))
def test_multilabel_alpha_equals_nltk_on_complete_data(seed):
    rng = np.random.default_rng(seed)
    data = _random_sets(rng, raters=int(rng.integers(2, 5)), units=int(rng.integers(5, 25)))
    # A few units where everybody agrees, so α is not near 0 by construction.
    for u in range(0, len(data[0]), 3):
        for row in data:
            row[u] = data[0][u]
    assert multilabel_alpha(data, "masi") == pytest.approx(_nltk_alpha(data, nltk_distance.masi_distance), abs=1e-12)
    assert multilabel_alpha(data, "jaccard") == pytest.approx(
        _nltk_alpha(data, nltk_distance.jaccard_distance), abs=1e-12
    )


def test_set_distances_equal_nltk():
    rng = np.random.default_rng(3)
    for _ in range(200):
        a, b = _random_sets(rng, 2, 1)
        assert masi_distance(a[0], b[0]) == pytest.approx(nltk_distance.masi_distance(set(a[0]), set(b[0])))
        assert jaccard_distance(a[0], b[0]) == pytest.approx(nltk_distance.jaccard_distance(set(a[0]), set(b[0])))
    assert masi_distance(set(), set()) == 0.0  # NLTK divides by zero here; two "none" answers agree
    assert jaccard_distance(set(), {"a"}) == 1.0
    assert masi_distance(set(), {"a"}) == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_singleton_sets_with_missing_answers_are_nominal_alpha(seed):
    """With one label per answer MASI and Jaccard are the nominal distance, so α must equal the
    krippendorff package's nominal α — including its handling of missing answers."""
    rng = np.random.default_rng(100 + seed)
    codes = rng.integers(0, 4, size=(4, 30)).astype(float)
    codes[rng.random(codes.shape) < 0.3] = np.nan
    sets = [[None if c != c else frozenset([CATS[int(c)]]) for c in row] for row in codes]
    ref = krippendorff.alpha(codes, level_of_measurement="nominal")
    assert multilabel_alpha(sets, "masi") == pytest.approx(ref, abs=1e-12)
    assert multilabel_alpha(sets, "jaccard") == pytest.approx(ref, abs=1e-12)
    # Same draws as the scalar bootstrap: identical intervals.
    ours = multilabel_alpha_bootstrap(sets, "masi", n_boot=50, seed=7)
    scalar = krippendorff_alpha_bootstrap(codes, "nominal", n_boot=50, seed=7)
    assert (ours.low, ours.high, ours.n_ok) == pytest.approx((scalar.low, scalar.high, scalar.n_ok), abs=1e-12)


def test_multilabel_alpha_hand_worked():
    """docs/algorithms.md#multi-label-alpha worked example (an empty set is an answer)."""
    data = [[{"a"}, {"a", "b"}, {"b"}], [{"a"}, {"a"}, set()]]
    assert multilabel_alpha(data, "jaccard") == pytest.approx(0.25, abs=1e-12)
    assert multilabel_alpha(data, "masi") == pytest.approx(7 / 32, abs=1e-12)
    # A third rater who answered only the first unit changes nothing to the pairs of the others'
    # units but adds two coincidences {a}-{a} on unit 1 (m = 3: 3·2/2 = 3 instead of 2).
    data3 = [*data, [{"a"}, None, None]]
    # o({a},{a}) = 3, n = 7; observed Σoδ = 3 (Jaccard, as before); expected:
    # n = ({a}:4, {a,b}:1, {b}:1, ∅:1) → 2·(4·.5 + 4 + 4 + .5 + 1 + 1)/6 = 25/6
    assert multilabel_alpha(data3, "jaccard") == pytest.approx(1 - 3 / (25 / 6), abs=1e-12)


def test_multilabel_alpha_refuses_bad_input():
    with pytest.raises(ValueError, match="distance"):
        multilabel_alpha([[{"a"}, {"b"}], [{"a"}, {"a"}]], "cosine")
    with pytest.raises(ValueError, match="string"):
        multilabel_alpha([["a", {"b"}], [{"a"}, {"a"}]])
    with pytest.raises(ValueError, match="two or more raters"):
        multilabel_alpha([[{"a"}, None], [None, {"b"}]])


def test_multilabel_alpha_is_nan_when_everybody_gives_one_set_but_two_sets_exist():
    # {b} appears only on a unit answered once: no pairable disagreement is possible.
    assert np.isnan(multilabel_alpha([[{"a"}, {"a"}, {"b"}], [{"a"}, {"a"}, None]]))


def test_category_agreement_rates_and_alpha_against_the_package():
    rng = np.random.default_rng(11)
    data = _random_sets(rng, raters=3, units=40, p_missing=0.2, allow_empty=True)
    rows = category_agreement(data, CATS + ["never"])
    for row in rows[:-1]:
        yes_no = np.array([[np.nan if c is None else float(row.category in c) for c in r] for r in data])
        assert row.n_answers == int((~np.isnan(yes_no)).sum())
        assert row.n_labelled == int(np.nansum(yes_no))
        assert row.rate == pytest.approx(row.n_labelled / row.n_answers)
        ref = krippendorff.alpha(yes_no, level_of_measurement="nominal", value_domain=[0.0, 1.0])
        assert row.alpha == pytest.approx(ref, abs=1e-12)
    never = rows[-1]
    assert (never.category, never.n_labelled, never.rate) == ("never", 0, 0.0)
    assert np.isnan(never.alpha)  # nobody ever chose it: α undefined


def test_category_agreement_hand_worked():
    data = [[{"a"}, {"a", "b"}, set()], [{"a"}, {"b"}, {"b"}]]
    a, b = category_agreement(data, ["a", "b"])
    assert (a.rate, b.rate) == (pytest.approx(3 / 6), pytest.approx(3 / 6))
    # a: yes/no = [1,1,0],[1,0,0]: o = [[2,1],[1,2]] (no=0, yes=1)... α = 1 − 2/(2·3·3/5) = 4/9
    assert a.alpha == pytest.approx(1 - 2 / (2 * 3 * 3 / 5))
    # b: [0,1,0],[0,1,1]: o(yes,no) = 1 pair each way from unit 3 → same margins → same α
    assert b.alpha == pytest.approx(a.alpha)


def test_rater_distance_agreement_nominal_is_the_consensus_share():
    rng = np.random.default_rng(5)
    data = rng.integers(0, 3, size=(4, 20)).astype(float)
    data[rng.random(data.shape) < 0.2] = np.nan
    cons = rng.integers(0, 3, size=20).astype(float)
    cons[::7] = np.nan
    ours = rater_distance_agreement(data.tolist(), cons.tolist(), lambda a, b: float(a != b))
    ref = annotator_vs_consensus(data, cons)
    np.testing.assert_allclose(ours.agreement, ref.share)
    np.testing.assert_array_equal(ours.n, ref.n)


def test_rater_distance_agreement_on_sets_and_ratings():
    sets = [[{"a"}, {"a", "b"}, None], [set(), {"b"}, {"c"}]]
    res = rater_distance_agreement(sets, [frozenset({"a"}), frozenset({"b"}), None], jaccard_distance)
    assert res.agreement.tolist() == pytest.approx([1 - (0 + 0.5) / 2, 1 - (1 + 0) / 2])
    assert res.n.tolist() == [2, 2]
    ratings = [[1, 5, 3], [2, None, 4]]
    res = rater_distance_agreement(ratings, [1, 4, 3.5], lambda a, b: abs(a - b) / 4)
    assert res.agreement.tolist() == pytest.approx([1 - (0 + 0.25 + 0.125) / 3, 1 - (0.25 + 0.125) / 2])


def test_leave_one_out_z_worked_example():
    """docs/algorithms.md#outliers: peers 0.90, 0.85, 0.80, 0.95; 0.60 has z = −4.26."""
    z = leave_one_out_z([0.90, 0.85, 0.80, 0.95, 0.60])
    assert round(z[-1], 2) == -4.26
    assert np.isnan(leave_one_out_z([0.9, 0.8, 0.1], min_peers=3)).all()
    # The SD floor: near-unanimous peers.
    assert leave_one_out_z([1.0, 1.0, 1.0, 0.95])[-1] == pytest.approx(-0.05 / 0.05)
