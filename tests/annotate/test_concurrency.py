"""Assignment and submission under real concurrency: threads on PostgreSQL.

Each thread runs the services on its own database connection (Django gives
every thread one), so row locks, ``SKIP LOCKED`` and the conditional
``UPDATE`` on ``Item.slots_taken`` race for real. A ``threading.Barrier``
makes the threads start together; each closes its connection at the end.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Q

from annotate.models import (
    Annotation,
    Annotator,
    Assignment,
    Item,
    ItemResponse,
    Kind,
    Prompt,
    Response,
    content_hash,
)
from annotate.services.annotations import AnnotationInput, annotation_record
from annotate.services.assignment import assignment_next
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _committed(transactional_db):
    """Each thread sees the others' rows: real commits, not one test transaction."""


def bulk_items(project, n: int, kinds=(Kind.PAIRWISE, Kind.THUMB), uuid_base: int | None = None) -> list[Item]:
    """``n`` items cycling through ``kinds``, written with a handful of bulk inserts.

    With ``uuid_base`` the items' uuids are fixed: ``UUID(int=uuid_base + i)``.
    """
    prompts = Prompt.objects.bulk_create(
        Prompt(project=project, messages=[{"role": "user", "content": f"q{i}"}], content_hash=content_hash(f"q{i}"))
        for i in range(n)
    )
    items, responses = [], []
    for i, prompt in enumerate(prompts):
        kind = kinds[i % len(kinds)]
        count = {Kind.PAIRWISE: 2, Kind.RANKING: 3}.get(kind, 1)
        responses.append(
            [Response(prompt=prompt, text=f"r{i}.{j}", content_hash=content_hash(f"r{i}.{j}")) for j in range(count)]
        )
        item = Item(project=project, kind=kind, prompt=prompt, content_hash=content_hash(f"item{i}"))
        if uuid_base is not None:
            item.uuid = uuid.UUID(int=uuid_base + i)
        items.append(item)
    Response.objects.bulk_create([r for group in responses for r in group])
    Item.objects.bulk_create(items)
    ItemResponse.objects.bulk_create(
        ItemResponse(item=item, response=r, position=j)
        for item, group in zip(items, responses)
        for j, r in enumerate(group)
    )
    return items


def make_annotators(n: int) -> list[Annotator]:
    """``n`` human annotators; users without a password, since hashing dominates otherwise."""
    start = Annotator.objects.count()
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"racer{start + i}-{uuid.uuid4().hex[:6]}", password="!") for i in range(n)
    )
    return Annotator.objects.bulk_create(Annotator(user=u, name=u.username) for u in users)


def answer_for(item: Item) -> AnnotationInput:
    return AnnotationInput(choice="A" if item.kind == Kind.PAIRWISE else "up")


def run_threads(count: int, target: Callable[[int, threading.Barrier], object]) -> list:
    """Run ``target(i, barrier)`` in ``count`` threads started together; re-raise any failure."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def runner(i: int) -> None:
        try:
            results[i] = target(i, barrier)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    if errors:
        raise errors[0]
    return results


def test_thirty_annotators_drain_two_hundred_items_without_over_assignment():
    overlap = 3
    project = ProjectFactory(overlap=overlap, lease_seconds=600)
    bulk_items(project, 200)
    annotators = make_annotators(30)

    def work(i: int, barrier: threading.Barrier) -> list[tuple[uuid.UUID, int, int, bool]]:
        annotator = annotators[i]
        done = []
        barrier.wait()
        while True:
            lease = assignment_next(project=project, annotator=annotator)
            if lease is None:
                return done
            key = uuid.uuid4()
            annotation, created = annotation_record(
                assignment=lease, annotator=annotator, data=answer_for(lease.item), idempotency_key=key
            )
            done.append((key, lease.item_id, annotation.pk, created))

    results = run_threads(len(annotators), work)
    submitted = [row for rows in results for row in rows]

    # Every submission that reported created=True is stored, exactly once.
    assert all(created for *_rest, created in submitted)
    stored = Counter(Annotation.objects.values_list("idempotency_key", flat=True))
    assert all(stored[key] == 1 for key, *_rest in submitted)
    assert len(stored) == len(submitted) == Annotation.objects.count() == 200 * overlap
    # No (item, annotator) twice: in the annotations and in the leases.
    pairs = Counter(Annotation.objects.values_list("item_id", "annotator_id"))
    assert max(pairs.values()) == 1
    lease_pairs = Counter(Assignment.objects.values_list("item_id", "annotator_id"))
    assert max(lease_pairs.values()) == 1
    # No item beyond its overlap; every item done; slots_taken in step.
    live = ~Q(assignments__status__in=[Assignment.Status.SKIPPED, Assignment.Status.EXPIRED])
    items = Item.objects.annotate(
        n_annotations=Count("annotations", distinct=True),
        n_live=Count("assignments", filter=live, distinct=True),
        n_leased=Count("assignments", filter=Q(assignments__status=Assignment.Status.LEASED), distinct=True),
    )
    for item in items:
        assert item.n_annotations == overlap, item
        assert item.n_live <= overlap, item
        assert item.status == Item.Status.DONE, item
        assert item.annotation_count == overlap, item
        assert item.slots_taken == item.n_leased + item.n_annotations, item
    # The work was shared: nobody was starved by the others' locks.
    per_annotator = Counter(Annotation.objects.values_list("annotator_id", flat=True))
    assert len(per_annotator) == len(annotators)


def test_the_waiting_pass_of_a_claim_runs_in_a_transaction_of_its_own():
    """The claim's SKIP LOCKED pass and its waiting pass are separate transactions.

    A locking scan keeps a row it locked and then found no longer eligible
    until its transaction ends; a waiting pass holding such a row from the
    skipping pass deadlocked with another claim (the thirty-annotator test
    above caught it about one run in ten). Here nothing is left for the
    second annotator, so both passes run and find nothing; the transaction
    each runs in is read (``txid_current``) on its connection just before it.
    """
    project = ProjectFactory(overlap=1, lease_seconds=600)
    bulk_items(project, 1)
    first, second = make_annotators(2)
    assert assignment_next(project=project, annotator=first) is not None  # the only slot

    transactions = []

    def before_locking_scans(execute, sql, params, many, context):
        if "FOR NO KEY UPDATE" in sql:
            with context["connection"].connection.cursor() as raw:
                raw.execute("SELECT txid_current()")
                transactions.append(raw.fetchone()[0])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(before_locking_scans):
        assert assignment_next(project=project, annotator=second) is None
    assert len(transactions) == 2, transactions
    assert transactions[0] != transactions[1]


@pytest.mark.parametrize(("already_leased", "winners"), [(0, 3), (2, 1)])
def test_racing_for_the_last_slots_of_one_item_has_exactly_overlap_winners(already_leased, winners):
    project = ProjectFactory(overlap=3, lease_seconds=600)
    (item,) = bulk_items(project, 1)
    for early in make_annotators(already_leased):
        assert assignment_next(project=project, annotator=early).item_id == item.pk
    racers = make_annotators(24)

    def race(i: int, barrier: threading.Barrier):
        barrier.wait()
        lease = assignment_next(project=project, annotator=racers[i])
        return lease.item_id if lease else None

    results = run_threads(len(racers), race)
    assert sum(r == item.pk for r in results) == winners
    assert results.count(None) == len(racers) - winners
    item.refresh_from_db()
    assert item.slots_taken == 3
    assert Assignment.objects.filter(item=item, status=Assignment.Status.LEASED).count() == 3


def test_concurrent_double_submits_of_one_assignment_store_one_annotation():
    project = ProjectFactory(overlap=3, lease_seconds=600)
    (item,) = bulk_items(project, 1)
    (annotator,) = make_annotators(1)
    lease = assignment_next(project=project, annotator=annotator)
    shared_key = uuid.uuid4()
    # Half the threads resend one key (a retried request), half send fresh
    # keys (a double click that rendered twice).
    keys = [shared_key if i % 2 else uuid.uuid4() for i in range(16)]

    def submit(i: int, barrier: threading.Barrier):
        barrier.wait()
        annotation, created = annotation_record(
            assignment=lease, annotator=annotator, data=answer_for(item), idempotency_key=keys[i]
        )
        return annotation.pk, created

    results = run_threads(len(keys), submit)
    assert Annotation.objects.count() == 1
    only = Annotation.objects.get()
    assert {pk for pk, _ in results} == {only.pk}
    assert sum(created for _, created in results) == 1
    item.refresh_from_db()
    assert (item.annotation_count, item.slots_taken) == (1, 1)
    lease.refresh_from_db()
    assert lease.status == Assignment.Status.SUBMITTED


def test_one_annotator_in_many_tabs_gets_one_lease_of_the_only_item():
    project = ProjectFactory(overlap=3, lease_seconds=600)
    (item,) = bulk_items(project, 1)
    (annotator,) = make_annotators(1)

    def open_tab(_i: int, barrier: threading.Barrier):
        barrier.wait()
        lease = assignment_next(project=project, annotator=annotator)
        return lease.pk if lease else None

    results = run_threads(12, open_tab)
    only = Assignment.objects.get()
    assert set(results) == {only.pk}
    item.refresh_from_db()
    assert item.slots_taken == 1
