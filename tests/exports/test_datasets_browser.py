"""A researcher on the datasets page in a real browser (Debian's Chromium): the
live count follows the form as it changes (htmx, debounced), a bad value
shows its field's error, the export launches, its progress page ends on the
dataset's page, and no page breaks a CSP rule."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from annotate.models import Annotation, Annotator, Role
from curation.jobs.runner import run_job
from curation.models import Dataset, Job
from tests.browser.conftest import browser_type_launch_args  # noqa: F401 - the fixture: Debian's chromium
from tests.factories import PASSWORD, AnnotatorFactory, MembershipFactory, ProjectFactory, UserFactory, make_item

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.DOCKET_EXPORT_DIR = tmp_path / "exports"
    return settings.DOCKET_EXPORT_DIR


def test_live_count_launch_and_dataset(page: Page, live_server, export_dir):
    project = ProjectFactory(slug="datasets-browser", name="Datasets browser")
    researcher = UserFactory(username="res-browser")
    MembershipFactory(project=project, user=researcher, role=Role.RESEARCHER)
    people = [AnnotatorFactory(type=Annotator.Type.HUMAN) for _ in range(3)]
    for votes in (["A", "A", "A"], ["B", "B"], ["A"], ["A"]):
        item = make_item(project, kind="pairwise")
        for person, choice in zip(people, votes, strict=False):
            Annotation.objects.create(item=item, annotator=person, kind="pairwise", choice=choice)

    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", researcher.username)
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Datasets", exact=True).first.click()

    expect(page.locator("#count-rows")).to_have_attribute("data-rows", "4")  # counted on load
    page.fill("#id_min_judgments", "2")
    expect(page.locator("#count-rows")).to_have_attribute("data-rows", "2")  # after the debounce, no reload
    expect(page.locator("#export-count")).to_contain_text("min_judgments")
    page.fill("#id_min_agreement", "7")
    expect(page.locator("#export-count")).to_contain_text("must be in [0, 1]")
    page.fill("#id_min_agreement", "")
    expect(page.locator("#count-rows")).to_have_attribute("data-rows", "2")
    page.fill("#id_name", "from the browser")
    page.get_by_role("button", name="Export").click()

    expect(page.locator("#job-status")).to_have_attribute("data-status", "queued")
    job = Job.objects.get()
    run_job(job.id)
    expect(page.locator("#job-status")).to_have_attribute("data-status", "succeeded", timeout=10_000)  # polled
    page.get_by_role("link", name="Open the dataset").click()
    dataset = Dataset.objects.get(job=job)
    expect(page.locator("#dataset-rows")).to_have_text("2")
    expect(page.locator("#dataset-sha256")).to_have_text(dataset.sha256)
    expect(page.locator("#snippet-load-dataset")).to_contain_text("load_dataset(")
    with page.expect_download() as download:
        page.locator("#download-tar").click()
    assert download.value.suggested_filename.endswith(".tar")
    # the one expected console line: the browser notes the count's 422 (the bad min_agreement)
    assert [e for e in errors if "422 (Unprocessable Entity)" not in e] == []
