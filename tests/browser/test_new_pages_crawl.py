"""The pages issue 16 added (import job and its rejected lines, invitations,
members' account actions, crowd enrolment and qualification), crawled in
Chromium for the owner, an invited newcomer and a crowd participant: no
5xx, no broken link, no console error, no exception, no CSP violation."""

from __future__ import annotations

import io

import pytest
from playwright.sync_api import Browser

from annotate.models import Role
from curation.imports.services import import_create
from curation.items.services import item_resolve
from curation.jobs.runner import run_job
from curation.people import services
from tests.e2e.crawl import crawl
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory, make_item

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OURS = ("/p/crawl-demo/curate/members", "/p/crawl-demo/curate/invites", "/p/crawl-demo/curate/crowd",
        "/p/crawl-demo/curate/import", "/p/crawl-demo/curate/jobs/", "/invite/", "/join/", "/account/reset/")  # fmt: skip


def only_ours(path: str) -> bool:
    return not path.startswith(OURS) or "logout" in path


def test_the_new_pages_are_clean_in_a_browser(browser: Browser, live_server, settings):
    settings.DOCKET_JOB_HEARTBEAT_SECONDS = 0
    project = ProjectFactory(slug="crawl-demo", name="Crawl demo")
    owner = UserFactory(username="crawl-owner")
    MembershipFactory(project=project, user=owner, role=Role.OWNER)
    MembershipFactory(project=project, user=UserFactory(username="crawl-annotator"), role=Role.ANNOTATOR)
    bad = b'{"kind": "thumb", "prompt": "p", "responses": ["a"]}\n{"kind": "nope"}\n'
    job = import_create(project=project, user=owner, params={"file": io.BytesIO(bad), "skip_invalid": True})
    run_job(job.pk)
    gold = make_item(project, "pairwise", texts=["Good", "Bad"])
    item_resolve(item=gold, verdict="A", user=owner)
    make_item(project, "thumb", texts=["Real work"])
    link = services.crowd_link_save(
        project=project, by=owner, enabled=True, participant_param="PROLIFIC_PID", items_required=1,
        completion_code="C0DE", return_url="https://example.org/done", qualification_items=1,
    )  # fmt: skip
    _invitation, secret = services.invitation_create(project=project, by=owner, role="annotator", max_uses=5)

    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", owner.username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        seeds = [f"/p/{project.slug}/curate/{name}/" for name in ("members", "invites", "crowd", "import")]
        report = crawl(context, live_server.url, who="owner", seeds=[*seeds, f"/p/{project.slug}/curate/jobs/{job.uuid}/"],
                       skip=only_ours, max_pages=40)  # fmt: skip
        report.assert_clean()
        assert {f"/p/{project.slug}/curate/invites/", f"/p/{project.slug}/curate/crowd/"} <= report.paths()
    finally:
        context.close()

    for who, seed in (("newcomer", f"/invite/{secret}/"), ("participant", f"/join/{link.token}/?PROLIFIC_PID=P-1")):
        context = browser.new_context()
        try:
            report = crawl(context, live_server.url, who=who, seeds=[seed], skip=only_ours, max_pages=10)
            report.assert_clean()
        finally:
            context.close()
