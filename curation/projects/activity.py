"""A project's activity log: the one write, :func:`activity_record`.

Every service that changes a project's set-up or curates its data records
what it did here, in the same transaction: settings and principles, members
and roles, exclusions and resolutions, job launches. The log is read at
``/p/<slug>/curate/activity/`` (``selectors.activity_list``).

An entry says who (``actor``), when, what (``verb``, one of :data:`VERBS`), to
what (``target``: a model instance, or a plain label) and what changed:
``changes`` maps a field to ``[before, after]`` (``None`` where there was no
value before, as for something created, or none after, as for something
removed). :func:`changes_between` builds it from two snapshots.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.contrib.auth import get_user_model
from django.db import models

from annotate.models import Project
from curation.models import Activity

# Every verb the log knows, with the label the activity page shows. A new kind
# of write adds its verb here (no migration: the column is free text).
VERBS: dict[str, str] = {
    "project.create": "created the project",
    "project.update": "changed settings",
    "principle.add": "added a principle",
    "principle.update": "edited a principle",
    "principle.reorder": "reordered principles",
    "principle.retire": "retired a principle",
    "principle.restore": "restored a principle",
    "principle.rejudge": "asked for a re-judgment sample of a principle",
    "question.add": "added a question",
    "question.update": "edited a question (a new version)",
    "question.reorder": "reordered questions",
    "question.retire": "retired a question",
    "question.restore": "restored a question",
    "member.add": "added a member",
    "member.role": "changed a role",
    "member.remove": "removed a member",
    "member.join": "joined by an invitation",
    "member.deactivate": "deactivated a member's account",
    "member.reactivate": "reactivated a member's account",
    "member.password_reset": "made a password reset link",
    "invite.create": "created an invitation link",
    "invite.revoke": "revoked an invitation link",
    "crowd.update": "changed the crowd enrolment link",
    "crowd.join": "enrolled through the crowd link",
    "item.exclude": "excluded an item",
    "item.include": "included an item again",
    "item.resolve": "resolved an item",
    "item.unresolve": "cleared a resolution",
    "item.request_more": "asked for more judgments",
    "job.launch": "launched a job",
}

_MISSING = object()


def changes_between(before: Mapping, after: Mapping) -> dict[str, list]:
    """``{field: [before, after]}`` for each field whose value differs (a field
    absent on one side counts as ``None`` there)."""
    out: dict[str, list] = {}
    for name in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(name, _MISSING), after.get(name, _MISSING)
        old = None if old is _MISSING else old
        new = None if new is _MISSING else new
        if old != new:
            out[name] = [old, new]
    return out


def _target_fields(target) -> tuple[str, str, str]:
    """(type, id, label) of a target: a model instance, or a plain label."""
    if target is None:
        return "", "", ""
    if not isinstance(target, models.Model):
        return "", "", str(target)[:200]
    if isinstance(target, get_user_model()):
        ident, label = target.get_username(), target.get_username()
    else:
        ident = getattr(target, "uuid", None) or getattr(target, "slug", None) or target.pk
        label = str(target)
    return target._meta.model_name, str(ident)[:64], label[:200]


def activity_record(*, project: Project, actor, verb: str, target=None, changes: Mapping | None = None) -> Activity:
    """Add an entry to ``project``'s activity log and return it.

    ``actor``: the user who acted (``None`` or an anonymous user: the system,
    e.g. a command run without ``--owner``). ``verb``: one of :data:`VERBS`
    (anything else is a programming error: ``ValueError``). ``target``: the
    instance acted on (its uuid, slug or key and its name are kept, so the
    entry survives the target's deletion), a plain label, or ``None``.
    ``changes``: ``{field: [before, after]}``, values JSON-serialisable
    (dates and uuids are written as strings).
    """
    if verb not in VERBS:
        raise ValueError(f"verb: unknown activity verb {verb!r}; add it to curation.projects.activity.VERBS")
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    target_type, target_id, target_label = _target_fields(target)
    return Activity.objects.create(
        project=project,
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "",
        verb=verb,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label,
        changes={name: list(pair) for name, pair in (changes or {}).items()},
    )
