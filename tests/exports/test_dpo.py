import pytest

from curation.exports.dpo import DpoFormat

from .builders import judged, judgment, pairwise, prompt, ranking, rows_of, thumb

P1, P2, P3 = prompt("p1", "What is 2+2?", system="Be brief."), prompt("p2"), prompt("p3")


def pairs(rows):
    """(chosen, rejected) texts of conversational rows."""
    return [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows]


def test_pairwise_consensus_ties_and_both_bad_dropped_and_counted():
    items = [
        pairwise("i1", P1, "four", "five", ["A", "A", "B"]),
        pairwise("i2", P1, "5", "4", ["B"]),
        pairwise("i3", P1, "x", "y", ["tie", "tie", "A"]),
        pairwise("i4", P1, "u", "v", ["both_bad"]),
        pairwise("i5", P1, "s", "t", ["A", "B"]),
    ]
    rows, fmt = rows_of(DpoFormat, items)
    assert pairs(rows) == [("four", "five"), ("4", "5")]
    assert dict(fmt.dropped) == {"pairwise_tie": 1, "pairwise_both_bad": 1, "pairwise_no_consensus": 1}
    # conversational: prompt is the whole conversation, completions are assistant turns
    assert rows[0]["prompt"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
    ]
    assert rows[0]["chosen"] == [{"role": "assistant", "content": "four"}]


def test_plain_text_uses_last_user_message_or_joined_chat():
    items = [pairwise("i1", P1, "four", "five", ["A"])]
    rows, _ = rows_of(DpoFormat, items, conversational=False)
    assert rows == [{"prompt": "What is 2+2?", "chosen": "four", "rejected": "five"}]
    rows, _ = rows_of(DpoFormat, items, conversational=False, plain_prompt="joined")
    assert rows[0]["prompt"] == "system: Be brief.\n\nuser: What is 2+2?"


RANKING = {"r1": "best", "r2": "mid-a", "r3": "mid-b", "r4": "worst"}


def test_ranking_with_a_tie_all_pairs_hand_counted():
    # [[r1], [r2, r3], [r4]]: all pairs across groups = r1>r2, r1>r3, r1>r4, r2>r4, r3>r4 (5; none inside the tie)
    items = [ranking("k", P2, RANKING, [[["r1"], ["r2", "r3"], ["r4"]]])]
    rows, _ = rows_of(DpoFormat, items, ranking_pairs="all", extra_columns=("margin",))
    assert pairs(rows) == [
        ("best", "mid-a"),
        ("best", "mid-b"),
        ("best", "worst"),
        ("mid-a", "worst"),
        ("mid-b", "worst"),
    ]
    # Borda scores 3, 1.5, 1.5, 0 -> margins are score differences
    assert [r["margin"] for r in rows] == [1.5, 1.5, 3.0, 1.5, 1.5]


def test_ranking_with_a_tie_adjacent_pairs_hand_counted():
    # adjacent groups only: r1>r2, r1>r3, r2>r4, r3>r4 (4)
    items = [ranking("k", P2, RANKING, [[["r1"], ["r2", "r3"], ["r4"]]])]
    rows, _ = rows_of(DpoFormat, items, ranking_pairs="adjacent")
    assert pairs(rows) == [("best", "mid-a"), ("best", "mid-b"), ("mid-a", "worst"), ("mid-b", "worst")]


def test_ranking_without_ties_gives_n_choose_2_or_n_minus_1_pairs():
    texts = {f"r{i}": f"t{i}" for i in range(5)}
    items = [ranking("k", P2, texts, [[[f"r{i}"] for i in range(5)]])]
    assert len(rows_of(DpoFormat, items, ranking_pairs="all")[0]) == 10
    assert len(rows_of(DpoFormat, items, ranking_pairs="adjacent")[0]) == 4


def test_ranking_all_tied_gives_nothing():
    items = [ranking("k", P2, {"a": "A", "b": "B", "c": "C"}, [[["a", "b", "c"]]])]
    rows, fmt = rows_of(DpoFormat, items)
    assert rows == [] and fmt.dropped["ranking_no_consensus"] == 1


def test_thumbs_up_paired_over_thumbs_down_on_the_same_prompt():
    items = [
        thumb("t1", P3, "good one", ["up", "up", "down"]),
        thumb("t2", P3, "bad one", ["down", "down"]),
        thumb("t3", P3, "good two", ["up"]),
        thumb("t4", P3, "unclear", ["up", "down"]),  # split vote: no consensus
        thumb("t5", P1, "lonely up", ["up"]),  # no down on its prompt
    ]
    items = sorted(items, key=lambda it: it.prompt.id)
    rows, fmt = rows_of(DpoFormat, items, extra_columns=("agreement",))
    assert pairs(rows) == [("good one", "bad one"), ("good two", "bad one")]
    assert [r["agreement"] for r in rows] == [pytest.approx(2 / 3), 1.0]  # the lower of the two items'
    assert dict(fmt.dropped) == {"thumb_no_consensus": 1, "thumb_unpaired": 1}


def test_corrections_preferred_over_the_original():
    items = [
        judged("j1", P1, "2+2 is 5", [("wrong sum", "2+2 is 4"), ("style", ""), ("same", "2+2 is 5 ")]),
        judged("j2", P1, "fine", [("ok as is", "fine")]),
        judged("j3", P1, "fine too", [("no notes", "")]),
    ]
    rows, fmt = rows_of(DpoFormat, items)
    assert pairs(rows) == [("2+2 is 4", "2+2 is 5")]
    assert dict(fmt.dropped) == {"correction_unchanged": 1, "judgment_without_correction": 1}


def test_inconsistent_judge_ignored_and_resolution_overrides():
    items = [
        pairwise(
            "i1",
            P1,
            "a",
            "b",
            [
                judgment("h1", "A"),
                judgment("m1", "B", annotator_type="model", consistent=False),
                judgment("m2", "B", annotator_type="model", consistent=False),
            ],
        ),
        pairwise("i2", P1, "c", "d", ["A", "A"], resolution={"choice": "B"}),
        pairwise("i3", P1, "e", "f", ["A", "A"], resolution={"choice": "tie"}),
    ]
    rows, fmt = rows_of(DpoFormat, items)
    assert pairs(rows) == [("a", "b"), ("d", "c")]
    assert fmt.dropped["pairwise_tie"] == 1


def test_optional_columns_and_sources():
    items = [
        pairwise(
            "i1",
            P1,
            "a",
            "b",
            [judgment("h1", "A", strength=3), judgment("h2", "A", strength=1)],
            ches=2.0,
            ln_ches=0.5,
        ),
        ranking("k", P1, {"x": "X", "y": "Y"}, [[["y"], ["x"]]]),
    ]
    rows, _ = rows_of(DpoFormat, items, extra_columns=("ln_ches", "margin", "agreement", "ches"))
    assert list(rows[0]) == ["prompt", "chosen", "rejected", "margin", "agreement", "ches", "ln_ches"]
    assert rows[0]["margin"] == 2.0 and rows[0]["agreement"] == 1.0 and rows[0]["ches"] == 2.0
    assert rows[1]["ches"] is None and rows[1]["margin"] == 1.0
    only_pairwise, fmt = rows_of(DpoFormat, items, dpo_sources=("pairwise",))
    assert len(only_pairwise) == 1 and fmt.dropped["source_not_used"] == 1
