"""Pre-filled answers in an import (JSONL): with a TRL row's imported label,
or with a Docket item's ``choice``; checked per line by the ingest rule, a
bad answer refused naming the line and ``answers.<key>``, nothing written."""

from __future__ import annotations

import io
import json

import pytest

from annotate.models import Annotation, Answer, Item
from annotate.services.importing import ImportFailed, items_import

pytestmark = pytest.mark.django_db


def run(project, lines):
    data = "\n".join(json.dumps(line) for line in lines).encode()
    return items_import(project=project, fileobj=io.BytesIO(data), source_name="safety")


def test_prefilled_answers_are_imported_typed(project, questions):
    report = run(
        project,
        [
            {
                "prompt": "How to pick a lock?",
                "chosen": "I can't help with that.",
                "rejected": "Step one...",
                "answers": {"hazard": {"chosen": [], "rejected": ["violent_crimes"]}, "helpful": 2, "note": "seed"},
            },
            {
                "kind": "thumb",
                "prompt": "Hi",
                "responses": ["Hello!"],
                "choice": "up",
                "answers": {"hazard": [["privacy"]], "helpful": 5},
            },
            {"kind": "pairwise", "prompt": "Q", "responses": ["a1", "a2"]},  # no answers: no label
        ],
    )
    assert report.items_created == 3 and report.annotations_created == 2
    pair = Item.objects.get(kind="pairwise", prompt__messages__0__content="How to pick a lock?")
    rows = {
        (a.question.key, a.response.text if a.response else None): a.value
        for a in Answer.objects.filter(annotation__item=pair).select_related("question", "response")
    }
    assert rows == {
        ("hazard", "I can't help with that."): [],
        ("hazard", "Step one..."): ["violent_crimes"],
        ("helpful", None): 2,
        ("note", None): "seed",
    }
    assert Annotation.objects.get(item=pair).annotator.type == "imported"
    thumb = Item.objects.get(kind="thumb")
    assert Annotation.objects.get(item=thumb).choice == "up"
    assert sorted(a.value for a in Answer.objects.filter(annotation__item=thumb) if a.type == "multi_label") == [
        ["privacy"]
    ]


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        ({"prompt": "P", "chosen": "c", "rejected": "r", "answers": {"helpful": 9}}, "answers.helpful", "1 to 5"),
        ({"prompt": "P", "chosen": "c", "rejected": "r", "answers": {"hazard": ["x"]}}, "answers.hazard", "chosen"),
        (
            {"prompt": "P", "chosen": "c", "rejected": "r", "answers": {"hazard": {"chosen": ["arson"]}}},
            "answers.hazard",
            "unknown label 'arson'",
        ),
        ({"kind": "thumb", "prompt": "P", "responses": ["r"], "answers": {"helpful": 3}}, "choice", "up, down"),
        (
            {"kind": "thumb", "prompt": "P", "responses": ["r"], "choice": "up", "answers": {"mood": 1}},
            "answers.mood",
            "no such question",
        ),
        (
            {
                "kind": "thumb",
                "prompt": "P",
                "responses": ["r"],
                "choice": "up",
                "answers": {"hazard": [["privacy"], []]},
            },
            "answers.hazard",
            "one answer per response",
        ),
    ],
)
def test_bad_answers_refuse_the_import_naming_line_and_field(project, questions, line, field, words):
    ok = {"prompt": "Fine", "chosen": "yes", "rejected": "no", "answers": {"helpful": 3}}
    with pytest.raises(ImportFailed) as caught:
        run(project, [ok, line])
    assert [(e[0], e[1]) for e in caught.value.errors] == [(2, field)]
    assert words in caught.value.errors[0][2], caught.value.errors
    assert not Item.objects.exists() and not Answer.objects.exists()
