"""An import job on a real Celery worker: the upload page returns at once,
the worker imports in skip-invalid mode with its progress on the job, and
the rejected lines are listed and downloadable."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotate.models import Item
from curation.models import Job
from tests.imports.test_import_job import BAD_LINE, jsonl


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_imports_an_upload_skipping_invalid_lines(client, project, personas, live_worker):
    rows = [{"kind": "thumb", "prompt": f"Question {i}?", "responses": [f"Answer {i}"]} for i in range(300)]
    rows.insert(100, BAD_LINE)
    client.force_login(personas["curator"])
    response = client.post(
        reverse("curation:import", args=[project.slug]),
        {"file": SimpleUploadedFile("big.jsonl", jsonl(*rows)), "skip_invalid": "on"},
    )
    assert response.status_code == 302
    job = Job.objects.get(kind="import")

    def ended():
        job.refresh_from_db()
        return job.ended

    live_worker.wait_for(ended, timeout=120, what="the import job to end")
    assert job.status == "succeeded", job.error
    assert (job.progress_done, job.progress_total) == (300, 300) and job.percent == 100
    assert job.result["items_created"] == 300 and job.result["lines_rejected"] == 1
    assert job.result["rejected"][0]["line"] == 101 and job.result["rejected"][0]["field"] == "responses"
    assert Item.objects.filter(project=project).count() == 300
    assert "importing big.jsonl" in job.log_tail and "1 invalid line skipped" in job.log_tail
    page = client.get(response["Location"]).content.decode()
    assert "1 invalid line skipped" in page and 'id="import-rejected-download"' in page
    download = client.get(reverse("jobs:import_rejected", args=[project.slug, job.uuid]))
    [rejected] = [json.loads(line) for line in b"".join(download.streaming_content).splitlines()]
    assert (rejected["line"], rejected["text"]) == (101, BAD_LINE)
