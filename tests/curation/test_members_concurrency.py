"""A project keeps an owner even when two owners demote each other at the same moment.

Each thread runs ``membership_set_role`` on its own PostgreSQL connection; the
service locks the owners' membership rows, so the second demotion sees the
first one's result and is refused.
"""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from annotate.models import Membership, Role
from curation.projects.services import membership_remove, membership_set_role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(calls):
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = [""] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            call()
            outcomes[index] = "ok"
        except ValidationError:
            outcomes[index] = "refused"
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


@pytest.mark.parametrize("round_", range(5))
def test_two_owners_demoting_each_other_leave_one_owner(round_):
    project = ProjectFactory()
    alice, bob = UserFactory(username=f"alice{round_}"), UserFactory(username=f"bob{round_}")
    for user in (alice, bob):
        MembershipFactory(project=project, user=user, role=Role.OWNER)
    outcomes = _race(
        [
            lambda: membership_set_role(project=project, username=bob.username, role=Role.CURATOR, by=alice),
            lambda: membership_set_role(project=project, username=alice.username, role=Role.CURATOR, by=bob),
        ]
    )
    assert sorted(outcomes) == ["ok", "refused"]
    assert Membership.objects.filter(project=project, role=Role.OWNER).count() == 1


def test_two_owners_leaving_at_once_leave_one_owner():
    project = ProjectFactory()
    alice, bob = UserFactory(username="alice-leaves"), UserFactory(username="bob-leaves")
    for user in (alice, bob):
        MembershipFactory(project=project, user=user, role=Role.OWNER)
    outcomes = _race(
        [
            lambda: membership_remove(project=project, username=alice.username, by=alice),
            lambda: membership_remove(project=project, username=bob.username, by=bob),
        ]
    )
    assert sorted(outcomes) == ["ok", "refused"]
    assert Membership.objects.filter(project=project, role=Role.OWNER).count() == 1
