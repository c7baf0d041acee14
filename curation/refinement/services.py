"""The refinement loop (issue 19, point 3): after a principle is rewritten, ask
again about a sample of the items its old version was applied to, and compare
the two versions on those same items (docs/algorithms.md#paired-bootstrap).

``rejudgment_create`` draws the sample and makes one copy of each item
(``Item.rejudgment``, ``Item.rejudge_of``): copies go to the project's
annotators through the normal queue (exactly ``overlap`` judgments each, which
is at least the project's overlap: the queue's claim rule hands every item out
that many times) and/or to a judge panel run
as one judge job (``judge_create`` with ``rejudgment``), which asks only the
rewritten principle, in its new wording. Copies are kept out of consensus,
audits, exports and ordinary judge runs. ``rejudgment_compare`` reads the old
version's verdicts on the originals and the new version's on the copies and
stores the comparison (``versions_compare``) per group of interpreters; the
judge job calls it when it ends, the refine page on request.
"""

from __future__ import annotations

import random

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count

from annotate.models import (
    Item,
    ItemResponse,
    Principle,
    PrincipleVerdict,
    PrincipleVersion,
    Project,
    Rejudgment,
    content_hash,
)
from curation.judging.params import PROJECT_PANEL, judge_panel_clean, judge_panel_of, judge_panel_text
from curation.judging.services import judge_create
from curation.projects.activity import activity_record

SIZE_DEFAULT = 50
SIZE_MAX = 500
OVERLAP_MAX = 10


def _int(value, name: str, low: int, high: int, errors: dict) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        errors[name] = f"{name}: a whole number from {low} to {high}"
        return low
    if not low <= number <= high:
        errors[name] = f"{name}: a whole number from {low} to {high}"
    return number


def rejudgment_candidates(*, version: PrincipleVersion) -> list[int]:
    """Ids of the items ``version`` was applied to by two or more interpreters (only those
    can be compared), leaving out probes, excluded items and re-judgment copies."""
    rows = (
        PrincipleVerdict.objects.filter(
            version=version,
            annotation__item__excluded=False,
            annotation__item__probe_of__isnull=True,
            annotation__item__rejudge_of__isnull=True,
        )
        .values("annotation__item_id")
        .annotate(n=Count("id"))
        .filter(n__gte=2)
        .order_by("annotation__item_id")
    )
    return [r["annotation__item_id"] for r in rows]


def rejudgment_create(
    *,
    project: Project,
    principle: Principle,
    user,
    size=SIZE_DEFAULT,
    overlap=0,
    panel=None,
    old_version=None,
    enqueue: bool = True,
) -> Rejudgment:
    """Request a re-judgment sample of ``principle`` (see the module docstring).

    ``size``: items drawn (1 to ``SIZE_MAX``; fewer when fewer qualify);
    ``overlap``: judgments wanted per copy from the project's annotators (0: none;
    otherwise at least the project's overlap);
    ``panel``: judge panel members (as the judge job's ``panel``, or ``"project"``
    for the saved one; empty: no judges); ``old_version``: the version number
    compared against (default: the one before the current). Every value is
    checked first: ``ValidationError`` naming the field, nothing written.
    """
    errors: dict[str, str] = {}
    size = _int(SIZE_DEFAULT if size in (None, "") else size, "size", 1, SIZE_MAX, errors)
    overlap = _int(0 if overlap in (None, "") else overlap, "overlap", 0, OVERLAP_MAX, errors)
    members: tuple = ()
    wanted = panel
    if isinstance(wanted, str) and wanted.strip() == PROJECT_PANEL:
        wanted = judge_panel_of(project)
        if not wanted:
            errors["panel"] = "panel: this project has no saved judge panel"
    if isinstance(wanted, str) and len(wanted) > 4000:
        errors["panel"] = "panel: too long"
    else:
        try:
            members = judge_panel_clean(wanted)
        except ValueError as exc:
            errors["panel"] = f"panel: {exc}"
    if not errors and overlap == 0 and not members:
        errors["overlap"] = "ask the annotators (overlap of 1 or more), a judge panel, or both"
    elif "overlap" not in errors and 0 < overlap < project.overlap:
        # the queue hands every item out at least the project's overlap times: a smaller k would not hold
        errors["overlap"] = f"at least the project's overlap ({project.overlap}) when the annotators are asked"
    if principle.project_id != project.pk:
        raise ValidationError({"principle": "no such principle in this project"})
    if principle.retired_at is not None:
        errors["principle"] = "a retired principle is not asked about; restore it first"
    current = principle.current_version
    if current is None or current.number < 2:
        errors["principle"] = "rewrite the principle first: it has only one version"
    old = None
    if current is not None and "principle" not in errors:
        number = _int(current.number - 1 if old_version in (None, "") else old_version, "old_version", 1,
                      current.number - 1, errors)  # fmt: skip
        old = PrincipleVersion.objects.filter(principle=principle, number=number).first()
        if old is None and "old_version" not in errors:
            errors["old_version"] = f"old_version: no version {number}"
    candidates = rejudgment_candidates(version=old) if old is not None else []
    if old is not None and not candidates and "old_version" not in errors:
        errors["old_version"] = f"no item has two or more verdicts under version {old.number}"
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        rejudgment = Rejudgment.objects.create(
            project=project,
            principle=principle,
            old_version=old,
            new_version=current,
            size=size,
            overlap=overlap,
            panel=judge_panel_text(members),
            created_by=user if user is not None and getattr(user, "is_authenticated", False) else None,
        )
        drawn = sorted(random.Random(str(rejudgment.uuid)).sample(candidates, min(size, len(candidates))))
        _copies_make(rejudgment=rejudgment, item_ids=drawn)
        if members:
            job = judge_create(
                project=project,
                user=user,
                params={"panel": list(rejudgment.panel), "principles": True, "rejudgment": str(rejudgment.uuid)},
                enqueue=enqueue,
            )
            rejudgment.job_uuid = job.uuid
            rejudgment.save(update_fields=["job_uuid"])
        activity_record(
            project=project,
            actor=user,
            verb="principle.rejudge",
            target=principle,
            changes={"version": [old.number, current.number], "items": [None, len(drawn)]},
        )
    return rejudgment


def _copies_make(*, rejudgment: Rejudgment, item_ids: list[int]) -> None:
    """One copy per item: the same prompt and responses at the same positions, open for
    ``overlap`` judgments (done at once when only judges are asked)."""
    originals = list(Item.objects.filter(pk__in=item_ids).order_by("id"))
    status = Item.Status.OPEN if rejudgment.overlap else Item.Status.DONE
    copies = Item.objects.bulk_create(
        Item(
            project_id=rejudgment.project_id,
            kind=item.kind,
            prompt_id=item.prompt_id,
            content_hash=content_hash(["rejudge", item.content_hash, str(rejudgment.uuid)]),
            status=status,
            target_overlap=rejudgment.overlap,
            rejudge_of=item,
            rejudgment=rejudgment,
        )
        for item in originals
    )
    copy_of = {item.pk: copy for item, copy in zip(originals, copies, strict=True)}
    ItemResponse.objects.bulk_create(
        ItemResponse(item=copy_of[item_id], response_id=response_id, position=position)
        for item_id, response_id, position in ItemResponse.objects.filter(item_id__in=list(copy_of)).values_list(
            "item_id", "response_id", "position"
        )
    )
