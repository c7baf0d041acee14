"""The questions page /p/<slug>/curate/questions/: owners add (typed options
or a taxonomy file), edit (a new version), move, retire; bad input shown as
field errors (a taxonomy's bad entry named); curators read only (403 on POST)."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotate.models import Question

pytestmark = pytest.mark.django_db


def url(project):
    return reverse("curation:questions", args=[project.slug])


def test_owner_defines_questions_on_the_page(client, project, personas):
    client.force_login(personas["owner"])
    taxonomy = [{"name": "violent_crimes", "description": "Violence", "subcategories": ["terrorism"]}, "privacy"]
    upload = SimpleUploadedFile("hazards.json", json.dumps(taxonomy).encode(), content_type="application/json")
    response = client.post(
        url(project),
        {
            "action": "add",
            "key": "hazard",
            "type": "multi_label",
            "target": "response",
            "label": "Hazards?",
            "taxonomy": upload,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    hazard = Question.objects.get(project=project, key="hazard")
    assert [(o["value"], o["parent"]) for o in hazard.current.options] == [
        ("violent_crimes", ""),
        ("terrorism", "violent_crimes"),
        ("privacy", ""),
    ]
    response = client.post(
        url(project),
        {
            "action": "add",
            "key": "topic",
            "type": "single_choice",
            "label": "Topic",
            "options": "code | programming\nmaths\n  algebra | a subcategory",
            "kinds": ["pairwise"],
            "required": "on",
        },
    )
    assert response.status_code == 302
    topic = Question.objects.get(project=project, key="topic")
    assert [(o["value"], o["description"], o["parent"]) for o in topic.current.options] == [
        ("code", "programming", ""),
        ("maths", "", ""),
        ("algebra", "a subcategory", "maths"),
    ]
    assert topic.current.required and topic.current.kinds == ["pairwise"]
    page = client.get(url(project)).content.decode()
    assert 'data-question="hazard"' in page and "  algebra | a subcategory" in page
    # Edit: a new version, the options text read back unchanged.
    response = client.post(
        url(project),
        {
            "action": "edit",
            "question": topic.pk,
            "label": "Topic?",
            "options": "code | programming\nmaths\n  algebra | a subcategory",
            "kinds": ["pairwise"],
            "required": "on",
        },
    )
    assert response.status_code == 302
    topic.refresh_from_db()
    assert (topic.current.number, topic.current.label) == (2, "Topic?")
    client.post(url(project), {"action": "up", "question": topic.pk})
    assert [q.key for q in Question.objects.filter(project=project)] == ["topic", "hazard"]


def test_bad_definitions_shown_as_field_errors(client, project, personas):
    client.force_login(personas["owner"])
    bad = json.dumps(["a", {"name": "b", "subcategories": [{"nope": 1}]}]).encode()
    response = client.post(
        url(project),
        {
            "action": "add",
            "key": "hazard",
            "type": "multi_label",
            "label": "Hazards",
            "taxonomy": SimpleUploadedFile("t.json", bad),
        },
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "entry 2 (&#x27;b&#x27;), subcategory 1: unknown field &#x27;nope&#x27;" in html
    assert 'data-field="taxonomy"' in html
    response = client.post(url(project), {"action": "add", "key": "Bad", "type": "rating", "label": "R", "scale": "12"})
    html = response.content.decode()
    assert response.status_code == 400 and "2 to 10" in html and "lowercase name" in html
    assert not Question.objects.exists()


def test_curator_reads_but_cannot_change(client, project, personas):
    client.force_login(personas["curator"])
    assert client.get(url(project)).status_code == 200
    assert client.post(url(project), {"action": "add", "key": "x", "type": "text", "label": "X"}).status_code == 403
    client.force_login(personas["annotator"])
    assert client.get(url(project)).status_code == 404
