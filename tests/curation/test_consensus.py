"""``curation.consensus``: the one place of the voters, the consensus rules and the agreement measures
(docs/algorithms.md#consensus), by hand and against references."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import MajorityVote
from scipy import stats

from curation import consensus
from curation.consensus import (
    borda_scores,
    choice_vote,
    item_agreement,
    majority_share,
    ranking_agreement,
    ranking_consensus,
    voters_clean,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*:Warning:crowdkit.*", "ignore::DeprecationWarning")

# ---------------------------------------------------------------- who votes


def test_voters_default_to_people_and_imported_labels():
    assert (
        voters_clean(None) == voters_clean("") == voters_clean(()) == ("human", "imported") == consensus.DEFAULT_VOTERS
    )
    assert voters_clean("model, human") == ("human", "model")  # canonical order
    assert voters_clean(["imported", "model", "human"]) == ("human", "imported", "model")
    with pytest.raises(ValueError, match="'judge' is not one of human, imported, model"):
        voters_clean("human,judge")
    with pytest.raises(ValueError, match="name at least one"):
        voters_clean(" , ")


# ---------------------------------------------------------------- majority


def test_majority_share_hand_cases():
    assert majority_share([]) is None
    assert majority_share(["A"]) == 1
    assert majority_share(["A", "B"]) == 0.5
    assert majority_share(["A", "B", "A"]) == pytest.approx(2 / 3)
    assert majority_share(["up", "up", "down", "up"]) == 0.75
    assert majority_share(["A", "B", "tie", "both_bad"]) == 0.25


def test_choice_vote_majority_margin_split_and_resolution():
    vote = choice_vote(["A", "A", "B"], strengths=[1, None, 1])
    assert (vote.choice, vote.votes, vote.resolved) == ("A", 3, False)
    assert vote.share == pytest.approx(2 / 3) and vote.margin == pytest.approx((1 + 1 - 1) / 3)
    assert choice_vote(["B", "B", "tie"], strengths=[3, 2, None]).margin == pytest.approx(5 / 3)
    assert choice_vote(["A", "B"]).choice is None and choice_vote(["A", "B"]).share == 0.5
    assert choice_vote([]) == consensus.Vote(None, None, 0)
    assert choice_vote(["both_bad", "both_bad", "A"]).choice == "both_bad"
    assert choice_vote(["both_bad", "both_bad"]).margin is None
    resolved = choice_vote(["A", "A"], resolution="B")
    assert (resolved.choice, resolved.share, resolved.votes, resolved.margin, resolved.resolved) == (
        "B",
        1.0,
        1,
        1.0,
        True,
    )
    assert choice_vote(["up", "down", "up"], pairwise=False) == consensus.Vote("up", 2 / 3, 3)


def test_majority_matches_crowdkit_where_the_vote_is_clear():
    rng = np.random.default_rng(2)
    data = rng.integers(0, 3, size=(5, 80)).astype(float)
    data[rng.random(data.shape) < 0.3] = np.nan
    rows = [(u, r, int(data[r, u])) for r in range(5) for u in range(80) if data[r, u] == data[r, u]]
    ref = MajorityVote().fit(pd.DataFrame(rows, columns=["task", "worker", "label"]))
    probas = ref.probas_.reindex(columns=[0, 1, 2], fill_value=0.0)
    clear = 0
    for task in ref.labels_.index:
        choices = [str(int(v)) for v in data[:, task] if v == v]
        vote = choice_vote(choices, pairwise=False)
        p = probas.loc[task].to_numpy()
        assert vote.share == pytest.approx(p.max())
        if (p == p.max()).sum() == 1:  # crowd-kit breaks ties by column order; we give no consensus
            assert vote.choice == str(int(ref.labels_[task]))
            clear += 1
        else:
            assert vote.choice is None
    assert 0 < clear < 80


# ---------------------------------------------------------------- rankings


def test_borda_with_ties_and_missing_responses():
    ids = ("r1", "r2", "r3", "r4")
    assert borda_scores((("r1",), ("r2", "r3"), ("r4",)), ids) == {"r1": 3, "r2": 1.5, "r3": 1.5, "r4": 0}
    assert borda_scores((("r2",),), ids) == {"r2": 3, "r1": 1, "r3": 1, "r4": 1}  # missing: tied last
    assert sum(borda_scores((("r3", "r1"), ("r4",)), ids).values()) == 6  # n(n-1)/2 always


def test_mean_borda_is_n_minus_the_mean_mid_rank():
    rng = random.Random(7)
    ids = tuple(f"r{i}" for i in range(5))
    for _ in range(30):
        rankings = []
        for _ in range(rng.randint(1, 5)):
            levels = [rng.randint(0, 3) for _ in ids]
            rankings.append(
                tuple(tuple(r for r, lv in zip(ids, levels, strict=True) if lv == g) for g in sorted(set(levels)))
            )
        result = ranking_consensus(rankings, ids)
        mid = np.mean(
            [stats.rankdata([next(i for i, g in enumerate(rk) if r in g) for r in ids]) for rk in rankings], axis=0
        )
        assert [result.scores[r] for r in ids] == pytest.approx(len(ids) - mid)
        flat = [r for g in result.groups for r in g]
        assert sorted(flat) == sorted(ids)
        assert all(result.scores[a] >= result.scores[b] for a, b in zip(flat, flat[1:], strict=False))


def test_ranking_consensus_groups_equal_means_and_resolution_wins():
    ids = ("x", "y", "z")
    both = ranking_consensus([[["x"], ["y"], ["z"]], [["y"], ["x"], ["z"]]], ids)
    assert both.groups == (("x", "y"), ("z",)) and both.votes == 2 and both.share == 0.0
    assert ranking_consensus([], ids).groups is None
    resolved = ranking_consensus([[["x"], ["y"], ["z"]]], ids, resolution=[["z"], ["x", "y"]])
    assert resolved.groups == (("z",), ("x", "y")) and resolved.resolved


def test_ranking_agreement_hand_cases():
    a, b, c = "a", "b", "c"
    assert ranking_agreement([[[a], [b], [c]]]) is None
    assert ranking_agreement([[[a], [b], [c]], [[a], [b], [c]]]) == 1
    assert ranking_agreement([[[a], [b], [c]], [[c], [b], [a]]]) == 0  # every pair the other way round
    assert ranking_agreement([[[a], [b], [c]], [[a], [c], [b]]]) == pytest.approx(2 / 3)  # one swap
    assert ranking_agreement([[[a, b], [c]], [[a], [b], [c]]]) == pytest.approx(2 / 3)  # a tie against an order
    # Three annotators: pairs (1,2) 2/3, (1,3) 0, (2,3) 1/3 -> mean 1/3.
    assert ranking_agreement([[[a], [b], [c]], [[a], [c], [b]], [[c], [b], [a]]]) == pytest.approx(1 / 3)


def test_ranking_agreement_is_one_plus_tau_over_two_without_ties():
    rng = random.Random(5)
    names = [f"r{i}" for i in range(6)]
    for _ in range(20):
        first, second = rng.sample(names, 6), rng.sample(names, 6)
        tau = stats.kendalltau([first.index(n) for n in names], [second.index(n) for n in names]).statistic
        assert ranking_agreement([[[n] for n in first], [[n] for n in second]]) == pytest.approx((1 + tau) / 2)


def test_item_agreement_is_one_measure_per_kind():
    assert item_agreement(kind="pairwise", votes=["A", "A", "B"]) == pytest.approx(2 / 3)
    assert item_agreement(kind="thumb", votes=["up", "down"]) == 0.5
    assert item_agreement(kind="ranking", votes=[[["a"], ["b"]], [["b"], ["a"]]]) == 0
    assert item_agreement(kind="judgment", votes=["anything"]) is None
