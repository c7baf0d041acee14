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
