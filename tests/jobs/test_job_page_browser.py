"""The job page in a real browser: the progress bar follows the job without a
reload, and polling stops once the job has ended."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from annotate.models import Role
from curation.jobs.lifecycle import job_finish, job_progress, job_start
from curation.jobs.services import job_create
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

POLL_TIMEOUT_MS = 15_000


@pytest.fixture
def curator(transactional_db, settings):
    settings.DOCKET_JOB_HEARTBEAT_SECONDS = 0
    project = ProjectFactory(slug="jobs-browser", name="Jobs in a browser")
    user = UserFactory(username="curator-jobs-browser")
    MembershipFactory(project=project, user=user, role=Role.CURATOR)
    return project, user


def log_in(page: Page, live_server, user) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_progress_bar_updates_live_and_polling_stops(page: Page, live_server, curator):
    project, user = curator
    job = job_create(project=project, kind="audit", enqueue=False)
    job, token = job_start(job_id=job.pk)
    job_progress(job=job, token=token, total=10, done=1, message="batch 1 of 10")

    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    polls: list[float] = []
    detail = f"/p/{project.slug}/curate/jobs/{job.uuid}/"
    page.on(
        "request",
        lambda r: polls.append(time.monotonic()) if r.url.endswith(detail) and r.headers.get("hx-request") else None,
    )

    log_in(page, live_server, user)
    page.goto(f"{live_server.url}{detail}")
    bar = page.locator("#job-progress [role=progressbar]")
    expect(bar).to_have_attribute("aria-valuenow", "1")
    expect(page.locator("#job-progress rect.fill")).to_have_attribute("width", "10")
    page.evaluate("window.__marker = 'same page'")

    # The worker moves on: the bar follows within a poll or two.
    job_progress(job=job, token=token, done=6, message="batch 6 of 10")
    expect(bar).to_have_attribute("aria-valuenow", "6", timeout=POLL_TIMEOUT_MS)
    expect(page.locator("#job-progress rect.fill")).to_have_attribute("width", "60")
    expect(page.locator("#job-message")).to_have_text("batch 6 of 10")
    assert page.evaluate("window.__marker") == "same page"  # swapped in place, no reload

    job_finish(job=job, token=token, result={"rows": 10})
    expect(page.locator("#job-status")).to_have_text("Succeeded", timeout=POLL_TIMEOUT_MS)
    expect(bar).to_have_attribute("aria-valuenow", "10")
    expect(page.locator("#job-progress rect.fill")).to_have_attribute("width", "100")
    expect(page.locator("#job-progress button", has_text="Cancel")).to_have_count(0)
    assert page.evaluate("window.__marker") == "same page"

    # HTTP 286 told htmx to stop: no more polls.
    polls_at_end = len(polls)
    assert polls_at_end >= 2
    page.wait_for_timeout(3000)
    assert len(polls) == polls_at_end
    assert errors == []


def test_cancel_button_in_the_browser(page: Page, live_server, curator):
    project, user = curator
    job = job_create(project=project, kind="audit", enqueue=False)
    job, token = job_start(job_id=job.pk)
    job_progress(job=job, token=token, total=4, done=1)
    log_in(page, live_server, user)
    page.goto(f"{live_server.url}/p/{project.slug}/curate/jobs/{job.uuid}/")
    page.click("#job-progress button:has-text('Cancel')")
    expect(page.locator("#job-progress")).to_contain_text("cancel requested", timeout=POLL_TIMEOUT_MS)
    job.refresh_from_db()
    assert job.cancel_requested and job.status == "running"  # stops at its next batch


def test_launch_form_leads_to_the_job_page(page: Page, live_server, curator, monkeypatch):
    from curation.jobs import services as job_services
    from curation.models import Job

    monkeypatch.setattr(job_services, "job_enqueue", lambda *, job: None)  # no worker in this test
    project, user = curator
    log_in(page, live_server, user)
    page.goto(f"{live_server.url}/p/{project.slug}/curate/generate/")
    page.fill("#id_per_prompt", "3")
    page.fill("#id_max_new_tokens", "16")
    page.click("button[type=submit]:has-text('Start')")
    job = Job.objects.get()
    page.wait_for_url(f"**/p/{project.slug}/curate/jobs/{job.uuid}/")
    expect(page.locator("#job-status")).to_have_text("Queued")
    expect(page.locator("#job-progress")).to_contain_text("celery -A config worker -Q model")
    assert job.params["per_prompt"] == 3 and job.params["max_new_tokens"] == 16
    assert job.created_by == user
