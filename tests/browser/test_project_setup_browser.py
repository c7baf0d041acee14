"""An owner sets a project up in a real browser (Debian's Chromium), from an
empty database: creates the project from the home page, writes guidelines
with the live preview, adds three principles, sets overlap 2, adaptive
overlap 3 and a probe rate, and finds every step in the activity log.

With ``DOCKET_SCREENSHOTS=DIR`` set (``make screenshots``) it also saves the
README's screenshots of the pages it passes through.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import Page, expect

from annotate.models import Project, Role
from curation.models import Activity
from tests.browser.conftest import browser_type_launch_args, shoot  # noqa: F401 - the fixture: Debian's chromium
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GUIDELINES = "# How to judge\n\nPrefer the answer that is **kind** and *correct*.\n\n- no insults\n- no made-up facts"


def test_owner_sets_up_a_project_and_the_log_shows_each_step(page: Page, live_server):
    owner = UserFactory(username="lab-lead")
    owner.user_permissions.add(Permission.objects.get(codename="add_project", content_type__app_label="annotate"))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", owner.username)
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("My projects")

    # Create the project from the home page's link; a taken field is an error on it first.
    page.get_by_role("link", name="New project").click()
    expect(page.locator("h1")).to_have_text("New project")
    page.fill("#id_name", "Kindness study")
    page.fill("#id_slug", "not a slug")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator('[data-field="slug"] .errors')).to_be_visible()
    page.fill("#id_slug", "kindness")
    page.fill("#id_description", "Which answer is kinder?")
    shoot(page, "project-new")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator("h1")).to_have_text("Settings of Kindness study")
    project = Project.objects.get(slug="kindness")
    assert project.role_of(owner) == Role.OWNER

    # Guidelines with the live preview (htmx posts the text, the server renders and sanitises it).
    page.fill("#id_guidelines", GUIDELINES)
    expect(page.locator("#guidelines-preview h1")).to_have_text("How to judge")
    expect(page.locator("#guidelines-preview strong")).to_have_text("kind")
    expect(page.locator("#guidelines-preview li")).to_have_count(2)

    # Overlap 2, adaptive overlap up to 3 below 0.6 agreement, probe rate 0.1; first a bad value.
    page.fill("#id_overlap", "2")
    page.fill("#id_max_overlap", "2")
    page.fill("#id_agreement_threshold", "0.6")
    page.fill("#id_probe_rate", "0.1")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator('[data-field="max_overlap"] .errors')).to_contain_text("more than the overlap")
    assert Project.objects.get(pk=project.pk).guidelines == ""  # nothing saved
    page.fill("#id_max_overlap", "3")
    shoot(page, "settings")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".messages")).to_contain_text("Settings saved.")
    project.refresh_from_db()
    assert (project.overlap, project.max_overlap, project.agreement_threshold, project.probe_rate) == (2, 3, 0.6, 0.1)
    assert project.guidelines == GUIDELINES

    # Three principles, from the keyboard: type, Enter submits the add form.
    page.get_by_role("link", name="Principles", exact=True).click()
    for name, description in [("Kind", "No insults."), ("Correct", "No made-up facts."), ("Brief", "")]:
        page.fill("#principle-add #id_name", name)
        page.fill("#principle-add #id_description", description)
        page.locator("#principle-add #id_name").press("Enter")
        expect(page.locator(f'#principles tr[data-principle="{name}"]')).to_be_visible()
    expect(page.locator("#principles tbody tr")).to_have_count(3)
    shoot(page, "principles")

    # The activity log shows every step, newest first, with before → after.
    page.get_by_role("link", name="Activity", exact=True).click()
    rows = page.locator("#activity tbody tr")
    verbs = [rows.nth(i).get_attribute("data-verb") for i in range(rows.count())]
    assert verbs == [
        "principle.add",
        "principle.add",
        "principle.add",
        "project.update",
        "member.add",
        "project.create",
    ], verbs
    update = page.locator('#activity tr[data-verb="project.update"]')
    expect(update).to_contain_text("lab-lead")
    expect(update).to_contain_text("overlap")
    expect(update.locator("dd", has_text="0.6")).to_contain_text("0 → 0.6")
    expect(update.locator("dd", has_text="0.1")).to_contain_text("0 → 0.1")
    assert set(update.locator("dt").all_inner_texts()) == {
        "guidelines",
        "overlap",
        "max_overlap",
        "agreement_threshold",
        "probe_rate",
    }
    shoot(page, "activity")

    # Filter the log to one kind of entry (htmx swaps the table in).
    page.select_option("#id_verb", "principle.add")
    expect(page.locator("#activity-count")).to_have_text("3 entries")
    assert "verb=principle.add" in page.url
    assert Activity.objects.filter(project=project).count() == 6
    # The two refused forms answer 400 on purpose (Chromium logs that); anything else is a fault.
    assert [e for e in errors if "status of 400" not in e] == [], errors
