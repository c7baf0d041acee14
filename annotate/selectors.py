"""Reads that cross relations, and the access helpers every view uses.

Outsiders get 404, never 403: a project's existence is not revealed to
someone who is not a member (healthchecks' ``_get_check_for_user``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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
    left: int
    left_by_kind: dict[str, int]


def annotator_progress(*, project: Project, annotator) -> AnnotatorProgress:
    """How many items this annotator has done, how long it took, and how many
    open items they could still be given (not seen by them, not full)."""
    from django.db.models import Count, F, Q, Sum, Value
    from django.db.models.functions import Greatest

    from annotate.models import Annotation

    mine = Annotation.objects.filter(item__project=project, annotator=annotator).aggregate(
        done=Count("id"), time=Sum("time_spent_ms")
    )
    # Same filter as assignment_next's candidates (uses item_next_idx).
    open_for_me = (
        Item.objects.assignable()
        .filter(project=project)
        .filter(Q(probe_for__isnull=True) | Q(probe_for=annotator))
        .exclude(assignments__annotator=annotator)
        .annotate(limit=Greatest(F("target_overlap"), Value(project.overlap)))
        .filter(slots_taken__lt=F("limit"))
    )
    by_kind = {row["kind"]: row["n"] for row in open_for_me.values("kind").annotate(n=Count("id")).order_by()}
    return AnnotatorProgress(
        done=mine["done"] or 0,
        time_spent_ms=mine["time"] or 0,
        left=sum(by_kind.values()),
        left_by_kind=by_kind,
    )
