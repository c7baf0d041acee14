"""Retire or restore a principle or a question: the one rule behind
``principle_retire`` and ``question_retire``."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from curation.projects.activity import activity_record


def retired_set(obj, *, label: str, noun: str, user, retired: bool):
    """Retire ``obj`` (a principle or a question: ``retired_at`` and ``position``
    in its project's list), or bring it back at the end of the list; logged as
    ``<noun>.retire`` / ``<noun>.restore``. The one rule behind both."""
    model = type(obj)
    with transaction.atomic():
        locked = model.objects.select_for_update().select_related("project").get(pk=obj.pk)
        if (locked.retired_at is not None) == retired:
            raise ValidationError({noun: f"{label!r} is {'already retired' if retired else 'not retired'}"})
        if retired:
            locked.retired_at = timezone.now()
        else:
            locked.retired_at = None
            last = model.objects.filter(project=locked.project_id, retired_at__isnull=True).aggregate(
                m=models.Max("position")
            )["m"]
            locked.position = 0 if last is None else last + 1
        locked.save(update_fields=["retired_at", "position"])
        activity_record(
            project=locked.project,
            actor=user,
            verb=f"{noun}.retire" if retired else f"{noun}.restore",
            target=locked,
            changes={"retired": [not retired, retired]},
        )
    obj.retired_at, obj.position = locked.retired_at, locked.position
    return obj
