"""PostgreSQL specifics of the annotate loop's hand-written statements.

The claim must cost the same however much of a project is finished (it once
walked every finished item on each next-item request), and the three
statements (claim, lease lookup, submit) run prepared: planned once per
database connection, not on every request.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotate import rawsql
from annotate.models import Assignment, Item, ItemResponse, Membership, Project, Prompt, Response, content_hash
from annotate.selectors import assignment_get_for_submit
from annotate.services import assignment as assignment_service
from annotate.services.annotations import AnnotationInput, annotation_record
from annotate.services.assignment import annotator_for_user, assignment_next
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _bulk_project(n_items: int, n_done: int) -> Project:
    """A one-kind project of ``n_items`` thumb items whose first ``n_done`` are finished."""
    project = Project.objects.create(slug=f"big-{uuid.uuid4().hex[:8]}", name="Big", overlap=1, kinds=["thumb"])
    prompts = Prompt.objects.bulk_create(
        Prompt(project=project, messages=[{"role": "user", "content": f"q{i}"}], content_hash=content_hash(["p", i]))
        for i in range(n_items)
    )
    responses = Response.objects.bulk_create(
        Response(prompt=p, text=f"a{i}", content_hash=content_hash(["r", i])) for i, p in enumerate(prompts)
    )
    items = Item.objects.bulk_create(
        Item(
            project=project,
            kind="thumb",
            prompt=p,
            content_hash=content_hash(["i", i]),
            status="done" if i < n_done else "open",
            slots_taken=1 if i < n_done else 0,
            annotation_count=1 if i < n_done else 0,
        )
        for i, p in enumerate(prompts)
    )
    ItemResponse.objects.bulk_create(ItemResponse(item=i, response=r, position=0) for i, r in zip(items, responses))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotate_item")
        cursor.execute("ANALYZE annotate_assignment")
    return project


def _positional(sql: str, names: list[str]) -> str:
    return re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", sql)


def _scans_of_items(plan: dict) -> list[dict]:
    """Every plan node that reads annotate_item as the claim's candidate scan (alias ``c``)."""
    found = [plan] if plan.get("Relation Name") == "annotate_item" and plan.get("Alias") == "c" else []
    for child in plan.get("Plans", []):
        found += _scans_of_items(child)
    return found


def _candidates_visited(project, annotator, plan_mode: str, after: int = 0) -> int:
    """Rows of annotate_item the claim's candidate scan reads (``EXPLAIN ANALYZE`` of the real statement)."""
    names = ["project", "annotator", "overlap", "after", "now", "expires", "uuid", "shuffle"]
    types = ["bigint", "bigint", "integer", "bigint", "timestamptz", "timestamptz", "uuid", "boolean"]
    sql = _positional(assignment_service._claim_sql_text(with_kind=False, skip_locked=True), names)
    now = timezone.now()
    values = [project.pk, annotator.pk, project.overlap, after, now, now + timedelta(minutes=5), uuid.uuid4(), False]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL plan_cache_mode = {plan_mode}")
        cursor.execute(f"PREPARE claim_under_test ({', '.join(types)}) AS {sql}")
        placeholders = ", ".join(["%s"] * len(values))
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE claim_under_test ({placeholders})", values)
        plan = cursor.fetchone()[0]
        cursor.execute("DEALLOCATE claim_under_test")
        transaction.set_rollback(True)
    plan = json.loads(plan) if isinstance(plan, str) else plan
    scans = _scans_of_items(plan[0]["Plan"])
    assert scans, plan
    return max(scan["Actual Rows"] * scan["Actual Loops"] + scan.get("Rows Removed by Filter", 0) for scan in scans)


def _judged_by(annotator, items) -> None:
    now = timezone.now()
    Assignment.objects.bulk_create(
        Assignment(item=item, annotator=annotator, status="submitted", leased_at=now, expires_at=now) for item in items
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotate_assignment")


PLAN_MODES = ["force_custom_plan", "force_generic_plan"]


@pytest.mark.parametrize("plan_mode", PLAN_MODES)
def test_the_claim_does_not_walk_finished_items(plan_mode):
    """With 2,900 of 3,000 items finished, the candidate scan reads a handful of rows, under either plan.

    A prepared statement runs custom plans (parameters known) for its first
    executions, then usually a generic one: both must avoid the finished items.
    """
    project = _bulk_project(3000, 2900)
    # A veteran: they judged every finished item (the claim must not walk their history either).
    annotator = annotator_for_user(UserFactory())
    _judged_by(annotator, Item.objects.filter(project=project, status="done"))
    assert _candidates_visited(project, annotator, plan_mode) <= 5


@pytest.mark.parametrize("plan_mode", PLAN_MODES)
def test_the_claim_steps_over_open_items_already_judged_only_from_the_start(plan_mode):
    """A fast annotator ahead of the others: 2,000 items they judged are still open (others' slots free).

    From the start the scan reads all of them; past the item they just
    finished (what the loop passes), a handful.
    """
    project = _bulk_project(2500, 0)
    Project.objects.filter(pk=project.pk).update(overlap=3)
    project.refresh_from_db()
    annotator = annotator_for_user(UserFactory())
    judged = list(Item.objects.filter(project=project).order_by("id")[:2000])
    _judged_by(annotator, judged)
    Item.objects.filter(pk__in=[item.pk for item in judged]).update(slots_taken=1, annotation_count=1)
    assert _candidates_visited(project, annotator, plan_mode) >= 2000
    assert _candidates_visited(project, annotator, plan_mode, after=judged[-1].pk) <= 5


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _submit_one(project, user, annotator):
    lease = assignment_next(project=project, annotator=annotator)
    _project, _annotator, lease = assignment_get_for_submit(user, project.slug, lease.uuid)
    annotation_record(
        assignment=lease, annotator=annotator, data=AnnotationInput(choice="up"), idempotency_key=uuid.uuid4()
    )


def _loop_statements() -> list[str]:
    return [s for s in _prepared_statements() if "annotate_" in s]


def test_the_loop_statements_are_prepared_once_per_connection():
    # Each test starts with none: psycopg deallocates them all after a rollback (the previous test's end).
    assert _loop_statements() == []
    project = _bulk_project(20, 0)
    user = UserFactory()
    Membership.objects.create(project=project, user=user, role="annotator")
    annotator = annotator_for_user(user)
    for _ in range(6):
        _submit_one(project, user, annotator)
    mine = _loop_statements()
    assert len(mine) == 3, mine  # the claim, the lease lookup, the submit: each once, not six times
    assert sum("WITH cur AS" in s for s in mine) == 1
    assert sum("WITH won AS" in s for s in mine) == 1
    assert Item.objects.filter(project=project, annotation_count=1).count() == 6


def test_with_preparing_off_the_same_statements_run_unprepared():
    """``DATABASE_PREPARED_STATEMENTS=false`` leaves psycopg's ``prepare_threshold`` unset (PgBouncer in transaction mode)."""
    project = _bulk_project(10, 0)
    user = UserFactory()
    Membership.objects.create(project=project, user=user, role="annotator")
    annotator = annotator_for_user(user)
    connection.ensure_connection()
    raw = connection.connection
    threshold, raw.prepare_threshold = raw.prepare_threshold, None
    try:
        for _ in range(3):
            _submit_one(project, user, annotator)
        assert _loop_statements() == []
        with rawsql.prepared_cursor() as cursor, connection.cursor() as plain:
            assert type(cursor.cursor) is type(plain.cursor)
    finally:
        raw.prepare_threshold = threshold
    assert Item.objects.filter(project=project, annotation_count=1).count() == 3


@pytest.mark.django_db(transaction=True)
def test_one_prepared_cursor_per_connection_and_a_new_one_after_reconnecting():
    with rawsql.prepared_cursor() as first:
        first.execute("SELECT %s::int", [1])
        assert first.fetchone() == (1,)
    with rawsql.prepared_cursor() as second:
        second.execute("SELECT %s::int + 1", [1])
        assert second.fetchone() == (2,)
    assert second.cursor is first.cursor and not first.cursor.closed  # not closed by the with-block
    old = first.cursor
    connection.close()
    with rawsql.prepared_cursor() as third:
        third.execute("SELECT %s::int + 2", [1])
        assert third.fetchone() == (3,)
    assert third.cursor is not old and third.cursor.connection is connection.connection


def test_a_claimed_item_answers_chained_queries_about_itself_only():
    """The claim leaves the item's links prefetched; a query chained on them still filters by the item."""
    project = _bulk_project(5, 0)
    annotator = annotator_for_user(UserFactory())
    lease = assignment_next(project=project, annotator=annotator)
    links = lease.item.links
    with CaptureQueriesContext(connection) as queries:
        assert [link.position for link in links.all()] == [0]
    assert queries.captured_queries == []  # prefetched
    own = list(links.values_list("response__uuid", flat=True))
    assert [str(u) for u in own] == lease.item.response_uuids() and len(own) == 1
