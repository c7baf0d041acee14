"""Per-principle agreement through the API (docs/algorithms.md#principle-ambiguity):
the latest audit's entries, filtered and ranked most ambiguous first, typed in
the schema, refused to annotators and outsiders."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from curation.models import Audit

pytestmark = pytest.mark.django_db


def _entry(principle, kind, group, alpha, split, **extra):
    return {
        "principle": principle, "kind": kind, "group": group, "alpha": alpha, "low": None if alpha is None else alpha - 0.1,
        "high": None if alpha is None else alpha + 0.1, "mean": alpha, "sd": 0.05, "n_ok": 100, "split_share": split,
        "n_items": 4, "n_verdicts": 10, "n_interpreters": 3, "top_split": [], **extra,
    }  # fmt: skip


SUMMARY = {
    "version": 1,
    "ambiguity": {
        "principles": [{"id": 1, "name": "harmless"}, {"id": 2, "name": "honest"}],
        "verdicts": ["A", "B", "neither", "na"],
        "groups": ["all", "human", "judge"],
        "n_boot": 100,
        "entries": [
            _entry(2, "pairwise", "all", 0.9, 0.1),
            _entry(
                1,
                "pairwise",
                "all",
                0.41,
                0.5,
                top_split=[
                    {"item": "5f0c6a56-3c3a-4d0e-9a52-2d8c2f7e1a11", "spread": 0.333, "verdicts": {"A": 1, "B": 2}}
                ],
            ),  # fmt: skip
            _entry(1, "pairwise", "judge", None, None, reason="no item has verdicts from two or more interpreters"),
            _entry(1, "thumb", "human", 0.2, 0.3),
        ],
    },
}


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _get(client, project, query=""):
    return client.get(f"/api/v1/projects/{project.slug}/audit/principles/{query}")


def test_entries_ranked_and_filtered(project, personas):
    Audit.objects.create(project=project, summary=SUMMARY)
    client = _client(personas["researcher"])
    body = _get(client, project).json()
    assert [(e["principle"]["name"], e["kind"], e["group"], e["alpha"]) for e in body] == [
        ("harmless", "thumb", "human", 0.2),
        ("harmless", "pairwise", "all", 0.41),
        ("honest", "pairwise", "all", 0.9),
        ("harmless", "pairwise", "judge", None),  # undefined α last
    ]
    first = body[1]
    assert first["principle"] == {"id": 1, "name": "harmless"} and first["split_share"] == 0.5
    assert first["top_split"] == [
        {"item": "5f0c6a56-3c3a-4d0e-9a52-2d8c2f7e1a11", "spread": 0.333, "verdicts": {"A": 1, "B": 2}}
    ]
    assert first["reason"] == "" and "two or more" in body[3]["reason"]
    assert [e["alpha"] for e in _get(client, project, "?group=all&kind=pairwise").json()] == [0.41, 0.9]
    assert [e["group"] for e in _get(client, project, "?principle=harmless").json()] == ["human", "all", "judge"]
    assert [e["principle"]["name"] for e in _get(client, project, "?principle=2").json()] == ["honest"]
    bad = _get(client, project, "?group=aliens")
    assert bad.status_code == 400 and "group" in bad.json()["error"]["fields"]


def test_an_older_audit_has_no_entries_and_no_audit_is_404(project, personas):
    client = _client(personas["curator"])
    missing = _get(client, project)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "no_audit"
    Audit.objects.create(project=project, summary={"version": 1})
    assert _get(client, project).json() == []


@pytest.mark.parametrize("who", ["annotator", "outsider"])
def test_denied_to_annotators_and_outsiders(project, personas, who):
    Audit.objects.create(project=project, summary=SUMMARY)
    assert _get(_client(personas[who]), project).status_code == 404
    assert APIClient().get(f"/api/v1/projects/{project.slug}/audit/principles/").status_code == 401
