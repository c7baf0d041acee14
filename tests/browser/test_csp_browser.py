"""No Content-Security-Policy violation on any page, for anyone (issue 15, point 4: "CSP everywhere").

The demo is seeded into the test database; each demo role (owner, curator,
both annotators, researcher) logs in and crawls every page it can reach from
``/`` (tests/e2e/crawl.py: every link, every htmx fragment, every
``securitypolicyviolation`` event in every frame), the researcher also the
API docs and Redoc; an anonymous visitor crawls the login page, and a
superuser the admin's index and change lists. Any violation, console error,
uncaught exception or 4xx/5xx fails the test. The policy comes from
django-csp's middleware on every response (config/settings.py; the header on
every kind of response: tests/security/test_csp_header.py). An annotate swap
of every kind is checked for violations by tests/browser/test_annotate_browser.py.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, expect

from tests.e2e.crawl import crawl

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

PASSWORD = "docket-csp-test"
ROLES = ["owner", "curator", "annotator1", "annotator2", "researcher"]


@pytest.fixture
def demo(transactional_db, monkeypatch, settings, tmp_path):
    settings.DOCKET_EXPORT_DIR = tmp_path / "exports"
    settings.DOCKET_IMPORT_DIR = tmp_path / "imports"
    monkeypatch.setenv("DOCKET_DEMO_PASSWORD", PASSWORD)
    call_command("seed_demo", verbosity=0)
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("csp-admin", "admin@example.org", PASSWORD)


def _context(browser: Browser, base_url: str, username: str | None):
    context = browser.new_context(base_url=base_url)
    if username:
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.locator("form [type=submit]").click()
        expect(page.locator("#id_password")).to_have_count(0)
        page.close()
    return context


def _admin_lists_only(path: str) -> bool:
    """The admin's index, app pages and change lists; not every object's form, every sort order and filter
    of a list (``?o=…``), nor the log-out link."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    return not path.startswith("/admin/") or "?" in path or len(parts) > 3 or "logout" in path or parts[-1:] == ["add"]


@pytest.mark.parametrize("who", [*ROLES, "anonymous", "admin"])
def test_no_csp_violation_on_any_page(who, demo, browser: Browser, live_server):
    seeds = {"anonymous": ["/accounts/login/"], "admin": ["/admin/"], "researcher": ["/", "/api/docs/", "/api/redoc/"]}
    username = {"anonymous": None, "admin": "csp-admin"}.get(who, who)
    context = _context(browser, live_server.url, username)
    try:
        report = crawl(
            context,
            live_server.url,
            who=who,
            seeds=seeds.get(who, ["/"]),
            skip=_admin_lists_only if who == "admin" else None,
        )
    finally:
        context.close()
    report.assert_clean()
    assert report.visited, f"{who} reached no page"
