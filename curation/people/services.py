"""Writes of the people pages: invitations (create, revoke, accept, sign up
by one) and a member's account (deactivate, reactivate, password reset link).

Owners act only on their own projects. An account (not a membership) is what
gets deactivated or reset, so an owner may do it only to someone who belongs
to no project the owner does not own, and never to staff: otherwise one
project's owner could lock someone out of, or take over their access to,
another project.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import CrowdLink, CrowdParticipant, Invitation
from accounts.services import tokens_revoke_for_user
from annotate.models import Annotation, Item, Kind, Membership, PairwiseChoice, Project, Role, ThumbChoice
from curation.projects.activity import activity_record, changes_between

log = logging.getLogger(__name__)

INVITE_MAX_USES = 1000
INVITE_MAX_DAYS = 90
INVITE_DEFAULT_DAYS = 7


def invitation_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _require_owner(project: Project, by) -> None:
    if by is None or not (getattr(by, "is_superuser", False) or project.role_of(by) == Role.OWNER):
        raise PermissionDenied("Only the project's owners manage its people.")


def email_configured() -> bool:
    """Whether invitations can also be sent by e-mail (``EMAIL_HOST`` is set)."""
    return bool(getattr(settings, "EMAIL_HOST", ""))


def invitation_create(
    *,
    project: Project,
    by,
    role: str,
    max_uses: int = 1,
    expires_in_days: int = INVITE_DEFAULT_DAYS,
    note: str = "",
) -> tuple[Invitation, str]:
    """A new invitation link; returns the row and the secret for the link
    (``/invite/<secret>/``), which is not stored and cannot be shown again."""
    _require_owner(project, by)
    errors = {}
    if role not in Role.values:
        errors["role"] = f"role must be one of {', '.join(Role.values)}"
    if not isinstance(max_uses, int) or not 1 <= max_uses <= INVITE_MAX_USES:
        errors["max_uses"] = f"max_uses must be between 1 and {INVITE_MAX_USES}"
    if not isinstance(expires_in_days, int) or not 1 <= expires_in_days <= INVITE_MAX_DAYS:
        errors["expires_in_days"] = f"expires_in_days must be between 1 and {INVITE_MAX_DAYS}"
    note = (note or "").strip()
    if len(note) > 200:
        errors["note"] = "note must be at most 200 characters"
    if errors:
        raise ValidationError(errors)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            project=project,
            role=role,
            digest=invitation_digest(secret),
            prefix=secret[:6],
            note=note,
            max_uses=max_uses,
            expires_at=timezone.now() + timedelta(days=expires_in_days),
            created_by=by,
        )
        activity_record(
            project=project,
            actor=by,
            verb="invite.create",
            target=f"invitation {invitation.prefix}…",
            changes={
                "role": [None, role],
                "max_uses": [None, max_uses],
                "expires_at": [None, invitation.expires_at],
                "note": [None, note or None],
            },
        )
    log.info("%s created invitation %s to %s as %s", by, invitation.prefix, project.slug, role)
    return invitation, secret


def invitation_path(secret: str) -> str:
    return reverse("invite", args=[secret])


def invitation_send(*, invitation: Invitation, link: str, email: str, by) -> None:
    """E-mail the link (only when ``EMAIL_HOST`` is configured)."""
    _require_owner(invitation.project, by)
    if not email_configured():
        raise ValidationError({"email": "no mail server is configured (EMAIL_HOST); copy the link instead"})
    project = invitation.project
    send_mail(
        subject=f"Join {project.name} on Docket",
        message=f"{by.get_username()} invites you to {project.name} as {invitation.role}.\n\n"
        f"Open this link to join (it expires {invitation.expires_at:%Y-%m-%d}):\n{link}\n",
        from_email=None,
        recipient_list=[email],
    )
    Invitation.objects.filter(pk=invitation.pk).update(email=email)


def invitation_revoke(*, project: Project, invitation_uuid, by) -> Invitation:
    _require_owner(project, by)
    invitation = Invitation.objects.filter(project=project, uuid=invitation_uuid).first()
    if invitation is None:
        raise ValidationError({"invitation": "no such invitation"})
    if invitation.revoked_at is None:
        with transaction.atomic():
            invitation.revoked_at = timezone.now()
            invitation.save(update_fields=["revoked_at"])
            activity_record(
                project=project,
                actor=by,
                verb="invite.revoke",
                target=f"invitation {invitation.prefix}…",
                changes={"revoked": [False, True]},
            )
    return invitation


def invitation_get_active(*, secret: str) -> Invitation | None:
    """The invitation the link names, if it can still be used."""
    if not secret or len(secret) > 100:
        return None
    invitation = Invitation.objects.select_related("project").filter(digest=invitation_digest(secret)).first()
    if invitation is None or invitation.state() != "active":
        return None
    return invitation


def invitation_accept(*, secret: str, user) -> Membership:
    """Join ``user`` to the invitation's project with its role, using one of
    its uses. Someone already a member keeps their role (and uses nothing).
    ``ValidationError`` when the link is no longer valid."""
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update().select_related("project").filter(digest=invitation_digest(secret))
        ).first()
        if invitation is None or invitation.state() != "active":
            raise ValidationError("This invitation link is not valid any more (expired, used up or revoked).")
        existing = Membership.objects.filter(project=invitation.project, user=user).first()
        if existing is not None:
            return existing
        membership = Membership.objects.create(project=invitation.project, user=user, role=invitation.role)
        invitation.uses += 1
        invitation.save(update_fields=["uses"])
        invitation.accepted_by.add(user)
        activity_record(
            project=invitation.project,
            actor=user,
            verb="member.join",
            target=user,
            changes={"role": [None, invitation.role], "invitation": [None, f"{invitation.prefix}…"]},
        )
    log.info("%s joined %s as %s by invitation %s", user, invitation.project.slug, invitation.role, invitation.prefix)
    return membership


def user_create_by_invitation(*, secret: str, username: str, password: str):
    """A new account joined to the invitation's project, in one transaction
    (nothing is created when the link is no longer valid). The password goes
    through Django's validators (``AUTH_PASSWORD_VALIDATORS``)."""
    user_model = get_user_model()
    username = (username or "").strip()
    with transaction.atomic():
        if invitation_get_active(secret=secret) is None:
            raise ValidationError("This invitation link is not valid any more (expired, used up or revoked).")
        if not username:
            raise ValidationError({"username": "choose a username"})
        if user_model.objects.filter(username__iexact=username).exists():
            raise ValidationError({"username": "that username is taken; sign in instead if it is yours"})
        user = user_model(username=username)
        user.full_clean(exclude=["password"])
        try:
            password_validation.validate_password(password, user)
        except ValidationError as error:
            raise ValidationError({"password1": error.messages}) from None
        user.set_password(password)
        user.save()
        invitation_accept(secret=secret, user=user)
    return user


# ---------------------------------------------------------------- members' accounts


def _member_account(project: Project, username: str, by):
    _require_owner(project, by)
    membership = Membership.objects.select_related("user").filter(project=project, user__username=username).first()
    if membership is None:
        raise ValidationError({"username": f"{username!r} is not a member of this project"})
    user = membership.user
    if user.pk == by.pk:
        raise ValidationError({"username": "not on your own account"})
    if user.is_staff or user.is_superuser:
        raise ValidationError({"username": f"{username} is staff; an administrator manages that account"})
    if not getattr(by, "is_superuser", False):
        elsewhere = (
            Membership.objects.filter(user=user)
            .exclude(project__in=Membership.objects.filter(user=by, role=Role.OWNER).values("project"))
            .exists()
        )
        if elsewhere:
            raise ValidationError(
                {
                    "username": f"{username} is also a member of projects you do not own; remove them from this one instead"
                }
            )
    return user


def member_deactivate(*, project: Project, username: str, by) -> int:
    """Deactivate a member's account: they can no longer sign in, their
    sessions stop working at the next request and their API tokens are
    revoked (returns how many). Their labels, leases and membership stay."""
    user = _member_account(project, username, by)
    with transaction.atomic():
        revoked = tokens_revoke_for_user(user=user)  # (saving is_active=False would too: accounts/signals.py)
        user.is_active = False
        user.save(update_fields=["is_active"])  # save(): the cached user is dropped too (config/auth.py)
        activity_record(
            project=project, actor=by, verb="member.deactivate", target=user, changes={"active": [True, False]}
        )
    log.info("%s deactivated %s (%d API tokens revoked)", by, username, revoked)
    return revoked


def member_reactivate(*, project: Project, username: str, by) -> None:
    user = _member_account(project, username, by)
    with transaction.atomic():
        was_active = user.is_active
        user.is_active = True
        user.save(update_fields=["is_active"])
        activity_record(
            project=project, actor=by, verb="member.reactivate", target=user, changes={"active": [was_active, True]}
        )
    log.info("%s reactivated %s", by, username)


def member_password_reset_path(*, project: Project, username: str, by) -> str:
    """A one-time link (path) that lets the member choose a new password:
    Django's reset token, void once used (it is bound to the password hash
    and the last login) and after ``PASSWORD_RESET_TIMEOUT``."""
    user = _member_account(project, username, by)
    if not user.is_active:
        raise ValidationError({"username": f"{username} is deactivated; reactivate them first"})
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    activity_record(project=project, actor=by, verb="member.password_reset", target=user)
    log.info("%s made a password reset link for %s", by, username)
    return reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)})


# ---------------------------------------------------------------- crowd enrolment

CROWD_SESSION_KEY = "docket_crowd"  # the session of a crowd participant: their project's slug
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_.@:+-]{1,200}$")


def crowd_link_save(
    *,
    project: Project,
    by,
    enabled: bool,
    participant_param: str,
    items_required: int,
    completion_code: str,
    return_url: str = "",
    qualification_items: int = 0,
    qualification_min_accuracy: float = 0.8,
) -> CrowdLink:
    """Create or change the project's open enrolment link (owners).
    ``qualification_items`` > 0 asks each participant that many gold items
    (items a curator resolved, ``Item.resolution``) before real work."""
    _require_owner(project, by)
    errors = {}
    participant_param = (participant_param or "").strip()
    if not _PARAM.match(participant_param):
        errors["participant_param"] = "a parameter name of letters, digits and _ (e.g. PROLIFIC_PID)"
    if not isinstance(items_required, int) or not 1 <= items_required <= 10000:
        errors["items_required"] = "items_required must be between 1 and 10000"
    completion_code = (completion_code or "").strip()
    if not completion_code or len(completion_code) > 100:
        errors["completion_code"] = "give a completion code (at most 100 characters)"
    if not isinstance(qualification_items, int) or not 0 <= qualification_items <= 100:
        errors["qualification_items"] = "qualification_items must be between 0 and 100"
    elif qualification_items and gold_items(project=project).count() < qualification_items:
        errors["qualification_items"] = (
            f"the project has {gold_items(project=project).count()} gold items (pairwise or thumb items a curator "
            f"resolved); resolve more or ask fewer"
        )
    if qualification_min_accuracy is None or not 0 <= float(qualification_min_accuracy) <= 1:
        errors["qualification_min_accuracy"] = "qualification_min_accuracy must be between 0 and 1"
    if errors:
        raise ValidationError(errors)
    link = CrowdLink.objects.filter(project=project).first() or CrowdLink(
        project=project, token=secrets.token_urlsafe(16)
    )
    logged = (
        "enabled",
        "participant_param",
        "items_required",
        "completion_code",
        "return_url",
        "qualification_items",
        "qualification_min_accuracy",
    )
    before = {name: getattr(link, name) for name in logged} if link.pk else {}
    link.enabled = bool(enabled)
    link.participant_param = participant_param
    link.items_required = items_required
    link.completion_code = completion_code
    link.return_url = (return_url or "").strip()
    link.qualification_items = qualification_items
    link.qualification_min_accuracy = float(qualification_min_accuracy)
    link.full_clean()
    with transaction.atomic():
        link.save()
        changed = changes_between(before, {name: getattr(link, name) for name in logged})
        if changed:
            activity_record(
                project=project, actor=by, verb="crowd.update", target="crowd enrolment link", changes=changed
            )
    return link


def crowd_join(*, token: str, external_id: str) -> CrowdParticipant:
    """The participant for ``external_id`` on the enrolment link ``token``,
    created on first use: an annotator account with no password, a member
    of the link's project only. The same external id always gets the same
    account. ``ValidationError`` for a bad id; ``CrowdLink.DoesNotExist``
    for an unknown or disabled link."""
    link = CrowdLink.objects.select_related("project").get(token=token, enabled=True)
    external_id = (external_id or "").strip()
    if not _EXTERNAL_ID.match(external_id):
        raise ValidationError(
            {link.participant_param: "a participant id of up to 200 letters, digits and . _ - @ : + is required"}
        )
    existing = CrowdParticipant.objects.select_related("user").filter(link=link, external_id=external_id).first()
    if existing is not None:
        return existing
    digest = hashlib.sha256(f"{link.pk}:{external_id}".encode()).hexdigest()[:20]
    username = f"crowd-{link.project.slug[:40]}-{digest}"
    try:
        with transaction.atomic():
            user = get_user_model()(username=username)
            user.set_unusable_password()
            user.save()
            Membership.objects.create(project=link.project, user=user, role=Role.ANNOTATOR)
            participant = CrowdParticipant.objects.create(link=link, external_id=external_id, user=user)
            activity_record(
                project=link.project,
                actor=user,
                verb="crowd.join",
                target=user,
                changes={"role": [None, Role.ANNOTATOR], "participant": [None, external_id]},
            )
    except IntegrityError:  # the same id joined at the same moment: theirs is ours
        participant = CrowdParticipant.objects.select_related("user").get(link=link, external_id=external_id)
    log.info("crowd participant %s joined %s", external_id, link.project.slug)
    return participant


def crowd_check_done(*, user, project: Project, queue_empty: bool) -> CrowdParticipant | None:
    """For a crowd participant of ``project``: mark them done once they made
    ``items_required`` judgments or no item is left for them; returns the
    participant when done, else None (also for anyone else)."""
    participant = CrowdParticipant.objects.select_related("link").filter(user=user, link__project=project).first()
    if participant is None:
        return None
    if participant.link.qualification_items and participant.qualified is not True:
        return None  # not through the qualification: crowd_gate sends them there
    if participant.completed_at is None:
        done = Annotation.objects.filter(annotator__user=user, item__project=project).count()
        if not queue_empty and done < participant.link.items_required:
            return None
        participant.completed_at = timezone.now()
        participant.save(update_fields=["completed_at"])
    return participant


def gold_items(*, project: Project):
    """The project's gold items: pairwise and thumb items a curator resolved, oldest first."""
    return (
        Item.objects.filter(project=project, kind__in=[Kind.PAIRWISE, Kind.THUMB], resolution__has_key="choice")
        .select_related("prompt")
        .order_by("id")
    )


def crowd_qualification_next(*, participant: CrowdParticipant) -> Item | None:
    """The next gold item the participant has not answered, or None when they answered enough."""
    link = participant.link
    answered = participant.qualification or {}
    if len(answered) >= link.qualification_items:
        return None
    for item in gold_items(project=link.project)[: link.qualification_items]:
        if str(item.uuid) not in answered:
            return item
    return None


def crowd_qualification_answer(*, participant: CrowdParticipant, item_uuid, answer: str) -> CrowdParticipant:
    """Record one qualification answer; once ``qualification_items`` are in,
    decide ``qualified`` (the share matching the curator's verdicts against
    ``qualification_min_accuracy``). The answers are kept on the participant,
    never as annotations: no consensus, audit or export counts them."""
    with transaction.atomic():
        participant = (
            CrowdParticipant.objects.select_for_update().select_related("link__project").get(pk=participant.pk)
        )
        link = participant.link
        if participant.qualified is not None:
            return participant
        item = crowd_qualification_next(participant=participant)
        if item is None or str(item.uuid) != str(item_uuid):
            raise ValidationError({"item": "answer the item shown"})
        allowed = PairwiseChoice.values if item.kind == Kind.PAIRWISE else ThumbChoice.values
        if answer not in allowed:
            raise ValidationError({"answer": f"one of {', '.join(allowed)}"})
        answers = dict(participant.qualification or {})
        answers[str(item.uuid)] = answer
        participant.qualification = answers
        if len(answers) >= link.qualification_items:
            expected = {str(i.uuid): i.resolution.get("choice") for i in gold_items(project=link.project)}
            correct = sum(1 for key, value in answers.items() if expected.get(key) == value)
            participant.qualified = correct / len(answers) >= link.qualification_min_accuracy
        participant.save(update_fields=["qualification", "qualified"])
    return participant


def crowd_gate(*, user, project: Project, queue_empty: bool) -> tuple[str, CrowdParticipant] | None:
    """Where a crowd participant of ``project`` must go instead of the next
    item: ``("qualify", p)`` before (or after failing) the qualification,
    ``("done", p)`` once done (``crowd_check_done``); None to carry on."""
    participant = CrowdParticipant.objects.select_related("link").filter(user=user, link__project=project).first()
    if participant is None:
        return None
    if participant.link.qualification_items and participant.qualified is not True:
        return "qualify", participant
    done = crowd_check_done(user=user, project=project, queue_empty=queue_empty)
    return ("done", done) if done is not None else None
