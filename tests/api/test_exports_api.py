"""Exports, jobs and datasets through the API: queue an export (202 + job
URL), poll the job, list and describe datasets, download their files
(streamed, ETag = sha256, safe names only) and load them with ``datasets``."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import datasets
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from annotate.models import Annotation, Annotator
from curation.jobs.runner import run_job
from curation.models import Dataset, Job
from tests.api.builders import make_dataset
from tests.factories import AnnotatorFactory, ProjectFactory, make_item

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

JSONL = "data/train-00000-of-00001.jsonl"
PARQUET = "data/train-00000-of-00001.parquet"


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.DOCKET_EXPORT_DIR = tmp_path / "exports"
    return settings.DOCKET_EXPORT_DIR


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def load_jsonl(content: bytes, tmp_path: Path):
    path = tmp_path / "download" / "train.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return datasets.load_dataset("json", data_files={"train": str(path)}, cache_dir=str(tmp_path / "hf-cache"))


def voted_items(project, n: int = 3):
    """``n`` pairwise items, each preferred 'A' by two people (so every one is a DPO row)."""
    people = [AnnotatorFactory(type=Annotator.Type.HUMAN) for _ in range(2)]
    items = []
    for _ in range(n):
        item = make_item(project, kind="pairwise")
        for person in people:
            Annotation.objects.create(item=item, annotator=person, kind="pairwise", choice="A")
        items.append(item)
    return items


# ----------------------------------------------------------------- datasets


@pytest.mark.django_db
def test_dataset_list_and_detail(project, personas, export_dir):
    dataset = make_dataset(project)
    make_dataset(ProjectFactory())  # another project's: never listed
    client = client_for(personas["researcher"])
    listed = client.get(f"/api/v1/projects/{project.slug}/datasets/").json()
    assert listed["count"] == 1
    body = client.get(f"/api/v1/datasets/{dataset.uuid}/").json()
    assert body == listed["results"][0]
    assert (body["id"], body["format"], body["row_count"], body["project"]) == (
        str(dataset.uuid),
        "dpo",
        2,
        project.slug,
    )
    assert body["manifest"]["rows_total"] == 2
    by_name = {f["name"]: f for f in body["files"]}
    assert set(by_name) == {JSONL, PARQUET}
    on_disk = export_dir / str(dataset.uuid) / JSONL
    assert by_name[JSONL]["sha256"] == hashlib.sha256(on_disk.read_bytes()).hexdigest()
    assert by_name[JSONL]["bytes"] == on_disk.stat().st_size
    assert by_name[JSONL]["url"] == f"http://testserver/api/v1/datasets/{dataset.uuid}/files/{JSONL}"
    assert body["card"].endswith("/files/README.md") and body["manifest_url"].endswith("/files/manifest.json")
    assert client.get(f"/api/v1/projects/{project.slug}/datasets/?format=kto").json()["count"] == 0
    assert client.get(f"/api/v1/projects/{project.slug}/datasets/?format=dpo").json()["count"] == 1


@pytest.mark.django_db
def test_download_streams_with_type_length_and_etag(project, personas, export_dir, tmp_path):
    dataset = make_dataset(project)
    client = client_for(personas["researcher"])
    files = {f["name"]: f for f in client.get(f"/api/v1/datasets/{dataset.uuid}/").json()["files"]}

    response = client.get(files[JSONL]["url"])
    assert response.status_code == 200 and response.streaming
    content = body_of(response)
    assert response["Content-Type"] == "application/jsonl"
    assert int(response["Content-Length"]) == len(content) == files[JSONL]["bytes"]
    assert response["ETag"] == f'"{files[JSONL]["sha256"]}"' == f'"{hashlib.sha256(content).hexdigest()}"'
    assert 'filename="train-00000-of-00001.jsonl"' in response["Content-Disposition"]
    loaded = load_jsonl(content, tmp_path)
    assert len(loaded["train"]) == 2
    assert set(loaded["train"].column_names) >= {"prompt", "chosen", "rejected"}

    parquet = client.get(files[PARQUET]["url"], HTTP_ACCEPT="application/vnd.apache.parquet")
    assert parquet["Content-Type"] == "application/vnd.apache.parquet"
    assert body_of(parquet)[:4] == b"PAR1"
    card = client.get(f"/api/v1/datasets/{dataset.uuid}/files/README.md")
    assert card["Content-Type"] == "text/markdown; charset=utf-8"
    assert body_of(card).startswith(b"---")
    manifest = client.get(f"/api/v1/datasets/{dataset.uuid}/files/manifest.json")
    assert manifest["Content-Type"] == "application/json"
    raw = body_of(manifest)
    assert json.loads(raw) == dataset.manifest
    assert manifest["ETag"] == f'"{hashlib.sha256(raw).hexdigest()}"'

    again = client.get(files[JSONL]["url"], HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304 and again["ETag"] == response["ETag"]
    assert client.get(files[JSONL]["url"], HTTP_IF_NONE_MATCH='"other"').status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [
        "data/train-00000-of-00001.csv",
        "../manifest.json",
        "data/../manifest.json",
        "data/../../secret.txt",
        "%2e%2e/%2e%2e/secret.txt",
        "/etc/passwd",
        "data",
        "data/",
        "manifest.json/",
        "README.md%00.jsonl",
    ],
)
def test_download_refuses_unknown_names_and_path_tricks(project, personas, export_dir, name):
    dataset = make_dataset(project)
    (export_dir / "secret.txt").write_text("not yours")
    response = client_for(personas["researcher"]).get(f"/api/v1/datasets/{dataset.uuid}/files/{name}")
    assert response.status_code == 404, name
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_download_of_a_missing_file_or_another_projects_dataset_is_404(project, personas, export_dir):
    dataset = make_dataset(project)
    other = make_dataset(ProjectFactory())
    client = client_for(personas["researcher"])
    assert client.get(f"/api/v1/datasets/{other.uuid}/files/{JSONL}").status_code == 404
    assert client.get(f"/api/v1/datasets/{other.uuid}/").status_code == 404
    (export_dir / str(dataset.uuid) / JSONL).unlink()
    assert client.get(f"/api/v1/datasets/{dataset.uuid}/files/{JSONL}").status_code == 404


# ----------------------------------------------------------------- exports and jobs


@pytest.mark.django_db
def test_export_is_queued_polled_and_downloaded(project, personas, export_dir, tmp_path):
    voted_items(project, 3)
    client = client_for(personas["researcher"])
    response = client.post(
        f"/api/v1/projects/{project.slug}/exports/",
        {"format": "dpo", "options": {"name": "first cut", "min_judgments": 2}},
        format="json",
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get()
    job_url = f"http://testserver/api/v1/jobs/{job.uuid}/"
    assert response["Location"] == job_url
    assert response.json() == {"id": str(job.uuid), "job": job_url, "status": "queued"}
    assert job.kind == "export" and job.created_by == personas["researcher"]

    queued = client.get(job_url).json()
    assert (queued["status"], queued["dataset"], queued["progress"]["percent"]) == ("queued", None, 0)

    run_job(job.id)
    done = client.get(job_url).json()
    assert done["status"] == "succeeded", done
    assert done["progress"] == {"done": 3, "total": 3, "percent": 100}
    dataset = Dataset.objects.get(job=job)
    assert done["result"]["dataset"] == str(dataset.uuid)
    assert done["dataset"]["url"] == f"http://testserver/api/v1/datasets/{dataset.uuid}/"
    detail = client.get(done["dataset"]["url"]).json()
    assert (detail["name"], detail["row_count"], detail["job"]) == ("first cut", 3, job_url)
    assert detail["filters"]["min_judgments"] == 2

    download = client.get(done["dataset"]["files"][JSONL])
    assert download.status_code == 200
    loaded = load_jsonl(body_of(download), tmp_path)
    assert len(loaded["train"]) == 3


@pytest.mark.django_db
def test_voters_through_the_api_and_an_empty_export_says_why(project, personas, export_dir):
    """docs/algorithms.md#who-votes: imported labels vote by default; a filter that leaves nothing says so."""
    source = Annotator.objects.create(type=Annotator.Type.IMPORTED, name="hh-rlhf")
    for _ in range(2):
        Annotation.objects.create(
            item=make_item(project, kind="pairwise"), annotator=source, kind="pairwise", choice="A"
        )
    client = client_for(personas["researcher"])
    url = f"/api/v1/projects/{project.slug}/exports/"
    results = {}
    for name, options in (("default", {}), ("people", {"voters": ["human"]})):
        response = client.post(url, {"format": "dpo", "options": options}, format="json")
        assert response.status_code == 202, response.content
        job = run_job(Job.objects.get(uuid=response.json()["id"]).id)
        results[name] = client.get(f"/api/v1/jobs/{job.uuid}/").json()
    assert results["default"]["result"]["rows"] == 2 and results["default"]["result"]["why_empty"] is None
    assert Dataset.objects.get(uuid=results["default"]["result"]["dataset"]).filters["voters"] == ["human", "imported"]
    empty = results["people"]["result"]
    assert empty["rows"] == 0 and "voters removed 2 judgments" in empty["why_empty"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "dpo", "options": {"min_agreement": "lots"}}, "min_agreement"),
        ({"format": "dpo", "options": {"test_fraction": 1.5}}, "test_fraction"),
        ({"format": "dpo", "colour": "red"}, "colour"),
        ({"format": "dpo", "options": {"kto_ties": "maybe"}}, "kto_ties"),
        ({"format": "dpo", "options": {"voters": ["human", "robots"]}}, "voters"),
        ({"format": "parquet"}, "format"),
        ({"options": {}}, "format"),
        ({"format": "dpo", "options": ["not", "an", "object"]}, "options"),
    ],
)
def test_bad_export_options_are_a_400_naming_the_field(project, personas, export_dir, body, field):
    response = client_for(personas["curator"]).post(f"/api/v1/projects/{project.slug}/exports/", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert field in error["message"]
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_failed_job_reports_its_error(project, personas):
    job = Job.objects.create(
        project=project,
        kind="export",
        status="failed",
        message="Failed",
        error='Traceback (most recent call last):\n  File "x.py", line 1\nValueError: no space left on device\n',
    )
    body = client_for(personas["researcher"]).get(f"/api/v1/jobs/{job.uuid}/").json()
    assert (body["status"], body["error"], body["dataset"]) == ("failed", "ValueError: no space left on device", None)
    assert "Traceback" not in json.dumps(body)


@pytest.mark.django_db
def test_researchers_follow_export_and_audit_jobs_only(project, personas):
    jobs = {kind: Job.objects.create(project=project, kind=kind) for kind in ("export", "audit", "generate", "judge")}
    researcher, curator = client_for(personas["researcher"]), client_for(personas["curator"])
    for kind, job in jobs.items():
        expected = 200 if kind in ("export", "audit") else 404
        assert researcher.get(f"/api/v1/jobs/{job.uuid}/").status_code == expected, kind
        assert curator.get(f"/api/v1/jobs/{job.uuid}/").status_code == 200, kind


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_export_through_a_real_worker(export_dir, live_worker, project, personas, tmp_path):
    voted_items(project, 2)
    client = client_for(personas["researcher"])
    response = client.post(f"/api/v1/projects/{project.slug}/exports/", {"format": "dpo"}, format="json")
    assert response.status_code == 202
    job_url = response["Location"]

    def finished():
        body = client.get(job_url).json()
        return body if body["status"] in ("succeeded", "failed", "cancelled") else None

    done = live_worker.wait_for(finished, timeout=120, what="export job to end")
    assert done["status"] == "succeeded", done
    download = client.get(done["dataset"]["files"][JSONL])
    assert download.status_code == 200
    content = body_of(download)
    assert hashlib.sha256(content).hexdigest() == download["ETag"].strip('"')
    assert len(load_jsonl(content, tmp_path)["train"]) == 2


@pytest.mark.django_db
def test_cancel_a_job(project, personas):
    researcher, curator = personas["researcher"], personas["curator"]
    mine = Job.objects.create(project=project, kind="export", created_by=researcher)
    theirs = Job.objects.create(project=project, kind="export", created_by=curator)
    running = Job.objects.create(project=project, kind="export", created_by=researcher, status="running")
    as_researcher = client_for(researcher)

    body = as_researcher.post(f"/api/v1/jobs/{mine.uuid}/cancel/").json()
    assert (body["status"], body["id"]) == ("cancelled", str(mine.uuid))
    refused = as_researcher.post(f"/api/v1/jobs/{theirs.uuid}/cancel/")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    theirs.refresh_from_db()
    assert theirs.status == "queued" and not theirs.cancel_requested
    assert client_for(curator).post(f"/api/v1/jobs/{theirs.uuid}/cancel/").json()["status"] == "cancelled"

    Job.objects.filter(pk=running.pk).update(heartbeat_at=timezone.now(), worker="elsewhere:1:1")
    body = as_researcher.post(f"/api/v1/jobs/{running.uuid}/cancel/").json()
    assert body["status"] == "running" and body["message"] == "Cancelling after the current batch"
    running.refresh_from_db()
    assert running.cancel_requested
