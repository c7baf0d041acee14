"""The audit's custom-questions stage (docs/algorithms.md#question-agreement): per-question α against
the krippendorff package and NLTK, per-category rates and α, the consensus, the units that split and
per-question outliers, on a hand-built project."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from nltk.metrics import agreement as nltk_agreement
from nltk.metrics import distance as nltk_distance

from annotate.models import Answer
from curation.projects.questions import question_add, question_retire
from tests.audit.helpers import annotate, human, run_audit
from tests.factories import UserFactory, make_item

nan = float("nan")
CHOICES = [  # 4 annotators × 6 items
    ["safe", "safe", "unsafe", "safe", "unsafe", "safe"],
    ["safe", "unsafe", "unsafe", "safe", "unsafe", "safe"],
    ["safe", "safe", "unsafe", None, "safe", "safe"],
    ["unsafe", "safe", "unsafe", "safe", "unsafe", None],
]
RATINGS = [
    [5, 4, 1, 4, 2, 5],
    [4, 4, 2, 5, 1, 5],
    [5, 3, 1, 4, 2, 4],
    [5, 4, 2, 4, 3, 5],
]
LABELS = [
    [["violence"], [], ["hate", "violence"], ["fraud"], [], ["violence"]],
    [["violence"], [], ["hate"], ["fraud"], ["fraud"], ["violence", "fraud"]],
    [["violence"], ["hate"], ["hate", "violence"], ["fraud"], [], ["violence"]],
    [["violence", "hate"], [], ["hate"], [], [], ["violence"]],
]


def _answer(annotation, question, **value):
    return Answer.objects.create(
        annotation=annotation, question=question, version=question.current, type=question.type, **value
    )


@pytest.fixture
def questioned(project):
    owner = UserFactory(username="q-owner")
    safety = question_add(project=project, user=owner, spec={"key": "safety", "type": "single_choice",
                          "label": "Is it safe?", "options": ["safe", "unsafe"]})  # fmt: skip
    helpful = question_add(project=project, user=owner, spec={"key": "helpful", "type": "rating", "label": "Helpful?",
                           "scale": 5, "low_label": "not at all", "high_label": "very"})  # fmt: skip
    hazard = question_add(project=project, user=owner, spec={"key": "hazard", "type": "multi_label",
                          "label": "Hazards", "options": ["violence", "hate", "fraud", "privacy"]})  # fmt: skip
    note = question_add(project=project, user=owner, spec={"key": "note", "type": "text", "label": "Note"})
    people = [human(f"qa{i}") for i in range(4)]
    items = [make_item(project, "pairwise") for _ in range(6)]
    for r, person in enumerate(people):
        for u, item in enumerate(items):
            annotation = annotate(item, person, "A")
            if CHOICES[r][u] is not None:
                _answer(annotation, safety, choice=CHOICES[r][u])
            _answer(annotation, helpful, rating=RATINGS[r][u])
            _answer(annotation, hazard, labels=LABELS[r][u])
            if u == 0:
                _answer(annotation, note, text="a note")
    return {"safety": safety, "helpful": helpful, "hazard": hazard, "note": note, "people": people, "items": items}


def entries(audit):
    return {e["key"]: e for e in audit.summary["questions"]["entries"]}


def test_question_alphas_match_the_references(project, questioned):
    audit = run_audit(project, n_boot=100)
    e = entries(audit)
    codes = [[{"safe": 0, "unsafe": 1}.get(c, nan) if c else nan for c in row] for row in CHOICES]
    assert e["safety"]["alpha"]["level"] == "nominal"
    assert e["safety"]["alpha"]["alpha"] == pytest.approx(krippendorff.alpha(codes, level_of_measurement="nominal"))
    assert e["safety"]["alpha"]["low"] <= e["safety"]["alpha"]["alpha"] <= e["safety"]["alpha"]["high"]
    assert e["safety"]["distribution"] == {"safe": 13, "unsafe": 9}
    assert e["helpful"]["alpha"]["alpha"] == pytest.approx(krippendorff.alpha(RATINGS, level_of_measurement="interval"))
    assert e["helpful"]["alpha_ordinal"]["alpha"] == pytest.approx(
        krippendorff.alpha(RATINGS, level_of_measurement="ordinal")
    )
    assert e["helpful"]["mean"] == pytest.approx(np.mean(RATINGS))
    # Multi-label: complete data with an empty set is outside NLTK's reach (0/0), so the MASI α is
    # checked on the items where nobody answered "none" (items 1, 3, 6 → all non-empty here: 0, 2, 5).
    triples = [(f"r{r}", f"u{u}", frozenset(LABELS[r][u])) for r in range(4) for u in range(6)]
    keep = {"u0", "u2", "u5"}
    sub = [t for t in triples if t[1] in keep]
    from curation.metrics import multilabel_alpha

    ours_sub = multilabel_alpha([[frozenset(LABELS[r][u]) for u in (0, 2, 5)] for r in range(4)], "masi")
    assert ours_sub == pytest.approx(nltk_agreement.AnnotationTask(sub, distance=nltk_distance.masi_distance).alpha())
    full = [[frozenset(v) for v in row] for row in LABELS]
    assert e["hazard"]["alpha"]["level"] == "masi"
    assert e["hazard"]["alpha"]["alpha"] == pytest.approx(multilabel_alpha(full, "masi"))
    assert e["hazard"]["alpha_jaccard"]["alpha"] == pytest.approx(multilabel_alpha(full, "jaccard"))
    assert e["note"]["n_answers"] == 4 and "alpha" not in e["note"]


def test_categories_rates_and_alpha(project, questioned):
    audit = run_audit(project, n_boot=0)
    cats = {c["value"]: c for c in entries(audit)["hazard"]["categories"]}
    assert list(cats) == ["violence", "hate", "fraud", "privacy"]
    for value, c in cats.items():
        yes_no = [[float(value in v) for v in row] for row in LABELS]
        assert c["n_answers"] == 24
        assert c["n_labelled"] == int(np.sum(yes_no))
        assert c["rate"] == pytest.approx(np.mean(yes_no))
        if value == "privacy":
            assert c["alpha"] is None  # nobody chose it
        else:
            ref = krippendorff.alpha(yes_no, level_of_measurement="nominal", value_domain=[0.0, 1.0])
            assert c["alpha"] == pytest.approx(ref)
    assert entries(audit)["hazard"]["distribution_none"] == 7


def test_split_units_and_consensus(project, questioned):
    audit = run_audit(project, n_boot=0)
    split = entries(audit)["safety"]["top_split"]
    items = questioned["items"]
    # Items 1, 2 and 5 (0-based 0, 1, 4) split 3–1 (agreement 0.75); the others are unanimous.
    assert {s["item"] for s in split} == {str(items[i].uuid) for i in (0, 1, 4)}
    assert all(s["agreement"] == pytest.approx(0.75) for s in split)
    first = next(s for s in split if s["item"] == str(items[0].uuid))
    assert first["answers"] == {"safe": 3, "unsafe": 1} and first["consensus"] == "safe"
    rating = entries(audit)["helpful"]["top_split"]
    # Items 3 (1, 2, 1, 2: mean 1.5) and 5 (2, 1, 2, 3: mean 2) have mean |x − mean| / 4 = 0.125,
    # agreement 0.875; the other four 0.09375 → 0.906.
    assert [r["item"] for r in rating[:2]] == [str(items[2].uuid), str(items[4].uuid)]
    assert [r["agreement"] for r in rating] == pytest.approx([0.875, 0.875] + [1 - 0.375 / 4] * 4)
    assert rating[1]["consensus"] == pytest.approx(2.0)


def test_per_question_outlier(project):
    """Five annotators, 12 items: one contradicts the others on every item of one question."""
    owner = UserFactory(username="q-owner2")
    safety = question_add(project=project, user=owner, spec={"key": "safety", "type": "single_choice",
                          "label": "Safe?", "options": ["safe", "unsafe"]})  # fmt: skip
    people = [human(f"qo{i}") for i in range(5)]
    for u in range(12):
        item = make_item(project, "pairwise")
        truth = "safe" if u % 3 else "unsafe"
        for r, person in enumerate(people):
            value = truth if r < 4 else ("unsafe" if truth == "safe" else "safe")
            if r == 3 and u == 0:
                value = "safe"  # one slip so the peers' agreements vary
            _answer(annotate(item, person, "A"), safety, choice=value)
    audit = run_audit(project, n_boot=0)
    e = entries(audit)["safety"]
    by_uuid = {a["annotator"]: a for a in e["annotators"]}
    odd = by_uuid[str(people[4].uuid)]
    assert odd["outlier"] is True and odd["agreement"] == pytest.approx(0.0) and odd["n"] == 12
    assert e["outliers"] == 1 and e["annotators"][0]["annotator"] == str(people[4].uuid)
    row = audit.annotators.get(annotator=people[4])
    assert row.details["questions"]["safety"]["outlier"] is True
    assert "question_outlier" in row.flags and row.outlier is False  # informational only


def test_per_response_units_and_retired_questions(project):
    owner = UserFactory(username="q-owner3")
    grade = question_add(project=project, user=owner, spec={"key": "grade", "type": "rating", "label": "Grade",
                         "scale": 3, "target": "response"})  # fmt: skip
    people = [human(f"qr{i}") for i in range(2)]
    item = make_item(project, "pairwise")
    a, b = item.ordered_responses()
    for person, (ga, gb) in zip(people, [(3, 1), (3, 2)], strict=True):
        annotation = annotate(item, person, "A")
        Answer.objects.create(annotation=annotation, question=grade, version=grade.current, type="rating",
                              response=a, rating=ga)  # fmt: skip
        Answer.objects.create(annotation=annotation, question=grade, version=grade.current, type="rating",
                              response=b, rating=gb)  # fmt: skip
    question_retire(question=grade, user=owner)
    e = entries(run_audit(project, n_boot=0))["grade"]
    assert e["retired"] is True and e["n_units"] == 2  # one unit per response
    ref = krippendorff.alpha([[3, 1], [3, 2]], level_of_measurement="interval")
    assert e["alpha"]["alpha"] == pytest.approx(ref)
    assert e["top_split"][0]["response"] == str(b.uuid)


def test_judges_answers_are_not_votes_by_default(project, questioned):
    from tests.audit.helpers import judge

    bot = judge("qbot")
    for item in questioned["items"]:
        _answer(annotate(item, bot, "A"), questioned["safety"], choice="unsafe")
    default = entries(run_audit(project, n_boot=0))["safety"]
    assert default["distribution"] == {"safe": 13, "unsafe": 9}  # the judge does not vote
    assert str(bot.uuid) in {a["annotator"] for a in default["annotators"]}  # but it is compared
    with_judges = entries(run_audit(project, n_boot=0, voters=["human", "imported", "model"]))["safety"]
    assert with_judges["distribution"] == {"safe": 13, "unsafe": 15}
