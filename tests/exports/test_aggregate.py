import pytest

from curation.consensus import borda_scores
from curation.exports import ExportInputError, ItemRec, JudgmentRec, PromptRec, ResponseRec
from curation.exports.aggregate import agreement_of, pairwise_vote, ranking_consensus, thumb_vote

from .builders import judgment, pairwise, prompt, ranking, thumb

P = prompt("p1")


def test_pairwise_majority_share_and_signed_strength_margin():
    vote = pairwise_vote(pairwise("i", P, "a", "b", ["A", "A", "B"]))
    assert vote.choice == "A" and vote.votes == 3
    assert vote.share == pytest.approx(2 / 3)
    assert vote.margin == pytest.approx((1 + 1 - 1) / 3)
    strong = pairwise(
        "i", P, "a", "b", [judgment("h1", "B", strength=3), judgment("h2", "B", strength=2), judgment("h3", "tie")]
    )
    assert pairwise_vote(strong).choice == "B"
    assert pairwise_vote(strong).margin == pytest.approx(5 / 3)


def test_pairwise_split_vote_has_no_consensus():
    assert pairwise_vote(pairwise("i", P, "a", "b", ["A", "B"])).choice is None
    assert pairwise_vote(pairwise("i", P, "a", "b", [])).choice is None


def test_inconsistent_judge_votes_are_ignored():
    item = pairwise(
        "i",
        P,
        "a",
        "b",
        [
            judgment("h1", "A"),
            judgment("m1", "B", annotator_type="model", consistent=False),
            judgment("m2", "B", annotator_type="model", consistent=False),
        ],
    )
    vote = pairwise_vote(item)
    assert (vote.choice, vote.votes, vote.share) == ("A", 1, 1.0)


def test_curator_resolution_wins():
    item = pairwise("i", P, "a", "b", ["A", "A", "A"], resolution={"choice": "B"})
    assert pairwise_vote(item).choice == "B" and pairwise_vote(item).resolved
    assert thumb_vote(thumb("t", P, "x", ["up", "up"], resolution="down")).choice == "down"
    r = ranking(
        "r", P, {"x": "X", "y": "Y", "z": "Z"}, [[["x"], ["y"], ["z"]]], resolution={"ranking": [["z"], ["x", "y"]]}
    )
    assert ranking_consensus(r).groups == (("z",), ("x", "y"))


def test_thumb_majority_and_split():
    assert thumb_vote(thumb("t", P, "x", ["up", "up", "down"])).choice == "up"
    assert thumb_vote(thumb("t", P, "x", ["up", "down"])).choice is None


def test_borda_with_ties_and_missing_responses():
    ids = ("r1", "r2", "r3", "r4")
    assert borda_scores((("r1",), ("r2", "r3"), ("r4",)), ids) == {"r1": 3.0, "r2": 1.5, "r3": 1.5, "r4": 0.0}
    # r2 and r3 missing: tied last
    assert borda_scores((("r1",), ("r4",)), ids) == {"r1": 3.0, "r4": 2.0, "r2": 0.5, "r3": 0.5}


def test_ranking_consensus_groups_equal_mean_scores():
    item = ranking("r", P, {"a": "A", "b": "B", "c": "C"}, [[["a"], ["b"], ["c"]], [["b"], ["a"], ["c"]]])
    consensus = ranking_consensus(item)
    assert consensus.groups == (("a", "b"), ("c",))
    assert consensus.scores == {"a": 1.5, "b": 1.5, "c": 0.0}
    assert consensus.share == 0.0  # neither annotator gave exactly the consensus
    assert agreement_of(item) == pytest.approx(2 / 3)  # the pairs (a, c), (b, c) alike, (a, b) not


def test_audit_agreement_wins_over_vote_share():
    assert agreement_of(pairwise("i", P, "a", "b", ["A", "B", "A"], agreement=0.9)) == 0.9
    assert agreement_of(pairwise("i", P, "a", "b", ["A", "B", "A"])) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: pairwise("i", P, "a", "b", ["C"]), "choice"),
        (lambda: thumb("t", P, "x", ["A"]), "choice"),
        (lambda: JudgmentRec(id="j", annotator_id="a", annotator_type="robot"), "annotator_type"),
        (lambda: JudgmentRec(id="j", annotator_id="a", strength=5), "strength"),
        (lambda: ItemRec(id="i", kind="pairwise", prompt=P, responses=(ResponseRec("a", "x"),)), "responses"),
        (lambda: PromptRec(id="p", messages=[{"role": "user"}]), "messages[0]"),
        (lambda: ranking("r", P, {"a": "A", "b": "B"}, [[["a"], ["zzz"]]]), "ranking"),
        (lambda: pairwise("i", P, "a", "b", ["A"], resolution={"choice": "up"}), "resolution"),
    ],
)
def test_bad_records_name_the_field(build, field):
    with pytest.raises(ExportInputError, match=field.replace("[", r"\[")):
        build()
