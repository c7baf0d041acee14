"""Import as a job (curation/imports): the launcher, the runner (progress,
all or nothing, skip-invalid, cancel), the upload page, the job page's
report and rejected lines, their download, the API and the command."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.models import Annotation, Item, Prompt
from annotate.services import importing
from curation.imports import runner
from curation.imports.files import UPLOAD_NAME, import_folder, rejected_path
from curation.imports.services import import_create
from curation.jobs.runner import run_job
from curation.models import Job

pytestmark = pytest.mark.django_db

GOOD = [
    {"id": "q1", "kind": "pairwise", "prompt": "Capital of France?", "responses": ["Paris", "Lyon"]},
    {"id": "q2", "kind": "thumb", "prompt": "2+2?", "responses": ["4"]},
    {"prompt": "Say hi", "chosen": "Hi!", "rejected": "No."},
]
BAD_LINE = '{"id": "q3", "kind": "pairwise", "prompt": "Hmm", "responses": "not a list"}'


def jsonl(*rows) -> bytes:
    return ("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n").encode()


GOOD_FILE = jsonl(*GOOD)
# lines 1, 2, 4 valid; 3 and 5 not
MIXED_FILE = jsonl(GOOD[0], GOOD[1], BAD_LINE, GOOD[2], "{not json")


def queue(project, user, content: bytes, **params) -> Job:
    return import_create(
        project=project, user=user, params={"file": io.BytesIO(content), "file_name": "f.jsonl", **params}
    )


def run(job: Job, **kwargs) -> Job:
    ended = run_job(job.pk, **kwargs)
    assert ended is not None
    return ended


# ---------------------------------------------------------------- launcher


def test_create_stores_the_upload_and_queues_on_commit(project, personas, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = queue(project, personas["curator"], GOOD_FILE, skip_invalid="true", source_name=" tiny ")
    assert (job.kind, job.status, job.created_by) == ("import", "queued", personas["curator"])
    assert len(callbacks) == 1
    assert job.params["skip_invalid"] is True and job.params["source_name"] == "tiny"
    assert job.params["file_name"] == "f.jsonl" and job.params["bytes"] == len(GOOD_FILE)
    assert (import_folder(job.params["upload"]) / UPLOAD_NAME).read_bytes() == GOOD_FILE
    assert Item.objects.count() == 0  # nothing imported by the request itself


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "file"),
        ({"file": "/no/such/file.jsonl"}, "file"),
        ({"file": 7}, "file"),
        ({"file": io.BytesIO(b"{}"), "skip_invalid": "maybe"}, "skip_invalid"),
        ({"file": io.BytesIO(b"{}"), "source_name": "x" * 201}, "source_name"),
    ],
)
def test_bad_parameters_store_and_queue_nothing(project, personas, settings, params, field):
    with pytest.raises(ValidationError) as caught:
        import_create(project=project, user=personas["curator"], params=params)
    assert field in caught.value.message_dict
    assert not Job.objects.exists()
    assert not settings.DOCKET_IMPORT_DIR.exists() or not any(settings.DOCKET_IMPORT_DIR.iterdir())


# ---------------------------------------------------------------- runner


def test_good_file_imports_with_progress_and_report(project, personas, no_heartbeat_thread):
    job = queue(project, personas["curator"], GOOD_FILE, source_name="tiny")
    seen = []
    ended = run(job, on_progress=lambda j: seen.append((j.message, j.progress_done, j.progress_total)))
    assert ended.status == "succeeded", ended.error
    r = ended.result
    assert (r["lines"], r["items_created"], r["annotations_created"], r["lines_rejected"]) == (3, 3, 1, 0)
    assert r["rejected"] == [] and "3 items created" in r["summary"]
    assert any(m.startswith("Reading") for m, _, _ in seen) and any(m.startswith("Writing") for m, _, _ in seen)
    assert ("Writing: 3 of 3 items", 3, 3) in seen
    assert (ended.progress_done, ended.progress_total) == (3, 3)
    assert Item.objects.filter(project=project).count() == 3
    assert Prompt.objects.filter(project=project).first().metadata["import"] == {
        "source": "tiny",
        "by": personas["curator"].username,
    }
    folder = import_folder(job.params["upload"])
    assert not (folder / UPLOAD_NAME).exists()  # the upload is removed once imported
    assert rejected_path(ended) is None


def test_all_or_nothing_fails_with_every_bad_line_and_writes_nothing(project, personas, no_heartbeat_thread):
    job = queue(project, personas["owner"], MIXED_FILE)
    ended = run(job)
    assert ended.status == "failed"
    assert [(e["line"], e["field"]) for e in ended.result["rejected"]] == [(3, "responses"), (5, "")]
    assert ended.result["lines_rejected"] == 2
    assert ended.result["summary"].startswith("Nothing was imported: 2 invalid line(s).")
    assert "line 3: field 'responses'" in ended.error and "Traceback" not in ended.error
    assert ended.message.startswith("Nothing was imported")
    assert (Item.objects.count(), Prompt.objects.count(), Annotation.objects.count()) == (0, 0, 0)
    rows = [json.loads(line) for line in rejected_path(ended).read_text().splitlines()]
    assert [(r["line"], r["field"], r["text"]) for r in rows] == [(3, "responses", BAD_LINE), (5, "", "{not json")]
    assert "expected a list" in rows[0]["error"] and "invalid JSON" in rows[1]["error"]


def test_skip_invalid_imports_the_valid_lines_and_lists_the_rest(project, personas, no_heartbeat_thread):
    job = queue(project, personas["owner"], MIXED_FILE, skip_invalid=True)
    ended = run(job)
    assert ended.status == "succeeded", ended.error
    r = ended.result
    assert (r["lines"], r["items_created"], r["lines_rejected"]) == (5, 3, 2)
    assert [e["line"] for e in r["rejected"]] == [3, 5]
    assert "2 invalid lines skipped" in r["summary"]
    assert Item.objects.filter(project=project).count() == 3
    assert len(rejected_path(ended).read_text().splitlines()) == 2


def test_skip_invalid_still_fails_a_file_without_a_valid_line(project, personas, no_heartbeat_thread):
    ended = run(queue(project, personas["owner"], jsonl(BAD_LINE, "[]"), skip_invalid=True))
    assert ended.status == "failed"
    assert "no valid line: all 2 lines were rejected" in ended.result["summary"]
    assert ended.result["lines_rejected"] == 2
    gz = run(queue(project, personas["owner"], b"\x1f\x8b\x08\x00zz", skip_invalid=True))
    assert gz.status == "failed" and "gzip-compressed" in gz.result["summary"]
    assert Item.objects.count() == 0


def test_cancel_during_the_write_rolls_everything_back(project, personas, no_heartbeat_thread, monkeypatch):
    monkeypatch.setattr(importing, "BATCH_SIZE", 1)  # five items per batch: progress between batches
    monkeypatch.setattr(runner, "WRITE_EVERY_SECONDS", 0)  # every batch's progress written (and a cancel read)
    rows = [{"kind": "thumb", "prompt": f"Question {i}?", "responses": [f"Answer {i}"]} for i in range(20)]
    job = queue(project, personas["owner"], jsonl(*rows))

    def cancel_once_writing(current: Job) -> None:
        if current.message.startswith("Writing") and current.progress_done >= 5:
            Job.objects.filter(pk=current.pk).update(cancel_requested=True)

    ended = run(job, on_progress=cancel_once_writing)
    assert ended.status == "cancelled"
    assert (Item.objects.count(), Prompt.objects.count()) == (0, 0)  # one transaction: nothing stays
    assert not (import_folder(job.params["upload"]) / UPLOAD_NAME).exists()


def test_a_queued_import_is_cancelled_at_once(project, personas):
    from curation.jobs.lifecycle import job_cancel

    job = job_cancel(job=queue(project, personas["owner"], GOOD_FILE))
    assert job.status == "cancelled"
    assert run_job(job.pk) is None and Item.objects.count() == 0


# ---------------------------------------------------------------- pages


def upload(client, project, content: bytes, **data):
    return client.post(
        reverse("curation:import", args=[project.slug]),
        {"file": SimpleUploadedFile("items.jsonl", content, content_type="application/jsonl"), **data},
    )


def test_upload_page_queues_a_job_and_the_job_page_shows_the_rejected_lines(
    client, project, personas, no_heartbeat_thread
):
    client.force_login(personas["curator"])
    page = client.get(reverse("curation:import", args=[project.slug]))
    assert page.status_code == 200 and 'name="skip_invalid"' in page.content.decode()
    response = upload(client, project, MIXED_FILE, source_name="tiny", skip_invalid="on")
    job = Job.objects.get(kind="import")
    assert response.status_code == 302
    assert response["Location"] == reverse("jobs:detail", args=[project.slug, job.uuid])
    assert job.params["skip_invalid"] is True and Item.objects.count() == 0
    run(job)
    html = client.get(response["Location"]).content.decode()
    summary = re.search(r'<p id="import-summary">(.*?)</p>', html, re.S).group(1)
    assert "3 items created" in summary and "2 invalid lines skipped" in summary
    rejected = re.search(r'<section id="import-rejected".*?</section>', html, re.S).group(0)
    assert '<td class="num">3</td><td>responses</td>' in rejected and '<td class="num">5</td>' in rejected
    download = client.get(reverse("jobs:import_rejected", args=[project.slug, job.uuid]))
    assert download.status_code == 200 and download["Content-Type"].startswith("application/jsonl")
    assert "attachment" in download["Content-Disposition"]
    lines = [json.loads(line) for line in b"".join(download.streaming_content).decode().splitlines()]
    assert [line["line"] for line in lines] == [3, 5]
    # The import page lists the job.
    listed = client.get(reverse("curation:import", args=[project.slug])).content.decode()
    assert str(job.uuid) in listed and "(skip invalid)" in listed


def test_upload_page_refuses_a_missing_file_with_a_form_error(client, project, personas):
    client.force_login(personas["owner"])
    response = client.post(reverse("curation:import", args=[project.slug]), {"source_name": "x"})
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    assert not Job.objects.exists()


def test_a_failed_import_shows_its_lines_on_the_job_page(client, project, personas, no_heartbeat_thread):
    client.force_login(personas["owner"])
    upload(client, project, MIXED_FILE)
    job = run(Job.objects.get(kind="import"))
    html = client.get(reverse("jobs:detail", args=[project.slug, job.uuid])).content.decode()
    section = re.search(r'<section id="import-rejected".*?</section>', html, re.S).group(0)
    assert "Nothing was imported" in section and "expected a list" in section
    assert 'id="import-rejected-download"' in section


@pytest.mark.parametrize("role", ["annotator", "researcher", "outsider"])
def test_rejected_lines_are_hidden_from_non_curators(client, project, personas, role, no_heartbeat_thread):
    job = run(queue(project, personas["owner"], MIXED_FILE))
    client.force_login(personas[role])
    assert client.get(reverse("jobs:import_rejected", args=[project.slug, job.uuid])).status_code == 404
    assert client.get(reverse("jobs:detail", args=[project.slug, job.uuid])).status_code == 404


def test_download_is_404_when_nothing_was_rejected(client, project, personas, no_heartbeat_thread):
    job = run(queue(project, personas["owner"], GOOD_FILE))
    client.force_login(personas["owner"])
    assert client.get(reverse("jobs:import_rejected", args=[project.slug, job.uuid])).status_code == 404


# ---------------------------------------------------------------- API


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_queues_an_import_job_with_the_skip_invalid_flag(project, personas, no_heartbeat_thread):
    client = api_client(personas["curator"])
    url = f"/api/v1/projects/{project.slug}/import/"
    body = {"file": SimpleUploadedFile("m.jsonl", MIXED_FILE), "skip_invalid": "true", "source_name": "api"}
    response = client.post(url, body, format="multipart")
    assert response.status_code == 202, response.content
    job = Job.objects.get(uuid=response.json()["id"])
    assert response["Location"].endswith(f"/api/v1/jobs/{job.uuid}/") and response.json()["status"] == "queued"
    assert job.params["skip_invalid"] is True and Item.objects.count() == 0
    run(job)
    polled = client.get(f"/api/v1/jobs/{job.uuid}/").json()
    assert polled["status"] == "succeeded" and polled["result"]["lines_rejected"] == 2
    assert [e["line"] for e in polled["result"]["rejected"]] == [3, 5]
    download = client.get(f"/api/v1/jobs/{job.uuid}/rejected/", HTTP_ACCEPT="application/json")
    assert download.status_code == 200
    assert [json.loads(x)["line"] for x in b"".join(download.streaming_content).splitlines()] == [3, 5]


def test_api_bad_input_names_the_field(project, personas):
    client = api_client(personas["owner"])
    url = f"/api/v1/projects/{project.slug}/import/"
    bad_flag = client.post(url, {"file": SimpleUploadedFile("a.jsonl", GOOD_FILE), "skip_invalid": "maybe"})
    assert bad_flag.status_code == 400 and "skip_invalid" in bad_flag.json()["error"]["fields"]
    missing = client.post(url, {}, format="multipart")
    assert missing.status_code == 400 and "file" in missing.json()["error"]["fields"]
    assert not Job.objects.exists()


@pytest.mark.parametrize(("role", "expected"), [("annotator", 404), ("researcher", 404), ("outsider", 404)])
def test_api_import_and_rejected_lines_denied(project, personas, role, expected, no_heartbeat_thread):
    job = run(queue(project, personas["owner"], MIXED_FILE))
    client = api_client(personas[role])
    response = client.post(
        f"/api/v1/projects/{project.slug}/import/", {"file": SimpleUploadedFile("a.jsonl", GOOD_FILE)}
    )
    assert response.status_code in (expected, 403)
    assert client.get(f"/api/v1/jobs/{job.uuid}/rejected/").status_code == 404
    assert Job.objects.count() == 1


# ---------------------------------------------------------------- command


def test_command_skip_invalid_reports_the_rejected_lines(project, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(MIXED_FILE)
    out, err = io.StringIO(), io.StringIO()
    call_command("import_items", project.slug, str(path), "--skip-invalid", "--quiet", stdout=out, stderr=err)
    assert "3 items created" in out.getvalue() and "2 invalid lines skipped" in out.getvalue()
    assert "line 3: field 'responses'" in err.getvalue() and "rejected lines (JSONL):" in err.getvalue()
    assert Item.objects.count() == 3
    job = Job.objects.get(kind="import")
    assert job.params["source_name"] == "mixed" and job.status == "succeeded"


def test_command_all_or_nothing_exits_naming_the_line(project, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(MIXED_FILE)
    with pytest.raises(CommandError) as caught:
        call_command("import_items", project.slug, str(path), "--quiet")
    assert "line 3: field 'responses'" in str(caught.value) and "Nothing was imported" in str(caught.value)
    assert Item.objects.count() == 0


def test_command_exits_naming_the_flag_and_queues_nothing(project, tmp_path):
    path = tmp_path / "good.jsonl"
    path.write_bytes(GOOD_FILE)
    with pytest.raises(CommandError) as caught:
        call_command("import_items", project.slug, str(path), "--source-name", "x" * 201, "--quiet")
    assert str(caught.value).startswith("--source-name: ")
    assert not Job.objects.exists() and Item.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_write_progress_is_seen_while_the_import_transaction_is_open(project, personas, monkeypatch):
    """The runner's progress goes through its own connection: another
    connection sees "Writing: n of m" while not one item is committed yet."""
    import threading

    monkeypatch.setattr(importing, "BATCH_SIZE", 1)
    monkeypatch.setattr(runner, "WRITE_EVERY_SECONDS", 0)
    rows = [{"kind": "thumb", "prompt": f"Question {i}?", "responses": [f"Answer {i}"]} for i in range(20)]
    job = queue(project, personas["owner"], jsonl(*rows))
    paused, resume = threading.Event(), threading.Event()

    def hold_mid_write(current: Job) -> None:
        if current.message.startswith("Writing") and 0 < current.progress_done < 20 and not paused.is_set():
            paused.set()
            resume.wait(30)

    def run_here() -> None:
        from django.db import connection

        try:
            run_job(job.pk, on_progress=hold_mid_write)
        finally:
            connection.close()

    worker = threading.Thread(target=run_here)
    worker.start()
    try:
        assert paused.wait(60), "the import never reported writing"
        seen = Job.objects.get(pk=job.pk)
        assert seen.message.startswith("Writing: 5 of 20") and seen.progress_total == 20
        assert Item.objects.filter(project=project).count() == 0  # the import's transaction is still open
    finally:
        resume.set()
        worker.join(60)
    job.refresh_from_db()
    assert job.status == "succeeded" and Item.objects.filter(project=project).count() == 20
