"""Principle versions: the one place a wording is snapshotted (docs/architecture.md).

A principle's wording (name, description, interpretive guidance) lives on the
``Principle`` row and, frozen, in its numbered ``PrincipleVersion`` rows.
``principle_add`` / ``principle_update`` (``curation.projects.services``) call
:func:`principle_version_snapshot` whenever the wording changes; the
annotation writers call :func:`principle_versions_current` to stamp each
verdict with the version it was given under.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models, transaction

from annotate.models import GUIDANCE_KINDS, Principle, PrincipleVersion

GUIDANCE_MAX_ENTRIES = 12
GUIDANCE_TEXT_MAX = 300


def guidance_clean(value) -> list[dict]:
    """Interpretive guidance as stored: a list of at most ``GUIDANCE_MAX_ENTRIES``
    ``{"kind", "text"}`` entries (``kind`` in ``GUIDANCE_KINDS``, ``text`` 1 to
    ``GUIDANCE_TEXT_MAX`` characters, stripped); ``ValidationError`` on ``guidance``."""
    if value in (None, ""):
        return []
    if not isinstance(value, list | tuple):
        raise ValidationError({"guidance": "a list of {kind, text} entries"})
    if len(value) > GUIDANCE_MAX_ENTRIES:
        raise ValidationError({"guidance": f"at most {GUIDANCE_MAX_ENTRIES} entries, got {len(value)}"})
    out = []
    for number, entry in enumerate(value, start=1):
        if not isinstance(entry, dict) or set(entry) - {"kind", "text"}:
            raise ValidationError({"guidance": f"entry {number}: an object with kind and text"})
        kind, text = entry.get("kind"), entry.get("text")
        if kind not in GUIDANCE_KINDS:
            raise ValidationError({"guidance": f"entry {number}: kind is one of {', '.join(GUIDANCE_KINDS)}"})
        if not isinstance(text, str) or not text.strip() or "\x00" in text:
            raise ValidationError({"guidance": f"entry {number}: text is needed"})
        if len(text.strip()) > GUIDANCE_TEXT_MAX:
            raise ValidationError({"guidance": f"entry {number}: at most {GUIDANCE_TEXT_MAX} characters"})
        out.append({"kind": kind, "text": text.strip()})
    return out


def principle_version_snapshot(*, principle: Principle, user=None) -> PrincipleVersion:
    """Freeze ``principle``'s current wording as its next version (1, 2, …) and make it
    the current one. Call it inside the transaction that changed the wording, with
    the principle's row locked (the services do)."""
    last = PrincipleVersion.objects.filter(principle=principle).aggregate(m=models.Max("number"))["m"] or 0
    actor = user if user is not None and getattr(user, "is_authenticated", False) else None
    version = PrincipleVersion.objects.create(
        principle=principle,
        number=last + 1,
        name=principle.name,
        description=principle.description,
        guidance=list(principle.guidance or []),
        created_by=actor,
    )
    Principle.objects.filter(pk=principle.pk).update(current_version=version)
    principle.current_version = version
    return version


def principle_versions_current(principles) -> dict[int, int]:
    """``{principle id: id of its current version}`` for ``principles`` (instances,
    prefetched on the annotate loop: no query). A principle written outside the
    services (a fixture, the shell) has none yet: its wording is snapshotted as
    its version 1 here, under its row lock, so every verdict has a version."""
    out = {}
    for principle in principles:
        if principle.current_version_id is None:
            with transaction.atomic():
                locked = Principle.objects.select_for_update().get(pk=principle.pk)
                if locked.current_version_id is None:
                    principle_version_snapshot(principle=locked)
                principle.current_version_id = locked.current_version_id
        out[principle.pk] = principle.current_version_id
    return out
