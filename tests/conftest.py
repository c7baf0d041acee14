from __future__ import annotations

import pytest

from annotate.models import Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory


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
