import math

import numpy as np
import pytest

from curation.exports import ExportInputError, FilterSpec, split_of
from curation.exports.filters import (
    Ches,
    ExcludedItems,
    FlaggedAnnotators,
    Intransitive,
    MinAgreement,
    MinJudgments,
    SwapInconsistent,
    Voters,
)

from .builders import judged, judgment, pairwise, prompt, thumb

P = prompt("p1")


def mixed_item(iid="i1", **kw):
    return pairwise(
        iid,
        P,
        "a",
        "b",
        [
            judgment("h1", "A", id=f"{iid}-h1"),
            judgment("h2", "A", id=f"{iid}-h2"),
            judgment("m1", "B", annotator_type="model", id=f"{iid}-m1"),
            judgment("m2", "B", annotator_type="model", consistent=False, id=f"{iid}-m2"),
            judgment("x1", "A", annotator_type="imported", id=f"{iid}-x1"),
        ],
        **kw,
    )


def test_excluded_items():
    kept, removed, reason = ExcludedItems().apply([mixed_item("i1", excluded=True), mixed_item("i2")])
    assert [i.id for i in kept] == ["i2"] and removed == 1 and "excluded" in reason


@pytest.mark.parametrize(
    ("voters", "left", "removed"),
    [
        ("human,imported", ["h1", "h2", "x1"], 2),
        ("human", ["h1", "h2"], 3),
        (["model"], ["m1", "m2"], 3),
        ("human,imported,model", ["h1", "h2", "m1", "m2", "x1"], 0),
    ],
)
def test_voters(voters, left, removed):
    f = Voters(voters)
    kept, n, reason = f.apply([mixed_item()])
    assert [j.annotator_id for j in kept[0].judgments] == left and n == removed
    assert reason.endswith(f"(voters: {', '.join(f.voters)})")


def test_voters_default_and_the_old_option():
    assert FilterSpec().voters == ("human", "imported")
    assert FilterSpec().to_dict()["voters"] == ["human", "imported"]
    assert [f.name for f in FilterSpec().build().filters] == ["excluded", "voters"]
    assert [f.name for f in FilterSpec(voters="human,model,imported").build().filters] == ["excluded"]
    assert FilterSpec.from_dict({"annotator_types": "human"}).voters == ("human", "imported")
    assert FilterSpec.from_dict({"annotator_types": "judge"}).voters == ("model",)
    assert FilterSpec.from_dict({"annotator_types": "both"}).voters == ("human", "imported", "model")


def test_flagged_annotators_counts_judgments():
    kept, n, reason = FlaggedAnnotators({"h1", "m1"}).apply([mixed_item("i1"), mixed_item("i2")])
    assert n == 4 and reason == "judgments by flagged annotators"
    assert [j.annotator_id for j in kept[0].judgments] == ["h2", "m2", "x1"]


def test_consistency_filters():
    kept, n, _ = SwapInconsistent({"i1-h1"}, drop_judge_inconsistent=True).apply([mixed_item()])
    assert n == 2 and [j.annotator_id for j in kept[0].judgments] == ["h2", "m1", "x1"]
    kept, n, _ = SwapInconsistent({"i1-h1"}, drop_judge_inconsistent=False).apply([mixed_item()])
    assert n == 1
    kept, n, _ = Intransitive({"i1-h2", "i1-x1", "unknown"}).apply([mixed_item()])
    assert n == 2 and [j.annotator_id for j in kept[0].judgments] == ["h1", "m1", "m2"]


def test_a_judges_inconsistent_verdict_goes_its_answers_stay():
    """docs/questions.md#judge-answers-and-position: with ``drop_judge_inconsistent`` the verdict goes,
    the answers stay for the question columns (each by its own check); a swap-probe finding goes whole."""
    answers = (("hazard", "i1-a", ["privacy"], None), ("tone", None, "rude", False))
    item = pairwise(
        "i1",
        P,
        "a",
        "b",
        [
            judgment("h1", "A", id="i1-h1", answers=(("hazard", "i1-a", [], None),)),
            judgment("m2", "tie", annotator_type="model", consistent=False, id="i1-m2", answers=answers),
        ],
    )
    (kept,), n, _ = SwapInconsistent({"i1-h1"}, drop_judge_inconsistent=True).apply([item])
    assert n == 2 and kept.judgments == () and [j.id for j in kept.answer_judgments] == ["i1-m2"]
    (kept,), _, _ = Intransitive(set()).apply([kept])  # later filters keep them
    assert [j.id for j in kept.answer_judgments] == ["i1-m2"]


def test_min_judgments_counts_usable_only():
    # mixed_item has 5 judgments, one of them consistent=False: 4 usable
    kept, n, _ = MinJudgments(5).apply([mixed_item("i1"), thumb("t", P, "x", ["up"] * 5)])
    assert [i.id for i in kept] == ["t"] and n == 1
    assert MinJudgments(4).apply([mixed_item()])[1] == 0


def test_min_agreement_uses_audit_value_else_vote_share():
    items = [
        mixed_item("i1"),  # usable votes A,A,B,A -> share 0.75
        mixed_item("i2", agreement=0.2),  # audit says 0.2
        pairwise("i3", P, "a", "b", ["A", "B", "A"]),  # 2/3
        judged("j", P, "x", [("critique", "")]),  # no agreement defined: kept
    ]
    kept, n, reason = MinAgreement(0.7).apply(items)
    assert [i.id for i in kept] == ["i1", "j"] and n == 2 and "0.7" in reason


def ches_items(values):
    return [
        pairwise(f"i{k}", P, "a", "b", ["A"], ln_ches=v, ches=None if v is None else 10 * v)
        for k, v in enumerate(values)
    ]


def test_ches_drop_above_quantile_matches_numpy():
    values = [0.1, 0.9, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 1.0]
    items = ches_items(values)
    f = Ches.from_scores([(i.id, i.ln_ches) for i in items], drop_above_quantile=0.75)
    kept, n, reason = f.apply(items)
    threshold = np.quantile(values, 0.75)  # 0.775
    assert sorted(i.ln_ches for i in kept) == sorted(v for v in values if v <= threshold)
    assert n == 3 and "0.75 quantile" in reason


def test_ches_keep_lowest_fraction_exact_count_with_ties():
    # 0.5 fraction of 6 scores keeps exactly 3: the lowest, ties broken by item id (i1 < i3 < i4)
    values = [0.9, 0.2, 0.8, 0.2, 0.2, 0.7]
    items = ches_items(values)
    f = Ches.from_scores([(i.id, i.ln_ches) for i in items], keep_lowest_fraction=0.5)
    kept, n, _ = f.apply(items)
    assert [i.id for i in kept] == ["i1", "i3", "i4"] and n == 3
    # paper setting: lowest 5% of 370 -> ceil(18.5) = 19 kept
    rng = np.random.default_rng(0)
    many = ches_items(list(rng.normal(size=370)))
    kept, n, _ = Ches.from_scores([(i.id, i.ln_ches) for i in many], keep_lowest_fraction=0.05).apply(many)
    assert len(kept) == 19 == math.ceil(0.05 * 370) and n == 351
    assert max(i.ln_ches for i in kept) < min(i.ln_ches for i in many if i not in kept)


def test_ches_raw_measure_unscored_and_other_kinds():
    items = ches_items([0.1, None, 0.9]) + [thumb("t", P, "x", ["up"])]
    scores = [(i.id, i.ches) for i in items if i.kind == "pairwise"]
    kept, n, _ = Ches.from_scores(scores, keep_lowest_fraction=0.5, measure="ches").apply(items)
    assert [i.id for i in kept] == ["i0", "i1", "t"] and n == 1
    kept, n, _ = Ches.from_scores(scores, keep_lowest_fraction=0.5, measure="ches", unscored="drop").apply(items)
    assert [i.id for i in kept] == ["i0", "t"] and n == 2


def test_split_by_prompt_is_stable_and_near_the_fraction():
    ids = [f"prompt-{k}" for k in range(4000)]
    splits = [split_of(p, seed=7, test_fraction=0.25) for p in ids]
    assert splits == [split_of(p, seed=7, test_fraction=0.25) for p in ids]  # stable
    share = splits.count("test") / len(ids)
    assert 0.22 < share < 0.28
    other = [split_of(p, seed=8, test_fraction=0.25) for p in ids]
    assert other != splits  # the seed matters
    # growing the test fraction only moves prompts from train to test
    bigger = [split_of(p, seed=7, test_fraction=0.5) for p in ids]
    assert all(b == "test" for s, b in zip(splits, bigger) if s == "test")
    assert split_of("anything", seed=7, test_fraction=0.0) == "train"


def test_pipeline_order_and_report():
    spec = FilterSpec(
        voters="human",
        flagged_annotators=["h2"],
        min_judgments=2,
        min_agreement=0.5,
    )
    pipeline = spec.build()
    items = [
        mixed_item("i1"),
        mixed_item("i2", excluded=True),
        pairwise("i3", P, "a", "b", [judgment("h1", "A"), judgment("h3", "B")]),
    ]
    out = [pipeline(i) for i in items]
    assert [o.id if o else None for o in out] == [None, None, "i3"]
    report = {r["name"]: (r["unit"], r["removed"]) for r in pipeline.report()}
    assert report == {
        "excluded": ("items", 1),
        "voters": ("judgments", 3),  # i1's m1, m2, x1
        "flagged_annotators": ("judgments", 1),  # i1's h2
        "min_judgments": ("items", 1),  # i1 left with h1 only
        "min_agreement": ("items", 0),  # i3: A vs B -> share 0.5
    }
    assert (pipeline.items_in, pipeline.items_out) == (3, 1)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"annotator_types": "robots"}, "annotator_types"),
        ({"voters": "robots"}, "voters"),
        ({"voters": ["human", 3]}, "voters"),
        ({"min_agreement": 2}, "min_agreement"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"min_judgments": -1}, "min_judgments"),
        ({"flagged_annotators": "h1"}, "flagged_annotators"),
        ({"ches_drop_above_quantile": 0.5, "ches_keep_lowest_fraction": 0.1}, "ches"),
        ({"colour": "blue"}, "unknown filter"),
    ],
)
def test_bad_filter_settings_name_the_field(data, field):
    with pytest.raises(ExportInputError, match=field):
        FilterSpec.from_dict(data)


def test_ches_filter_needs_scores():
    with pytest.raises(ExportInputError, match="ches_scores"):
        FilterSpec(ches_keep_lowest_fraction=0.1).build()
