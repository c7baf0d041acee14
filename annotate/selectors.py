"""Reads that cross relations, and the access helpers every view uses.

Outsiders get 404, never 403: a project's existence is not revealed to
someone who is not a member (healthchecks' ``_get_check_for_user``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.http import Http404

from annotate.models import ANNOTATE_ROLES, CURATE_ROLES, READ_DATA_ROLES, Item, Membership, Project


def project_get_for_user(user, slug: str, roles: Iterable[str] | None = None) -> tuple[Project, str]:
    """The project and the user's role in it, or 404 if they lack one of ``roles``."""
    if not user.is_authenticated:
        raise Http404("No such project")
    membership = Membership.objects.select_related("project").filter(project__slug=slug, user=user).first()
    if membership is None or (roles is not None and membership.role not in set(roles)):
        raise Http404("No such project")
    return membership.project, membership.role


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


@dataclass(frozen=True)
class AnnotatorProgress:
    """One annotator's standing in one project (their own work only: blind)."""

    done: int
    time_spent_ms: int
    left: int  # at most ``cap`` when counted with one; then ``left_more`` says there are more
    left_more: bool = False
    left_by_kind: dict[str, int] = field(default_factory=dict)


def annotator_progress(
    *, project: Project, annotator, by_kind: bool = False, cap: int | None = None
) -> AnnotatorProgress:
    """How many items this annotator has done, how long it took, and how many
    open items they could still be given (not seen by them, not full).

    Counting every open item of a 50,000-item project takes ~100 ms, too slow
    for the next-item loop, which passes ``cap`` (count at most that many,
    shown as "100+"); ``by_kind`` counts them all, per kind (project page).
    """
    from django.db.models import Count, F, Sum, Value
    from django.db.models.functions import Greatest

    from annotate.models import Annotation

    # annotation_annotator_idx: this annotator's annotations.
    mine = Annotation.objects.filter(item__project=project, annotator=annotator).aggregate(
        done=Count("id"), time=Sum("time_spent_ms")
    )
    # Same filter as assignment_next's candidates (item_next_idx).
    open_for_me = (
        Item.objects.assignable()
        # Probes are not counted: they are hidden repeats, handed out in between.
        .filter(project=project, probe_for__isnull=True)
        .exclude(assignments__annotator=annotator)
        .annotate(limit=Greatest(F("target_overlap"), Value(project.overlap)))
        .filter(slots_taken__lt=F("limit"))
    )
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
