"""Handing items out: leases, expiry, skips and probes, without over-assigning.

Taking judgments in (submissions, slot accounting, overlap, adaptive
overlap, idempotency) is ``annotate.services.annotations``.

Next item (``assignment_next``)
    One hand-written statement (``_claim_sql``, autocommit) reads the lease
    the annotator already holds, or picks the oldest eligible item ``FOR NO
    KEY UPDATE SKIP LOCKED`` (so concurrent requests never wait on each
    other), takes a slot with a conditional ``UPDATE item SET slots_taken =
    slots_taken + 1 WHERE slots_taken < GREATEST(target_overlap, overlap)``
    whose row count says who won, and writes the lease row. When every
    eligible item is locked at that instant, the request waits on the first
    one rather than report "nothing left" while slots remain. ``slots_taken``
    counts live leases plus the judgments that take slots (see
    ``annotations``), so an item never reaches more than its overlap. The
    unique (item, annotator) assignment row means an item never reaches the
    same annotator twice, even after a skip.

Expiry
    A lease past ``expires_at`` is reclaimed (status ``expired``, slot given
    back) by ``assignments_reclaim_expired``, which next-item runs at most
    every few seconds and Celery beat runs every minute. Each reclaim is its
    own short transaction that locks the assignment, then the item: the same
    order as submit and skip, so they cannot deadlock.

Probes (``_claim_probe``; made by ``annotations.probe_maybe_create``)
    With ``Project.probe_rate`` > 0, each submit of a normal item makes, with
    that probability (a hash of annotator and item, so runs are
    reproducible), a hidden repeat of it for the same annotator; half of the
    pairwise repeats show the sides swapped. A probe is handed out (before
    normal items) only once the annotator has leased ``PROBE_GAP`` other items
    since the original, so it never comes back to back; it renders exactly
    like a normal item, stores its choice canonically, wants one judgment and
    never counts towards the original's overlap. The normal claim skips
    probes; with ``probe_rate`` back at 0 pending probes are no longer handed out.
"""

from __future__ import annotations

import functools
import json
import random
import uuid
from datetime import timedelta

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from annotate import rawsql
from annotate.models import (
    Annotator,
    Assignment,
    Item,
    ItemResponse,
    Project,
    Prompt,
    Response,
)

RECLAIM_EVERY_SECONDS = 5


def annotator_for_user(user) -> Annotator:
    """The annotator row of a person, created on first use."""
    try:
        return user.annotator
    except Annotator.DoesNotExist:
        pass
    annotator, _ = Annotator.objects.get_or_create(
        user=user, defaults={"type": Annotator.Type.HUMAN, "name": user.get_username()}
    )
    return annotator


def overlap_limit(project: Project):
    """SQL expression: how many annotators an item may reach."""
    return Greatest(F("target_overlap"), Value(project.overlap))


def assignments_reclaim_expired(*, project: Project | None = None, now=None, limit: int = 500) -> int:
    """Give back the slots of leases past their expiry. Returns how many."""
    now = now or timezone.now()
    expired = Assignment.objects.filter(status=Assignment.Status.LEASED, expires_at__lte=now)
    if project is not None:
        expired = expired.filter(item__project=project)
    reclaimed = 0
    for pk, item_id in expired.values_list("pk", "item_id")[:limit]:
        with transaction.atomic():
            won = Assignment.objects.filter(pk=pk, status=Assignment.Status.LEASED, expires_at__lte=now).update(
                status=Assignment.Status.EXPIRED, finished_at=now
            )
            if won:
                Item.objects.filter(pk=item_id).update(slots_taken=F("slots_taken") - 1)
                reclaimed += 1
    return reclaimed


def _maybe_reclaim(project: Project, now) -> None:
    # Reclaiming is cheap but not free; one request per project in each
    # window of a few seconds is enough (beat sweeps every minute as well).
    # The window is taken from ``now`` so a caller passing a frozen clock
    # (tests, replays) sees the sweep its clock calls for.
    window = int(now.timestamp()) // RECLAIM_EVERY_SECONDS
    # This process asks the cache once per project and window, not on every request.
    if _reclaim_asked.get(project.pk) == window:
        return
    _reclaim_asked[project.pk] = window
    if cache.add(f"docket:reclaim:{project.uuid}:{window}", 1, timeout=RECLAIM_EVERY_SECONDS * 2):
        assignments_reclaim_expired(project=project, now=now)


_reclaim_asked: dict[int, int] = {}


def _display_order(item: Item, project: Project, annotator: Annotator, canonical: list[str] | None = None) -> list[str]:
    if canonical is None:
        canonical = item.response_uuids()
    order = list(canonical)
    if item.probe_of_id:
        # A probe repeats what this annotator saw on the original, sides
        # swapped when ``probe_swapped`` (so "A/B-swapped" is relative to
        # their screen, not to the canonical order a shuffle may have hidden).
        seen = (
            Assignment.objects.filter(item_id=item.probe_of_id, annotator=annotator)
            .values_list("display_order", flat=True)
            .first()
        )
        if seen and sorted(seen) == sorted(order):
            order = list(seen)
        return order[::-1] if item.probe_swapped and len(order) == 2 else order
    if project.randomize_order and len(order) > 1:
        random.shuffle(order)
    return order


def assignment_current(*, project: Project, annotator: Annotator, now=None) -> Assignment | None:
    """The annotator's live lease in this project, if any (e.g. after a reload)."""
    now = now or timezone.now()
    return (
        Assignment.objects.filter(
            annotator=annotator, item__project=project, status=Assignment.Status.LEASED, expires_at__gt=now
        )
        .select_related("item")
        .order_by("leased_at")
        .first()
    )


def _lease(*, item: Item, project: Project, annotator: Annotator, now) -> Assignment | None:
    """Take a slot of ``item`` (locked by the caller) and write the lease; ``None`` if the slot is gone."""
    won = (
        Item.objects.filter(pk=item.pk, status=Item.Status.OPEN, excluded=False)
        .annotate(limit=overlap_limit(project))
        .filter(slots_taken__lt=F("limit"))
        .update(slots_taken=F("slots_taken") + 1)
    )
    if not won:
        return None
    item.slots_taken += 1
    return _lease_write(item=item, project=project, annotator=annotator, now=now)


def _lease_write(*, item: Item, project: Project, annotator: Annotator, now, canonical=None) -> Assignment:
    item.project = project
    # An IntegrityError here (the same annotator won this item in a parallel
    # request, e.g. two tabs) rolls the caller's transaction back, slot included.
    return Assignment.objects.create(
        item=item,
        annotator=annotator,
        status=Assignment.Status.LEASED,
        display_order=_display_order(item, project, annotator, canonical),
        leased_at=now,
        expires_at=now + timedelta(seconds=project.lease_seconds),
    )


@functools.cache
def _claim_sql_text(*, with_kind: bool, skip_locked: bool) -> str:
    """``_claim_sql``'s statement (built once per variant: it depends on the models only)."""
    columns, taken_columns = rawsql.columns(Item, "i"), rawsql.columns(Item, "t")
    item_table, assignment_table = Item._meta.db_table, Assignment._meta.db_table
    kind_filter = "AND {alias}.kind = %(kind)s" if with_kind else ""
    return f"""
        WITH cur AS (
            -- assignment_annotator_idx (annotator, status): the annotator's live lease here.
            SELECT a.id FROM {assignment_table} a JOIN {item_table} ci ON ci.id = a.item_id
            WHERE a.annotator_id = %(annotator)s AND a.status = 'leased' AND a.expires_at > %(now)s
              AND ci.project_id = %(project)s {kind_filter.format(alias="ci")}
            ORDER BY a.leased_at
            LIMIT 1
        ), picked AS (
            -- item_next_idx (project, status, excluded, id) serves this scan, so
            -- finished items are never visited. OFFSET 0 keeps NOT EXISTS a probe of
            -- the unique (item, annotator) index per candidate: as an anti join the
            -- planner may merge with all of the annotator's assignments in item order
            -- (their whole history) along the primary key, visiting every finished
            -- item of the project on each claim.
            SELECT c.id FROM {item_table} c
            WHERE c.project_id = %(project)s AND c.status = 'open' AND NOT c.excluded
              AND c.probe_for_id IS NULL AND c.id > %(after)s
              AND c.slots_taken < GREATEST(c.target_overlap, %(overlap)s)
              {kind_filter.format(alias="c")}
              AND NOT EXISTS (
                  SELECT 1 FROM {assignment_table} a WHERE a.item_id = c.id AND a.annotator_id = %(annotator)s
                  OFFSET 0
              )
              AND NOT EXISTS (SELECT 1 FROM cur)
            ORDER BY c.id
            LIMIT 1
            FOR NO KEY UPDATE {"SKIP LOCKED" if skip_locked else ""}
        ), taken AS (
            UPDATE {item_table} i SET slots_taken = i.slots_taken + 1
            FROM picked
            WHERE i.id = picked.id AND i.slots_taken < GREATEST(i.target_overlap, %(overlap)s)
            RETURNING {columns}, ARRAY(
                SELECT r.uuid::text FROM {ItemResponse._meta.db_table} ir
                JOIN {Response._meta.db_table} r ON r.id = ir.response_id
                WHERE ir.item_id = i.id ORDER BY ir.position
            ) AS canonical
        ), shown AS (
            -- What the page shows of the item (prompt, responses), so rendering needs no query.
            SELECT t.id, (SELECT p.messages::text FROM {Prompt._meta.db_table} p WHERE p.id = t.prompt_id) AS messages,
                (SELECT json_agg(json_build_object('id', r.id, 'uuid', r.uuid, 'text', r.text) ORDER BY ir.position)
                 FROM {ItemResponse._meta.db_table} ir JOIN {Response._meta.db_table} r ON r.id = ir.response_id
                 WHERE ir.item_id = t.id)::text AS responses
            FROM taken t
        ), leased AS (
            INSERT INTO {assignment_table} (uuid, item_id, annotator_id, status, display_order, leased_at, expires_at)
            SELECT %(uuid)s, t.id, %(annotator)s, 'leased', to_jsonb(
                CASE WHEN %(shuffle)s THEN ARRAY(SELECT u FROM unnest(t.canonical) u ORDER BY random())
                     ELSE t.canonical END
            ), %(now)s, %(expires)s
            FROM taken t
            RETURNING id, display_order::text
        )
        SELECT (SELECT id FROM cur), l.id, l.display_order, s.messages, s.responses, {taken_columns}
        FROM (SELECT 1) one LEFT JOIN taken t ON true LEFT JOIN leased l ON true LEFT JOIN shown s ON true
    """  # noqa: S608 - only table and column names from the models are interpolated


def _claim_sql(*, project: Project, annotator: Annotator, kind: str | None, skip_locked: bool, now, after: int = 0):
    """PostgreSQL: the lease held, or a new one on the oldest eligible item, in one statement.

    One round trip, in autocommit (no BEGIN/COMMIT), does what the ORM path
    below does in five: read the annotator's live lease in the project
    (``cur``; with one, nothing else happens), pick and lock the oldest
    eligible item, take a slot with the conditional update, and write the
    lease with its display order (the canonical order, shuffled by
    ``random()`` when the project randomises). Being one statement it is
    atomic: a unique (item, annotator) clash undoes the slot too.

    Returns ``("current", assignment id)``, ``("leased", Assignment)`` or ``(None, None)``.
    """
    sql = _claim_sql_text(with_kind=bool(kind), skip_locked=skip_locked)
    lease_uuid = uuid.uuid4()
    params = {
        "project": project.pk,
        "annotator": annotator.pk,
        "overlap": project.overlap,
        "after": after,
        "kind": kind,
        "now": now,
        "expires": now + timedelta(seconds=project.lease_seconds),
        "uuid": lease_uuid,
        "shuffle": project.randomize_order,
    }
    with rawsql.prepared_cursor() as cursor:
        cursor.execute(sql, params)
        current_id, lease_id, display_order, messages, responses, *item_row = cursor.fetchone()
    if current_id is not None:
        return "current", current_id
    if lease_id is None:
        return None, None
    item = rawsql.instance(Item, item_row)
    item.project = project
    # The prompt and the responses in position order, as a prefetch would
    # leave them: ``item.prompt``, ``item.links.all()`` and ``item.response_uuids()`` need no query.
    item.prompt = Prompt(id=item.prompt_id, project=project, messages=json.loads(messages))
    shown = json.loads(responses or "[]")
    rawsql.prefetched(
        item,
        "links",
        [
            ItemResponse(item=item, position=position, response=Response(id=r["id"], uuid=r["uuid"], text=r["text"]))
            for position, r in enumerate(shown)
        ],
    )
    item.__dict__["_response_uuids"] = [str(r["uuid"]) for r in shown]
    lease = Assignment(
        id=lease_id,
        uuid=lease_uuid,
        item=item,
        annotator=annotator,
        status=Assignment.Status.LEASED,
        display_order=json.loads(display_order),
        leased_at=now,
        expires_at=params["expires"],
    )
    lease._state.adding, lease._state.db = False, connection.alias
    return "leased", lease


def _claim_passes(after: int | None) -> list[tuple[int, bool]]:
    """``(after, skip_locked)`` of each pass of a claim, in order (see ``assignment_next``)."""
    return ([(after, True)] if after else []) + [(0, True), (0, False)]


def _claim_sql_once(*, project: Project, annotator: Annotator, kind: str | None, now, after: int | None = None):
    """``_claim_sql`` past ``after`` skipping locked items, then from the start, then waiting on the first locked one.

    In autocommit each statement is its own transaction, so the waiting one
    holds no lock the skipping one took. That matters: a locking scan keeps
    the lock on a row it locked and then found no longer eligible (updated
    since the statement's snapshot) until its transaction ends. Had the
    waiting pass run in the skipping pass's transaction, it could wait on a
    lower item while holding such a higher one, and two claims doing so in
    turn deadlocked (each waiting pass alone locks in id order and cannot).
    Inside a caller's transaction the savepoints keep those locks: call
    ``assignment_next`` outside one, as the views do.
    """
    for start, skip_locked in _claim_passes(after):
        with rawsql.savepoint_if_nested():
            outcome, value = _claim_sql(
                project=project, annotator=annotator, kind=kind, skip_locked=skip_locked, now=now, after=start
            )
        if outcome is not None:
            return outcome, value
    return None, None


def assignment_next(
    *, project: Project, annotator: Annotator, kind: str | None = None, now=None, after: int | None = None
) -> Assignment | None:
    """Lease the next item to an annotator, or return the lease they hold.

    Returns ``None`` when nothing is left for this annotator.

    ``after``: the id of the item the annotator has just finished (submitted
    or skipped), if any. Items are handed out oldest first, so the open items
    before it are mostly ones this annotator has already judged and others
    have not yet completed: with a few annotators and an overlap above one,
    a fast annotator would step over all of them on every claim (tens of
    milliseconds after a thousand items, growing without bound). The claim
    looks past ``after`` first, then, when nothing is there, from the start:
    an item given back below it (an expired lease, a skip) is still handed
    out, by this annotator once nothing lies ahead of them, or by a claim
    without ``after`` (the annotate page as it opens), which scans from the start.

    The oldest eligible item is locked ``FOR NO KEY UPDATE SKIP LOCKED``, so
    parallel requests each take a different item without waiting (and without
    blocking the foreign-key checks of concurrent submits). When every
    eligible item is locked at that moment (the last free slots of a nearly
    finished project), skipping would wrongly report "nothing left": the
    request then waits on the first eligible item instead, and PostgreSQL
    re-checks the row (slots, status) once the holder commits.
    """
    now = now or timezone.now()
    _maybe_reclaim(project, now)
    if project.probe_rate > 0:
        # A due probe goes before normal items, so the lease held is read first (see _claim_probe).
        current = assignment_current(project=project, annotator=annotator, now=now)
        if current is not None and (kind is None or current.item.kind == kind):
            return current
        probe = _claim_probe(project=project, annotator=annotator, kind=kind, now=now)
        if probe is not None:
            return probe
    # The claim statement also reads the lease held (see _claim_sql).
    for _attempt in range(5):
        try:
            outcome, value = _claim_sql_once(project=project, annotator=annotator, kind=kind, now=now, after=after)
        except IntegrityError:
            continue  # a parallel request of this annotator (another tab) leased the same item; NOT EXISTS skips it now
        if outcome == "current":
            return Assignment.objects.select_related("item").get(pk=value)
        if outcome == "leased":
            return value
        break
    return _current_or_none(project=project, annotator=annotator, kind=kind, now=now)


# Probes ------------------------------------------------------------------

# A probe is handed out only once its annotator has leased at least this many
# other items of the project since the original, so it never follows it
# directly.
PROBE_GAP = 2


def _due_probes(*, project: Project, annotator: Annotator, kind: str | None) -> list[int]:
    """Ids of this annotator's open probes whose original lies ``PROBE_GAP`` or more leases back."""
    # The probe_for_id foreign-key index serves this (a handful of rows per annotator).
    pending = Item.objects.assignable().filter(project=project, probe_for=annotator)
    if kind:
        pending = pending.filter(kind=kind)
    pending = list(pending.exclude(assignments__annotator=annotator).order_by("id").values_list("pk", "probe_of_id"))
    if not pending:
        return []
    recent = list(
        Assignment.objects.filter(annotator=annotator, item__project=project)
        .order_by("-id")
        .values_list("id", flat=True)[:PROBE_GAP]
    )
    if len(recent) < PROBE_GAP:
        return []
    original_lease = dict(
        Assignment.objects.filter(annotator=annotator, item_id__in=[o for _pk, o in pending]).values_list(
            "item_id", "id"
        )
    )
    # Assignment ids grow with time: the original's lease is older than the
    # PROBE_GAP-th latest lease, so at least PROBE_GAP others came after it.
    return [pk for pk, original in pending if original_lease.get(original, 0) < recent[-1]]


def _claim_probe(*, project: Project, annotator: Annotator, kind: str | None, now) -> Assignment | None:
    """Lease one of the annotator's due probes, if any: the claim's one fallback to the ORM.

    ``_claim_sql`` cannot express it: whether a probe is due depends on how
    many leases the annotator took since its original (``_due_probes``), and
    the lease held must be read before it, so a project with probes pays a
    few more statements per claim; one without pays none.
    """
    due = _due_probes(project=project, annotator=annotator, kind=kind)
    if not due:
        return None
    try:
        with transaction.atomic():
            item = (
                Item.objects.assignable()
                .filter(pk__in=due)
                .select_for_update(skip_locked=True, no_key=True)
                .order_by("id")
                .first()
            )
            return None if item is None else _lease(item=item, project=project, annotator=annotator, now=now)
    except IntegrityError:
        return None  # another tab of this annotator took it; the normal claim goes on


def _current_or_none(*, project: Project, annotator: Annotator, kind: str | None, now) -> Assignment | None:
    # Nothing left to lease; a parallel request of this annotator (another
    # tab) may just have leased the last item for them: hand out the same.
    current = assignment_current(project=project, annotator=annotator, now=now)
    if current is not None and (kind is None or current.item.kind == kind):
        return current
    return None


def assignment_skip(*, assignment: Assignment, annotator: Annotator, now=None) -> bool:
    """Give the item back to the pool for others. The same annotator never gets it again."""
    now = now or timezone.now()
    if assignment.annotator_id != annotator.pk:
        raise ValidationError("This assignment is not yours.")
    with transaction.atomic():
        won = Assignment.objects.filter(pk=assignment.pk, status=Assignment.Status.LEASED).update(
            status=Assignment.Status.SKIPPED, finished_at=now
        )
        if won:
            Item.objects.filter(pk=assignment.item_id).update(slots_taken=F("slots_taken") - 1)
    return bool(won)
