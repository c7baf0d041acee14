"""Handing items out and taking annotations in, without losing or duplicating any.

Next item (``assignment_next``)
    The oldest eligible item is read ``FOR NO KEY UPDATE SKIP LOCKED`` so
    concurrent requests never wait on each other, and a slot is then taken
    with a conditional ``UPDATE item SET slots_taken = slots_taken + 1 WHERE
    slots_taken < limit`` whose row count says who won (the same guard works
    on SQLite, where row locks do not exist). On PostgreSQL one statement
    (``_claim_sql``, autocommit) reads the lease already held, or picks, takes
    a slot and writes the lease row. When every eligible item is locked at that
    instant, the request waits on the first one rather than report "nothing
    left" while slots remain. ``slots_taken`` counts live leases plus
    submitted annotations, so an item never reaches more than its overlap.
    The unique (item, annotator) assignment row means an item never reaches
    the same annotator twice, even after a skip.

Expiry
    A lease past ``expires_at`` is reclaimed (status ``expired``, slot given
    back) by ``assignments_reclaim_expired``, which next-item runs at most
    every few seconds and Celery beat runs every minute. Each reclaim is its
    own short transaction that locks the assignment, then the item: the same
    order as submit and skip, so they cannot deadlock.

Probes (``probe_maybe_create``, ``_claim_probe``)
    With ``Project.probe_rate`` > 0, each submit of a normal item makes, with
    that probability (a hash of annotator and item, so runs are
    reproducible), a hidden repeat of it for the same annotator; half of the
    pairwise repeats show the sides swapped. A probe is handed out (before
    normal items) only once the annotator has leased ``PROBE_GAP`` other items
    since the original, so it never comes back to back; it renders exactly
    like a normal item, stores its choice canonically, wants one judgment and
    never counts towards the original's overlap. The normal claim skips
    probes; with ``probe_rate`` back at 0 pending probes are no longer handed out.

Adaptive overlap (``_count_with_adaptive_overlap``)
    With ``Project.max_overlap`` > ``overlap`` and ``agreement_threshold`` > 0,
    the submit that brings an item to its target measures the item's
    agreement under the item's row lock; below the threshold the item's
    ``target_overlap`` grows by one (up to ``max_overlap``) and it stays open.

Submit (``annotation_submit``)
    Turns the lease into ``submitted`` with a conditional UPDATE, which locks
    the assignment row (only that row: joining item and project into the lock
    would queue every submit of a project behind one row), so a
    double submit (same or different idempotency key) stores one annotation
    and returns it to both callers; a key reused for another item is refused.
    A late submit on a reclaimed lease is accepted if the item still has a
    free slot; otherwise it is refused with ``LeaseLost`` (nothing is stored,
    and the annotator is told).
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from annotate import rawsql
from annotate.models import (
    Annotation,
    Annotator,
    Assignment,
    Item,
    ItemResponse,
    Kind,
    PairwiseChoice,
    PrincipleVerdict,
    Project,
    Prompt,
    Response,
    ThumbChoice,
    Verdict,
    content_hash,
)

RECLAIM_EVERY_SECONDS = 5
# On PostgreSQL next-item claims with one SQL statement (see ``_claim_sql``);
# the ORM path is the reference and serves other databases. Tests flip this
# to run both on PostgreSQL.
USE_SQL_CLAIM = True
# PostgreSQL: a plain submit is one hand-written statement (``_submit_sql``); tests turn it off to run the ORM path.
USE_SQL_SUBMIT = True


class LeaseLost(Exception):
    """The lease expired and the item was completed by others meanwhile."""


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


def _overlap_limit(project: Project):
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
        .annotate(limit=_overlap_limit(project))
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
    holds no lock the skipping one took (see ``_claim_orm_once``). Inside a
    caller's transaction the savepoints keep those locks: call
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
    sql_claim = connection.vendor == "postgresql" and USE_SQL_CLAIM
    if not sql_claim or project.probe_rate > 0:
        current = assignment_current(project=project, annotator=annotator, now=now)
        if current is not None and (kind is None or current.item.kind == kind):
            return current
        if project.probe_rate > 0:
            probe = _claim_probe(project=project, annotator=annotator, kind=kind, now=now)
            if probe is not None:
                return probe

    if sql_claim:
        # The claim statement also reads the lease held (see _claim_sql).
        for _attempt in range(5):
            try:
                outcome, value = _claim_sql_once(project=project, annotator=annotator, kind=kind, now=now, after=after)
            except IntegrityError:
                continue  # a parallel request of this annotator leased the same item (see below)
            if outcome == "current":
                return Assignment.objects.select_related("item").get(pk=value)
            if outcome == "leased":
                return value
            break
        return _current_or_none(project=project, annotator=annotator, kind=kind, now=now)

    candidates = (
        # item_next_idx (project, status, excluded, id) serves this scan.
        Item.objects.assignable()
        .filter(project=project, probe_for__isnull=True)
        # NOT EXISTS on the unique (item, annotator) index of assignments.
        .exclude(assignments__annotator=annotator)
        .annotate(limit=_overlap_limit(project))
        .filter(slots_taken__lt=F("limit"))
    )
    if kind:
        candidates = candidates.filter(kind=kind)
    candidates = candidates.order_by("id")
    for _attempt in range(5):
        try:
            item, lease = _claim_orm_once(candidates, project=project, annotator=annotator, now=now, after=after)
        except IntegrityError:
            # A parallel request of this annotator leased the same item; the
            # NOT EXISTS above now skips it.
            continue
        if item is None:
            break
        if lease is not None:
            return lease
    return _current_or_none(project=project, annotator=annotator, kind=kind, now=now)


def _claim_orm_once(
    candidates, *, project: Project, annotator: Annotator, now, after: int | None = None
) -> tuple[Item | None, Assignment | None]:
    """Lock the first of ``candidates`` (past ``after`` first) skipping locked items, else waiting on one; lease it.

    Returns ``(item, lease)``: ``(None, None)`` when nothing is eligible,
    ``(item, None)`` when the slot went meanwhile.

    The skipping pass and the waiting pass are separate transactions, as the
    SQL claim's two statements are. A locking scan keeps the lock on a row
    it locked and then found no longer eligible (updated since the
    statement's snapshot) until its transaction ends. Had the waiting pass
    run in the skipping pass's transaction, it could wait on a lower item
    while holding such a higher one, and two claims doing so in turn
    deadlocked (each waiting pass alone locks in id order and cannot).
    """
    for start, skip_locked in _claim_passes(after):
        with transaction.atomic():
            scan = candidates.filter(pk__gt=start) if start else candidates
            item = scan.select_for_update(skip_locked=skip_locked, no_key=True, of=("self",)).first()
            if item is not None:
                return item, _lease(item=item, project=project, annotator=annotator, now=now)
    return None, None


# Probes ------------------------------------------------------------------

# A probe is handed out only once its annotator has leased at least this many
# other items of the project since the original, so it never follows it
# directly.
PROBE_GAP = 2


def _probe_draw(annotator: Annotator, item: Item) -> tuple[float, bool]:
    """A deterministic ``(u, swap)`` per (annotator, item): ``u`` uniform in [0, 1), ``swap`` a fair coin."""
    digest = hashlib.sha256(f"docket-probe:{annotator.uuid}:{item.uuid}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64, bool(digest[8] & 1)


def probe_maybe_create(*, item: Item, annotator: Annotator, project: Project) -> Item | None:
    """After ``annotator`` judged ``item``, make a hidden repeat of it for them with probability ``probe_rate``.

    The draw is a hash of (annotator, item), so a run is reproducible. Half
    of the pairwise probes (the hash's coin) show the two responses on the
    other sides of the screen (``probe_swapped``). The probe is an item of its
    own (``probe_of`` = the original, ``probe_for`` = the annotator) with the
    same prompt and responses at the same canonical positions, so its
    annotation is stored in the same canonical terms as the original's and
    never counts towards the original's overlap or consensus. Called under
    the submit's transaction; ``None`` when no probe is drawn.
    """
    if item.probe_of_id or project.probe_rate <= 0:
        return None
    u, swap = _probe_draw(annotator, item)
    if u >= project.probe_rate:
        return None
    links = list(item.links.values_list("response_id", "position"))
    try:
        with transaction.atomic():
            probe = Item.objects.create(
                project=project,
                kind=item.kind,
                prompt_id=item.prompt_id,
                content_hash=content_hash(["probe", item.content_hash, str(annotator.uuid)]),
                probe_of=item,
                probe_for=annotator,
                probe_swapped=swap and item.kind == Kind.PAIRWISE,
            )
            ItemResponse.objects.bulk_create(
                ItemResponse(item=probe, response_id=rid, position=pos) for rid, pos in links
            )
    except IntegrityError:
        return None  # already made (cannot happen through submit; kept harmless for other callers)
    return probe


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


@dataclass
class AnnotationInput:
    """What an annotator submits, in canonical terms (A = position 0)."""

    choice: str = ""
    strength: int | None = None
    ranking: list[list[str]] | None = None
    critique: str = ""
    corrected_response: str = ""
    rationale: str = ""
    verdicts: dict[int, str] = field(default_factory=dict)  # principle id -> Verdict
    display_order: list[str] = field(default_factory=list)
    time_spent_ms: int | None = None
    probabilities: dict | None = None
    consistent: bool | None = None
    metadata: dict = field(default_factory=dict)


def annotation_validate(*, item: Item, data: AnnotationInput) -> None:
    """Raise ``ValidationError`` naming the field when ``data`` does not fit the item."""
    errors: dict[str, str] = {}
    if item.kind == Kind.PAIRWISE:
        if data.choice not in PairwiseChoice.values:
            errors["choice"] = f"choose one of {', '.join(PairwiseChoice.values)}"
        if data.strength is not None:
            if data.strength not in (1, 2, 3):
                errors["strength"] = "strength must be 1, 2 or 3"
            elif data.choice not in (PairwiseChoice.A, PairwiseChoice.B):
                errors["strength"] = "strength only applies when A or B is preferred"
    elif item.kind == Kind.THUMB:
        if data.choice not in ThumbChoice.values:
            errors["choice"] = "choose up or down"
    else:
        if data.choice:
            errors["choice"] = f"{item.kind} items take no choice"
    if item.kind != Kind.PAIRWISE and data.strength is not None:
        errors["strength"] = "strength only applies to pairwise items"
    if item.kind == Kind.RANKING:
        expected = set(item.response_uuids())
        groups = data.ranking or []
        flat = [str(r) for group in groups for r in group]
        if any(not group for group in groups):
            errors["ranking"] = "a rank group cannot be empty"
        elif len(flat) != len(set(flat)) or set(flat) != expected:
            errors["ranking"] = "rank every response exactly once"
    elif data.ranking:
        errors["ranking"] = "only ranking items take a ranking"
    if item.kind == Kind.JUDGMENT:
        if not data.critique.strip():
            errors["critique"] = "write a critique"
    elif data.critique or data.corrected_response:
        errors["critique"] = "only judgment items take a critique or correction"
    if data.verdicts:
        valid_principles = {p.pk for p in item.project.principles.all()}  # prefetched on the loop
        for principle_id, verdict in data.verdicts.items():
            if principle_id not in valid_principles:
                errors["verdicts"] = f"unknown principle {principle_id}"
            elif verdict not in Verdict.values:
                errors["verdicts"] = f"verdict must be one of {', '.join(Verdict.values)}"
    if data.time_spent_ms is not None and data.time_spent_ms < 0:
        errors["time_spent_ms"] = "time spent cannot be negative"
    if errors:
        raise ValidationError(errors)


def annotation_create(
    *,
    item: Item,
    annotator: Annotator,
    data: AnnotationInput,
    assignment: Assignment | None = None,
    idempotency_key: uuid.UUID | None = None,
    count_towards_overlap: bool = True,
) -> Annotation:
    """Write one annotation and its verdicts; the caller holds the locks it needs.

    Used by human submissions (through ``annotation_submit``), algorithmic
    judges and the API for external annotators. ``count_towards_overlap=False``
    (algorithmic judges) stores the annotation without counting it in the
    item's ``annotation_count`` / status, so judges never take human slots.
    """
    annotation_validate(item=item, data=data)
    annotation = _annotation_build(
        item=item, annotator=annotator, data=data, assignment=assignment, idempotency_key=idempotency_key
    )
    annotation.save(force_insert=True)
    if data.verdicts:
        PrincipleVerdict.objects.bulk_create(
            PrincipleVerdict(annotation=annotation, principle_id=pid, verdict=v) for pid, v in data.verdicts.items()
        )
    if not count_towards_overlap:
        return annotation
    project = item.project
    if item.probe_for_id is not None:
        # A probe wants one judgment, its annotator's.
        Item.objects.filter(pk=item.pk).update(annotation_count=F("annotation_count") + 1, status=Item.Status.DONE)
    elif adaptive_overlap_on(project):
        _count_with_adaptive_overlap(item=item, project=project)
    else:
        limit = Greatest(F("target_overlap"), Value(project.overlap))
        Item.objects.filter(pk=item.pk).update(
            annotation_count=F("annotation_count") + 1,
            status=Case(When(annotation_count__gte=limit - 1, then=Value(Item.Status.DONE)), default=F("status")),
        )
    return annotation


def _annotation_build(
    *, item: Item, annotator: Annotator, data: AnnotationInput, assignment: Assignment | None, idempotency_key
) -> Annotation:
    """The unsaved annotation of ``data`` (validated by the caller)."""
    return Annotation(
        item=item,
        annotator=annotator,
        assignment=assignment,
        kind=item.kind,
        choice=data.choice,
        strength=data.strength,
        ranking=[[str(r) for r in group] for group in data.ranking] if data.ranking else None,
        critique=data.critique.strip(),
        corrected_response=data.corrected_response.strip(),
        rationale=data.rationale.strip(),
        display_order=data.display_order or (assignment.display_order if assignment else []),
        time_spent_ms=data.time_spent_ms,
        idempotency_key=idempotency_key or uuid.uuid4(),
        probabilities=data.probabilities,
        consistent=data.consistent,
        metadata=data.metadata,
    )


# Adaptive overlap --------------------------------------------------------


def adaptive_overlap_on(project: Project) -> bool:
    return project.max_overlap > project.overlap and project.agreement_threshold > 0


def agreement_majority_share(choices: list[str]) -> float | None:
    """Share of the judgments that agree with the most common one (pairwise choice, thumb)."""
    if not choices:
        return None
    counts: dict[str, int] = {}
    for choice in choices:
        counts[choice] = counts.get(choice, 0) + 1
    return max(counts.values()) / len(choices)


def _rank_of(ranking: list[list[str]]) -> dict[str, int]:
    return {response: rank for rank, group in enumerate(ranking) for response in group}


def agreement_rankings(rankings: list[list[list[str]]]) -> float | None:
    """Mean pairwise Kendall agreement of rankings (groups best first; a group is a tie).

    For each two annotators, the share of response pairs they order alike
    (both the same way round, or both tied): ``(1 + tau_a) / 2`` without ties.
    The mean over all pairs of annotators; ``None`` with fewer than two.
    """
    ranks = [_rank_of(r) for r in rankings if r]
    if len(ranks) < 2:
        return None
    shares = []
    for i in range(len(ranks)):
        for j in range(i + 1, len(ranks)):
            common = sorted(set(ranks[i]) & set(ranks[j]))
            pairs = [(x, y) for k, x in enumerate(common) for y in common[k + 1 :]]
            if not pairs:
                continue
            same = 0
            for x, y in pairs:
                a = ranks[i][x] - ranks[i][y]
                b = ranks[j][x] - ranks[j][y]
                same += (a > 0) - (a < 0) == (b > 0) - (b < 0)
            shares.append(same / len(pairs))
    return sum(shares) / len(shares) if shares else None


def item_agreement(*, item: Item) -> float | None:
    """How much an item's counted judgments agree, in [0, 1]; ``None`` where the kind has no measure (judgment).

    Pairwise and thumb: the majority share of the choice (strength ignored);
    ranking: mean pairwise Kendall agreement (``agreement_rankings``). Only the
    judgments that count towards overlap are used: people's and imported
    ones, and external annotators' posted through the API, not the
    algorithmic judges' (``count_towards_overlap=False``).
    """
    counted = Annotation.objects.filter(item=item).filter(
        ~Q(annotator__type=Annotator.Type.MODEL) | Q(metadata__source="api")
    )
    if item.kind in (Kind.PAIRWISE, Kind.THUMB):
        return agreement_majority_share(list(counted.values_list("choice", flat=True)))
    if item.kind == Kind.RANKING:
        return agreement_rankings([r for r in counted.values_list("ranking", flat=True) if r])
    return None


def _count_with_adaptive_overlap(*, item: Item, project: Project) -> None:
    """Count one more judgment; on reaching the target, raise it by one if agreement is too low.

    Under the item's row lock (``FOR NO KEY UPDATE``, the lock next-item's
    claim takes), so two submits that reach the target together are counted
    one after the other and the target grows by one per decision, never past
    ``project.max_overlap``. Raising the target frees one slot; the claim's
    ``slots_taken < GREATEST(target_overlap, overlap)`` hands it out again.
    """
    with transaction.atomic():
        row = (
            Item.objects.select_for_update(no_key=True)
            .filter(pk=item.pk)
            .values("annotation_count", "target_overlap", "status")
            .get()
        )
        count = row["annotation_count"] + 1
        target = max(row["target_overlap"], project.overlap)
        new_target, status = row["target_overlap"], row["status"]
        if count >= target:
            agreement = item_agreement(item=item) if target < project.max_overlap else None
            if agreement is not None and agreement < project.agreement_threshold:
                new_target = target + 1
            else:
                status = Item.Status.DONE
        Item.objects.filter(pk=item.pk).update(annotation_count=count, target_overlap=new_target, status=status)


def annotation_submit(
    *, assignment: Assignment, annotator: Annotator, data: AnnotationInput, idempotency_key: uuid.UUID, now=None
) -> tuple[Annotation, bool]:
    """Store a submission exactly once. Returns ``(annotation, created)``.

    A repeat of the same submission (same idempotency key, or a second submit
    on the same assignment) returns the first annotation with ``created=False``.
    """
    now = now or timezone.now()
    if assignment.annotator_id != annotator.pk:
        raise ValidationError("This assignment is not yours.")
    try:
        if _submit_fast_applies(assignment.item, annotator):
            annotation = _submit_sql(
                assignment=assignment, annotator=annotator, data=data, idempotency_key=idempotency_key, now=now
            )
            if annotation is not None:
                return annotation, True
            # The lease is no longer live (a repeat, a skip, an expiry): the general path sorts it out.
        return _submit_locked(
            assignment=assignment, annotator=annotator, data=data, idempotency_key=idempotency_key, now=now
        )
    except IntegrityError:
        # The key was used before by this annotator (the repeat of a stored
        # submission arrives with the assignment already submitted, so this
        # is a key reused for another item), or the item already holds an
        # annotation of theirs written outside this assignment.
        existing = Annotation.objects.filter(annotator=annotator, idempotency_key=idempotency_key).first()
        if existing is not None and existing.item_id != assignment.item_id:
            raise ValidationError({"idempotency_key": "This key was already used for another item."}) from None
        existing = existing or Annotation.objects.filter(annotator=annotator, item_id=assignment.item_id).first()
        if existing is None:
            raise
        return existing, False


def _submit_fast_applies(item: Item, annotator: Annotator) -> bool:
    """Whether a submit on ``item`` is the plain case ``_submit_sql`` handles.

    PostgreSQL; the item is not a probe (probes count differently); the
    project has no adaptive overlap (which reads the item's judgments under
    its lock); and no probe is drawn for this (annotator, item).
    """
    project = item.project
    return (
        connection.vendor == "postgresql"
        and USE_SQL_SUBMIT
        and item.probe_for_id is None
        and not adaptive_overlap_on(project)
        and (project.probe_rate <= 0 or _probe_draw(annotator, item)[0] >= project.probe_rate)
    )


def _submit_sql(
    *, assignment: Assignment, annotator: Annotator, data: AnnotationInput, idempotency_key: uuid.UUID, now
) -> Annotation | None:
    """The plain submit in one statement: the lease, the annotation, its verdicts, the item's count.

    The live lease becomes submitted (``won``); only if it did, the
    annotation is inserted with its principle verdicts and the item counts
    one more judgment (done at its overlap), exactly as ``_submit_locked``
    followed by ``annotation_create`` would, but in one round trip and
    without the ORM's query building. One statement is atomic: a unique
    clash (the key reused, the item already judged) raises
    ``IntegrityError`` and leaves nothing written. ``None`` when the lease
    was not live (nothing is written then either).
    """
    item = assignment.item
    annotation_validate(item=item, data=data)
    annotation = _annotation_build(
        item=item, annotator=annotator, data=data, assignment=assignment, idempotency_key=idempotency_key
    )
    fields = _annotation_insert_fields()
    values = [f.get_db_prep_save(f.pre_save(annotation, True), connection) for f in fields]
    params = [
        Assignment.Status.SUBMITTED.value,
        now,
        assignment.pk,
        Assignment.Status.LEASED.value,
        *values,
        [int(pid) for pid in data.verdicts],
        list(data.verdicts.values()),
        item.project.overlap,
        Item.Status.DONE.value,
        item.pk,
    ]
    with rawsql.savepoint_if_nested(), rawsql.prepared_cursor() as cursor:
        cursor.execute(_submit_sql_text(), params)
        row = cursor.fetchone()
    if row is None:
        return None
    annotation.pk = row[0]
    annotation._state.adding, annotation._state.db = False, connection.alias
    assignment.status, assignment.finished_at = Assignment.Status.SUBMITTED, now
    return annotation


def _annotation_insert_fields() -> list:
    return [f for f in rawsql.fields(Annotation) if not f.primary_key]


@functools.cache
def _submit_sql_text() -> str:
    """``_submit_sql``'s statement (built once: it depends on the models only)."""
    fields = _annotation_insert_fields()
    casts = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in fields)
    return f"""
        WITH won AS (
            UPDATE {Assignment._meta.db_table} SET status = %s, finished_at = %s
            WHERE id = %s AND status = %s
            RETURNING id
        ), ann AS (
            INSERT INTO {Annotation._meta.db_table} ({", ".join(f'"{f.column}"' for f in fields)})
            SELECT {casts} FROM won
            RETURNING id
        ), verdicts AS (
            INSERT INTO {PrincipleVerdict._meta.db_table} (annotation_id, principle_id, verdict)
            SELECT ann.id, v.principle, v.verdict
            FROM ann, unnest(CAST(%s AS bigint[]), CAST(%s AS text[])) AS v(principle, verdict)
        ), counted AS (
            UPDATE {Item._meta.db_table} SET annotation_count = annotation_count + 1,
                status = CASE WHEN annotation_count >= GREATEST(target_overlap, %s) - 1 THEN %s ELSE status END
            WHERE id = %s AND EXISTS (SELECT 1 FROM ann)
        )
        SELECT id FROM ann
    """  # noqa: S608 - only table and column names from the models are interpolated


def _submit_locked(
    *, assignment: Assignment, annotator: Annotator, data: AnnotationInput, idempotency_key: uuid.UUID, now
) -> tuple[Annotation, bool]:
    # No read of the key before the lock: a repeat finds the assignment
    # submitted under the lock, and a clash raises IntegrityError (one round
    # trip less per submit).
    with transaction.atomic():
        # The usual case in one statement: the live lease becomes submitted.
        # The UPDATE locks the assignment row (only that row: locking the item
        # and project too would queue every submit of a project behind one
        # row), so a parallel double submit waits here, then matches nothing.
        item = assignment.item
        won = Assignment.objects.filter(pk=assignment.pk, status=Assignment.Status.LEASED).update(
            status=Assignment.Status.SUBMITTED, finished_at=now
        )
        if not won:
            locked = Assignment.objects.select_for_update().only("status", "item_id").get(pk=assignment.pk)
            if locked.status == Assignment.Status.SUBMITTED:
                return Annotation.objects.get(item_id=locked.item_id, annotator=annotator), False
            if locked.status == Assignment.Status.SKIPPED:
                raise ValidationError("This item was skipped.")
            # Expired: the slot was given back; take one again if there is room.
            annotation_validate(item=item, data=data)
            retaken = (
                Item.objects.filter(pk=item.pk, excluded=False)
                .annotate(limit=_overlap_limit(item.project))
                .filter(slots_taken__lt=F("limit"))
                .update(slots_taken=F("slots_taken") + 1)
            )
            if not retaken:
                raise LeaseLost("Your time on this item ran out and others have completed it.")
            Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.SUBMITTED, finished_at=now)
        # Validates (a ValidationError undoes the status change above), then
        # counts the judgment on the item with one atomic UPDATE.
        annotation = annotation_create(
            item=item, annotator=annotator, data=data, assignment=assignment, idempotency_key=idempotency_key
        )
        probe_maybe_create(item=item, annotator=annotator, project=item.project)
    return annotation, True
