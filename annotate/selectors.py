"""Reads that cross relations, and the access helpers every view uses.

Outsiders get 404, never 403: a project's existence is not revealed to
someone who is not a member (healthchecks' ``_get_check_for_user``).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.cache import cache
from django.http import Http404

from annotate.models import ANNOTATE_ROLES, CURATE_ROLES, READ_DATA_ROLES, Item, Membership, Project
from config.cache import incr_many, incr_many_then_get, unavailable


def project_get_for_user(user, slug: str, roles: Iterable[str] | None = None) -> tuple[Project, str]:
    """The project and the user's role in it, or 404 if they lack one of ``roles``."""
    if not user.is_authenticated:
        raise Http404("No such project")
    membership = Membership.objects.select_related("project").filter(project__slug=slug, user=user).first()
    if membership is None or (roles is not None and membership.role not in set(roles)):
        raise Http404("No such project")
    return membership.project, membership.role


def membership_get_for_annotator(user, slug: str, roles: Iterable[str] = ANNOTATE_ROLES):
    """``(project, role, annotator or None)`` in one query, or 404 as ``project_get_for_user``.

    The next-item loop runs this on every request: the membership, its
    project and the user's annotator row come back joined.
    """
    from annotate.models import Annotator

    if not user.is_authenticated:
        raise Http404("No such project")
    membership = (
        Membership.objects.select_related("project", "user__annotator").filter(project__slug=slug, user=user).first()
    )
    if membership is None or membership.role not in set(roles):
        raise Http404("No such project")
    try:
        annotator = membership.user.annotator
    except Annotator.DoesNotExist:
        annotator = None
    return membership.project, membership.role, annotator


def _principle_column(f) -> str:
    """A principle's column in the lookup's JSON array; a JSON field travels as text (``instance`` decodes it)."""
    return f'pr."{f.column}"::text' if f.get_internal_type() == "JSONField" else f'pr."{f.column}"'


def _questions_sql(project_id_sql: str) -> str:
    """A sub-select of the project's questions in use, each with its current version, as JSON text
    (read back by :func:`questions_from_json`)."""
    from annotate import rawsql
    from annotate.models import Question, QuestionVersion

    def cols(model, alias):
        # JSON columns as text, so the model fields' converters read them as they read a row.
        return ", ".join(
            f'{alias}."{f.column}"' + ("::text" if f.get_internal_type() == "JSONField" else "")
            for f in rawsql.fields(model)
        )

    return f"""(SELECT json_agg(json_build_array({cols(Question, "q")}, {cols(QuestionVersion, "qv")})
                       ORDER BY q.position, q.id)
                FROM {Question._meta.db_table} q JOIN {QuestionVersion._meta.db_table} qv ON qv.id = q.current_id
                WHERE q.project_id = {project_id_sql} AND q.retired_at IS NULL)::text"""  # noqa: S608


def questions_from_json(text: str | None) -> list:
    """The questions (``current`` set) of :func:`_questions_sql`'s JSON."""
    from annotate import rawsql
    from annotate.models import Question, QuestionVersion

    width = len(rawsql.fields(Question))
    out = []
    for row in json.loads(text or "[]"):
        question = rawsql.instance(Question, row[:width])
        question.current = rawsql.instance(QuestionVersion, row[width:])
        out.append(question)
    return out


@functools.cache
def _lookup_sql_text() -> str:
    """``assignment_get_for_submit``'s statement (built once: it depends on the models only)."""
    from annotate import rawsql
    from annotate.models import Annotator, Assignment, ItemResponse, Principle, Response

    return f"""
        SELECT {rawsql.columns(Assignment, "a")}, {rawsql.columns(Item, "i")},
               {rawsql.columns(Project, "p")}, {rawsql.columns(Annotator, "n")},
               ARRAY(SELECT r.uuid::text FROM {ItemResponse._meta.db_table} ir
                     JOIN {Response._meta.db_table} r ON r.id = ir.response_id
                     WHERE ir.item_id = i.id ORDER BY ir.position) AS canonical,
               (SELECT json_agg(json_build_array({", ".join(_principle_column(f) for f in rawsql.fields(Principle))})
                               ORDER BY pr.position, pr.id)
                FROM {Principle._meta.db_table} pr WHERE pr.project_id = p.id AND pr.retired_at IS NULL)::text
                AS principles,
               {_questions_sql("p.id")} AS questions
        FROM {Assignment._meta.db_table} a
        JOIN {Item._meta.db_table} i ON i.id = a.item_id
        JOIN {Project._meta.db_table} p ON p.id = i.project_id
        JOIN {Annotator._meta.db_table} n ON n.id = a.annotator_id
        WHERE a.uuid = %(uuid)s AND n.user_id = %(user)s AND p.slug = %(slug)s
          AND EXISTS (SELECT 1 FROM {Membership._meta.db_table} m
                      WHERE m.project_id = p.id AND m.user_id = %(user)s AND m.role = ANY(%(roles)s))
    """  # noqa: S608 - only table and column names from the models are interpolated


def assignment_get_for_submit(user, slug: str, assignment_uuid):
    """``(project, annotator, assignment)`` for a submit or skip, in one statement, or 404.

    The lease must be the user's own, in project ``slug``, where they hold a
    role that may annotate (the checks of ``membership_get_for_annotator``
    plus the lease's). The row brings what a submit needs next: the item
    (``assignment.item``) with its responses' uuids in canonical order
    (``item.response_uuids()``), its project (``item.project``) with its
    principles in use (``project.principles.all()``: retired ones left out) and its questions in use
    (``questions_in_use(project)``), and the annotator. Written by
    hand (``annotate.rawsql``): the loop runs it on every submission.
    """
    from annotate import rawsql
    from annotate.models import Annotator, Assignment, Principle

    if not user.is_authenticated:
        raise Http404("No such assignment")
    try:
        lease_uuid = uuid.UUID(str(assignment_uuid))
    except ValueError:
        raise Http404("No such assignment") from None
    with rawsql.prepared_cursor() as cursor:
        cursor.execute(
            _lookup_sql_text(), {"uuid": lease_uuid, "user": user.pk, "slug": slug, "roles": list(ANNOTATE_ROLES)}
        )
        row = cursor.fetchone()
    if row is None:
        raise Http404("No such assignment")
    (assignment, item, project, annotator), (canonical, principles, questions) = rawsql.instances(
        (Assignment, Item, Project, Annotator), row
    )
    principles = json.loads(principles or "[]")
    rawsql.prefetched(project, "principles", [rawsql.instance(Principle, p) for p in principles])
    rawsql.prefetched(project, "questions", questions_from_json(questions))
    item.project = project
    item.__dict__["_response_uuids"] = list(canonical)
    assignment.item, assignment.annotator = item, annotator
    annotator.user = user
    return project, annotator, assignment


def principles_in_use(project: Project) -> list:
    """The project's principles annotators and judges are asked about (retired ones left out), in order.

    Filtered in Python so that principles prefetched with the project (the
    submit's lookup) cost no query.
    """
    return [p for p in project.principles.all() if p.retired_at is None]


def questions_in_use(project: Project, kind: str | None = None) -> list:
    """The project's custom questions annotators and judges are asked (retired
    ones left out), in order, each with its ``current`` version loaded; with
    ``kind``, only those asked on items of that kind.

    Questions prefetched with the project (the annotate loop's lookup) cost
    no query; otherwise one.
    """
    if "questions" in getattr(project, "_prefetched_objects_cache", {}):
        questions = project.questions.all()
    else:
        questions = project.questions.select_related("current").filter(retired_at__isnull=True)
    return [q for q in questions if q.retired_at is None and (kind is None or kind in q.current.kinds)]


def user_may_create_projects(user) -> bool:
    """Staff, and anyone granted the project model's ``add_project`` permission, may create projects."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_staff or user.has_perm(f"{Project._meta.app_label}.add_project")


def project_for_curator(user, slug: str) -> Project:
    return project_get_for_user(user, slug, CURATE_ROLES)[0]


def project_for_annotator(user, slug: str) -> Project:
    return project_get_for_user(user, slug, ANNOTATE_ROLES)[0]


def project_for_reader(user, slug: str) -> Project:
    return project_get_for_user(user, slug, READ_DATA_ROLES)[0]


def item_get_for_curator(user, slug: str, item_uuid) -> Item:
    project = project_for_curator(user, slug)
    item = Item.objects.filter(project=project, uuid=item_uuid).select_related("prompt").first()
    if item is None:
        raise Http404("No such item")
    return item


def _left_for(project: Project, annotator):
    """The items this annotator has left: the one selector behind every "left" figure (home, project, annotate).

    Open items they could still be given (not seen by them, not full: the
    same filter as assignment_next's, item_next_idx), plus those leased to
    them now: the item on their screen is still to do, so the home page
    (nothing leased) and the annotate header (that item leased) agree, and
    the header never reads 0 left with an item on screen. Probes (hidden
    repeats, handed out in between) count only once leased.
    """
    from django.db.models import Exists, F, OuterRef, Q, Value
    from django.db.models.functions import Greatest

    from annotate.models import Assignment

    mine = Assignment.objects.filter(item=OuterRef("pk"), annotator=annotator)
    return (
        Item.objects.assignable()
        .filter(project=project)
        .annotate(limit=Greatest(F("target_overlap"), Value(project.overlap)))
        .filter(
            Q(probe_for__isnull=True, slots_taken__lt=F("limit")) & ~Exists(mine)
            | Exists(mine.filter(status=Assignment.Status.LEASED))
        )
    )


@dataclass(frozen=True)
class AnnotatorProgress:
    """One annotator's standing in one project (their own work only: blind)."""

    done: int
    time_spent_ms: int
    left: int  # at most ``cap`` when counted with one; then ``left_more`` says there are more
    left_more: bool = False
    left_by_kind: dict[str, int] = field(default_factory=dict)
    # Counted while the cache was out of reach: counters bumped meanwhile may lag once it is back.
    approximate: bool = False


def annotator_progress(
    *, project: Project, annotator, by_kind: bool = False, cap: int | None = None
) -> AnnotatorProgress:
    """How many items this annotator has done, how long it took, and how many
    they have left (``_left_for``: open items they could still be given, and
    those leased to them now).

    Counting every open item of a 50,000-item project takes ~100 ms, too slow
    for the next-item loop, which passes ``cap`` (count at most that many,
    shown as "100+"); ``by_kind`` counts them all, per kind (project page).
    """
    from django.db.models import Count, Sum

    from annotate.models import Annotation

    # annotation_annotator_idx: this annotator's annotations.
    mine = Annotation.objects.filter(item__project=project, annotator=annotator).aggregate(
        done=Count("id"), time=Sum("time_spent_ms")
    )
    open_for_me = _left_for(project, annotator)
    left_by_kind: dict[str, int] = {}
    left_more = False
    if by_kind:
        rows = open_for_me.values("kind").annotate(n=Count("id")).order_by()
        left_by_kind = {row["kind"]: row["n"] for row in rows}
        left = sum(left_by_kind.values())
    elif cap is not None:
        left = open_for_me.order_by().values("pk")[: cap + 1].count()
        left_more = left > cap
        left = min(left, cap)
    else:
        left = open_for_me.count()
    return AnnotatorProgress(
        done=mine["done"] or 0,
        time_spent_ms=mine["time"] or 0,
        left=left,
        left_more=left_more,
        left_by_kind=left_by_kind,
    )


# The next-item loop's counter ----------------------------------------------------

# How long the loop's cached "done" / "time spent" counters live (the annotate
# view bumps them on each stored submission, so this only bounds the drift
# from writes made elsewhere, e.g. the API), and how long "cap+ left" is kept.
PROGRESS_COUNTERS_TTL = 300
PROGRESS_LEFT_TTL = 10


def progress_cache_keys(project_id: int, annotator_id: int) -> tuple[str, str, str]:
    base = f"docket:progress:{project_id}:{annotator_id}"
    return f"{base}:done", f"{base}:time", f"{base}:left-more"


def annotator_progress_loop(*, project: Project, annotator, cap: int, stored=None) -> AnnotatorProgress:
    """``annotator_progress(cap=...)`` for the next-item loop, from the cache where it can.

    With the cache out of reach (config/cache.py) everything is counted
    from the database and the progress is marked ``approximate``: bumps
    missed meanwhile make the cached counters lag until they are dropped.

    "done" and "time spent" are counted once, then kept in the cache and
    bumped by every submission the annotate view stores, so
    the loop no longer aggregates the annotator's annotations on every item.
    "left" is counted as before (at most ``cap + 1`` rows), except that once it
    is beyond the cap, "cap+" is shown for ``PROGRESS_LEFT_TTL`` seconds
    without counting again. Near the end (fewer than ``cap`` left) it is exact
    on every request.

    ``stored``: an annotation the caller has just stored (the submit of the
    loop); it is counted in the same round trip that reads the counters
    (``progress_count_annotation`` does it alone).
    """
    from django.db.models import Count, Sum

    from annotate.models import Annotation

    done_key, time_key, left_key = progress_cache_keys(project.pk, annotator.pk)
    if stored is None:
        cached = cache.get_many([done_key, time_key, left_key])
    else:
        # A counter that had expired leaves both unchanged; they are counted afresh below, ``stored`` included.
        _bumped, cached = incr_many_then_get(
            cache, {done_key: 1, time_key: stored.time_spent_ms or 0}, [done_key, time_key, left_key]
        )
    if done_key in cached and time_key in cached:
        done, time_spent = cached[done_key], cached[time_key]
    else:
        mine = Annotation.objects.filter(item__project=project, annotator=annotator).aggregate(
            done=Count("id"), time=Sum("time_spent_ms")
        )
        done, time_spent = mine["done"] or 0, mine["time"] or 0
        cache.set_many({done_key: done, time_key: time_spent}, PROGRESS_COUNTERS_TTL)
    if left_key in cached:
        left, left_more = cap, True
    else:
        left = _left_for(project, annotator).order_by().values("pk")[: cap + 1].count()
        left_more = left > cap
        left = min(left, cap)
        if left_more:
            cache.set(left_key, 1, PROGRESS_LEFT_TTL)
    return AnnotatorProgress(
        done=done, time_spent_ms=time_spent, left=left, left_more=left_more, approximate=unavailable(cache)
    )


def progress_count_annotation(*, project_id: int, annotator_id: int, time_spent_ms: int | None) -> None:
    """Bump the loop's cached counters by one stored annotation (no-op when they are not cached)."""
    done_key, time_key, _left_key = progress_cache_keys(project_id, annotator_id)
    try:
        incr_many(cache, {done_key: 1, time_key: time_spent_ms or 0})
    except ValueError:
        cache.delete_many([done_key, time_key])  # one of them expired: count afresh next time
