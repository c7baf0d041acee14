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
