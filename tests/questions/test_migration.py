"""Migration 0007 (``Answer.consistent``): answers stored before it were dropped with their annotation's
``consistent=False``; from then on each answer counts by its own position check
(docs/questions.md#judge-answers-and-position). The data step marks what was never checked in the
other order: a jury's answers and the answers about the whole item of an inconsistent judgment."""

from __future__ import annotations

import pytest

from annotate.models import Answer
from annotate.services.annotations import AnnotationInput, annotation_record, annotator_for_model
from tests.exports.db_builders import human
from tests.factories import make_item

from .conftest import three_questions


@pytest.mark.django_db(transaction=True)
def test_migration_marks_the_unchecked_answers_of_inconsistent_judgments(project, personas):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    three_questions(project, personas["owner"])
    item = make_item(project, kind="pairwise")
    first, second = item.response_uuids()
    answers = {"hazard": {first: ["privacy"], second: []}, "helpful": 2}
    judge = annotator_for_model(name="judge", model_name="m")
    annotation_record(annotator=judge, item=item, data=AnnotationInput(choice="tie", consistent=False, answers=answers))
    jury = annotator_for_model(name="jury [x] of 3 judges", model_name="jury")
    data = AnnotationInput(choice="tie", consistent=False, metadata={"jury": True}, answers=answers)
    annotation_record(annotator=jury, item=item, data=data)
    annotation_record(annotator=human("p"), item=item, data=AnnotationInput(choice="A", answers=answers))
    assert set(Answer.objects.values_list("consistent", flat=True)) == {None}

    executor = MigrationExecutor(connection)
    executor.migrate([("annotate", "0006_questions")])
    executor = MigrationExecutor(connection)
    executor.migrate([("annotate", "0007_answer_consistent")])
    got = {
        (a.annotation.annotator.name, a.question.key, a.response_id is not None): a.consistent
        for a in Answer.objects.select_related("annotation__annotator", "question")
    }
    assert got == {
        ("judge", "hazard", True): None,  # about one response: counts from now on
        ("judge", "helpful", False): False,  # about the pair, never asked in the other order
        ("jury [x] of 3 judges", "hazard", True): False,  # a jury's answers never count
        ("jury [x] of 3 judges", "helpful", False): False,
        ("p", "hazard", True): None,  # people's answers are never checked
        ("p", "helpful", False): None,
    }
