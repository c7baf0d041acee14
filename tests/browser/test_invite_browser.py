"""An owner creates an invitation link in the browser; a fresh browser
context (another person, signed out) opens it, signs up and lands in the project."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from annotate.models import Membership, Role
from tests.browser.test_annotate_browser import log_in
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_owner_invites_and_a_new_person_signs_up_through_the_link(page: Page, browser: Browser, live_server):
    project = ProjectFactory(slug="invite-demo", name="Invite demo")
    owner = UserFactory(username="owner-browser")
    MembershipFactory(project=project, user=owner, role=Role.OWNER)

    log_in(page, live_server, owner)
    page.goto(f"{live_server.url}/p/{project.slug}/curate/members/")
    page.click("#invites-link")
    page.select_option("#id_role", "annotator")
    page.fill("#id_max_uses", "2")
    page.fill("#id_note", "first annotators")
    page.click("#invite-create button[type=submit]")
    link = page.locator("#invite-link").input_value()
    assert link.startswith(f"{live_server.url}/invite/")
    expect(page.locator("#invitations")).to_contain_text("first annotators")

    guest = browser.new_context()
    try:
        newcomer = guest.new_page()
        newcomer.goto(link)
        expect(newcomer.locator("h1")).to_have_text("Join Invite demo")
        newcomer.fill("#id_signup-username", "fresh-annotator")
        newcomer.fill("#id_signup-password1", "a tidy Horse 42 staple")
        newcomer.fill("#id_signup-password2", "a tidy Horse 42 staple")
        newcomer.click("#invite-signup button[type=submit]")
        newcomer.wait_for_url(f"{live_server.url}/p/{project.slug}/")
        expect(newcomer.locator("body")).to_contain_text("Invite demo")
    finally:
        guest.close()
    membership = Membership.objects.get(project=project, user__username="fresh-annotator")
    assert membership.role == Role.ANNOTATOR
    page.goto(f"{live_server.url}/p/{project.slug}/curate/invites/")
    expect(page.locator("#invitations")).to_contain_text("fresh-annotator")
