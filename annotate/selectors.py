"""Reads that cross relations, and the access helpers every view uses.

Outsiders get 404, never 403: a project's existence is not revealed to
someone who is not a member (healthchecks' ``_get_check_for_user``).
"""

from __future__ import annotations

from collections.abc import Iterable

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
