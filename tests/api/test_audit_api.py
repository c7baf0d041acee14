"""Audit summaries through the API: the latest finished audit, its item rows
(filters, orderings) and its annotator rows (people by opaque id only)."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from annotate.models import Annotation
from tests.api.builders import make_audit
from tests.factories import make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(personas):
    client = APIClient()
    client.force_authenticate(personas["researcher"])
    return client


def test_no_audit_yet_is_a_clear_404(project, client):
    for endpoint in ("audit/", "audit/items/", "audit/annotators/"):
        response = client.get(f"/api/v1/projects/{project.slug}/{endpoint}")
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "no_audit"
        assert "No audit" in error["message"]


def test_summary_is_the_latest_audit(project, client):
    older = make_audit(project)
    older.summary = {"version": 1, "which": "older"}
    older.save()
    body = client.get(f"/api/v1/projects/{project.slug}/audit/").json()
    assert body["summary"] == {"version": 1, "which": "older"}
    assert (body["item_count"], body["annotator_count"]) == (4, 2)
    newest = make_audit(project, job_status="succeeded")
    body = client.get(f"/api/v1/projects/{project.slug}/audit/").json()
    assert body["summary"] == newest.summary
    assert body["created_at"].startswith(newest.created_at.isoformat()[:19])
    # item rows come from the newest audit only
    assert client.get(f"/api/v1/projects/{project.slug}/audit/items/").json()["count"] == 4
    assert set(newest.items.values_list("item__uuid", flat=True)) == {
        uuid.UUID(r["item_id"]) for r in client.get(f"/api/v1/projects/{project.slug}/audit/items/").json()["results"]
    }


def _items(client, project, query=""):
    body = client.get(f"/api/v1/projects/{project.slug}/audit/items/{query}").json()
    return body["count"], [(r["kind"], r["disagreement"], r["ln_ches"]) for r in body["results"]]


def test_item_rows_filter_and_order(project, client):
    audit = make_audit(project)
    count, rows = _items(client, project)
    assert count == 4
    # most disagreement first by default, missing values last
    assert rows == [("pairwise", 0.5, 1.5), ("thumb", 0.25, None), ("pairwise", 0.0, None), ("pairwise", None, -0.5)]
    assert _items(client, project, "?kind=thumb") == (1, [("thumb", 0.25, None)])
    assert _items(client, project, "?flag=low_agreement")[1] == [("pairwise", 0.5, 1.5), ("pairwise", None, -0.5)]
    assert _items(client, project, "?flag=nonsense") == (0, [])
    assert _items(client, project, "?flag=no_consensus&kind=pairwise")[0] == 1
    assert _items(client, project, "?min_disagreement=0.25")[1] == [("pairwise", 0.5, 1.5), ("thumb", 0.25, None)]
    # descending with missing values last, both ways
    assert [r[1] for r in _items(client, project, "?ordering=-disagreement")[1]] == [0.5, 0.25, 0.0, None]
    assert [r[1] for r in _items(client, project, "?ordering=disagreement")[1]] == [0.0, 0.25, 0.5, None]
    assert [r[2] for r in _items(client, project, "?ordering=-ln_ches")[1]] == [1.5, -0.5, None, None]
    assert [r[2] for r in _items(client, project, "?ordering=ln_ches&limit=2")[1]] == [-0.5, 1.5]
    bad = client.get(f"/api/v1/projects/{project.slug}/audit/items/?ordering=annotator")
    assert bad.status_code == 400
    assert "ordering" in bad.json()["error"]["fields"]
    first = client.get(f"/api/v1/projects/{project.slug}/audit/items/?ordering=-disagreement").json()["results"][0]
    row = audit.items.get(disagreement=0.5)
    assert first["item_id"] == str(row.item.uuid)
    assert first["chosen"] == str(row.chosen.uuid)
    assert first["rejected"] is None
    assert first["flags"] == ["low_agreement"]


def test_annotator_rows_name_people_by_opaque_id_only(project, client, personas):
    audit = make_audit(project)
    body = client.get(f"/api/v1/projects/{project.slug}/audit/annotators/").json()
    assert body["count"] == 2
    person, judge = body["results"]  # outliers first
    human = audit.annotators.get(annotator__type="human").annotator
    assert person["annotator"] == {"id": str(human.uuid), "type": "human", "name": "", "model_name": ""}
    assert person["outlier"] is True and person["agreement"] == 0.75
    assert "Alice" not in str(body) and human.user.username not in str(body)
    assert judge["annotator"]["name"] == "judge-1" and judge["annotator"]["model_name"] == "tiny-judge"
    outliers = client.get(f"/api/v1/projects/{project.slug}/audit/annotators/?outlier=true").json()
    assert [r["annotator"]["id"] for r in outliers["results"]] == [str(human.uuid)]
    judges = client.get(f"/api/v1/projects/{project.slug}/audit/annotators/?annotator_type=model").json()
    assert [r["annotator"]["type"] for r in judges["results"]] == ["model"]
    by_agreement = client.get(f"/api/v1/projects/{project.slug}/audit/annotators/?ordering=-agreement").json()
    assert [r["agreement"] for r in by_agreement["results"]] == [1.0, 0.75]
    # the same id as in the annotations listing, so rows can be joined
    item = make_item(project)
    Annotation.objects.create(item=item, annotator=human, kind=item.kind, choice="A")
    listed = client.get(f"/api/v1/projects/{project.slug}/annotations/?annotator_type=human").json()
    assert listed["results"][0]["annotator"] == person["annotator"]


def test_item_rows_expand_to_the_responses_texts_and_prompt(project, client, django_assert_max_num_queries):
    make_audit(project)
    url = f"/api/v1/projects/{project.slug}/audit/items/"
    plain = client.get(url, {"ordering": "-ln_ches"}).json()["results"]
    assert all(row["responses"] is None and row["prompt"] is None for row in plain)

    with django_assert_max_num_queries(7):  # responses prefetched, not one query per row (4 rows)
        body = client.get(url, {"ordering": "-ln_ches", "expand": "responses,prompt"}).json()
    top = body["results"][0]
    assert top["ln_ches"] == 1.5
    from annotate.models import Item

    item = Item.objects.get(uuid=top["item_id"])
    links = list(item.links.order_by("position").select_related("response"))
    assert [r["text"] for r in top["responses"]] == [link.response.text for link in links]
    assert [r["position"] for r in top["responses"]] == [0, 1]
    assert top["responses"][0]["id"] == top["chosen"] == str(links[0].response.uuid)
    assert top["prompt"] == {"id": str(item.prompt.uuid), "messages": item.prompt.messages}
    only_responses = client.get(url, {"expand": "responses"}).json()["results"][0]
    assert only_responses["prompt"] is None and only_responses["responses"]


def test_unknown_expansion_is_a_400_naming_it(project, client):
    make_audit(project)
    response = client.get(f"/api/v1/projects/{project.slug}/audit/items/", {"expand": "responses,annotations"})
    assert response.status_code == 400
    assert "expand" in response.json()["error"]["fields"]
    assert "annotations" in response.json()["error"]["message"]
