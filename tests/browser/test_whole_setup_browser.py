"""Issue 16's whole set-up in a real browser, from an empty database, on a
real Celery worker: an owner creates a project, writes guidelines with the
preview, adds three principles, sets overlap 2, adaptive overlap 3 and a
probe rate; invites a curator and two annotators by link (each signs up in a
fresh browser context); imports a file with one bad line in skip-invalid
mode; the annotators label; a crowd participant enrols through the open link
and gets the completion code; and the activity log shows every step.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import Browser, Page, expect

from annotate.models import Annotation, Item, Membership, Project, Role
from tests.browser.conftest import browser_type_launch_args, shoot  # noqa: F401 - the fixture: Debian's chromium
from tests.browser.test_annotate_browser import SWAP_TIMEOUT_MS, wait_for_kind
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LINES = [json.dumps({"kind": "thumb", "prompt": f"Question {n}?", "responses": [f"Answer {n}."]}) for n in range(4)]
BAD = json.dumps({"kind": "thumb", "prompt": "No answer?", "responses": []})


def sign_up(browser: Browser, link: str, username: str) -> None:
    """A new person opens the invitation link in a fresh context and creates an account."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(link)
        page.fill("#id_signup-username", username)
        page.fill("#id_signup-password1", "a tidy Horse 42 staple")
        page.fill("#id_signup-password2", "a tidy Horse 42 staple")
        page.click("#invite-signup button[type=submit]")
        page.wait_for_url("**/p/whole/")
    finally:
        context.close()


def invite(page: Page, live_server, role: str, people: int) -> str:
    page.goto(f"{live_server.url}/p/whole/curate/invites/")
    page.select_option("#id_role", role)
    page.fill("#id_max_uses", str(people))
    page.click("#invite-create button[type=submit]")
    link = page.locator("#invite-link").input_value()
    shoot(page, "invites")
    return link


def label_one(browser: Browser, live_server, username: str) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", "a tidy Horse 42 staple")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{live_server.url}/")
        page.goto(f"{live_server.url}/p/whole/annotate/")
        wait_for_kind(page, "thumb")
        assignment = page.locator("#item").get_attribute("data-assignment")
        page.keyboard.press("ArrowUp")
        page.keyboard.press("Control+Enter")
        expect(page.locator("#item")).not_to_have_attribute("data-assignment", assignment, timeout=SWAP_TIMEOUT_MS)
    finally:
        context.close()


def test_a_project_set_up_from_the_browser_end_to_end(page: Page, browser: Browser, live_server, live_worker, tmp_path):
    owner = UserFactory(username="pi")
    owner.user_permissions.add(Permission.objects.get(codename="add_project", content_type__app_label="annotate"))
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "pi")
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")

    # Project, guidelines with the preview, settings.
    page.get_by_role("link", name="New project").click()
    page.fill("#id_name", "Whole study")
    page.fill("#id_slug", "whole")
    page.get_by_role("button", name="Create project").click()
    page.fill("#id_guidelines", "# Rules\n\nBe **kind**.")
    expect(page.locator("#guidelines-preview strong")).to_have_text("kind")
    page.fill("#id_overlap", "2")
    page.fill("#id_max_overlap", "3")
    page.fill("#id_agreement_threshold", "0.6")
    page.fill("#id_probe_rate", "0.05")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".messages")).to_contain_text("Settings saved.")

    # Three principles.
    page.get_by_role("link", name="Principles", exact=True).click()
    for name in ("Kind", "Correct", "Brief"):
        page.fill("#principle-add #id_name", name)
        page.locator("#principle-add #id_name").press("Enter")
        expect(page.locator(f'#principles tr[data-principle="{name}"]')).to_be_visible()

    # A curator and two annotators, each through a link, each in a fresh browser.
    sign_up(browser, invite(page, live_server, "curator", 1), "cora")
    annotators_link = invite(page, live_server, "annotator", 2)
    sign_up(browser, annotators_link, "ann")
    sign_up(browser, annotators_link, "bea")
    project = Project.objects.get(slug="whole")
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"pi": Role.OWNER, "cora": Role.CURATOR, "ann": Role.ANNOTATOR, "bea": Role.ANNOTATOR}

    # Import a file with one bad line, skipping it; the job runs on the worker.
    upload = tmp_path / "items.jsonl"
    upload.write_text("\n".join([LINES[0], LINES[1], BAD, LINES[2], LINES[3]]) + "\n", encoding="utf-8")
    page.goto(f"{live_server.url}/p/whole/curate/import/")
    page.set_input_files("#id_file", str(upload))
    page.check("#id_skip_invalid")
    page.click("#import-form button[type=submit]")
    expect(page.locator("body")).to_contain_text("1 invalid line skipped", timeout=120_000)
    expect(page.locator("body")).to_contain_text("a thumb item takes exactly 1 response, got")
    shoot(page, "import-skip-invalid")
    assert Item.objects.filter(project=project).count() == 4

    # The annotators label.
    label_one(browser, live_server, "ann")
    label_one(browser, live_server, "bea")
    assert Annotation.objects.filter(item__project=project, annotator__user__username__in=["ann", "bea"]).count() == 2

    # A crowd participant enrols through the open link and gets the completion code.
    page.goto(f"{live_server.url}/p/whole/curate/crowd/")
    page.fill("#id_participant_param", "PROLIFIC_PID")
    page.fill("#id_items_required", "1")
    page.fill("#id_completion_code", "C0DE42")
    page.click("#crowd-form button[type=submit]")
    join = page.locator("#crowd-url").input_value().replace("PARTICIPANT_ID", "prolific-7")
    shoot(page, "crowd")
    crowd = browser.new_context()
    try:
        participant = crowd.new_page()
        participant.goto(join)
        wait_for_kind(participant, "thumb")
        participant.keyboard.press("ArrowDown")
        participant.keyboard.press("Control+Enter")
        expect(participant.locator("#completion-code")).to_have_text("C0DE42", timeout=SWAP_TIMEOUT_MS)
        shoot(participant, "crowd-complete")
    finally:
        crowd.close()

    # Every step is in the activity log.
    page.goto(f"{live_server.url}/p/whole/curate/activity/")
    rows = page.locator("#activity tbody tr")
    verbs = [rows.nth(i).get_attribute("data-verb") for i in range(rows.count())]
    expected = {
        "project.create": 1,
        "member.add": 1,
        "project.update": 1,
        "principle.add": 3,
        "invite.create": 2,
        "member.join": 3,
        "job.launch": 1,
        "crowd.update": 1,
        "crowd.join": 1,
    }
    assert {verb: verbs.count(verb) for verb in expected} == expected, verbs
    expect(page.locator('#activity tr[data-verb="job.launch"]')).to_contain_text("import")
    expect(page.locator('#activity tr[data-verb="member.join"]').first).to_contain_text("annotator")
