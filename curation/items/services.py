"""Writes a curator makes on items: exclude / include, resolve with a verdict,
ask for more judgments (from the item page and the audit's drill-down).

Each is keyword-only and named ``<entity>_<action>``; views, commands and the
API call these, never the ORM directly.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from annotate.models import Item, Kind, PairwiseChoice, ThumbChoice
from curation.projects.activity import activity_record

log = logging.getLogger(__name__)


def item_set_excluded(*, item: Item, excluded: bool, user) -> Item:
    """Exclude an item from assignment, audits and exports (or take it back).

    Leases already handed out stay valid; an excluded item is never handed out
    again. Returns the item with ``excluded`` refreshed.
    """
    with transaction.atomic():
        before = Item.objects.select_for_update().values_list("excluded", flat=True).get(pk=item.pk)
        Item.objects.filter(pk=item.pk).update(excluded=excluded)
        if before != excluded:
            activity_record(
                project=item.project,
                actor=user,
                verb="item.exclude" if excluded else "item.include",
                target=item,
                changes={"excluded": [before, excluded]},
            )
    item.excluded = excluded
    log.info("item %s %s by %s", item.uuid, "excluded" if excluded else "included", user)
    return item


# --- audit actions (disagreement dashboard) ------------------------------------


def _ranking_verdict(item: Item, verdict) -> list[list[str]]:
    """A ranking verdict: groups of the item's response uuids, best first, each response exactly once."""
    if not isinstance(verdict, list | tuple) or not verdict:
        raise ValidationError({"verdict": "a ranking verdict is a list of groups of responses, best first"})
    groups = []
    for group in verdict:
        members = [group] if isinstance(group, str) else group
        if not isinstance(members, list | tuple) or not members or not all(isinstance(m, str) for m in members):
            raise ValidationError({"verdict": "each place in the ranking holds one or more responses"})
        groups.append([str(m) for m in members])
    given = [m for group in groups for m in group]
    wanted = {str(u) for u in item.responses.values_list("uuid", flat=True)}
    if len(given) != len(set(given)) or set(given) != wanted:
        raise ValidationError({"verdict": "the ranking must place each of the item's responses exactly once"})
    return groups


def _verdict_of(resolution: dict | None):
    """The verdict a stored resolution holds (a choice, or ranking groups), for the activity log."""
    if not resolution:
        return None
    return resolution.get("choice", resolution.get("ranking"))


def item_resolve(*, item: Item, verdict, note: str = "", user) -> Item:
    """Record a curator's verdict on an item, overriding the annotators' consensus
    in audits and exports (``Item.resolution``); ``verdict=None`` clears it.
    Stored as ``{"choice": verdict}`` (pairwise, thumb) or ``{"ranking":
    groups}`` (ranking), with ``note``, ``by`` (username) and ``at`` (ISO time).

    Valid verdicts per kind: pairwise ``A``/``B``/``tie``/``both_bad``; thumb
    ``up``/``down``; ranking a list of groups of the item's response uuids,
    best first (a group of several is a tie). Written judgments have no
    verdict to resolve.
    """
    if verdict is None or verdict == "":
        with transaction.atomic():
            before = Item.objects.select_for_update().values_list("resolution", flat=True).get(pk=item.pk)
            Item.objects.filter(pk=item.pk).update(resolution=None)
            if before is not None:
                activity_record(
                    project=item.project,
                    actor=user,
                    verb="item.unresolve",
                    target=item,
                    changes={"resolution": [_verdict_of(before), None]},
                )
        item.resolution = None
        log.info("item %s resolution cleared by %s", item.uuid, user)
        return item
    if item.kind == Kind.PAIRWISE:
        if verdict not in PairwiseChoice.values:
            raise ValidationError({"verdict": f"a pairwise verdict is one of {', '.join(PairwiseChoice.values)}"})
    elif item.kind == Kind.THUMB:
        if verdict not in ThumbChoice.values:
            raise ValidationError({"verdict": f"a thumb verdict is one of {', '.join(ThumbChoice.values)}"})
    elif item.kind == Kind.RANKING:
        verdict = _ranking_verdict(item, verdict)
    else:
        raise ValidationError({"verdict": f"{item.get_kind_display()} items have no verdict to resolve"})
    note = (note or "").strip()
    if len(note) > 2000:
        raise ValidationError({"note": "keep the note under 2000 characters"})
    # The shape the audit and the exports read: {"choice": ...} or {"ranking": ...}.
    resolution = {
        ("ranking" if item.kind == Kind.RANKING else "choice"): verdict,
        "note": note,
        "by": user.get_username() if user is not None else "",
        "at": timezone.now().isoformat(),
    }
    with transaction.atomic():
        before = Item.objects.select_for_update().values_list("resolution", flat=True).get(pk=item.pk)
        Item.objects.filter(pk=item.pk).update(resolution=resolution)
        changes = {"resolution": [_verdict_of(before), _verdict_of(resolution)]}
        if note:
            changes["note"] = [(before or {}).get("note") or None, note]
        activity_record(project=item.project, actor=user, verb="item.resolve", target=item, changes=changes)
    item.resolution = resolution
    log.info("item %s resolved as %s by %s", item.uuid, verdict, user)
    return item


def item_request_more(*, item: Item, extra: int = 1, user) -> Item:
    """Ask for ``extra`` more judgments of an item: raise its ``target_overlap``
    (at most to the project's ``max_overlap``) and re-open it if it was done.

    Raises ``ValidationError`` when the item already wants as many judgments
    as the project allows (raise the project's maximum overlap first) or when
    it is excluded.
    """
    if extra < 1:
        raise ValidationError({"extra": "ask for at least one more judgment"})
    with transaction.atomic():
        # The assignment service updates slots and status under this row lock.
        locked = Item.objects.select_for_update().select_related("project").get(pk=item.pk)
        project = locked.project
        if locked.excluded:
            raise ValidationError({"extra": "the item is excluded; include it again first"})
        current = max(locked.target_overlap, project.overlap)
        ceiling = max(project.max_overlap, project.overlap)
        if current >= ceiling:
            raise ValidationError(
                {"extra": f"the item already wants {current} judgments, the project's maximum overlap ({ceiling})"}
            )
        target = min(current + extra, ceiling)
        status = Item.Status.OPEN if locked.annotation_count < target else locked.status
        Item.objects.filter(pk=locked.pk).update(target_overlap=target, status=status)
        activity_record(
            project=project,
            actor=user,
            verb="item.request_more",
            target=locked,
            changes={"judgments wanted": [current, target]},
        )
    item.target_overlap, item.status = target, status
    log.info("item %s now wants %s judgments (asked by %s)", item.uuid, target, user)
    return item
