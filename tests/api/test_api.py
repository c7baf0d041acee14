"""The researchers' API: tokens, the permission matrix, the error shape,
external annotations."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from annotate.models import Annotation, Annotator
from curation.models import Job
from tests.api.builders import make_audit, make_dataset
from tests.factories import PASSWORD, PrincipleFactory, ProjectFactory, make_item

pytestmark = pytest.mark.django_db


def token_for(user, hours=None) -> str:
    client = APIClient()
    body = {"username": user.username, "password": PASSWORD}
    if hours:
        body["ttl_hours"] = hours
    response = client.post("/api/v1/auth/token/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["token"]


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def test_token_is_stored_hashed_and_expires(personas):
    user = personas["researcher"]
    token = token_for(user)
    stored = ApiToken.objects.get(user=user)
    assert token not in (stored.digest, stored.token_key)
    assert len(stored.digest) == 128  # sha512 hex
    assert stored.expiry > timezone.now() + timedelta(days=6)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/projects/").status_code == 200
    ApiToken.objects.filter(pk=stored.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/v1/projects/")
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401


def test_wrong_password_gets_error_shape(personas):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": personas["researcher"].username, "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_logout_revokes_token(personas):
    token = token_for(personas["researcher"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.post("/api/v1/auth/logout/").status_code == 204
    assert client.get("/api/v1/projects/").status_code == 401


# Every reading endpoint, project-scoped or by object id ({job}, {dataset} filled in by the test).
READ_ENDPOINTS = [
    "projects/{slug}/",
    "projects/{slug}/prompts/",
    "projects/{slug}/items/",
    "projects/{slug}/annotations/",
    "projects/{slug}/datasets/",
    "projects/{slug}/audit/",
    "projects/{slug}/audit/items/",
    "projects/{slug}/audit/annotators/",
    "jobs/{job}/",
    "datasets/{dataset}/",
    "datasets/{dataset}/files/data/train-00000-of-00001.jsonl",
    "datasets/{dataset}/files/README.md",
]
ROLES = [
    ("owner", 200),
    ("curator", 200),
    ("researcher", 200),
    ("annotator", 404),
    ("outsider", 404),
    ("anonymous", 401),
]


@pytest.fixture
def full_project(project, settings, tmp_path):
    """A project with an item, a finished audit, an export job and its dataset on disk."""
    settings.DOCKET_EXPORT_DIR = tmp_path / "exports"
    make_item(project)
    make_audit(project)
    dataset = make_dataset(project)
    dataset.job = Job.objects.create(project=project, kind="export", status="succeeded")
    dataset.save()
    return {"slug": project.slug, "job": dataset.job.uuid, "dataset": dataset.uuid}


def client_as(personas, role) -> APIClient:
    return APIClient() if role == "anonymous" else client_for(personas[role])


@pytest.mark.parametrize("endpoint", READ_ENDPOINTS)
@pytest.mark.parametrize(("role", "expected"), ROLES)
def test_read_permission_matrix(full_project, personas, endpoint, role, expected):
    response = client_as(personas, role).get("/api/v1/" + endpoint.format(**full_project))
    assert response.status_code == expected
    if expected != 200:
        error = response.json()["error"]
        assert set(error) >= {"status", "code", "message"}
        assert error["code"] == {404: "not_found", 401: "not_authenticated"}[expected]


@pytest.mark.parametrize(("role", "expected"), ROLES)
def test_export_create_permission_matrix(project, personas, role, expected):
    response = client_as(personas, role).post(
        f"/api/v1/projects/{project.slug}/exports/", {"format": "dpo"}, format="json"
    )
    assert response.status_code == (202 if expected == 200 else expected)
    assert Job.objects.filter(kind="export").count() == (1 if expected == 200 else 0)


@pytest.mark.parametrize(("role", "expected"), ROLES)
def test_job_cancel_permission_matrix(project, personas, role, expected):
    job = Job.objects.create(project=project, kind="export", created_by=personas["researcher"])
    response = client_as(personas, role).post(f"/api/v1/jobs/{job.uuid}/cancel/")
    assert response.status_code == expected
    job.refresh_from_db()
    assert job.status == ("cancelled" if expected == 200 else "queued")


def test_anonymous_gets_401_for_the_project_list():
    response = APIClient().get("/api/v1/projects/")
    assert response.status_code == 401
    assert set(response.json()["error"]) >= {"status", "code", "message"}


def test_researcher_of_another_project_gets_404(project, personas, settings, tmp_path):
    settings.DOCKET_EXPORT_DIR = tmp_path / "exports"
    other = ProjectFactory()
    make_item(other)
    make_audit(other)
    dataset = make_dataset(other)
    job = Job.objects.create(project=other, kind="export")
    client = client_for(personas["researcher"])
    ids = {"slug": other.slug, "job": job.uuid, "dataset": dataset.uuid}
    for endpoint in READ_ENDPOINTS:
        response = client.get("/api/v1/" + endpoint.format(**ids))
        assert response.status_code == 404, endpoint
    assert client.post(f"/api/v1/projects/{other.slug}/exports/", {"format": "dpo"}, format="json").status_code == 404
    assert client.post(f"/api/v1/jobs/{job.uuid}/cancel/").status_code == 404
    listed = [p["slug"] for p in client.get("/api/v1/projects/").json()["results"]]
    assert listed == [project.slug]


@pytest.mark.parametrize("query", ["limit=", "limit=0", "limit=abc", "offset=", "offset=-1"])
def test_bad_paging_is_a_400_naming_the_parameter(project, personas, query):
    client = client_for(personas["researcher"])
    response = client.get(f"/api/v1/projects/?{query}")
    assert response.status_code == 400, response.content
    assert query.split("=")[0] in str(response.json()["error"])


def test_paging_limit_and_offset_page_the_list(project, personas):
    for _ in range(3):
        make_item(project)
    client = client_for(personas["researcher"])
    page = client.get(f"/api/v1/projects/{project.slug}/items/?limit=2&offset=1").json()
    assert (page["count"], len(page["results"])) == (3, 2)
    assert client.get(f"/api/v1/projects/{project.slug}/items/?limit=5000").json()["count"] == 3  # capped, not refused


def test_items_and_annotations_listing(project, personas):
    item = make_item(project, kind="pairwise")
    client = client_for(personas["researcher"])
    body = client.get(f"/api/v1/projects/{project.slug}/items/?kind=pairwise").json()
    assert body["count"] == 1
    assert [r["position"] for r in body["results"][0]["responses"]] == [0, 1]
    assert body["results"][0]["id"] == str(item.uuid)
    assert client.get(f"/api/v1/projects/{project.slug}/items/?kind=thumb").json()["count"] == 0


@pytest.mark.parametrize(
    ("role", "expected"), [("owner", 201), ("curator", 201), ("researcher", 404), ("annotator", 404)]
)
def test_external_annotation_permissions(project, personas, role, expected):
    item = make_item(project)
    url = f"/api/v1/projects/{project.slug}/items/{item.uuid}/annotations/"
    body = {"annotator": {"name": "gpt-judge", "model_name": "gpt-x"}, "choice": "A"}
    assert client_for(personas[role]).post(url, body, format="json").status_code == expected


def test_external_annotation_is_idempotent_and_validated(project, personas):
    item = make_item(project)
    principle = PrincipleFactory(project=project, name="honest")
    client = client_for(personas["curator"])
    url = f"/api/v1/projects/{project.slug}/items/{item.uuid}/annotations/"
    key = str(uuid.uuid4())
    body = {
        "annotator": {"name": "gpt-judge", "model_name": "gpt-x", "prompt": "Which is better?"},
        "choice": "B",
        "idempotency_key": key,
        "verdicts": {"honest": "B"},
        "probabilities": {"A": 0.2, "B": 0.8},
    }
    first = client.post(url, body, format="json")
    again = client.post(url, body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    annotation = Annotation.objects.get()
    assert annotation.annotator.type == Annotator.Type.MODEL
    assert annotation.verdicts.get().principle == principle
    bad = client.post(
        url,
        {
            **body,
            "choice": "C",
            "idempotency_key": str(uuid.uuid4()),
            "annotator": {"name": "other", "model_name": "m"},
        },
        format="json",
    )
    assert bad.status_code == 400
    assert "choice" in bad.json()["error"]["fields"]
    unknown = client.post(
        url, {**body, "verdicts": {"kind": "A"}, "annotator": {"name": "third", "model_name": "m"}}, format="json"
    )
    assert unknown.status_code == 400
    assert "verdicts" in unknown.json()["error"]["message"]
    assert Annotation.objects.count() == 1


def test_schema_and_docs_are_served(personas):
    client = APIClient()
    client.force_authenticate(personas["researcher"])
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/projects/{slug}/items/" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_schema_generates_without_warnings(tmp_path):
    """drf-spectacular can describe every operation (responses, 202, binary downloads) without guessing."""
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/datasets/{dataset_id}/files/{name}:" in text
    assert "'202':" in text and "format: binary" in text


def _upload(name: str, body: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, body, content_type="application/jsonl")


GOOD_LINES = (
    b'{"id": "q1", "kind": "pairwise", "prompt": "Explain DNS.", "responses": ["One.", "Two."]}\n'
    b'{"id": "q2", "kind": "thumb", "prompt": "Say hi.", "responses": ["Hi!"]}\n'
)


@pytest.mark.parametrize(
    ("role", "expected"), [("owner", 202), ("curator", 202), ("researcher", 404), ("outsider", 404)]
)
def test_bulk_import_permissions_and_report(project, personas, role, expected, no_heartbeat_thread):
    from curation.jobs.runner import run_job

    client = client_for(personas[role])
    response = client.post(
        f"/api/v1/projects/{project.slug}/import/", {"file": _upload("a.jsonl", GOOD_LINES)}, format="multipart"
    )
    assert response.status_code == expected
    if expected == 202:
        assert project.items.count() == 0  # queued, not imported by the request
        run_job(Job.objects.get(uuid=response.json()["id"]).pk)
        job = client.get(response["Location"]).json()
        assert job["status"] == "succeeded" and job["result"]["items_created"] == 2
        assert project.items.count() == 2


def test_bulk_import_errors_name_the_line_and_write_nothing(project, personas, no_heartbeat_thread):
    from curation.jobs.runner import run_job

    client = client_for(personas["curator"])
    bad = GOOD_LINES + b'{"id": "q3", "kind": "pairwise", "prompt": "x", "responses": ["only one"]}\n'
    response = client.post(
        f"/api/v1/projects/{project.slug}/import/", {"file": _upload("b.jsonl", bad)}, format="multipart"
    )
    assert response.status_code == 202
    run_job(Job.objects.get(uuid=response.json()["id"]).pk)
    job = client.get(response["Location"]).json()
    assert job["status"] == "failed"
    assert [(e["line"], e["field"]) for e in job["result"]["rejected"]] == [(3, "responses")]
    assert job["error"].startswith("Nothing was imported")
    assert project.items.count() == 0
    empty = client.post(
        f"/api/v1/projects/{project.slug}/import/", {"file": _upload("c.jsonl", b"")}, format="multipart"
    )
    assert empty.status_code == 400
    assert "None" not in str(empty.json()["error"])
    missing = client.post(f"/api/v1/projects/{project.slug}/import/", {}, format="multipart")
    assert list(missing.json()["error"]["fields"]) == ["file"]


def test_new_endpoints_are_throttled_with_the_error_shape(full_project, personas, monkeypatch):
    from rest_framework.throttling import UserRateThrottle

    monkeypatch.setattr(UserRateThrottle, "rate", "3/minute", raising=False)
    client = client_for(personas["researcher"])
    urls = ["jobs/{job}/", "datasets/{dataset}/", "datasets/{dataset}/files/README.md"]
    codes = [client.get("/api/v1/" + url.format(**full_project)).status_code for url in urls]
    assert codes == [200, 200, 200]
    response = client.get(f"/api/v1/projects/{full_project['slug']}/audit/")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_items_and_annotations_filter_by_time(project, personas):
    old, new = make_item(project), make_item(project)
    cutoff = timezone.now() - timedelta(hours=1)
    type(old).objects.filter(pk=old.pk).update(created_at=cutoff - timedelta(days=1))
    judge = Annotator.objects.create(type=Annotator.Type.MODEL, name="j", model_name="m")
    early = Annotation.objects.create(item=old, annotator=judge, kind="pairwise", choice="A")
    Annotation.objects.filter(pk=early.pk).update(created_at=cutoff - timedelta(days=1))
    late = Annotation.objects.create(item=new, annotator=judge, kind="pairwise", choice="B")
    client = client_for(personas["researcher"])
    since = cutoff.isoformat().replace("+00:00", "Z")
    items = client.get(f"/api/v1/projects/{project.slug}/items/", {"since": since}).json()
    assert [r["id"] for r in items["results"]] == [str(new.uuid)]
    annotations = client.get(f"/api/v1/projects/{project.slug}/annotations/", {"since": since}).json()
    assert [r["id"] for r in annotations["results"]] == [str(late.uuid)]
    assert client.get(f"/api/v1/projects/{project.slug}/annotations/").json()["count"] == 2
    bad = client.get(f"/api/v1/projects/{project.slug}/items/", {"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.json()["error"]["fields"]


def test_browser_session_works_and_needs_csrf_to_write(project, personas):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(personas["researcher"])
    assert client.get(f"/api/v1/projects/{project.slug}/datasets/").status_code == 200
    url = f"/api/v1/projects/{project.slug}/exports/"
    refused = client.post(url, {"format": "dpo"}, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    token = "a" * 32  # what a page's csrftoken cookie carries, sent back as the header
    client.cookies["csrftoken"] = token
    assert client.post(url, {"format": "dpo"}, format="json", HTTP_X_CSRFTOKEN=token).status_code == 202


@pytest.mark.parametrize(
    "url", ["/api/v1/nope/", "/api/v1/datasets/not-a-uuid/", "/api/v1/jobs/123/", "/api/v2/projects/"]
)
def test_unknown_api_paths_are_404_in_the_error_shape(url, personas):
    for client in (APIClient(), client_for(personas["researcher"])):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert APIClient().post(url, {}, format="json").status_code == 404


def test_a_missing_slash_is_named_in_the_404(project, personas):
    response = client_for(personas["researcher"]).get(f"/api/v1/projects/{project.slug}/items")
    assert response.status_code == 404
    assert f"/api/v1/projects/{project.slug}/items/" in response.json()["error"]["message"]


def test_the_api_root_links_where_to_go(personas):
    assert APIClient().get("/api/v1/").status_code in {401, 403}
    links = client_for(personas["researcher"]).get("/api/v1/").json()
    assert set(links) == {"projects", "me", "schema", "docs"}
    for url in links.values():
        assert client_for(personas["researcher"]).get(url).status_code == 200, url


def test_the_browsable_api_links_no_path_only_the_catch_all_answers(project, personas):
    """Every /api/ path resolves (UnknownApi 404s the rest), so DRF's breadcrumbs would link /api/v1 and
    /api/v1/projects (no slash), which are 404s; only real endpoints are linked."""
    client = APIClient()
    client.force_login(personas["researcher"])
    page = client.get(f"/api/v1/projects/{project.slug}/items/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    crumbs = [url for _name, url in page.context["breadcrumblist"]]
    assert crumbs == ["/api/v1/", "/api/v1/projects/", f"/api/v1/projects/{project.slug}/",
                      f"/api/v1/projects/{project.slug}/items/"]  # fmt: skip
