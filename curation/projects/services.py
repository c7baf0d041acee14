"""Writes of the members page: add a member, change a role, remove a member
(``<entity>_<action>``, keyword-only; owners only, checked by the view).
Each is recorded in the project's activity log (``by`` is the actor)."""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from annotate.models import Membership, Project, Role
from curation.projects.activity import activity_record

log = logging.getLogger(__name__)


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise ValidationError({"role": f"role must be one of {', '.join(Role.values)}"})


def _owners_locked(project: Project) -> list[int]:
    """The owners' user ids, their membership rows locked until the transaction ends
    (so two owners cannot demote each other at the same moment and leave none)."""
    return list(
        Membership.objects.select_for_update()
        .filter(project=project, role=Role.OWNER)
        .order_by("pk")
        .values_list("user_id", flat=True)
    )


def membership_add(*, project: Project, username: str, role: str, by=None) -> Membership:
    """Give an existing user a role in the project."""
    _check_role(role)
    user = get_user_model().objects.filter(username=username.strip()).first()
    if user is None:
        raise ValidationError({"username": f"no user named {username.strip()!r}"})
    if Membership.objects.filter(project=project, user=user).exists():
        raise ValidationError({"username": f"{user.get_username()} is already a member; change their role instead"})
    with transaction.atomic():
        membership = Membership.objects.create(project=project, user=user, role=role)
        activity_record(project=project, actor=by, verb="member.add", target=user, changes={"role": [None, role]})
    log.info("%s added %s to %s as %s", by, user, project.slug, role)
    return membership


def _membership_of(project: Project, username: str) -> Membership:
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(project=project, user__username=username)
        .first()
    )
    if membership is None:
        raise ValidationError({"username": f"{username!r} is not a member of this project"})
    return membership


def membership_set_role(*, project: Project, username: str, role: str, by=None) -> Membership:
    """Change a member's role. A project always keeps at least one owner."""
    _check_role(role)
    with transaction.atomic():
        owners = _owners_locked(project)
        membership = _membership_of(project, username)
        if membership.role == Role.OWNER and role != Role.OWNER and owners == [membership.user_id]:
            raise ValidationError({"role": "a project needs at least one owner; make someone else owner first"})
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        if before != role:
            activity_record(
                project=project, actor=by, verb="member.role", target=membership.user, changes={"role": [before, role]}
            )
    log.info("%s made %s %s of %s", by, username, role, project.slug)
    return membership


def membership_remove(*, project: Project, username: str, by=None) -> None:
    """Take a member out of the project (their annotations stay). The last owner cannot leave."""
    with transaction.atomic():
        owners = _owners_locked(project)
        membership = _membership_of(project, username)
        if membership.role == Role.OWNER and owners == [membership.user_id]:
            raise ValidationError({"username": "the last owner cannot be removed; make someone else owner first"})
        membership.delete()
        activity_record(
            project=project,
            actor=by,
            verb="member.remove",
            target=membership.user,
            changes={"role": [membership.role, None]},
        )
    log.info("%s removed %s from %s", by, username, project.slug)
