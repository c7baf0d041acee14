"""Writes of a project's set-up: create a project and change its settings,
its principles, its members and their roles (``<entity>_<action>``,
keyword-only). The pages, ``manage.py create_project`` and the API call
these; who may call them (owners; anyone allowed to create projects) is the
caller's check. Each write is recorded in the project's activity log in the
same transaction (``user`` / ``by`` is the actor)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from annotate.models import Kind, Membership, Principle, Project, Role
from annotate.services.principles import guidance_clean, principle_version_snapshot
from curation.projects.activity import activity_record, changes_between
from curation.projects.questions import question_add, question_check
from curation.projects.retiring import retired_set

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


# --- projects: create, settings --------------------------------------------------

# The settings an owner may change after creation (the slug names the project in URLs and stays).
SETTINGS_FIELDS = (
    "name",
    "description",
    "guidelines",
    "kinds",
    "overlap",
    "max_overlap",
    "agreement_threshold",
    "probe_rate",
    "randomize_order",
    "lease_seconds",
    "model_name",
)
LEASE_SECONDS_MAX = 7 * 24 * 3600
OVERLAP_MAX = 100
PROBE_RATE_MAX = 0.5


def _settings_of(project: Project) -> dict:
    return {name: getattr(project, name) for name in SETTINGS_FIELDS}


def _check_settings(project: Project) -> None:
    """Every rule a project's settings obey, as field errors (then the model's own ``full_clean``)."""
    errors: dict[str, str] = {}
    kinds = project.kinds
    if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
        errors["kinds"] = "enable at least one kind of item"
    elif unknown := [k for k in kinds if k not in Kind.values]:
        errors["kinds"] = f"unknown kind {unknown[0]!r}; expected some of {', '.join(Kind.values)}"
    elif len(set(kinds)) != len(kinds):
        errors["kinds"] = "each kind once"
    else:
        project.kinds = [k for k in Kind.values if k in kinds]  # one canonical order
    checks = [
        ("overlap", 1, OVERLAP_MAX),
        ("max_overlap", 0, OVERLAP_MAX),
        ("lease_seconds", 10, LEASE_SECONDS_MAX),
    ]
    for name, low, high in checks:
        value = getattr(project, name)
        if isinstance(value, bool) or not isinstance(value, int):
            errors[name] = "a whole number"
        elif not low <= value <= high:
            errors[name] = f"between {low} and {high}"
    for name, low, high in (("probe_rate", 0.0, PROBE_RATE_MAX), ("agreement_threshold", 0.0, 1.0)):
        value = getattr(project, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            errors[name] = "a number"
        elif not low <= value <= high:
            errors[name] = f"between {low:g} and {high:g}"
        else:
            setattr(project, name, float(value))
    if "max_overlap" not in errors and "overlap" not in errors and project.max_overlap:
        if project.max_overlap <= project.overlap:
            errors["max_overlap"] = (
                f"0 (adaptive overlap off) or more than the overlap ({project.overlap}), the most judgments "
                "a low-agreement item may get"
            )
        elif "agreement_threshold" not in errors and project.agreement_threshold <= 0:
            errors["agreement_threshold"] = "above 0 for adaptive overlap to ask for more judgments"
    if not isinstance(project.randomize_order, bool):
        errors["randomize_order"] = "true or false"
    for name in ("name", "description", "guidelines", "model_name"):
        if not isinstance(getattr(project, name), str):
            errors[name] = "text"
        else:
            text = getattr(project, name).replace("\r\n", "\n")  # a browser's textarea sends CRLF
            setattr(project, name, text if name == "guidelines" else text.strip())
    if errors:
        raise ValidationError(errors)
    project.full_clean(exclude=["created_by", "options"], validate_unique=True)


def project_create(
    *,
    slug: str,
    name: str,
    user=None,
    owner=None,
    description: str = "",
    principles: Iterable[tuple[str, str]] = (),
    questions: Iterable[dict] = (),
    **settings,
) -> Project:
    """Create a project; ``owner`` (default: ``user``, who acted) becomes its first owner.

    ``settings``: any of :data:`SETTINGS_FIELDS` (guidelines, overlap, ...),
    validated as :func:`project_update` does. ``principles``: (name,
    description) pairs added in order. ``questions``: custom question
    definitions (``curation.projects.questions``), added in order (an error
    names the field ``questions`` and the question). Everything is written in one
    transaction and logged (``project.create`` with every initial setting,
    ``member.add`` for the owner, ``principle.add`` for each principle).
    Raises ``ValidationError`` naming the field. Who may create projects is
    the caller's check (``selectors.user_may_create_projects``).
    """
    unknown = set(settings) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "not a project setting"})
    owner = owner if owner is not None else user
    if owner is not None and not getattr(owner, "is_authenticated", False):
        owner = None
    actor = user if user is not None and user.is_authenticated else None
    project = Project(slug=(slug or "").strip(), name=name, description=description, **settings)
    project.created_by = actor or owner
    _check_settings(project)
    checked, seen = [], set()
    for number, (principle_name, principle_description) in enumerate(principles, start=1):
        try:
            checked.append(_principle_fields(principle_name, principle_description))
        except ValidationError as error:
            problem = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            raise ValidationError({"principles": f"principle {number}: {problem}"}) from None
        if checked[-1][0].casefold() in seen:
            raise ValidationError({"principles": f"principle {number}: {checked[-1][0]!r} is named twice"})
        seen.add(checked[-1][0].casefold())
    questions = list(questions)
    keys: set[str] = set()
    for number, spec in enumerate(questions, start=1):
        key = spec.get("key") if isinstance(spec, dict) else None
        where = f"question {number}" + (f" ({key!r})" if isinstance(key, str) else "")
        try:
            question_check(project=project, spec=spec)
        except ValidationError as error:
            problem = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            raise ValidationError({"questions": f"{where}: {problem}"}) from None
        if key in keys:
            raise ValidationError({"questions": f"{where}: the key is used twice"})
        keys.add(key)
    with transaction.atomic():
        try:
            with transaction.atomic():
                project.save()
        except IntegrityError:  # the same slug taken a moment ago by another request
            raise ValidationError({"slug": "a project with this slug already exists"}) from None
        initial = {k: v for k, v in _settings_of(project).items() if v not in ("", None)}
        activity_record(
            project=project,
            actor=user,
            verb="project.create",
            target=project,
            changes={"slug": [None, project.slug], **{k: [None, v] for k, v in initial.items()}},
        )
        if owner is not None:
            Membership.objects.create(project=project, user=owner, role=Role.OWNER)
            activity_record(
                project=project, actor=user, verb="member.add", target=owner, changes={"role": [None, Role.OWNER]}
            )
        for principle_name, principle_description in checked:
            principle_add(project=project, name=principle_name, description=principle_description, user=user)
        for spec in questions:
            question_add(project=project, spec=spec, user=user)
    log.info("%s created project %s", user, project.slug)
    return project


def project_update(*, project: Project, user, **changes) -> Project:
    """Change some of a project's settings (:data:`SETTINGS_FIELDS`); every rule
    checked first (``ValidationError`` naming each bad field, nothing written),
    then saved and logged as ``project.update`` with each changed field's
    before → after (no entry when nothing changed)."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "not a project setting (the slug cannot change)"})
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        before = _settings_of(locked)
        for name, value in changes.items():
            setattr(locked, name, value)
        _check_settings(locked)
        after = _settings_of(locked)
        changed = changes_between(before, after)
        if changed:
            locked.save(update_fields=list(changed))
            activity_record(project=locked, actor=user, verb="project.update", target=locked, changes=changed)
    for name in SETTINGS_FIELDS:
        setattr(project, name, getattr(locked, name))
    log.info("%s changed %s of %s", user, ", ".join(changed) or "nothing", project.slug)
    return project


# --- principles ------------------------------------------------------------------
# One service per change. A change of wording (name, description, guidance) is a new
# PrincipleVersion (annotate.services.principles, the one place a version is made).

PRINCIPLE_NAME_MAX = 100


def _principle_fields(name, description) -> tuple[str, str]:
    name = (name or "").strip() if isinstance(name, str) else name
    if not isinstance(name, str) or not name:
        raise ValidationError({"name": "a principle needs a name"})
    if len(name) > PRINCIPLE_NAME_MAX:
        raise ValidationError({"name": f"at most {PRINCIPLE_NAME_MAX} characters"})
    if not isinstance(description, str):
        raise ValidationError({"description": "text"})
    return name, description.strip()


def _name_taken(project: Project, name: str, exclude_pk=None) -> bool:
    others = Principle.objects.filter(project=project, name__iexact=name)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    return others.exists()


def principle_add(*, project: Project, name: str, description: str = "", guidance=None, user) -> Principle:
    """Add a principle at the end of the project's list (names are unique per project, whatever the case),
    with its interpretive ``guidance`` (``guidance_clean``); its wording is its version 1."""
    name, description = _principle_fields(name, description)
    guidance = guidance_clean(guidance)
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").get()  # one add at a time
        if _name_taken(project, name):
            raise ValidationError({"name": f"this project already has a principle named {name!r}"})
        last = Principle.objects.filter(project=project).aggregate(m=models.Max("position"))["m"]
        principle = Principle.objects.create(
            project=project,
            name=name,
            description=description,
            guidance=guidance,
            position=0 if last is None else last + 1,
        )
        principle_version_snapshot(principle=principle, user=user)
        activity_record(
            project=project,
            actor=user,
            verb="principle.add",
            target=principle,
            changes={
                "name": [None, name],
                **({"description": [None, description]} if description else {}),
                **({"guidance": [None, guidance]} if guidance else {}),
                "version": [None, 1],
            },
        )
    return principle


def principle_update(
    *, principle: Principle, user, name: str | None = None, description: str | None = None, guidance=None
) -> Principle:
    """Change a principle's wording: its name, description or interpretive guidance
    (``None``: unchanged). A change makes a new version (``principle_version_snapshot``):
    verdicts given so far keep the version they were given under, new ones get the new
    one. Logged with each changed field and the version number before → after."""
    new_name, new_description = _principle_fields(
        principle.name if name is None else name, principle.description if description is None else description
    )
    new_guidance = None if guidance is None else guidance_clean(guidance)
    with transaction.atomic():
        locked = Principle.objects.select_for_update().get(pk=principle.pk)
        if new_guidance is None:
            new_guidance = list(locked.guidance or [])
        if new_name != locked.name and _name_taken(locked.project, new_name, exclude_pk=locked.pk):
            raise ValidationError({"name": f"this project already has a principle named {new_name!r}"})
        changed = changes_between(
            {"name": locked.name, "description": locked.description, "guidance": list(locked.guidance or [])},
            {"name": new_name, "description": new_description, "guidance": new_guidance},
        )
        if changed:
            if locked.current_version_id is None:  # written outside the services: keep its old wording as v1
                principle_version_snapshot(principle=locked)
            before = locked.current_version.number
            locked.name, locked.description, locked.guidance = new_name, new_description, new_guidance
            locked.save(update_fields=list(changed))
            version = principle_version_snapshot(principle=locked, user=user)
            changed["version"] = [before, version.number]
            activity_record(project=locked.project, actor=user, verb="principle.update", target=locked, changes=changed)
    principle.name, principle.description, principle.guidance = new_name, new_description, new_guidance
    principle.current_version = locked.current_version
    return principle


def principle_reorder(*, project: Project, order: list[int], user) -> list[Principle]:
    """Put the project's principles in use in ``order`` (their ids, each exactly
    once); retired ones keep their places after them. Logged with the names'
    order before → after."""
    with transaction.atomic():
        rows = list(Principle.objects.select_for_update().filter(project=project).order_by("position", "id"))
        in_use = [p for p in rows if p.retired_at is None]
        try:
            wanted = [int(pk) for pk in order]
        except (TypeError, ValueError):
            raise ValidationError({"order": "a list of the principles' ids"}) from None
        if sorted(wanted) != sorted(p.pk for p in in_use):
            raise ValidationError({"order": "list each principle in use exactly once"})
        by_pk = {p.pk: p for p in rows}
        new = [by_pk[pk] for pk in wanted] + [p for p in rows if p.retired_at is not None]
        changed = [p for position, p in enumerate(new) if p.position != position]
        for position, principle in enumerate(new):
            principle.position = position
        if changed:
            Principle.objects.bulk_update(changed, ["position"])
        before, after = [p.name for p in in_use], [by_pk[pk].name for pk in wanted]
        if before != after:
            activity_record(project=project, actor=user, verb="principle.reorder", changes={"order": [before, after]})
    return [p for p in new if p.retired_at is None]


def principle_move(*, principle: Principle, offset: int, user) -> list[Principle]:
    """Move a principle in use ``offset`` places (−1: up, +1: down), within the list; :func:`principle_reorder`."""
    project = principle.project
    in_use = list(
        Principle.objects.filter(project=project, retired_at__isnull=True)
        .order_by("position", "id")
        .values_list("pk", flat=True)
    )
    if principle.pk not in in_use:
        raise ValidationError({"principle": "a retired principle has no place in the order; restore it first"})
    index = in_use.index(principle.pk)
    target = min(max(index + offset, 0), len(in_use) - 1)
    in_use.insert(target, in_use.pop(index))
    return principle_reorder(project=project, order=in_use, user=user)


def principle_retire(*, principle: Principle, user, retired: bool = True) -> Principle:
    """Retire a principle (hidden from annotators and judges from now on; its
    past verdicts stay for audits), or with ``retired=False`` bring it back at
    the end of the list."""
    return retired_set(principle, label=principle.name, noun="principle", user=user, retired=retired)
