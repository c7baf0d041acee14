"""Questions through the API (``/projects/<slug>/questions/``, and in ``POST
/projects/``) and ``manage.py create_project --question/--questions``: the
same service, field errors naming the field and the question, per-role
denial, nothing half-written."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from annotate.models import Project, Question
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HELPFUL = {"key": "helpful", "type": "rating", "label": "Helpful?", "scale": 5, "low_label": "no", "high_label": "yes"}
HAZARD = {
    "key": "hazard",
    "type": "multi_label",
    "label": "Hazards",
    "target": "response",
    "options": [{"name": "violent_crimes", "subcategories": ["terrorism"]}, "privacy"],
}


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_questions_api_add_edit_retire_and_roles(project, personas):
    owner = api(personas["owner"])
    base = f"/api/v1/projects/{project.slug}/questions/"
    response = owner.post(base, HAZARD, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["key"], data["version"], data["target"]) == ("hazard", 1, "response")
    assert data["options"][0] == {
        "value": "violent_crimes",
        "label": "violent_crimes",
        "description": "",
        "subcategories": [{"value": "terrorism", "label": "terrorism", "description": ""}],
    }
    bad = owner.post(base, {**HELPFUL, "scale": 40}, format="json")
    assert bad.status_code == 400 and "scale" in json.dumps(bad.json()) and "2 to 10" in json.dumps(bad.json())
    bad = owner.post(base, {**HAZARD, "key": "h2", "options": ["a", {"description": "x"}]}, format="json")
    assert bad.status_code == 400 and "entry 2" in json.dumps(bad.json())
    assert owner.post(base, {**HELPFUL, "colour": 1}, format="json").status_code == 400
    assert owner.post(base, HELPFUL, format="json").status_code == 201
    edited = owner.patch(f"{base}helpful/", {"scale": 7}, format="json")
    assert edited.status_code == 200 and (edited.json()["version"], edited.json()["scale"]) == (2, 7)
    assert owner.patch(f"{base}helpful/", {"type": "text"}, format="json").status_code == 400
    retired = owner.post(f"{base}helpful/retire/", {}, format="json")
    assert retired.status_code == 200 and retired.json()["retired"] is True
    assert [q["key"] for q in api(personas["researcher"]).get(base).json()] == ["hazard", "helpful"]
    assert api(personas["curator"]).post(base, {**HELPFUL, "key": "x"}, format="json").status_code == 403
    assert api(personas["annotator"]).get(base).status_code == 404
    assert api(personas["outsider"]).get(base).status_code == 404
    assert api(personas["owner"]).patch(f"{base}nope/", {"label": "x"}, format="json").status_code == 404


def test_create_project_with_questions_through_the_api(db):
    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="add_project", content_type__app_label="annotate"))
    client = api(user)
    body = {"slug": "safety", "name": "Safety", "questions": [HAZARD, {**HELPFUL, "kinds": ["pairwise"]}]}
    assert client.post("/api/v1/projects/", body, format="json").status_code == 201
    assert [q.key for q in Question.objects.filter(project__slug="safety")] == ["hazard", "helpful"]
    body = {"slug": "safety2", "name": "S", "questions": [HAZARD, {**HELPFUL, "scale": 1}]}
    response = client.post("/api/v1/projects/", body, format="json")
    assert response.status_code == 400
    assert "question 2 ('helpful'): scale" in json.dumps(response.json())
    assert not Project.objects.filter(slug="safety2").exists()


def test_create_project_command_takes_questions(db, tmp_path):
    path = tmp_path / "questions.json"
    path.write_text(json.dumps([HAZARD]))
    call_command(
        "create_project", "safety", "--name", "Safety", "--question", json.dumps(HELPFUL), "--questions", str(path)
    )
    assert [q.key for q in Question.objects.filter(project__slug="safety")] == ["helpful", "hazard"]
    with pytest.raises(CommandError, match=r"questions: question 1 \('note'\): type"):
        call_command(
            "create_project", "other", "--name", "O", "--question", '{"key": "note", "type": "x", "label": "N"}'
        )
    with pytest.raises(CommandError, match="not JSON"):
        call_command("create_project", "other", "--name", "O", "--question", "{oops")
    assert not Project.objects.filter(slug="other").exists()


def test_external_annotator_posts_answers(project, personas, questions):
    from annotate.models import Answer
    from tests.factories import make_item

    item = make_item(project, kind="pairwise")
    first, _second = item.response_uuids()
    url = f"/api/v1/projects/{project.slug}/items/{item.uuid}/annotations/"
    body = {
        "annotator": {"name": "jury", "model_name": "m"},
        "choice": "A",
        "answers": {"helpful": 9, "hazard": {first: ["privacy"]}},
    }
    bad = api(personas["curator"]).post(url, body, format="json")
    assert bad.status_code == 400 and "answers.helpful" in json.dumps(bad.json()), bad.json()
    assert not Answer.objects.exists()
    body["answers"]["helpful"] = 5
    created = api(personas["curator"]).post(url, body, format="json")
    assert created.status_code == 201
    assert sorted(str(a.value) for a in Answer.objects.all()) == ["5", "['privacy']"]
    expected = {"helpful": 5, "hazard": {first: ["privacy"]}}
    assert created.json()["answers"] == expected
    listed = api(personas["researcher"]).get(f"/api/v1/projects/{project.slug}/annotations/").json()["results"]
    assert [a["answers"] for a in listed] == [expected]
