"""KTO, ranking (PRO), judgment (CUT), SFT and raw rows on hand-built items."""

import pytest

from curation.exports import kto_weights, pseudonym
from curation.exports.judgment import JudgmentFormat
from curation.exports.kto import KtoFormat
from curation.exports.ranking import RankingFormat
from curation.exports.raw import RawFormat
from curation.exports.records import ExportInputError
from curation.exports.sft import SftFormat

from .builders import judged, judgment, pairwise, prompt, ranking, rows_of, thumb

P1, P2 = prompt("p1", "Name a colour."), prompt("p2", "Name a fruit.")


def labelled(rows):
    return [(r["completion"], r["label"]) for r in rows]


def test_kto_thumbs_pairwise_unpaired_both_bad_and_ties():
    items = [
        thumb("t1", P1, "red", ["up", "up", "down"]),
        thumb("t2", P1, "loud", ["down"]),
        thumb("t3", P1, "maybe", ["up", "down"]),
        pairwise("i1", P1, "blue", "seven", ["A"]),
        pairwise("i2", P1, "cat", "dog", ["both_bad", "both_bad", "A"]),
        pairwise("i3", P1, "green", "teal", ["tie"]),
        pairwise("i4", P1, "seven", "red", ["B"]),  # red desirable again: de-duplicated; seven false again
    ]
    rows, fmt = rows_of(KtoFormat, items, conversational=False)
    assert labelled(rows) == [
        ("red", True),
        ("loud", False),
        ("blue", True),
        ("seven", False),
        ("cat", False),
        ("dog", False),
    ]
    assert all(type(r["label"]) is bool for r in rows)
    assert dict(fmt.dropped) == {"thumb_no_consensus": 1, "pairwise_tie": 1, "duplicate": 2}
    rows, _ = rows_of(KtoFormat, [pairwise("i3", P1, "green", "teal", ["tie"])], kto_ties="desirable")
    assert [r["label"] for r in rows] == [True, True]


def test_kto_rankings_and_corrections():
    items = [
        ranking("k", P2, {"a": "apple", "b": "brick", "c": "cherry", "d": "dirt"}, [[["a", "c"], ["b"], ["d"]]]),
        judged("j", P2, "banana is a vegetable", [("wrong", "banana is a fruit")]),
    ]
    rows, fmt = rows_of(KtoFormat, items, conversational=False)
    assert labelled(rows) == [
        ("apple", True),
        ("cherry", True),
        ("dirt", False),
        ("banana is a fruit", True),
        ("banana is a vegetable", False),
    ]
    assert fmt.dropped["ranking_middle"] == 1
    rows, fmt = rows_of(KtoFormat, items[:1], kto_rankings=False)
    assert rows == [] and fmt.dropped["ranking_not_used"] == 1


def trl_warns(n_d, n_u, w_d, w_u):
    """TRL 1.x KTOTrainer's check (kto_trainer.py): warn unless one weight lies in its rounded band."""
    des_lo = round((n_u * w_u / n_d) * 1, 2)
    des_hi = round((n_u * w_u / n_d) * 1.33, 2)
    und_lo = round((n_d * w_d / n_u) / 1.33, 2)
    und_hi = round((n_d * w_d / n_u) / 1, 2)
    return not (des_lo <= w_d <= des_hi or und_lo <= w_u <= und_hi)


@pytest.mark.parametrize(
    ("n_d", "n_u"), [(1, 10), (10, 1), (100, 100), (120, 100), (134, 100), (99, 100), (7, 3), (1, 10_000), (10_000, 1)]
)
def test_kto_weights_put_the_ratio_in_trls_band(n_d, n_u):
    w = kto_weights(n_d, n_u)
    ratio = (w["desirable_weight"] * n_d) / (w["undesirable_weight"] * n_u)
    assert 1 <= ratio <= 4 / 3 and w["in_band"]
    assert w["weighted_ratio"] == pytest.approx(ratio)
    assert 1.0 in (w["desirable_weight"], w["undesirable_weight"])  # one weight held at 1
    assert min(w["desirable_weight"], w["undesirable_weight"]) == 1.0  # the majority class keeps 1.0
    assert not trl_warns(n_d, n_u, w["desirable_weight"], w["undesirable_weight"])


def test_kto_weights_hand_worked_and_degenerate():
    # 1 desirable vs 10 undesirable: lambda_D = 7/6 * 10 / 1
    assert kto_weights(1, 10)["desirable_weight"] == pytest.approx(70 / 6)
    assert kto_weights(120, 100)["desirable_weight"] == kto_weights(120, 100)["undesirable_weight"] == 1.0
    assert kto_weights(0, 5)["in_band"] is False and kto_weights(5, 0)["weighted_ratio"] is None


def test_ranking_rows_best_to_worst_with_equal_scores_for_ties():
    items = [
        ranking(
            "k",
            P2,
            {"a": "apple", "b": "brick", "c": "cherry", "d": "dirt"},
            [[["c"], ["a", "b"], ["d"]], [["c"], ["a"], ["b", "d"]]],
        ),
        pairwise("i", P2, "pear", "rock", ["B"]),
        thumb("t", P2, "plum", ["up"]),
    ]
    rows, fmt = rows_of(RankingFormat, items, conversational=False)
    # Borda: c 3,3 -> 3; a 1.5,2 -> 1.75; b 1.5,0.5 -> 1; d 0,0.5 -> 0.25
    assert rows == [
        {"prompt": "Name a fruit.", "responses": ["cherry", "apple", "brick", "dirt"], "scores": [3.0, 1.75, 1.0, 0.25]}
    ]
    assert fmt.dropped["kind_not_used"] == 2
    rows, _ = rows_of(RankingFormat, items, ranking_include_pairwise=True)
    assert rows[1]["responses"] == [
        [{"role": "assistant", "content": "rock"}],
        [{"role": "assistant", "content": "pear"}],
    ]
    assert rows[1]["scores"] == [1.0, 0.0]
    tied, _ = rows_of(
        RankingFormat, [ranking("k", P2, {"a": "A", "b": "B", "c": "C"}, [[["b"], ["a", "c"]]])], conversational=False
    )
    assert tied[0]["responses"] == ["B", "A", "C"] and tied[0]["scores"] == [2.0, 0.5, 0.5]


def test_judgment_rows_cut_style():
    items = [
        judged("j1", P1, "Blue, obviously!", [("Too smug.", "Blue."), ("Fine but terse.", "")]),
        judged(
            "j2",
            P1,
            "Ultraviolet",
            [("Not visible.", "")],
            resolution={"critique": "Invisible colour.", "corrected_response": "Violet"},
        ),
        thumb("t1", P1, "Green", ["up"]),
        thumb("t2", P1, "Loud", ["down"]),
    ]
    rows, fmt = rows_of(JudgmentFormat, items, conversational=False)
    assert rows == [
        {
            "instruction": "Name a colour.",
            "response": "Blue, obviously!",
            "judgment": "Too smug.",
            "corrected_response": "Blue.",
        },
        {
            "instruction": "Name a colour.",
            "response": "Blue, obviously!",
            "judgment": "Fine but terse.",
            "corrected_response": None,
        },
        {
            "instruction": "Name a colour.",
            "response": "Ultraviolet",
            "judgment": "Invisible colour.",
            "corrected_response": "Violet",
        },
    ]
    assert fmt.dropped["kind_not_used"] == 2
    rows, fmt = rows_of(JudgmentFormat, items, judgment_positives=True)
    assert rows[-1]["judgment"] is None and rows[-1]["response"] == [{"role": "assistant", "content": "Green"}]
    assert fmt.dropped["thumb_not_up"] == 1


def test_sft_best_responses_deduplicated():
    items = [
        pairwise("i1", P1, "blue", "seven", ["A", "A"]),
        pairwise("i2", P1, "x", "y", ["tie"]),
        thumb("t1", P1, "blue", ["up"]),  # duplicate of the pairwise winner
        thumb("t2", P1, "loud", ["down"]),
        ranking("k", P1, {"a": "red", "b": "rock", "c": "green"}, [[["a", "c"], ["b"]]]),
        judged("j", P1, "colour", [("vague", "magenta")]),
    ]
    rows, fmt = rows_of(SftFormat, items, conversational=False)
    assert [r["completion"] for r in rows] == ["blue", "red", "green", "magenta"]
    assert dict(fmt.dropped) == {"pairwise_no_winner": 1, "duplicate": 1, "thumb_not_up": 1}
    rows, _ = rows_of(SftFormat, items[:1])
    assert rows[0]["completion"] == [{"role": "assistant", "content": "blue"}]


def test_raw_rows_pseudonymise_annotators_stably():
    items = [
        pairwise(
            "i1",
            P1,
            "blue",
            "seven",
            [
                judgment(
                    "alice",
                    "B",
                    strength=2,
                    display_order=("i1-b", "i1-a"),
                    time_spent_ms=1200,
                    created_at="2026-01-01T00:00:00+00:00",
                ),
                judgment("judge-1", "A", annotator_type="model", consistent=False),
            ],
        ),
        ranking("k", P1, {"a": "red", "b": "rock", "c": "green"}, [[["a", "c"], ["b"]]]),
        thumb("t", P1, "red", [judgment("alice", "up")]),
    ]
    rows, _ = rows_of(RawFormat, items, salt="s3cret")
    assert len(rows) == 4
    alice = pseudonym("s3cret", "alice")
    assert alice == rows[0]["annotator"] == rows[3]["annotator"]
    assert len(alice) == 16 and alice != "alice" and alice != pseudonym("other-salt", "alice")
    first = rows[0]
    assert first["choice"] == "B" and first["strength"] == 2 and first["display_order"] == ["i1-b", "i1-a"]
    assert first["responses"] == [{"id": "i1-a", "text": "blue"}, {"id": "i1-b", "text": "seven"}]
    assert first["time_spent_ms"] == 1200 and first["consistent"] is None
    assert rows[1]["consistent"] is False and rows[1]["annotator_type"] == "model"
    assert rows[2]["ranking"] == [["a", "c"], ["b"]] and rows[2]["choice"] is None
    with pytest.raises(ExportInputError, match="salt"):
        rows_of(RawFormat, items, salt="")
