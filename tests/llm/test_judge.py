from __future__ import annotations

import pytest

from curation.llm import judge

CORRECT = "4"
NONSENSE = "Purple elephants are a type of sandwich."


def test_combine_orders_maps_the_swapped_verdict_back():
    # (A=x, B=y) says A; swapped (A=y, B=x) says B, i.e. x again -> consistent 'A'.
    res = judge.combine_orders({"A": 0.8, "B": 0.2}, {"A": 0.3, "B": 0.7})
    assert res["verdict"] == "A"
    assert res["verdict_ba_mapped"] == "A"
    assert res["p_a"] == pytest.approx((0.8 + 0.7) / 2)
    # Both presentations pick slot A -> the two orders disagree on the response.
    res = judge.combine_orders({"A": 0.8, "B": 0.2}, {"A": 0.6, "B": 0.4})
    assert res["verdict"] == "inconsistent"
    assert res["p_a"] == pytest.approx((0.8 + 0.4) / 2)
    res = judge.combine_orders({"A": 0.1, "B": 0.2, "NA": 0.7}, {"A": 0.2, "B": 0.1, "NA": 0.7})
    assert res["verdict"] == "NA"


def test_ranking_from_pairwise_copeland_with_ties():
    p = [[0.5, 0.9, 0.7], [0.1, 0.5, 0.6], [0.3, 0.4, 0.5]]
    r = judge.ranking_from_pairwise(p)
    assert r["order"] == [0, 1, 2]
    assert r["ranks"] == [1, 2, 3]
    assert r["scores"] == [2.0, 1.0, 0.0]
    # A 3-cycle with equal strengths: everyone ties for rank 1.
    cyc = [[0.5, 0.7, 0.3], [0.3, 0.5, 0.7], [0.7, 0.3, 0.5]]
    assert judge.ranking_from_pairwise(cyc)["ranks"] == [1, 1, 1]
    # Equal Copeland scores are split by mean win probability.
    p2 = [[0.5, 0.6, 0.2], [0.4, 0.5, 0.9], [0.8, 0.1, 0.5]]
    r2 = judge.ranking_from_pairwise(p2)
    assert r2["scores"] == [1.0, 1.0, 1.0]
    assert r2["mean_win"] == pytest.approx([0.4, 0.65, 0.45])
    assert r2["order"] == [1, 2, 0]
    assert r2["ranks"] == [3, 1, 2]
    with pytest.raises(ValueError, match="square"):
        judge.ranking_from_pairwise([[0.5, 0.5]])


def test_pairwise_prompt_layout():
    msgs = judge.pairwise_messages([{"role": "user", "content": "Q?"}], "ra", "rb", principle="Be honest")
    assert "respond with 'NA'" in msgs[0]["content"]
    user = msgs[1]["content"]
    assert user.index("## Prompt\nQ?") < user.index("## Principle\nBe honest") < user.index("## Response 'A'\nra")
    assert user.index("## Response 'A'") < user.index("## Response 'B'\nrb") < user.index("## Answer")


@pytest.mark.slow
def test_label_tokens_are_distinct(llm):
    ids = judge.label_token_ids(llm, ("A", "B", "NA"))
    assert set(ids) == {"A", "B", "NA"}
    flat = [t for v in ids.values() for t in v]
    assert len(flat) == len(set(flat))


@pytest.mark.slow
def test_judge_prefers_correct_answer_in_both_orders(llm, conv):
    res = judge.pairwise_judgment_both_orders(llm, conv, CORRECT, NONSENSE)
    ab, ba = res["order_ab"], res["order_ba"]
    assert ab["A"] + ab["B"] == pytest.approx(1.0)
    # The correct answer gains probability in whichever slot it is shown:
    # slot A when first (ab) vs when the nonsense is in A (ba), and likewise for slot B.
    assert ab["A"] > ba["A"]
    assert ba["B"] > ab["B"]
    assert res["p_a"] > 0.5
    assert res["verdict"] in {"A", "inconsistent"}
    assert res["verdict"] == ("A" if res["verdict_ab"] == res["verdict_ba_mapped"] == "A" else "inconsistent")
    # The swapped call is the mirror image.
    mirror = judge.pairwise_judgment_both_orders(llm, conv, NONSENSE, CORRECT)
    assert mirror["order_ab"] == pytest.approx(ba, abs=1e-5)
    assert mirror["order_ba"] == pytest.approx(ab, abs=1e-5)
    assert mirror["p_a"] == pytest.approx(1 - res["p_a"], abs=1e-5)


@pytest.mark.slow
def test_batch_matches_single_and_principle_has_na(llm, conv):
    single = judge.pairwise_probs(llm, conv, CORRECT, NONSENSE, principle="Be honest and accurate.")
    assert set(single) == {"A", "B", "NA"}
    assert sum(single.values()) == pytest.approx(1.0)
    batch = judge.pairwise_probs_batch(
        llm,
        [(conv, NONSENSE, CORRECT), (conv, CORRECT, NONSENSE, "Be honest and accurate."), (conv, "Four.", NONSENSE)],
    )
    assert batch[1] == pytest.approx(single, abs=1e-4)
    assert set(batch[0]) == {"A", "B"}


@pytest.mark.slow
def test_thumb_probs_prefer_correct(llm, conv):
    good = judge.thumb_probs(llm, conv, CORRECT)
    bad = judge.thumb_probs(llm, conv, NONSENSE)
    assert good["yes"] + good["no"] == pytest.approx(1.0)
    assert good["yes"] > bad["yes"]


@pytest.mark.slow
def test_win_matrix_and_ranking(llm, conv):
    m = judge.win_matrix(llm, conv, [CORRECT, NONSENSE, "Two plus two is four."])
    assert m.shape == (3, 3)
    assert m[0, 1] + m[1, 0] == pytest.approx(1.0)
    ranking = judge.ranking_from_pairwise(m)
    assert sorted(ranking["order"]) == [0, 1, 2]
