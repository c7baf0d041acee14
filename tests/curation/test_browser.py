"""A curator in a real browser (Debian's Chromium): untrusted model text and
annotator text on the item page never run, the page breaks no CSP rule, and
the exclude button works with the CSRF token from the form."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from annotate.models import Annotator, Item, Role
from annotate.services.annotations import AnnotationInput, annotation_record
from tests.browser.conftest import browser_type_launch_args  # noqa: F401 - the fixture: Debian's chromium
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory, make_item

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS = '<script>window.__pwned=1</script> and <img src=x onerror="window.__pwned=1"> [x](javascript:window.__pwned=1)'


def log_in(page: Page, live_server, user) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("My projects")


def test_curator_item_page_is_inert_and_excludes(page: Page, live_server):
    project = ProjectFactory(slug="curate-browser", name="Curate browser", overlap=2)
    curator = UserFactory(username="cur-browser")
    MembershipFactory(project=project, user=curator, role=Role.CURATOR)
    item = make_item(project, "pairwise", texts=[f"Answer one {XSS}", "Answer **two**"])
    judge = Annotator.objects.create(type=Annotator.Type.MODEL, name="judge", model_name="smol")
    annotation_record(item=item, annotator=judge, data=AnnotationInput(choice="A", strength=2, rationale=XSS))

    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, live_server, curator)

    page.goto(f"{live_server.url}/p/{project.slug}/curate/")
    expect(page.locator('#kinds tr[data-kind="pairwise"] svg.bar')).to_be_visible()

    page.goto(f"{live_server.url}/p/{project.slug}/curate/items/{item.uuid}/")
    expect(page.locator("#response-A")).to_contain_text("<script>window.__pwned=1</script>")
    expect(page.locator("#response-B strong")).to_have_text("two")
    expect(page.locator("#annotations")).to_contain_text("A is better")
    page.wait_for_timeout(300)  # give an injected onerror a chance to fire
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#response-A img, #annotations img, #annotations script").count() == 0
    assert not [e for e in errors if "Content Security Policy" in e], errors

    page.get_by_role("button", name="Exclude this item").click()
    expect(page.get_by_role("button", name="Include this item again")).to_be_visible()
    assert Item.objects.get(pk=item.pk).excluded
    assert not errors, errors
