"""Required questions, one rule (docs/questions.md#required-questions): a person's
judgment answers them whatever the path (the annotate page, the REST API when
the token's user posts as a person, the service without a lease), while imported
labels and model annotators (judges, external annotators) are exempt. A refusal
names ``answers.<key>`` in the API's error shape and writes nothing."""

from __future__ import annotations

import io
import json

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from annotate.models import Annotation, Annotator, Answer, Item
from annotate.services.annotations import AnnotationInput, annotation_record, annotator_for_model
from annotate.services.assignment import annotator_for_user
from annotate.services.importing import items_import
from tests.annotate.test_views import HTMX, client_for, key_from, lease_from, next_url, submit_url  # noqa: F401
from tests.factories import make_item

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_person_answers_required_questions_without_a_lease_too(project, personas, questions):
    item = make_item(project, kind="pairwise")
    person = annotator_for_user(personas["curator"])
    with pytest.raises(ValidationError) as caught:
        annotation_record(annotator=person, item=item, data=AnnotationInput(choice="A", answers={"note": "x"}))
    assert caught.value.message_dict == {"answers.helpful": ["required"]}
    assert not Annotation.objects.exists() and not Answer.objects.exists()
    assert Item.objects.get(pk=item.pk).slots_taken == 0
    stored = annotation_record(annotator=person, item=item, data=AnnotationInput(choice="A", answers={"helpful": 3}))
    assert stored.created and [a.value for a in stored.annotation.answers.all()] == [3]


def test_model_annotators_and_imports_are_exempt(project, personas, questions):
    item = make_item(project, kind="pairwise")
    judge = annotator_for_model(name="judge", model_name="m")
    assert annotation_record(annotator=judge, item=item, data=AnnotationInput(choice="A")).created
    # An existing preference set without answers stays importable: its labels are kept.
    line = {"prompt": "How to pick a lock?", "chosen": "I can't help.", "rejected": "Step one..."}
    report = items_import(project=project, fileobj=io.BytesIO(json.dumps(line).encode()), source_name="hh")
    assert report.annotations_created == 1
    imported = Annotation.objects.get(annotator__type=Annotator.Type.IMPORTED)
    assert imported.choice == "A" and not imported.answers.exists()


def test_api_person_must_answer_required_questions_external_annotator_need_not(project, personas, questions):
    item = make_item(project, kind="pairwise")
    url = f"/api/v1/projects/{project.slug}/items/{item.uuid}/annotations/"
    curator = personas["curator"]
    refused = api(curator).post(url, {"choice": "A", "answers": {"note": "x"}}, format="json")
    assert refused.status_code == 400, refused.json()
    body = refused.json()
    assert body["error"]["fields"] == {"answers.helpful": ["required"]}, body
    assert not Annotation.objects.exists() and not Answer.objects.exists()
    created = api(curator).post(url, {"choice": "B", "answers": {"helpful": 4}}, format="json")
    assert created.status_code == 201, created.json()
    annotation = Annotation.objects.get()
    assert annotation.annotator.type == Annotator.Type.HUMAN and annotation.annotator.user == curator
    assert created.json()["answers"] == {"helpful": 4}
    assert Item.objects.get(pk=item.pk).slots_taken == 1  # a person's judgment takes a slot
    other = make_item(project, kind="pairwise")
    url = f"/api/v1/projects/{project.slug}/items/{other.uuid}/annotations/"
    external = {"annotator": {"name": "bot", "model_name": "m"}, "choice": "A"}
    assert api(curator).post(url, external, format="json").status_code == 201
    # Outsiders and annotators still get 404 (the endpoint is for curators).
    for persona in ("annotator", "outsider"):
        assert (
            api(personas[persona]).post(url, {"choice": "A", "answers": {"helpful": 1}}, format="json").status_code
            == 404
        )


def test_page_refuses_a_missing_required_answer_through_the_service(client_for, project, personas, questions):  # noqa: F811
    make_item(project, kind="thumb")
    client = client_for(personas["annotator"])
    page = client.get(next_url(project))
    lease = lease_from(page)
    page = client.post(submit_url(project, lease), {"idempotency_key": key_from(page), "choice": "up"}, **HTMX)
    assert page.status_code == 422
    assert '<p class="error" data-error-for="q_helpful">required</p>' in page.content.decode()
    assert not Annotation.objects.exists()
