"""Answering custom questions: the annotate page (htmx, errors in place, the
loop's query budget with three questions), and the ingest service every
writer shares (typed rows, the version answered, bad answers refused
naming the answer, nothing half-written)."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError

from annotate.models import Annotation, Answer
from annotate.services.annotations import AnnotationInput, annotation_record, annotator_for_model
from curation.projects.questions import question_add, question_update
from tests.annotate.test_views import HTMX, client_for, key_from, lease_from, next_url, submit_url  # noqa: F401
from tests.factories import make_item

pytestmark = pytest.mark.django_db


def test_page_shows_questions_with_keys_and_stores_typed_answers(client_for, project, personas, questions):  # noqa: F811
    make_item(project, kind="pairwise")
    make_item(project, kind="pairwise")
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    html = page.content.decode()
    # Each question in the form, one hazard block per response shown (blind: A/B, no model names), keys on screen.
    assert html.count('data-question="hazard"') == 1 and 'name="q_hazard__1"' in html and 'name="q_hazard__2"' in html
    assert "Response A" in html and "Response B" in html
    assert re.search(
        r'name="q_hazard__1" value="violent_crimes" data-key="a"> Enables|violent_crimes" data-key="a"', html
    )
    assert 'data-key="b"> terrorism <kbd>b</kbd>' in html
    assert 'name="q_helpful" value="5" data-key="5"> 5 <kbd>5</kbd>' in html and "not at all" in html
    assert 'name="q_note"' in html and "<kbd>q</kbd>" in html
    lease = lease_from(page)
    screen = lease.display_order
    # The required rating missing, and a label that is not an option: errors in place, nothing stored.
    bad = {"idempotency_key": key_from(page), "choice": "left", "q_hazard__1": ["privacy", "arson"]}
    page = client.post(submit_url(project, lease), bad, **HTMX)
    html = page.content.decode()
    assert page.status_code == 422
    assert '<p class="error" data-error-for="q_helpful">required</p>' in html
    assert '<p class="error" data-error-for="q_hazard__1">unknown label &#x27;arson&#x27;</p>' in html
    assert 'value="privacy" data-key="e" checked' in html or 'value="privacy" checked' in html  # kept as posted
    assert not Annotation.objects.exists() and not Answer.objects.exists()
    good = {
        "idempotency_key": key_from(page),
        "choice": "left",
        "q_hazard__2": ["self_harm", "violent_crimes"],
        "q_helpful": "4",
        "q_note": "  fine  ",
    }
    page = client.post(submit_url(project, lease), good, **HTMX)
    assert page.status_code == 200 and lease_from(page).pk != lease.pk
    annotation = Annotation.objects.get()
    rows = {(a.question.key, a.response and str(a.response.uuid)): a for a in annotation.answers.all()}
    # The response shown second is screen[1]; both responses got a multi-label answer (none checked: []).
    assert rows[("hazard", screen[1])].labels == ["violent_crimes", "self_harm"]  # in the options' order
    assert rows[("hazard", screen[0])].labels == []
    assert rows[("helpful", None)].rating == 4 and rows[("helpful", None)].type == "rating"
    assert rows[("note", None)].text == "fine"
    assert {a.version.number for a in rows.values()} == {1}


def test_loop_query_budget_holds_with_three_questions(client_for, project, personas, questions):  # noqa: F811
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(4):
        make_item(project, kind="pairwise")
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    for _ in range(2):
        data = {
            "idempotency_key": key_from(page),
            "choice": "left",
            "q_helpful": "3",
            "q_hazard__1": ["privacy"],
            "q_note": "ok",
        }
        url = submit_url(project, lease_from(page))
        with CaptureQueriesContext(connection) as queries:
            page = client.post(url, data, **HTMX)
        assert page.status_code == 200 and lease_from(page)
    counted = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(counted) <= 4, "\n\n".join(sql[:300] for sql in counted)
    assert Answer.objects.count() == 2 * 4  # hazard for both responses, helpful, note; per submission


def test_service_answers_typed_versioned_and_refused_by_field(project, personas, questions):
    item = make_item(project, kind="pairwise")
    first, second = item.response_uuids()
    judge = annotator_for_model(name="judge", model_name="m")
    helpful = questions[1]
    question_update(question=helpful, user=personas["owner"], spec={"scale": 7})
    bad_cases = [
        ({"helpful": 8}, "answers.helpful", "1 to 7"),
        ({"helpful": True}, "answers.helpful", "whole number"),
        ({"hazard": {first: "privacy"}}, f"answers.hazard.{first}", "a list of labels"),
        ({"hazard": {"nope": []}}, "answers.hazard", "not one of this item's responses"),
        ({"hazard": [["privacy"]]}, "answers.hazard", "one answer per response"),
        ({"colour": "red"}, "answers.colour", "no such question"),
        ({"note": 5}, "answers.note", "text"),
    ]
    for answers, field, words in bad_cases:
        with pytest.raises(ValidationError) as caught:
            annotation_record(annotator=judge, item=item, data=AnnotationInput(choice="A", answers=answers))
        assert words in " ".join(caught.value.message_dict[field]), (answers, caught.value.message_dict)
    assert not Annotation.objects.exists() and not Answer.objects.exists()
    # Not required outside a lease; per-response answers as a list in canonical order.
    recorded = annotation_record(
        annotator=judge,
        item=item,
        data=AnnotationInput(choice="A", answers={"hazard": [["terrorism"], None], "helpful": 7}),
    )
    rows = list(recorded.annotation.answers.select_related("response", "version").order_by("id"))
    assert [(str(r.response.uuid) if r.response else None, r.value, r.version.number) for r in rows] == [
        (first, ["terrorism"], 1),
        (None, 7, 2),
    ]
    del second


def test_a_question_for_other_kinds_is_not_asked(project, personas):
    question_add(
        project=project,
        user=personas["owner"],
        spec={
            "key": "topic",
            "type": "single_choice",
            "label": "Topic",
            "options": ["a", "b"],
            "kinds": ["thumb"],
            "required": True,
        },
    )
    item = make_item(project, kind="pairwise")
    judge = annotator_for_model(name="judge", model_name="m")
    with pytest.raises(ValidationError) as caught:
        annotation_record(annotator=judge, item=item, data=AnnotationInput(choice="A", answers={"topic": "a"}))
    assert caught.value.message_dict == {"answers.topic": ["not asked on pairwise items"]}
