"""Per-question agreement through the API (docs/algorithms.md#question-agreement): the latest audit's
entries as the audit stored them, filtered by question or type, refused to annotators and outsiders."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotate.models import Answer
from curation.models import Audit
from curation.projects.questions import question_add
from tests.audit.helpers import annotate, human, run_audit
from tests.factories import UserFactory, make_item

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _get(client, project, query=""):
    return client.get(f"/api/v1/projects/{project.slug}/audit/questions/{query}")


@pytest.fixture
def audited(project):
    owner = UserFactory(username="qa-api")
    hazard = question_add(project=project, user=owner, spec={"key": "hazard", "type": "multi_label",
                          "label": "Hazards", "options": ["violence", "hate"]})  # fmt: skip
    safe = question_add(project=project, user=owner, spec={"key": "safe", "type": "single_choice",
                        "label": "Safe?", "options": ["yes", "no"]})  # fmt: skip
    people = [human(f"qapi{i}") for i in range(3)]
    items = [make_item(project, "pairwise") for _ in range(3)]
    rows = [[["violence"], [], ["hate"]], [["violence"], ["hate"], ["hate"]], [["violence", "hate"], [], []]]
    for r, person in enumerate(people):
        for u, item in enumerate(items):
            annotation = annotate(item, person, "A")
            Answer.objects.create(annotation=annotation, question=hazard, version=hazard.current,
                                  type="multi_label", labels=rows[r][u])  # fmt: skip
            Answer.objects.create(annotation=annotation, question=safe, version=safe.current,
                                  type="single_choice", choice="yes" if (r + u) % 3 else "no")  # fmt: skip
    return run_audit(project, n_boot=50)


def test_entries_as_stored_and_filtered(project, personas, audited):
    client = _client(personas["researcher"])
    body = _get(client, project).json()
    stored = audited.summary["questions"]["entries"]
    assert [e["key"] for e in body] == ["hazard", "safe"]
    hazard = body[0]
    assert hazard["type"] == "multi_label" and hazard["alpha"]["level"] == "masi"
    assert hazard["alpha"]["alpha"] == pytest.approx(stored[0]["alpha"]["alpha"])
    assert hazard["alpha"]["low"] == pytest.approx(stored[0]["alpha"]["low"])
    assert hazard["alpha_jaccard"]["alpha"] == pytest.approx(stored[0]["alpha_jaccard"]["alpha"])
    assert hazard["alpha_ordinal"] is None
    assert [(c["value"], c["n_labelled"]) for c in hazard["categories"]] == [("violence", 3), ("hate", 4)]
    assert {a["annotator"] for a in hazard["annotators"]} == {a["annotator"] for a in stored[0]["annotators"]}
    assert hazard["top_split"][0]["item"] == stored[0]["top_split"][0]["item"]
    assert body[1]["alpha"]["level"] == "nominal" and body[1]["categories"] == []
    assert [e["key"] for e in _get(client, project, "?question=safe").json()] == ["safe"]
    assert [e["key"] for e in _get(client, project, "?type=multi_label").json()] == ["hazard"]
    bad = _get(client, project, "?type=essay")
    assert bad.status_code == 400 and "type" in bad.json()["error"]["fields"]


def test_an_older_audit_has_no_entries_and_no_audit_is_404(project, personas):
    client = _client(personas["curator"])
    missing = _get(client, project)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "no_audit"
    Audit.objects.create(project=project, summary={"version": 1})
    assert _get(client, project).json() == []


@pytest.mark.parametrize("who", ["annotator", "outsider"])
def test_denied_to_annotators_and_outsiders(project, personas, who, audited):
    assert _get(_client(personas[who]), project).status_code == 404
    assert APIClient().get(f"/api/v1/projects/{project.slug}/audit/questions/").status_code == 401
