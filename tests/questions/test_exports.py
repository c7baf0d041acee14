"""Answers in the exports: typed columns (consensus per question, per-label
shares for multi-label) in DPO, SFT, KTO and raw, loaded with ``datasets``
with the right feature types; question filters; consensus checked by hand."""

from __future__ import annotations

import io
import json

import datasets
import pytest
from django.core.management import CommandError, call_command

from annotate.models import Annotator
from annotate.services.annotations import AnnotationInput, annotation_record
from curation.consensus import question_consensus
from curation.models import Dataset
from curation.projects.questions import question_add
from tests.exports.db_builders import export_dir_fixture, human
from tests.factories import make_item

from .conftest import three_questions

pytestmark = pytest.mark.django_db
export_dir = pytest.fixture(export_dir_fixture, name="export_dir")


def test_question_consensus_by_hand():
    multi = question_consensus("multi_label", [["a"], ["a", "b"], []], values=["a", "b", "c"])
    assert multi.value == ["a"] and multi.shares == {"a": 2 / 3, "b": 1 / 3, "c": 0.0} and multi.answers == 3
    assert question_consensus("multi_label", [["a"], ["b"]], values=["a", "b"]).value == []  # half is not more
    assert question_consensus("single_choice", ["x", "x", "y"], values=["x", "y"]).value == "x"
    assert question_consensus("single_choice", ["x", "y"], values=["x", "y"]).value is None
    assert question_consensus("rating", [4, 5, 3]).value == 4.0
    assert question_consensus("rating", []).value is None
    assert question_consensus("text", ["a", "b"]).value == ["a", "b"]


def build(project, owner):
    """Two pairwise items, three people; hand-worked answers (see the asserts)."""
    three_questions(project, owner)
    question_add(
        project=project,
        user=owner,
        spec={"key": "topic", "type": "single_choice", "label": "Topic", "options": ["code", "maths"]},
    )
    first = make_item(project, kind="pairwise", texts=["Safe answer", "Risky answer"])
    second = make_item(project, kind="pairwise", texts=["Plain", "Better"])
    people = [human(f"p{n}") for n in range(3)]
    # The second item's labels come from an imported set, which answers no question (a person's must
    # answer the required rating: docs/questions.md#required-questions).
    imported = [Annotator.objects.create(type=Annotator.Type.IMPORTED, name=f"i{n}") for n in range(3)]
    r0, r1 = first.response_uuids()
    hazards = [([["privacy"], []]), ([["privacy", "self_harm"], []]), ([[], []])]
    for person, label, choice, hazard, helpful, topic, note in zip(
        people, imported, "AAB", hazards, (4, 5, 3), ("code", "code", "maths"), ("a", "", "b"), strict=True
    ):
        answers = {"hazard": {r0: hazard[0], r1: hazard[1]}, "helpful": helpful, "topic": topic, "note": note}
        annotation_record(annotator=person, item=first, data=AnnotationInput(choice=choice, answers=answers))
        annotation_record(annotator=label, item=second, data=AnnotationInput(choice="B"))
    return first, second


def export(project, tmp_path, fmt, *extra):
    out = tmp_path / f"out-{fmt}-{len(list(tmp_path.iterdir()))}"
    call_command(
        "export_dataset",
        project.slug,
        "--format",
        fmt,
        "--out",
        str(out),
        "--quiet",
        *extra,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    dataset = Dataset.objects.latest("id")
    parquet = {f["split"]: str(out / f["name"]) for f in dataset.files if f["format"] == "parquet"}
    ds = datasets.load_dataset("parquet", data_files=parquet, cache_dir=str(tmp_path / "hf"))["train"]
    jsonl = {f["split"]: str(out / f["name"]) for f in dataset.files if f["format"] == "jsonl"}
    as_json = datasets.load_dataset("json", data_files=jsonl, cache_dir=str(tmp_path / "hf"), features=ds.features)
    assert as_json["train"].to_list() == ds.to_list()
    return ds, json.loads((out / "manifest.json").read_text())


def test_dpo_sft_kto_raw_carry_typed_question_columns(project, personas, export_dir, tmp_path):
    build(project, personas["owner"])
    dpo, _ = export(project, tmp_path, "dpo", "--plain")
    f = dpo.features
    assert f["q_hazard_chosen"] == datasets.List(datasets.Value("string"))
    assert f["q_hazard_chosen_shares"] == {
        v: datasets.Value("float64") for v in ("violent_crimes", "terrorism", "self_harm", "privacy")
    }
    assert f["q_helpful"] == datasets.Value("float64") and f["q_topic"] == datasets.Value("string")
    assert f["q_note"] == datasets.List(datasets.Value("string"))
    rows = {r["chosen"]: r for r in dpo.to_list()}
    first = rows["Safe answer"]
    assert (first["rejected"], first["q_hazard_chosen"], first["q_hazard_rejected"]) == (
        "Risky answer",
        ["privacy"],
        [],
    )
    assert first["q_hazard_chosen_shares"] == {
        "violent_crimes": 0.0,
        "terrorism": 0.0,
        "self_harm": 1 / 3,
        "privacy": 2 / 3,
    }
    assert (first["q_helpful"], first["q_topic"], first["q_note"]) == (4.0, "code", ["a", "b"])
    second = rows["Better"]  # nobody answered: nulls
    assert (second["q_hazard_chosen"], second["q_hazard_chosen_shares"], second["q_helpful"], second["q_topic"]) == (
        None,
        None,
        None,
        None,
    )

    # Filter: drop pairs whose chosen response has any hazard label by consensus.
    kept, manifest = export(
        project, tmp_path, "dpo", "--plain", "--question-filters", '[{"column": "q_hazard_chosen", "op": "empty"}]'
    )
    assert [r["chosen"] for r in kept.to_list()] == ["Better"]
    assert {"reason": "question_filter", "count": 1} in [
        {k: d[k] for k in ("reason", "count")} for d in manifest["dropped_by_format"]
    ]
    helpful, _ = export(
        project, tmp_path, "dpo", "--plain", "--question-filters", '[{"column": "q_helpful", "op": ">=", "value": 4}]'
    )
    assert [r["chosen"] for r in helpful.to_list()] == ["Safe answer"]

    sft, _ = export(project, tmp_path, "sft", "--plain")
    sft_rows = {r["completion"]: r for r in sft.to_list()}
    assert sft_rows["Safe answer"]["q_hazard"] == ["privacy"] and sft.features["q_hazard"] == datasets.List(
        datasets.Value("string")
    )
    kto, _ = export(project, tmp_path, "kto", "--plain")
    kto_rows = {(r["completion"], r["label"]): r for r in kto.to_list()}
    assert kto_rows[("Risky answer", False)]["q_hazard"] == [] and kto_rows[("Safe answer", True)]["q_helpful"] == 4.0

    raw, _ = export(project, tmp_path, "raw")
    assert raw.features["q_hazard"] == datasets.List(datasets.List(datasets.Value("string")))
    assert raw.features["q_helpful"] == datasets.Value("int64")
    answered = sorted(
        (r["q_helpful"], r["q_hazard"], r["q_topic"], r["q_note"]) for r in raw.to_list() if r["q_helpful"] is not None
    )
    assert answered == [
        (3, [[], []], "maths", "b"),
        (4, [["privacy"], []], "code", "a"),
        (5, [["self_harm", "privacy"], []], "code", None),  # labels stored in the options' order
    ]


def test_bad_question_filters_are_refused_naming_the_option(project, personas, export_dir, tmp_path):
    build(project, personas["owner"])
    for bad, words in [
        ('[{"column": "q_colour", "op": "empty"}]', "not a question column"),
        ('[{"column": "q_helpful", "op": "~"}]', "op"),
        ('[{"column": "q_helpful", "op": ">="}]', "needs a value"),
        ("{oops", "JSON"),
    ]:
        with pytest.raises(CommandError, match="question-filters") as caught:
            call_command(
                "export_dataset",
                project.slug,
                "--format",
                "dpo",
                "--out",
                str(tmp_path / "x"),
                "--question-filters",
                bad,
                stdout=io.StringIO(),
                stderr=io.StringIO(),
            )
        assert words in str(caught.value)
    assert not Dataset.objects.exists()


def build_ranking_and_judgment(project, owner):
    """A ranking item three people rank alike and answer (hand-worked below), one ranked by an
    imported set (no answers), and a judgment item two people critique."""
    three_questions(project, owner)
    ranked = make_item(project, kind="ranking", texts=["One", "Two", "Three"])
    r0, r1, r2 = ranked.response_uuids()
    people = [human(f"r{n}") for n in range(3)]
    hazards = [{r0: ["privacy"]}, {r0: ["privacy"], r1: ["self_harm"]}, {r0: [], r2: []}]  # Two: one answer
    for person, hazard, helpful, note in zip(people, hazards, (2, 3, 4), ("x", "", "y"), strict=True):
        answers = {"hazard": hazard, "helpful": helpful, "note": note}
        data = AnnotationInput(ranking=[[r2], [r0], [r1]], answers=answers)
        annotation_record(annotator=person, item=ranked, data=data)
    silent = make_item(project, kind="ranking", texts=["Alpha", "Beta", "Gamma"])
    s0, s1, s2 = silent.response_uuids()
    imported = Annotator.objects.create(type=Annotator.Type.IMPORTED, name="ranker")
    annotation_record(annotator=imported, item=silent, data=AnnotationInput(ranking=[[s0], [s1], [s2]]))
    judged = make_item(project, kind="judgment", texts=["Draft answer"])
    (d0,) = judged.response_uuids()
    for person, hazard, helpful in zip(people[:2], (["privacy"], ["privacy", "self_harm"]), (1, 2), strict=True):
        data = AnnotationInput(critique=f"Too vague ({helpful})", answers={"hazard": {d0: hazard}, "helpful": helpful})
        annotation_record(annotator=person, item=judged, data=data)


def test_ranking_and_judgment_carry_typed_question_columns(project, personas, export_dir, tmp_path):
    build_ranking_and_judgment(project, personas["owner"])
    shares = {v: datasets.Value("float64") for v in ("violent_crimes", "terrorism", "self_harm", "privacy")}
    ranking, _ = export(project, tmp_path, "ranking", "--plain")
    f = ranking.features
    assert f["q_hazard"] == datasets.List(datasets.List(datasets.Value("string")))  # one per response
    assert f["q_hazard_shares"] == datasets.List(shares)
    assert f["q_helpful"] == datasets.Value("float64") and f["q_note"] == datasets.List(datasets.Value("string"))
    rows = {r["responses"][0]: r for r in ranking.to_list()}
    row = rows["Three"]
    assert row["responses"] == ["Three", "One", "Two"]  # best first; the question lists follow this order
    assert row["q_hazard"] == [[], ["privacy"], ["self_harm"]]  # privacy on One by 2 of 3; self_harm by Two's one
    none = dict.fromkeys(shares, 0.0)
    assert row["q_hazard_shares"] == [
        {**none},  # Three: answered [] once
        {**none, "privacy": 2 / 3},
        {**none, "self_harm": 1.0},  # Two: answered once, with self_harm
    ]
    assert (row["q_helpful"], row["q_note"]) == (3.0, ["x", "y"])
    silent = rows["Alpha"]
    assert (silent["q_hazard"], silent["q_hazard_shares"], silent["q_helpful"], silent["q_note"]) == (
        None,
        None,
        None,
        None,
    )
    # A condition on a per-response column holds for every response of the row (null: only "empty").
    kept, manifest = export(
        project, tmp_path, "ranking", "--plain", "--question-filters", '[{"column": "q_hazard", "op": "empty"}]'
    )
    assert [r["responses"][0] for r in kept.to_list()] == ["Alpha"]
    assert {"reason": "question_filter", "count": 1} in [
        {k: d[k] for k in ("reason", "count")} for d in manifest["dropped_by_format"]
    ]
    kept, _ = export(
        project,
        tmp_path,
        "ranking",
        "--plain",
        "--question-filters",
        '[{"column": "q_hazard", "op": "not_contains", "value": "violent_crimes"}, {"column": "q_helpful", "op": ">=", "value": 3}]',
    )
    assert [r["responses"][0] for r in kept.to_list()] == ["Three"]

    judgment, _ = export(project, tmp_path, "judgment", "--plain")
    f = judgment.features
    assert f["q_hazard"] == datasets.List(datasets.Value("string")) and f["q_hazard_shares"] == shares
    assert f["q_helpful"] == datasets.Value("float64")
    rows = judgment.to_list()
    assert sorted(r["judgment"] for r in rows) == ["Too vague (1)", "Too vague (2)"]
    for r in rows:  # the item's consensus on every row: privacy by both, self_harm by one of two (not more)
        assert (r["response"], r["q_hazard"], r["q_helpful"]) == ("Draft answer", ["privacy"], 1.5)
        assert r["q_hazard_shares"] == {**none, "privacy": 1.0, "self_harm": 0.5}
    kept, manifest = export(
        project,
        tmp_path,
        "judgment",
        "--plain",
        "--question-filters",
        '[{"column": "q_helpful", "op": ">", "value": 1}]',
    )
    assert kept.num_rows == 2
    with pytest.raises(CommandError, match="2 rows that failed options.question_filters"):
        export(project, tmp_path, "judgment", "--question-filters", '[{"column": "q_hazard", "op": "empty"}]')


def test_ranking_filters_name_its_question_columns(project, personas, export_dir, tmp_path):
    build_ranking_and_judgment(project, personas["owner"])
    with pytest.raises(CommandError) as caught:
        export(project, tmp_path, "ranking", "--question-filters", '[{"column": "q_hazard_chosen", "op": "empty"}]')
    assert "q_hazard_chosen" in str(caught.value) and "q_hazard_shares" in str(caught.value)
