"""Reads behind the item browser and the item page: what state an item is in
for a curator, the filtered browser, the annotators of a project, an item's
annotations. Access checks live in ``annotate.selectors``."""

from __future__ import annotations

from django.db import models
from django.db.models import Case, Exists, F, OuterRef, Prefetch, Q, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from annotate.models import Annotation, Annotator, Answer, Assignment, Item, PrincipleVerdict, Project


class ItemState(models.TextChoices):
    """What a curator sees an item as (derived, not stored)."""

    OPEN = "open", "Open"
    LEASED = "leased", "Leased"
    DONE = "done", "Done"
    EXCLUDED = "excluded", "Excluded"


def live_leases(now) -> Q:
    """Assignments that are live leases at ``now``."""
    return Q(status=Assignment.Status.LEASED, expires_at__gt=now)


def _target_expr():
    """How many judgments an item wants: its own target or its project's overlap."""
    return Greatest(F("target_overlap"), F("project__overlap"))


def items_with_state(queryset, *, now=None):
    """Annotate items with ``state`` (an ``ItemState``) and ``target`` (judgments wanted).

    An item is leased when it is still open and someone holds a live lease on it.
    """
    now = now or timezone.now()
    live = Assignment.objects.filter(live_leases(now), item=OuterRef("pk"))
    return queryset.annotate(
        has_live_lease=Exists(live),
        target=_target_expr(),
        state=Case(
            When(excluded=True, then=Value(ItemState.EXCLUDED)),
            When(status=Item.Status.DONE, then=Value(ItemState.DONE)),
            When(has_live_lease=True, then=Value(ItemState.LEASED)),
            default=Value(ItemState.OPEN),
            output_field=models.CharField(),
        ),
    )


def items_for_curator(
    *,
    project: Project,
    kind: str = "",
    state: str = "",
    annotator_uuid: str = "",
    query: str = "",
    now=None,
):
    """The item browser's queryset: filtered, with ``state`` and ``target``, newest first.

    ``query`` matches the prompt's messages (case-insensitive substring of the
    stored JSON; a plain scan, fine for the tens of thousands of items a
    project holds) or an item's external id.
    """
    items = Item.objects.filter(project=project).select_related("prompt")
    if kind:
        items = items.filter(kind=kind)
    if annotator_uuid:
        items = items.filter(annotations__annotator__uuid=annotator_uuid)
    if query:
        items = items.filter(Q(prompt__messages__icontains=query) | Q(external_id=query))
    items = items_with_state(items, now=now)
    if state:
        items = items.filter(state=state)
    return items.order_by("-created_at", "-pk")


def annotators_of_project(*, project: Project):
    """Annotators who labelled at least one item of the project (for filters)."""
    return Annotator.objects.filter(annotations__item__project=project).distinct().order_by("name")


def item_annotations(*, item: Item):
    """Every annotation of an item, oldest first, with annotator, verdicts and answers to custom questions loaded."""
    return (
        Annotation.objects.filter(item=item)
        .select_related("annotator")
        .prefetch_related(
            Prefetch("verdicts", queryset=PrincipleVerdict.objects.select_related("principle")),
            Prefetch(
                "answers",
                queryset=Answer.objects.select_related("question", "response").order_by(
                    "question__position", "question_id", "id"
                ),
            ),
        )  # fmt: skip
        .order_by("created_at", "pk")
    )
