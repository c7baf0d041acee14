"""Synthesis pages: access, launch form validation, the review page and its progress partial."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from curation.jobs import lifecycle as jobs
from curation.jobs import services as job_services
from curation.jobs.lifecycle import job_start
from curation.jobs.services import job_create
from curation.models import Job, SynthesizedInstruction

pytestmark = pytest.mark.usefixtures("no_heartbeat_thread")


@pytest.fixture
def no_heartbeat_thread(settings):
    settings.DOCKET_JOB_HEARTBEAT_SECONDS = 0
    return settings


@pytest.fixture
def no_enqueue(monkeypatch):
    sent = []
    monkeypatch.setattr(job_services, "job_enqueue", lambda *, job: sent.append(job.pk))
    return sent


def launch_url(project):
    return reverse("synthesis:launch", args=[project.slug])


def review_url(job):
    return reverse("synthesis:review", args=[job.project.slug, job.uuid])


VALID = {
    "n": "8",
    "temperature": "1.0",
    "top_p": "1.0",
    "max_new_tokens": "48",
    "seed": "3",
    "languages": "en",
    "near_duplicate_distance": "0.2",
    "tags": "on",
    "responses": "0",
    "response_mode": "items",
}


def synthesis_job_with_rows(project):
    job = job_create(project=project, kind="synthesize", params={"n": 4, "near_duplicate_distance": 0.2}, enqueue=False)
    rows = [
        dict(index=0, text="How do I **bake** bread?", accepted=True, min_distance=1.2, tags={"category": "Planning"}),
        dict(index=1, text="Here are the steps:", accepted=False, reason="ends_with_colon"),
        dict(index=2, text="How can I bake bread?", accepted=False, reason="near_duplicate", min_distance=0.03),
        dict(index=3, text="<script>alert(1)</script> What is 2+2?", accepted=True, min_distance=0.9),
    ]
    SynthesizedInstruction.objects.bulk_create(SynthesizedInstruction(job=job, **row) for row in rows)
    return job


@pytest.mark.parametrize("who", ["owner", "curator"])
def test_curators_launch_a_job_and_land_on_its_review_page(client, project, personas, who, no_enqueue):
    client.force_login(personas[who])
    page = client.get(launch_url(project))
    assert page.status_code == 200
    assert 'name="system_prompts"' in page.content.decode()
    response = client.post(launch_url(project), {**VALID, "system_prompts": "3 | You are a math tutor.\nBe brief."})
    job = Job.objects.get(project=project, kind="synthesize")
    assert response.status_code == 302
    assert response["Location"] == review_url(job)
    assert job.params["n"] == 8 and job.params["seed"] == 3 and job.params["tags"] is True
    assert job.params["system_prompts"] == "3 | You are a math tutor.\nBe brief."
    assert no_enqueue == [job.pk]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n", "0", "greater than or equal to 1"),
        ("top_p", "0", "greater than or equal to 0.01"),
        ("languages", "english, 12", "ISO 639-1"),
        ("system_prompts", "-2 | You are a tutor.", "weights must be positive"),
        ("response_mode", "rlhf", "not one of the available choices"),
    ],
)
def test_launch_errors_name_the_field(client, project, personas, field, value, message, no_enqueue):
    client.force_login(personas["curator"])
    response = client.post(launch_url(project), {**VALID, field: value})
    assert response.status_code == 422
    html = response.content.decode()
    # Django renders the error list right before the field's own input.
    match = re.search(r'<ul class="errorlist"[^>]*id="id_' + field + r'_error">(.*?)</ul>', html, re.S)
    assert match, html[:2000]
    assert message in match.group(1)
    assert not Job.objects.exists()
    assert no_enqueue == []


def test_dpo_needs_two_responses(client, project, personas, no_enqueue):
    client.force_login(personas["curator"])
    response = client.post(launch_url(project), {**VALID, "responses": "1", "response_mode": "dpo"})
    assert response.status_code == 422
    assert "at least 2 responses" in response.content.decode()
    assert not Job.objects.exists()


@pytest.mark.parametrize("who", ["annotator", "researcher", "outsider"])
def test_others_get_404(client, project, personas, who, no_enqueue):
    job = synthesis_job_with_rows(project)
    client.force_login(personas[who])
    assert client.get(launch_url(project)).status_code == 404
    assert client.post(launch_url(project), VALID).status_code == 404
    assert client.get(review_url(job)).status_code == 404
    assert client.get(review_url(job), HTTP_HX_REQUEST="true").status_code == 404
    assert Job.objects.count() == 1
    assert no_enqueue == []


def test_anonymous_is_sent_to_login(client, project):
    response = client.get(launch_url(project))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_job_of_another_kind_or_project_is_404(client, project, personas):
    from tests.factories import ProjectFactory

    other_kind = job_create(project=project, kind="generate", enqueue=False)
    other_project = job_create(project=ProjectFactory(), kind="synthesize", enqueue=False)
    client.force_login(personas["curator"])
    assert client.get(reverse("synthesis:review", args=[project.slug, other_kind.uuid])).status_code == 404
    assert client.get(reverse("synthesis:review", args=[project.slug, other_project.uuid])).status_code == 404


def test_review_page_lists_counts_histograms_and_sanitises_text(client, project, personas):
    job = synthesis_job_with_rows(project)
    client.force_login(personas["curator"])
    response = client.get(review_url(job))
    assert response.status_code == 200
    html = response.content.decode()
    counts = dict(re.findall(r'data-reason="(\w+)"><td>(?:<a[^>]*>)?\w+(?:</a>)?</td><td>(\d+)</td>', html))
    assert counts["accepted"] == "2"
    assert counts["ends_with_colon"] == "1" and counts["near_duplicate"] == "1" and counts["duplicate"] == "0"
    accepted = html.split('id="accepted-list"')[1].split("</table>")[0]
    assert "<strong>bake</strong>" in accepted  # markdown rendered
    assert "<script>alert(1)" not in html
    assert "Planning" in accepted
    rejected = html.split('id="rejected-list"')[1].split("</table>")[0]
    assert 'data-reason="ends_with_colon"' in rejected and 'data-reason="near_duplicate"' in rejected
    # histograms: lengths and distances (3 embedded rows; the threshold marker drawn)
    assert html.count('class="plot hist"') == 3
    distances = html.split('id="plot-distances"')[1].split("</figure>")[0]
    assert sum(int(c) for c in re.findall(r'data-count="(\d+)"', distances)) == 3
    assert "near-duplicate threshold" in distances
    # filter by reason
    only = client.get(review_url(job) + "?reason=near_duplicate").content.decode()
    rejected = only.split('id="rejected-list"')[1].split("</table>")[0]
    assert 'data-reason="near_duplicate"' in rejected and "ends_with_colon" not in rejected


def test_progress_partial_polls_until_the_job_ends(client, project, personas):
    job = synthesis_job_with_rows(project)
    job, token = job_start(job_id=job.pk)
    jobs.job_progress(job=job, token=token, total=4, done=2, message="2 accepted of 4 sampled")
    client.force_login(personas["curator"])
    page = client.get(review_url(job)).content.decode()
    assert 'hx-trigger="every 1s"' in page
    running = client.get(review_url(job), HTTP_HX_REQUEST="true")
    assert running.status_code == 200
    html = running.content.decode()
    assert "<html" not in html
    assert 'aria-valuenow="2"' in html and "2 accepted of 4 sampled" in html
    assert 'id="filter-counts"' in html
    jobs.job_finish(job=job, token=token, result={"accepted": 2})
    ended = client.get(review_url(job), HTTP_HX_REQUEST="true")
    assert ended.status_code == 286
    assert 'data-status="succeeded"' in ended.content.decode()
    assert "hx-trigger" not in client.get(review_url(job)).content.decode()


def test_jobs_list_links_to_the_synthesize_page(client, project, personas):
    client.force_login(personas["curator"])
    html = client.get(reverse("jobs:list", args=[project.slug])).content.decode()
    assert f'href="{launch_url(project)}"' in html
