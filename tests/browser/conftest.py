"""Browser tests: pytest-playwright driving Debian's Chromium against
pytest-django's ``live_server`` (static files served by staticfiles' handler).

Playwright's sync API runs an event loop in the test thread, so Django's
"no ORM calls from async context" guard must be lifted for the test's own
database reads and writes.
"""

from __future__ import annotations

import os

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"


def shoot(page, name: str) -> None:
    """Save the README's screenshot ``name`` when ``DOCKET_SCREENSHOTS=DIR`` is set (``make screenshots``)."""
    folder = os.environ.get("DOCKET_SCREENSHOTS")
    if folder:
        from pathlib import Path

        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.fixture
def annotator_user(transactional_db):
    """A project (overlap 1, one principle) and an annotator in it."""
    from annotate.models import Role
    from tests.factories import MembershipFactory, PrincipleFactory, ProjectFactory, UserFactory

    project = ProjectFactory(slug="browser-demo", name="Browser demo", overlap=1)
    PrincipleFactory(project=project, name="Honest")
    user = UserFactory(username="ann-browser")
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return project, user


@pytest.fixture(scope="session")
def browser_type_launch_args():
    return {
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
        ],
    }
