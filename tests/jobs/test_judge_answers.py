"""Judge answers to custom questions from next-token probabilities and the jury rule
(docs/algorithms.md#judge-answers, docs/algorithms.md#judge-juries): hand-worked cases."""

from __future__ import annotations

import pytest

from curation.judging.answers import (
    JudgeAnswer,
    choice_from_probs,
    choice_letters,
    jury_answer,
    labels_from_probs,
    rating_digits,
    rating_from_probs,
)


def test_choice_is_the_most_probable_letter():
    ans = choice_from_probs({"A": 0.1, "B": 0.5, "C": 0.2}, ["safe", "unsafe", "unsure"])
    assert ans.value == "unsafe"
    assert ans.details["probs"] == pytest.approx({"safe": 0.125, "unsafe": 0.625, "unsure": 0.25})
    # Ties go to the first option; letters beyond the options are ignored.
    assert choice_from_probs({"A": 0.3, "B": 0.3, "Z": 0.9}, ["x", "y"]).value == "x"
    with pytest.raises(ValueError, match="1 to 26 options"):
        choice_letters(27)


def test_labels_are_the_categories_with_yes_above_no():
    ans = labels_from_probs(
        {"violence": {"yes": 0.6, "no": 0.2}, "hate": {"yes": 0.1, "no": 0.3}, "fraud": {"yes": 0.2, "no": 0.2}}
    )
    assert ans.value == ["violence"]  # an exact tie is not a yes
    assert ans.details["p_yes"] == pytest.approx({"violence": 0.75, "hate": 0.25, "fraud": 0.5})
    assert labels_from_probs({"a": {"yes": 0.1, "no": 0.9}}).value == []  # "none of them" is an answer


def test_rating_expected_value_and_argmax():
    # 1..5: p = (.1, .1, .2, .4, .2) → E = .1 + .2 + .6 + 1.6 + 1.0 = 3.5 → 4 (half up); argmax 4.
    probs = {"1": 0.05, "2": 0.05, "3": 0.1, "4": 0.2, "5": 0.1, "7": 3.0}  # unnormalised; 7 is off the scale
    ans = rating_from_probs(probs, 5)
    assert ans.details["expected"] == pytest.approx(3.5)
    assert ans.value == 4
    assert rating_from_probs(probs, 5, rule="argmax").value == 4
    # Bimodal: E = 0.5·1 + 0.5·5 = 3 while argmax ties at 1 and 5 → the lower, 1.
    assert rating_from_probs({"1": 0.5, "5": 0.5}, 5).value == 3
    assert rating_from_probs({"1": 0.5, "5": 0.5}, 5, rule="argmax").value == 1
    with pytest.raises(ValueError, match="rule"):
        rating_from_probs(probs, 5, rule="median")


def test_ten_point_scale_uses_zero_to_nine():
    assert rating_digits(10) == [str(d) for d in range(10)]
    assert rating_digits(4) == ["1", "2", "3", "4"]
    ans = rating_from_probs({"0": 0.5, "9": 0.5}, 10)  # points 1 and 10
    assert ans.details["expected"] == pytest.approx(5.5) and ans.value == 6
    assert rating_from_probs({"9": 1.0}, 10).value == 10


def test_jury_majority_for_a_choice_with_probability_tie_break():
    a = JudgeAnswer("safe", {"probs": {"safe": 0.6, "unsafe": 0.4}})
    b = JudgeAnswer("unsafe", {"probs": {"safe": 0.45, "unsafe": 0.55}})
    c = JudgeAnswer("unsafe", {"probs": {"safe": 0.1, "unsafe": 0.9}})
    assert jury_answer("single_choice", [a, b, c]).value == "unsafe"
    tie = jury_answer("single_choice", [a, b])  # 1–1: mean P(safe) = .525 > mean P(unsafe) = .475
    assert tie.value == "safe" and tie.details["tie"] is True
    assert tie.details["members"] == ["safe", "unsafe"]


def test_jury_majority_per_category():
    m1 = JudgeAnswer(["violence", "hate"], {"p_yes": {"violence": 0.9, "hate": 0.6, "fraud": 0.1}})
    m2 = JudgeAnswer(["violence"], {"p_yes": {"violence": 0.8, "hate": 0.3, "fraud": 0.4}})
    m3 = JudgeAnswer(["fraud"], {"p_yes": {"violence": 0.4, "hate": 0.2, "fraud": 0.7}})
    jury = jury_answer("multi_label", [m1, m2, m3])
    assert jury.value == ["violence"]  # 2 of 3; hate and fraud 1 of 3
    assert jury.details["shares"] == pytest.approx({"violence": 2 / 3, "hate": 1 / 3, "fraud": 1 / 3})
    # Two members split on hate: mean P(yes) = (.6 + .3)/2 = .45 ≤ .5 → out; on violence both in.
    assert jury_answer("multi_label", [m1, m2]).value == ["violence"]
    # Split with mean P(yes) above ½: in.
    m4 = JudgeAnswer([], {"p_yes": {"violence": 0.45, "hate": 0.49, "fraud": 0.2}})
    assert jury_answer("multi_label", [m1, m4]).value == ["violence", "hate"]


def test_jury_mean_for_ratings():
    jury = jury_answer("rating", [JudgeAnswer(4), JudgeAnswer(5), JudgeAnswer(2)])
    assert jury.details["mean"] == pytest.approx(11 / 3) and jury.value == 4
    assert jury_answer("rating", [JudgeAnswer(2), JudgeAnswer(3)]).value == 3  # 2.5 rounds half up
    with pytest.raises(ValueError, match="text"):
        jury_answer("text", [JudgeAnswer("x")])
