"""The bad inputs issue 15's attack run answered with a 500: each now a 4xx
in the API's one error shape (or a form error, or an import error naming the
line), and nothing written."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.test import Client

from accounts.models import ApiToken
from annotate.models import Annotation, Annotator, Assignment, Item, Kind, Prompt
from annotate.services.importing import ImportFailed, items_import
from curation.models import Job
from tests.factories import make_item

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000


def counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in (Prompt, Item, Annotation, Annotator, Job, ApiToken)}


@pytest.fixture
def raw():
    """A test client that answers a crash with the 500 the server would send instead of raising it."""
    return Client(raise_request_exception=False)


def assert_api_error(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()["error"]
    assert body["status"] == status and body["code"] and body["message"]
    return body


def post_json(client, url: str, body: str | bytes, **extra):
    return client.generic("POST", url, body, content_type="application/json", **extra)


@pytest.fixture
def curator_client(raw, project, personas):
    raw.force_login(personas["curator"])
    return raw


# ---------------------------------------------------------------- nesting


def test_deep_nesting_to_the_token_endpoint_is_400(raw):
    before = counts()
    body = assert_api_error(post_json(raw, "/api/v1/auth/token/", DEEP))
    assert "nest" in body["message"]
    assert counts() == before


def test_deep_nesting_to_exports_and_annotations_is_400(curator_client, project):
    item = make_item(project, kind="pairwise")
    before = counts()
    for url in (
        f"/api/v1/projects/{project.slug}/exports/",
        f"/api/v1/projects/{project.slug}/items/{item.uuid}/annotations/",
    ):
        body = assert_api_error(post_json(curator_client, url, DEEP))
        assert "nest" in body["message"], url
    assert counts() == before


def test_import_line_nested_3000_deep_names_the_line(project):
    deep = (
        json.dumps({"kind": "thumb", "prompt": "p", "responses": ["r"]})[:-1]
        + ', "metadata": '
        + "[" * 3000
        + "]" * 3000
        + "}"
    )
    good = json.dumps({"kind": "thumb", "prompt": "q", "responses": ["s"]})
    before = counts()
    with pytest.raises(ImportFailed) as failure:
        items_import(project=project, fileobj=io.BytesIO(f"{good}\n{deep}\n".encode()))
    [(line, _field, message)] = failure.value.errors
    assert line == 2 and "nest" in message
    assert counts() == before


def test_import_line_with_an_infinite_number_names_the_line(project):
    line = '{"kind": "thumb", "prompt": "p", "responses": ["r"], "metadata": {"x": 1e999}}'
    before = counts()
    with pytest.raises(ImportFailed) as failure:
        items_import(project=project, fileobj=io.BytesIO(line.encode()))
    [(number, _field, message)] = failure.value.errors
    assert number == 1 and "finite" in message
    assert counts() == before


def test_ranking_nested_50000_deep_on_the_annotate_form_is_a_field_error(raw, project, personas):
    project.kinds = [Kind.RANKING]
    project.save()
    make_item(project, kind="ranking")
    raw.force_login(personas["annotator"])
    page = raw.get(f"/p/{project.slug}/annotate/")
    assignment = Assignment.objects.get()
    key = re.search(r'name="idempotency_key" value="([0-9a-f-]+)"', page.content.decode()).group(1)
    before = counts()
    response = raw.post(
        f"/p/{project.slug}/annotate/{assignment.uuid}/submit/", {"idempotency_key": key, "ranking": "[" * 50_000}
    )
    assert response.status_code in (200, 400, 422), response.status_code
    assert "nest" in response.content.decode()
    assert counts() == before


# ---------------------------------------------------------------- bounded columns, text PostgreSQL refuses


def test_overlong_username_on_the_token_endpoint_is_400(raw):
    before = counts()
    body = assert_api_error(post_json(raw, "/api/v1/auth/token/", json.dumps({"username": "u" * 300, "password": "x"})))
    assert "username" in body["fields"]
    assert counts() == before


def test_annotation_metadata_with_an_infinite_number_is_400(curator_client, project):
    item = make_item(project, kind="pairwise")
    before = counts()
    body = '{"annotator": {"name": "j", "model_name": "m"}, "choice": "A", "probabilities": {"A": 1e999}}'
    response = post_json(curator_client, f"/api/v1/projects/{project.slug}/items/{item.uuid}/annotations/", body)
    assert "probabilities" in str(assert_api_error(response))
    assert counts() == before


def test_export_name_with_nul_is_400_naming_the_field(curator_client, project):
    before = counts()
    body = json.dumps({"format": "dpo", "options": {"name": "a\u0000b"}})
    error = assert_api_error(post_json(curator_client, f"/api/v1/projects/{project.slug}/exports/", body))
    assert "name" in json.dumps(error["fields"])
    assert counts() == before


def test_lone_surrogate_in_annotation_text_is_400_naming_the_field(curator_client, project):
    item = make_item(project, kind="judgment")
    before = counts()
    body = '{"annotator": {"name": "j", "model_name": "m"}, "critique": "bad \\ud800 text"}'
    error = assert_api_error(
        post_json(curator_client, f"/api/v1/projects/{project.slug}/items/{item.uuid}/annotations/", body)
    )
    assert "critique" in json.dumps(error["fields"])
    assert counts() == before


# ---------------------------------------------------------------- export options out of range


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ('{"ches_keep_lowest_fraction": 2}', "ches_keep_lowest_fraction"),
        ('{"min_agreement": -1}', "min_agreement"),
        ('{"seed": -1}', "seed"),
        ('{"seed": 1e40}', "seed"),
    ],
)
def test_export_options_out_of_range_are_400(curator_client, project, options, field):
    before = counts()
    body = '{"format": "dpo", "options": ' + options + "}"
    error = assert_api_error(post_json(curator_client, f"/api/v1/projects/{project.slug}/exports/", body))
    assert field in json.dumps(error["fields"])
    assert counts() == before
