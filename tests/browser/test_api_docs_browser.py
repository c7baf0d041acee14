"""The API docs pages work offline: Swagger UI (``/api/docs/``) and Redoc
(``/api/redoc/``) in Chromium with every request to another host blocked;
they load everything from this server and list the operations."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
# Operations the pages must list (a sample across the API).
OPERATIONS = [
    "/api/v1/projects/",
    "/api/v1/projects/{slug}/exports/",
    "/api/v1/auth/token/",
    "/api/v1/jobs/{job_id}/",
    "/api/v1/datasets/{dataset_id}/archive/",
    "/api/v1/projects/{slug}/webhooks/",
]


def offline(page: Page) -> list[str]:
    """Abort every request to another host; returns the list of what was attempted.
    Also records the page's Content-Security-Policy violations in ``window.__csp``."""
    attempted: list[str] = []
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )

    def handle(route):
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlparse(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            attempted.append(url)
            route.abort()

    page.route("**/*", handle)
    return attempted


def test_swagger_ui_lists_the_operations_offline(page: Page, live_server):
    attempted = offline(page)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
    paths = {text.replace("\u200b", "").strip() for text in page.locator(".opblock-summary-path").all_inner_texts()}
    assert set(OPERATIONS) <= paths, sorted(paths)
    assert len(paths) >= 20
    assert page.locator(".opblock-post .opblock-summary-path", has_text="exports").count() == 1
    assert attempted == [], attempted
    assert errors == [], errors
    assert page.evaluate("window.__csp") == []


def test_redoc_lists_the_operations_offline(page: Page, live_server):
    attempted = offline(page)
    page.goto(f"{live_server.url}/api/redoc/")
    operations = page.locator("[data-section-id^='operation/']")
    expect(operations.first).to_be_attached(timeout=30_000)
    assert operations.count() >= 20
    body = page.locator("body").inner_text()
    assert "Docket API" in body and "/api/v1/projects/{slug}/exports/" in body
    assert attempted == [], attempted
    # The one thing the policy stops: Redoc's "by Redocly" logo from its CDN (never requested, hidden).
    assert page.evaluate("window.__csp") in ([], ["img-src https://cdn.redoc.ly/redoc/logo-mini.svg"])
