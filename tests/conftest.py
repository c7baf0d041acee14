from __future__ import annotations

import pytest
from django.core.cache import cache

from annotate.models import Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.worker import live_worker  # noqa: F401  (a fixture for tests that need a real Celery worker)


@pytest.fixture(autouse=True)
def _fast_hashing_and_clean_cache(settings):
    """Cheap password hashing (tests create many users) and no throttle or
    lock-out state carried from one test to the next."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    """Uploads of import jobs and their rejected lines go to the test's own folder."""
    settings.DOCKET_IMPORT_DIR = tmp_path / "imports"


@pytest.fixture
def project(db):
    return ProjectFactory()


@pytest.fixture
def personas(project):
    """One user per role in ``project`` plus an outsider (member of nothing)."""
    people = {}
    for role in Role.values:
        user = UserFactory(username=f"{role}-{project.slug}")
        MembershipFactory(project=project, user=user, role=role)
        people[role] = user
    people["outsider"] = UserFactory(username=f"outsider-{project.slug}")
    return people


@pytest.fixture
def no_heartbeat_thread(settings):
    """Service tests run in a transaction another connection cannot see; the
    heartbeat thread (which uses its own connection) is left out there."""
    settings.DOCKET_JOB_HEARTBEAT_SECONDS = 0
    return settings
