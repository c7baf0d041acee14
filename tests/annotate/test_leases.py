"""Leases: expiry and reclaim, late submits, skips, probes, exclusions, per-item overlap.

Time is frozen by passing ``now=`` to the services, so nothing sleeps.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from annotate.models import Annotation, Annotator, Assignment, Item
from annotate.services import annotations as annotation_service
from annotate.services.annotations import AnnotationInput, LeaseLost, annotation_record
from annotate.services.assignment import (
    assignment_next,
    assignment_skip,
    assignments_reclaim_expired,
)
from annotate.tasks import reclaim_expired_leases
from tests.factories import ProjectFactory, make_item

# On a minute boundary, so at(LEASE - 1) and at(LEASE + 1) fall in different
# windows of next-item's reclaim throttle (a few seconds, taken from ``now``).
T0 = timezone.now().replace(second=0, microsecond=0)
LEASE = 60


def people(n: int) -> list[Annotator]:
    """``n`` human annotators (users without a password: hashing is slow and not under test)."""
    user_model = get_user_model()
    users = [user_model.objects.create(username=f"p-{uuid.uuid4().hex[:10]}", password="!") for _ in range(n)]
    return [Annotator.objects.create(user=u, name=u.username) for u in users]


def at(seconds: float):
    return T0 + timedelta(seconds=seconds)


def submit(lease: Assignment, annotator: Annotator, now):
    return annotation_record(
        assignment=lease, annotator=annotator, data=AnnotationInput(choice="A"), idempotency_key=uuid.uuid4(), now=now
    )


def drain(project, annotator, now) -> list[int]:
    """Lease and submit until nothing is left; the item ids seen, in order."""
    seen = []
    while (lease := assignment_next(project=project, annotator=annotator, now=now)) is not None:
        seen.append(lease.item_id)
        submit(lease, annotator, now)
    return seen


@pytest.fixture
def project(db):
    return ProjectFactory(overlap=1, lease_seconds=LEASE)


def test_expired_lease_is_reclaimed_and_the_item_goes_to_someone_else(project):
    item = make_item(project)
    alice, bob = people(2)
    lease = assignment_next(project=project, annotator=alice, now=at(0))
    # Within the lease the item is alice's alone.
    assert assignment_next(project=project, annotator=bob, now=at(LEASE - 1)) is None
    # Past it, bob's next-item sweeps the expired lease and gets the item.
    second = assignment_next(project=project, annotator=bob, now=at(LEASE + 1))
    assert second is not None and second.item_id == item.pk
    lease.refresh_from_db()
    item.refresh_from_db()
    assert lease.status == Assignment.Status.EXPIRED and lease.finished_at == at(LEASE + 1)
    assert item.slots_taken == 1
    # The expired lease is not handed back to alice as her current one.
    assert assignment_next(project=project, annotator=alice, now=at(LEASE + 2)) is None


def test_reclaim_service_counts_and_is_idempotent(project):
    items = [make_item(project) for _ in range(3)]
    annotators = people(3)
    for annotator in annotators:
        assignment_next(project=project, annotator=annotator, now=at(0))
    assert assignments_reclaim_expired(project=project, now=at(LEASE - 1)) == 0
    assert assignments_reclaim_expired(project=project, now=at(LEASE)) == 3
    assert assignments_reclaim_expired(project=project, now=at(LEASE + 5)) == 0
    assert all(i.slots_taken == 0 for i in Item.objects.filter(pk__in=[i.pk for i in items]))


def test_late_submit_on_a_reclaimed_lease_is_accepted_while_room_remains(project):
    project.overlap = 2
    project.save()
    item = make_item(project)
    (alice,) = people(1)
    lease = assignment_next(project=project, annotator=alice, now=at(0))
    assert assignments_reclaim_expired(project=project, now=at(LEASE + 1)) == 1
    annotation, created = submit(lease, alice, now=at(LEASE + 30))
    assert created and annotation.item_id == item.pk
    item.refresh_from_db()
    lease.refresh_from_db()
    assert (item.slots_taken, item.annotation_count, lease.status) == (1, 1, Assignment.Status.SUBMITTED)


@pytest.mark.parametrize("bob_submits", [True, False], ids=["full-by-annotation", "full-by-lease"])
def test_late_submit_on_a_reclaimed_lease_is_refused_when_the_item_is_full(project, bob_submits):
    item = make_item(project)
    alice, bob = people(2)
    late = assignment_next(project=project, annotator=alice, now=at(0))
    taken = assignment_next(project=project, annotator=bob, now=at(LEASE + 1))  # sweeps alice's lease
    assert taken.item_id == item.pk
    if bob_submits:
        submit(taken, bob, now=at(LEASE + 2))
    with pytest.raises(LeaseLost):
        submit(late, alice, now=at(LEASE + 3))
    # Nothing of alice's was stored and the counters are untouched.
    assert not Annotation.objects.filter(annotator=alice).exists()
    late.refresh_from_db()
    item.refresh_from_db()
    assert late.status == Assignment.Status.EXPIRED
    assert (item.slots_taken, item.annotation_count) == (1, int(bob_submits))


def test_the_celery_task_reclaims_across_projects(db):
    first, second = ProjectFactory(lease_seconds=LEASE), ProjectFactory(lease_seconds=LEASE)
    items = [make_item(first), make_item(second)]
    annotators = people(2)
    now = timezone.now()
    leases = [assignment_next(project=p, annotator=a, now=now) for p, a in zip((first, second), annotators)]
    fresh = assignment_next(project=first, annotator=people(1)[0], now=now)
    # Age two of the leases past their expiry; the third stays live.
    Assignment.objects.filter(pk__in=[lease.pk for lease in leases]).update(
        leased_at=now - timedelta(seconds=2 * LEASE), expires_at=now - timedelta(seconds=LEASE)
    )
    assert reclaim_expired_leases() == 2
    assert reclaim_expired_leases() == 0
    assert set(Assignment.objects.values_list("pk", "status")) == {
        (leases[0].pk, "expired"),
        (leases[1].pk, "expired"),
        (fresh.pk, "leased"),
    }
    assert [Item.objects.get(pk=i.pk).slots_taken for i in items] == [1, 0]


def test_beat_runs_the_reclaim_task_every_minute():
    from config.celery import app

    app.loader.import_default_modules()
    entry = app.conf.beat_schedule["reclaim-expired-leases"]
    assert entry["task"] == reclaim_expired_leases.name
    assert entry["task"] in app.tasks
    assert entry["schedule"] == 60.0


@pytest.mark.worker
@pytest.mark.postgres
def test_a_real_worker_runs_the_reclaim_task(transactional_db):
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings as django_settings

    if not django_settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (a real broker); CI sets it")
    from config.celery import app

    project = ProjectFactory(lease_seconds=LEASE)
    item = make_item(project)
    (alice,) = people(1)
    lease = assignment_next(project=project, annotator=alice, now=timezone.now() - timedelta(seconds=2 * LEASE))
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20):
        reclaim_expired_leases.delay()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lease.refresh_from_db()
            if lease.status == Assignment.Status.EXPIRED:
                break
            time.sleep(0.2)
    assert lease.status == Assignment.Status.EXPIRED
    item.refresh_from_db()
    assert item.slots_taken == 0


def test_skip_never_returns_the_item_to_the_same_annotator(project):
    items = [make_item(project) for _ in range(4)]
    alice, bob = people(2)
    lease = assignment_next(project=project, annotator=alice, now=at(0))
    skipped = lease.item_id
    assert skipped == items[0].pk
    assert assignment_skip(assignment=lease, annotator=alice, now=at(1))
    assert not assignment_skip(assignment=lease, annotator=alice, now=at(2))  # a second skip changes nothing
    seen = drain(project, alice, now=at(3))
    assert skipped not in seen and sorted(seen) == sorted(i.pk for i in items[1:])
    # Even once the lease would have expired, nor after a sweep.
    assignments_reclaim_expired(project=project, now=at(10 * LEASE))
    assert assignment_next(project=project, annotator=alice, now=at(10 * LEASE)) is None
    # The item went back to the pool for others.
    assert assignment_next(project=project, annotator=bob, now=at(4)).item_id == skipped


def test_probe_items_only_go_to_their_annotator(project, monkeypatch):
    # Only the hand-made probe below: the submits draw none of their own.
    monkeypatch.setattr(annotation_service, "_probe_draw", lambda annotator, item: (0.999, False))
    original, *others = [make_item(project) for _ in range(3)]
    alice, bob = people(2)
    probe = Item.objects.create(
        project=project,
        kind=original.kind,
        prompt=original.prompt,
        content_hash="probe-of-original",
        probe_of=original,
        probe_for=alice,
        probe_swapped=True,
    )
    for link in original.links.all():
        probe.links.create(response=link.response, position=link.position)
    project.overlap = 3
    project.probe_rate = 0.01  # probes are handed out only while the project asks for them
    project.save()
    assert drain(project, bob, now=at(0)) == [original.pk, *(o.pk for o in others)]
    # Alice gets it after two other items (never right after the original).
    assert drain(project, alice, now=at(1)) == [original.pk, *(o.pk for o in others), probe.pk]
    # The swapped probe shows the responses the other way round from alice's screen on the original.
    shown = Assignment.objects.get(item=original, annotator=alice).display_order
    assert Assignment.objects.get(item=probe).display_order == shown[::-1]


def test_excluded_items_are_never_handed_out(project):
    kept = make_item(project)
    excluded = make_item(project, excluded=True)
    project.overlap = 3
    project.save()
    for annotator in people(3):
        assert drain(project, annotator, now=at(0)) == [kept.pk]
    assert not Assignment.objects.filter(item=excluded).exists()
    # Excluding an item after it was handed out stops further leases.
    fresh = make_item(project)
    first, second = people(2)
    assert assignment_next(project=project, annotator=first, now=at(1)).item_id == fresh.pk
    Item.objects.filter(pk=fresh.pk).update(excluded=True)
    assert assignment_next(project=project, annotator=second, now=at(1)) is None


def test_target_overlap_above_the_project_overlap_lets_more_annotators_in(project):
    wide = make_item(project, target_overlap=3)
    narrow = make_item(project)
    annotators = people(4)
    seen = [drain(project, annotator, now=at(0)) for annotator in annotators]
    assert seen[0] == [wide.pk, narrow.pk]
    assert seen[1] == seen[2] == [wide.pk]
    assert seen[3] == []
    wide.refresh_from_db()
    narrow.refresh_from_db()
    assert (wide.annotation_count, wide.status) == (3, Item.Status.DONE)
    assert (narrow.annotation_count, narrow.status) == (1, Item.Status.DONE)
    # A target below the project's overlap does not lower it.
    low = make_item(project, target_overlap=1)
    project.overlap = 2
    project.save()
    assert [drain(project, a, now=at(1)) for a in annotators[:3]] == [[low.pk], [low.pk], []]
