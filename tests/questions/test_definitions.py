"""Question definitions: add, edit (a new version), retire, restore, move,
taxonomy files; each logged; bad definitions refused with a field error
naming the field (and the entry of a taxonomy), nothing written."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from annotate.models import Question, QuestionVersion
from curation.models import Activity
from curation.projects.questions import (
    question_add,
    question_definition,
    question_move,
    question_retire,
    question_update,
    taxonomy_parse,
)

pytestmark = pytest.mark.django_db

HAZARDS = [
    {"name": "violent_crimes", "description": "Enables or endorses violence", "subcategories": ["terrorism", "murder"]},
    {"name": "self_harm"},
    "privacy",
]


def errors_of(call):
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.message_dict


def test_each_type_defined_versioned_and_logged(project, personas):
    owner = personas["owner"]
    hazard = question_add(
        project=project,
        user=owner,
        spec={
            "key": "hazard",
            "type": "multi_label",
            "label": "Which hazards?",
            "target": "response",
            "options": HAZARDS,
        },
    )
    helpful = question_add(
        project=project,
        user=owner,
        spec={
            "key": "helpful",
            "type": "rating",
            "label": "Helpfulness",
            "scale": 5,
            "low_label": "useless",
            "high_label": "perfect",
            "required": True,
            "kinds": ["pairwise", "thumb"],
        },
    )
    topic = question_add(
        project=project,
        user=owner,
        spec={"key": "topic", "type": "single_choice", "label": "Topic", "options": ["code", "maths", "other"]},
    )
    note = question_add(project=project, user=owner, spec={"key": "note", "type": "text", "label": "Note"})
    assert [q.key for q in Question.objects.filter(project=project)] == ["hazard", "helpful", "topic", "note"]
    assert [o["value"] for o in hazard.current.options] == [
        "violent_crimes",
        "terrorism",
        "murder",
        "self_harm",
        "privacy",
    ]
    assert [o["parent"] for o in hazard.current.options] == ["", "violent_crimes", "violent_crimes", "", ""]
    assert hazard.current.kinds == project.kinds
    assert helpful.current.kinds == ["pairwise", "thumb"] and helpful.current.scale == 5
    assert note.current.max_length == 2000 and topic.current.number == 1
    # The definition reads back as a definition (nested options) and adds the same question again.
    spec = question_definition(hazard)
    assert spec["options"][0]["subcategories"][1]["value"] == "murder"
    again = question_add(project=project, user=owner, spec={**{k: v for k, v in spec.items()}, "key": "hazard2"})
    assert again.current.options == hazard.current.options

    question_update(question=helpful, user=owner, spec={"label": "How helpful?"})
    helpful.refresh_from_db()
    assert helpful.current.number == 2 and helpful.current.label == "How helpful?" and helpful.current.scale == 5
    assert list(QuestionVersion.objects.filter(question=helpful).values_list("number", "label")) == [
        (1, "Helpfulness"),
        (2, "How helpful?"),
    ]
    question_update(question=helpful, user=owner, spec={"label": "How helpful?"})  # nothing changed: no version
    assert QuestionVersion.objects.filter(question=helpful).count() == 2
    question_retire(question=topic, user=owner)
    question_move(question=note, offset=-3, user=owner)
    question_retire(question=topic, user=owner, retired=False)
    order = [q.key for q in Question.objects.filter(project=project, retired_at__isnull=True)]
    assert order == ["note", "hazard", "helpful", "hazard2", "topic"]
    verbs = [e.verb for e in Activity.objects.filter(project=project, verb__startswith="question").order_by("id")]
    assert verbs == ["question.add"] * 5 + [
        "question.update",
        "question.retire",
        "question.reorder",
        "question.restore",
    ]
    update = Activity.objects.get(project=project, verb="question.update")
    assert update.changes == {"version": [1, 2], "label": ["Helpfulness", "How helpful?"]}


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"key": "Bad Key", "type": "text", "label": "x"}, "key", "lowercase"),
        ({"key": "q", "type": "likert", "label": "x"}, "type", "single_choice"),
        ({"key": "q", "type": "text", "label": ""}, "label", "required"),
        ({"key": "q", "type": "text", "label": "x", "target": "prompt"}, "target", "response"),
        ({"key": "q", "type": "rating", "label": "x", "scale": 1}, "scale", "2 to 10"),
        ({"key": "q", "type": "rating", "label": "x", "scale": 11}, "scale", "2 to 10"),
        ({"key": "q", "type": "rating", "label": "x", "scale": "five"}, "scale", "whole number"),
        ({"key": "q", "type": "rating", "label": "x", "scale": 5, "options": ["a"]}, "options", "not used"),
        ({"key": "q", "type": "single_choice", "label": "x", "options": ["only"]}, "options", "at least two"),
        ({"key": "q", "type": "single_choice", "label": "x", "options": ["a", "A"]}, "options", "entry 2 ('A')"),
        (
            {"key": "q", "type": "multi_label", "label": "x", "options": ["a", {"description": "d"}]},
            "options",
            'entry 2: needs a "value"',
        ),
        (
            {"key": "q", "type": "multi_label", "label": "x", "options": ["a", {"name": "b", "subcategories": [3]}]},
            "options",
            "entry 2 ('b'), subcategory 1",
        ),
        ({"key": "q", "type": "text", "label": "x", "kinds": ["chat"]}, "kinds", "unknown kind 'chat'"),
        ({"key": "q", "type": "text", "label": "x", "max_length": 0}, "max_length", "between 1"),
        ({"key": "q", "type": "text", "label": "x", "colour": "red"}, "colour", "not a question field"),
    ],
)
def test_bad_definitions_refused_naming_the_field(project, personas, spec, field, words):
    errors = errors_of(lambda: question_add(project=project, user=personas["owner"], spec=spec))
    assert field in errors and words in " ".join(errors[field]), errors
    assert not Question.objects.filter(project=project).exists()
    assert not Activity.objects.filter(project=project, verb__startswith="question").exists()


def test_key_taken_and_identity_fixed(project, personas):
    owner = personas["owner"]
    q = question_add(project=project, user=owner, spec={"key": "note", "type": "text", "label": "Note"})
    assert "key" in errors_of(
        lambda: question_add(project=project, user=owner, spec={"key": "note", "type": "text", "label": "y"})
    )
    assert "type" in errors_of(lambda: question_update(question=q, user=owner, spec={"type": "rating"}))
    assert "max_length" in errors_of(lambda: question_update(question=q, user=owner, spec={"max_length": -1}))
    assert QuestionVersion.objects.filter(question=q).count() == 1


def test_taxonomy_file_parsed_and_bad_entries_named():
    options = taxonomy_parse(json.dumps(HAZARDS).encode())
    assert [o["value"] for o in options][:3] == ["violent_crimes", "terrorism", "murder"]
    assert options[0]["description"] == "Enables or endorses violence"
    assert errors_of(lambda: taxonomy_parse(b"{not json"))["taxonomy"][0].startswith("not JSON")
    assert errors_of(lambda: taxonomy_parse(b'{"a": 1}'))["taxonomy"] == ["a list of categories"]
    bad = json.dumps(["ok", {"name": "x", "subcategories": [{"name": "y", "subcategories": ["z"]}]}]).encode()
    assert errors_of(lambda: taxonomy_parse(bad))["taxonomy"] == [
        "entry 2 ('x'), subcategory 1 ('y'): subcategories go one level deep"
    ]
    assert "unknown field 'colour'" in errors_of(lambda: taxonomy_parse(b'[{"name": "a", "colour": 1}]'))["taxonomy"][0]
    assert errors_of(lambda: taxonomy_parse(b"\xff"))["taxonomy"] == ["not UTF-8 text"]


def test_a_project_with_answered_questions_can_be_deleted(project, personas):
    """Versions are kept while answers point at them, but deleting the whole project takes everything."""
    from annotate.models import Answer, Project
    from annotate.services.annotations import AnnotationInput, annotation_record, annotator_for_model
    from tests.factories import make_item

    q = question_add(project=project, user=None, spec={"key": "note", "type": "text", "label": "Note"})
    item = make_item(project, kind="thumb")
    judge = annotator_for_model(name="j", model_name="m")
    annotation_record(annotator=judge, item=item, data=AnnotationInput(choice="up", answers={"note": "hi"}))
    question_update(question=q, user=None, spec={"label": "Note?"})
    with pytest.raises(Exception, match="restricted"):
        QuestionVersion.objects.filter(question=q, number=1).delete()  # an answered version stays
    Project.objects.filter(pk=project.pk).delete()
    assert not Answer.objects.exists() and not QuestionVersion.objects.exists() and not Question.objects.exists()
