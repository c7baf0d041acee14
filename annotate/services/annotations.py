"""Taking annotations in: one service for every writer.

``annotation_record`` stores one annotator's judgment of one item, whoever
writes it: a person submitting on the annotate page (on their lease), an
external annotator through the API, the algorithmic judge and Magpie-DPO's
judge (``curation``); import records its labels in batches with
``annotations_record_bulk``, the same rules applied set-wise. Both tell the
project's webhooks what they stored once it commits (batched
``annotation.created`` and ``item.completed``). No other
application code writes ``Annotation`` rows or changes an item's
``slots_taken`` / ``annotation_count`` / ``status`` for a judgment. The service takes the annotator and does not
care what later counts as a vote: consensus and exports decide that.

Who takes a slot (``annotator_takes_slot``)
    An item is handed to at most ``overlap`` annotators: its slots. People
    (``human``) and imported labels (``imported``) take one each and are
    counted in ``annotation_count`` (the item is ``done`` at its target);
    model annotators (``model``: the built-in judge, Magpie-DPO's judge and
    external annotators posting through the API) never take one and are
    never counted, so a model's label neither holds a person back nor closes
    an item. The invariant, on every item::

        slots_taken = live leases + judgments of people and imported labels
        annotation_count = judgments of people and imported labels

    A person's slot is taken by the lease (``assignment_next``) and kept by
    the submission. A writer without a lease whose annotator takes slots (an
    imported label) takes its slot as it records, even past the overlap:
    the label exists already and is never refused, and leases held stay
    valid.

Idempotency
    A judgment is unique per (item, annotator) and per (annotator,
    idempotency key). Recording it again (same key, or the same item by the
    same annotator with another key: a double click, a retried request)
    returns the stored one with ``created=False`` ("already saved") and
    changes nothing. A key already used by this annotator for another item
    raises ``IdempotencyKeyReused`` (a ``ValidationError`` on
    ``idempotency_key``; the API answers 409). Concurrent writers never see
    an ``IntegrityError``: rows go in with ``ON CONFLICT DO NOTHING`` (the
    statement waits for a concurrent insert of the same key or item to
    commit, then skips it) and the stored row is read back.

Counting (overlap, adaptive overlap, probes: ``_items_count``)
    One more judgment on an item: ``annotation_count + 1``; ``done`` once it
    reaches the item's target (``GREATEST(target_overlap, overlap)``). A
    probe (a hidden repeat for one annotator, ``probe_for``) wants one
    judgment, its annotator's: done at once, never counted towards the
    original. With adaptive overlap (``max_overlap`` > ``overlap`` and an
    ``agreement_threshold``), the judgment that brings an item to its
    target measures the item's agreement under the item's row lock (the
    lock the claim takes): below the threshold the target grows by one (up
    to ``max_overlap``) and the item stays open, else it is done.
    Concurrent submits are serialised on the row, so an item never gets
    more than ``max_overlap`` judgments. Agreement reads only judgments
    of the default voters (``item_votes_agreement``, docs/algorithms.md#consensus).

Probes (``probe_maybe_create``)
    After a person's submission on a lease of a normal item, with the
    project's ``probe_rate``, a hidden repeat is made for them (see
    ``annotate.services.assignment`` for how it is handed out). Writers
    without a lease are never given probes, and may not judge one.

A person's submission (``annotation_record(assignment=...)``)
    Turns the lease into ``submitted`` with a conditional UPDATE, which locks
    the assignment row (only that row: joining item and project into the
    lock would queue every submit of a project behind one row), so a double
    submit (same or different idempotency key) stores one annotation and
    returns it to both callers. A late submit on a reclaimed lease is
    accepted if the item still has a free slot (it takes one again);
    otherwise it is refused with ``LeaseLost`` (nothing is stored, and the
    annotator is told).

The annotate loop's submit (``_submit_sql``)
    The plain case of a submission on a live lease (no probe, no adaptive
    overlap, no probe drawn) is one hand-written statement: the lease
    becomes submitted, the annotation and its verdicts are inserted and the
    item counts one more judgment, in one round trip. Everything else takes
    the general path (``_submit_locked``), which also serves probes and
    adaptive overlap: those need a probe row written or the item's
    judgments read under its lock, which the one statement cannot do.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from annotate import rawsql
from annotate.models import (
    Annotation,
    Annotator,
    Answer,
    Assignment,
    Item,
    ItemResponse,
    Kind,
    PairwiseChoice,
    PrincipleVerdict,
    PrincipleVersion,
    Project,
    Response,
    ThumbChoice,
    Verdict,
    content_hash,
)
from annotate.selectors import questions_in_use
from annotate.services.answers import AnswerValue, answer_rows, answers_required, answers_validate
from annotate.services.assignment import overlap_limit
from annotate.services.principles import principle_versions_current
from curation import consensus
from curation.consensus import DEFAULT_VOTERS
from curation.webhooks.events import annotations_created

# Annotator types that take one of an item's ``overlap`` slots and count towards it (module docstring).
SLOT_TAKING_TYPES = frozenset({Annotator.Type.HUMAN, Annotator.Type.IMPORTED})


def annotator_takes_slot(annotator: Annotator) -> bool:
    """Whether ``annotator``'s judgments take an item's slots and count towards its overlap."""
    return annotator.type in SLOT_TAKING_TYPES


class LeaseLost(Exception):
    """The lease expired and the item was completed by others meanwhile."""


class IdempotencyKeyReused(ValidationError):
    """This annotator's idempotency key was already used for another item (nothing was stored)."""

    def __init__(self):
        super().__init__({"idempotency_key": "This idempotency key was already used for another item."})


class Recorded(NamedTuple):
    """What ``annotation_record`` returns: the annotation, and whether this call stored it."""

    annotation: Annotation
    created: bool


@dataclass
class AnnotationInput:
    """What an annotator submits, in canonical terms (A = position 0)."""

    choice: str = ""
    strength: int | None = None
    ranking: list[list[str]] | None = None
    critique: str = ""
    corrected_response: str = ""
    rationale: str = ""
    verdicts: dict[int, str] = field(default_factory=dict)  # principle id -> Verdict
    # principle id -> id of the PrincipleVersion the verdict was given under (the
    # wording shown or prompted); a principle left out: its current version
    versions: dict[int, int] = field(default_factory=dict)
    display_order: list[str] = field(default_factory=list)
    time_spent_ms: int | None = None
    probabilities: dict | None = None
    consistent: bool | None = None
    metadata: dict = field(default_factory=dict)
    # Custom questions: {question key: answer} (annotate.services.answers).
    answers: dict = field(default_factory=dict)
    # {question key: the answer's own position check} (an algorithmic judge's, ``Answer.consistent``).
    answers_consistent: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Label:
    """One judgment for ``annotations_record_bulk``: the item (its ``kind`` and ``project`` are read) and the input."""

    item: Item
    data: AnnotationInput
    idempotency_key: uuid.UUID | None = None


def annotator_for_model(*, name: str, model_name: str, judge_prompt: str = "") -> Annotator:
    """The ``model`` annotator of this name and model (an external annotator, a judge), created on first use."""
    annotator, _ = Annotator.objects.get_or_create(
        type=Annotator.Type.MODEL, name=name, model_name=model_name, defaults={"judge_prompt": judge_prompt}
    )
    return annotator


# Validation ------------------------------------------------------------------


def annotation_validate(
    *, item: Item, data: AnnotationInput, questions: list | None = None, require: bool = False
) -> list[AnswerValue]:
    """Raise ``ValidationError`` naming the field when ``data`` does not fit the item; the checked answers
    to the project's questions (``questions``: ``questions_in_use(project)``, read when needed and not given;
    ``require``: required questions must be answered, as on a person's lease)."""
    errors: dict[str, str] = {}
    if item.kind == Kind.PAIRWISE:
        if data.choice not in PairwiseChoice.values:
            errors["choice"] = f"choose one of {', '.join(PairwiseChoice.values)}"
        if data.strength is not None:
            if data.strength not in (1, 2, 3):
                errors["strength"] = "strength must be 1, 2 or 3"
            elif data.choice not in (PairwiseChoice.A, PairwiseChoice.B):
                errors["strength"] = "strength only applies when A or B is preferred"
    elif item.kind == Kind.THUMB:
        if data.choice not in ThumbChoice.values:
            errors["choice"] = "choose up or down"
    else:
        if data.choice:
            errors["choice"] = f"{item.kind} items take no choice"
    if item.kind != Kind.PAIRWISE and data.strength is not None:
        errors["strength"] = "strength only applies to pairwise items"
    if item.kind == Kind.RANKING:
        expected = set(item.response_uuids())
        groups = data.ranking or []
        flat = [str(r) for group in groups for r in group]
        if any(not group for group in groups):
            errors["ranking"] = "a rank group cannot be empty"
        elif len(flat) != len(set(flat)) or set(flat) != expected:
            errors["ranking"] = "rank every response exactly once"
    elif data.ranking:
        errors["ranking"] = "only ranking items take a ranking"
    if item.kind == Kind.JUDGMENT:
        if not data.critique.strip():
            errors["critique"] = "write a critique"
    elif data.critique or data.corrected_response:
        errors["critique"] = "only judgment items take a critique or correction"
    if data.verdicts:
        # Prefetched on the loop; a retired principle takes no new verdicts.
        valid_principles = {p.pk for p in item.project.principles.all() if p.retired_at is None}
        for principle_id, verdict in data.verdicts.items():
            if principle_id not in valid_principles:
                errors["verdicts"] = f"unknown principle {principle_id}"
            elif verdict not in Verdict.values:
                errors["verdicts"] = f"verdict must be one of {', '.join(Verdict.values)}"
    if data.versions:
        current = {p.pk: p.current_version_id for p in item.project.principles.all()}
        if set(data.versions) - set(data.verdicts):
            errors["verdicts"] = "a principle version is given without its verdict"
        older = {pid: vid for pid, vid in data.versions.items() if current.get(pid) != vid}
        if older:
            known = set(PrincipleVersion.objects.filter(pk__in=list(older.values())).values_list("principle_id", "pk"))
            if any((pid, vid) not in known for pid, vid in older.items()):
                errors["verdicts"] = "a principle version is not one of that principle's"
    if data.time_spent_ms is not None and data.time_spent_ms < 0:
        errors["time_spent_ms"] = "time spent cannot be negative"
    answers: list[AnswerValue] = []
    if data.answers or data.answers_consistent or require:
        if questions is None:
            questions = questions_in_use(item.project)
        try:
            answers = answers_validate(
                item=item,
                answers=data.answers,
                questions=questions,
                require=require,
                consistent=data.answers_consistent,
            )
        except ValidationError as error:
            errors.update({k: " ".join(v) for k, v in error.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    return answers


def _answers_write(pairs: list[tuple[Annotation, list[AnswerValue]]]) -> None:
    """Write the answers of stored annotations (``(annotation, answers)``; unsaved annotations are left out)."""
    pairs = [(a, values) for a, values in pairs if a.pk is not None and values]
    if not pairs:
        return
    uuids = {v.response_uuid for _a, values in pairs for v in values if v.response_uuid}
    response_ids = (
        {str(u): pk for u, pk in Response.objects.filter(uuid__in=uuids).values_list("uuid", "id")} if uuids else {}
    )
    Answer.objects.bulk_create(
        [
            row
            for a, values in pairs
            for row in answer_rows(annotation_id=a.pk, values=values, response_ids=response_ids)
        ]
    )


def annotation_answers_add(
    *, annotation: Annotation, answers: dict, probabilities: dict | None = None, consistent: dict | None = None
) -> int:
    """Add answers to the questions a stored annotation has not answered yet (an algorithmic judge
    asked questions added after it judged the item), checked by ``answers_validate`` like any answer;
    answers already stored are kept as they are. ``probabilities`` is merged into the annotation's.
    ``consistent``: the answers' own position checks (``answers_validate``).
    Returns the number of answers written; ``ValidationError`` names a bad one, nothing written."""
    item = annotation.item
    values = answers_validate(
        item=item, answers=answers, questions=questions_in_use(item.project), consistent=consistent
    )
    with transaction.atomic():
        locked = Annotation.objects.select_for_update().get(pk=annotation.pk)
        done = set(Answer.objects.filter(annotation=locked).values_list("question_id", "response__uuid"))
        fresh = [
            v for v in values
            if (v.question.pk, uuid.UUID(v.response_uuid) if v.response_uuid else None) not in done
        ]  # fmt: skip
        _answers_write([(locked, fresh)])
        if fresh and probabilities:
            merged = dict(locked.probabilities or {})
            for key, value in probabilities.items():  # one level deep: {"questions": {key: ...}} adds keys
                both = isinstance(value, dict) and isinstance(merged.get(key), dict)
                merged[key] = {**merged[key], **value} if both else value
            locked.probabilities = merged
            locked.save(update_fields=["probabilities"])
    return len(fresh)


# Recording ------------------------------------------------------------------


def annotation_record(
    *,
    annotator: Annotator,
    data: AnnotationInput,
    item: Item | None = None,
    assignment: Assignment | None = None,
    idempotency_key: uuid.UUID | None = None,
    now=None,
) -> Recorded:
    """Store one judgment exactly once, with everything it changes on the item; see the module docstring.

    A person's submission passes their ``assignment`` (the lease; its item
    is the one judged); every other writer passes the ``item``. Returns
    ``Recorded(annotation, created)``: ``created=False`` when it was stored
    before (the same key or the same item by this annotator), nothing
    changed then. Raises ``ValidationError`` naming the field when ``data``
    does not fit the item, ``IdempotencyKeyReused`` when the key was used for
    another item, and, on a lease, ``LeaseLost`` when it ran out and others
    completed the item (nothing is stored). ``now``: the clock a lease is
    judged by (expiry, ``finished_at``), the present by default. A person's
    judgment (on a lease or not) must answer the project's required questions
    (``answers_required``); other annotators' need not.
    """
    key = idempotency_key or uuid.uuid4()
    require = answers_required(annotator)
    if assignment is not None:
        if item is not None and item.pk != assignment.item_id:
            raise ValueError("the item judged on a lease is the lease's item")
        recorded = _record_on_lease(
            assignment=assignment, annotator=annotator, data=data, key=key, now=now, require=require
        )
        if recorded.created:
            _announce(project_id=assignment.item.project_id, annotations=[recorded.annotation])
        return recorded
    if item is None:
        raise ValueError("annotation_record needs an item or an assignment")
    if item.probe_for_id is not None and item.probe_for_id != annotator.pk:
        raise ValidationError({"item": "This item is a hidden repeat for one annotator; judge the original."})
    for _attempt in range(3):
        with transaction.atomic():
            stored = _record_many(annotator=annotator, labels=[Label(item=item, data=data, idempotency_key=key)])
        if stored:
            _announce(project_id=item.project_id, annotations=stored)
            return Recorded(stored[0], True)
        found = _stored(annotator=annotator, item_id=item.pk, key=key)
        if found is not None:
            return Recorded(found, False)
        # The row in the way was rolled back after all: try again.
    raise RuntimeError("could not record the annotation: a conflicting row keeps appearing and vanishing")


def annotations_record_bulk(*, annotator: Annotator, labels: Sequence[Label]) -> list[Annotation]:
    """Record many judgments by one annotator (import's labels) in a few statements; returns those stored.

    The same rules as ``annotation_record`` without a lease, set-wise: each
    label is validated, one already stored for its (item, annotator) or key
    is skipped (and not counted again), and the stored ones count on their
    items (and take their slots when the annotator takes slots). All labels
    belong to one project's items. Call it inside the caller's transaction
    when the labels must land all or nothing with other rows.
    """
    if not labels:
        return []
    if len({label.item.project_id for label in labels}) != 1:
        raise ValueError("annotations_record_bulk takes the items of one project")
    if any(label.item.probe_for_id is not None for label in labels):
        raise ValidationError({"item": "Probes are judged on a lease by the annotator they repeat an item for."})
    with transaction.atomic():
        stored = _record_many(annotator=annotator, labels=labels)
    _announce(project_id=labels[0].item.project_id, annotations=stored)
    return stored


def _announce(*, project_id: int, annotations: Sequence[Annotation]) -> None:
    """Stored annotations go to the project's webhooks, batched, once the transaction commits
    (``annotation.created``, ``item.completed``: ``curation.webhooks.events``)."""
    annotations_created(project_id=project_id, annotation_ids=[a.pk for a in annotations if a.pk is not None])


def _record_many(*, annotator: Annotator, labels: Sequence[Label]) -> list[Annotation]:
    """Validate, insert what is not stored yet, write the verdicts, count on the items (no lease). In a transaction."""
    annotations, answers = [], []
    questions = None
    require = answers_required(annotator)
    if require or any(label.data.answers or label.data.answers_consistent for label in labels):
        questions = questions_in_use(labels[0].item.project)
    for label in labels:
        answers.append(annotation_validate(item=label.item, data=label.data, questions=questions, require=require))
        annotations.append(
            _annotation_build(
                item=label.item,
                annotator=annotator,
                data=label.data,
                assignment=None,
                idempotency_key=label.idempotency_key or uuid.uuid4(),
            )
        )
    stored = _insert_new(annotations)
    judged = {pid for label in labels for pid in label.data.verdicts}
    current = principle_versions_current([p for p in labels[0].item.project.principles.all() if p.pk in judged])
    verdicts = [
        PrincipleVerdict(
            annotation=annotation,
            principle_id=pid,
            version_id=label.data.versions.get(pid) or current[pid],
            verdict=verdict,
        )
        for label, annotation in zip(labels, annotations, strict=True)
        if annotation.pk is not None
        for pid, verdict in label.data.verdicts.items()
    ]
    if verdicts:
        PrincipleVerdict.objects.bulk_create(verdicts)
    _answers_write(list(zip(annotations, answers, strict=True)))
    if stored and annotator_takes_slot(annotator):
        _items_count(project=labels[0].item.project, item_ids=[a.item_id for a in stored], take_slot=True)
    return stored


def _verdict_versions(item: Item, data: AnnotationInput) -> dict[int, int]:
    """The version each of ``data``'s verdicts is recorded under, in ``data.verdicts``' order:
    the one given (``data.versions``, checked by ``annotation_validate``), else the current one."""
    if not data.verdicts:
        return {}
    current = principle_versions_current([p for p in item.project.principles.all() if p.pk in data.verdicts])
    return {pid: data.versions.get(pid) or current[pid] for pid in data.verdicts}


def _stored(*, annotator: Annotator, item_id: int, key: uuid.UUID) -> Annotation | None:
    """The annotation a repeat refers to (by key, else by item), or ``None``; ``IdempotencyKeyReused`` for another item."""
    by_key = Annotation.objects.filter(annotator=annotator, idempotency_key=key).first()
    if by_key is not None and by_key.item_id != item_id:
        raise IdempotencyKeyReused
    return by_key or Annotation.objects.filter(annotator=annotator, item_id=item_id).first()


def _annotation_build(
    *, item: Item, annotator: Annotator, data: AnnotationInput, assignment: Assignment | None, idempotency_key
) -> Annotation:
    """The unsaved annotation of ``data`` (validated by the caller)."""
    return Annotation(
        item=item,
        annotator=annotator,
        assignment=assignment,
        kind=item.kind,
        choice=data.choice,
        strength=data.strength,
        ranking=[[str(r) for r in group] for group in data.ranking] if data.ranking else None,
        critique=data.critique.strip(),
        corrected_response=data.corrected_response.strip(),
        rationale=data.rationale.strip(),
        display_order=data.display_order or (assignment.display_order if assignment else []),
        time_spent_ms=data.time_spent_ms,
        idempotency_key=idempotency_key or uuid.uuid4(),
        probabilities=data.probabilities,
        consistent=data.consistent,
        metadata=data.metadata,
    )


def _annotation_insert_fields() -> list:
    return [f for f in rawsql.fields(Annotation) if not f.primary_key]


def _is_json(f) -> bool:
    return f.get_internal_type() == "JSONField"


@functools.cache
def _insert_new_sql_text() -> str:
    """``_insert_new``'s statement (built once: it depends on the models only)."""
    fields = _annotation_insert_fields()
    arrays = ", ".join(f"CAST(%s AS {'text' if _is_json(f) else f.db_type(connection)}[])" for f in fields)
    names = [f"c{n}" for n in range(len(fields))]
    selected = ", ".join(f"CAST({n} AS jsonb)" if _is_json(f) else n for n, f in zip(names, fields, strict=True))
    return f"""
        INSERT INTO {Annotation._meta.db_table} ({", ".join(f'"{f.column}"' for f in fields)})
        SELECT {selected} FROM unnest({arrays}) AS r({", ".join(names)})
        ON CONFLICT DO NOTHING
        RETURNING uuid, id
    """  # noqa: S608 - only table and column names from the models are interpolated


def _column_values(f, annotations: list[Annotation]) -> list:
    """One column of ``_insert_new``'s rows: each annotation's value of ``f`` as the database takes it."""
    if _is_json(f):
        return [None if (v := f.pre_save(a, True)) is None else json.dumps(v, cls=f.encoder) for a in annotations]
    prep = functools.partial(f.get_db_prep_save, connection=connection)
    return [prep(f.pre_save(a, True)) for a in annotations]


def _insert_new(annotations: list[Annotation]) -> list[Annotation]:
    """Insert the annotations not stored yet (by (item, annotator) or key) in one statement; returns those inserted.

    The rows travel as one array per column (``unnest``), so a batch of
    thousands (import's labels) is one statement too. ``ON CONFLICT DO
    NOTHING`` skips a row that clashes with a stored one (after waiting for
    a concurrent insert of it to commit), so a race is a skipped row, never
    an ``IntegrityError``. Inserted rows get their ``pk``.
    """
    columns = [_column_values(f, annotations) for f in _annotation_insert_fields()]
    with connection.cursor() as cursor:
        cursor.execute(_insert_new_sql_text(), columns)
        ids = dict(cursor.fetchall())
    inserted = []
    for annotation in annotations:
        pk = ids.get(annotation.uuid)
        if pk is not None:
            annotation.pk = pk
            annotation._state.adding, annotation._state.db = False, connection.alias
            inserted.append(annotation)
    return inserted


# Counting ---------------------------------------------------------------------


def _items_count(*, project: Project, item_ids: list[int], take_slot: bool) -> None:
    """Count one more judgment on each item (taking its slot too when the writer holds no lease).

    Done at the item's target, a probe at once; with adaptive overlap, see
    ``_count_with_adaptive_overlap``. One ``UPDATE`` without adaptive
    overlap (the same rule ``_submit_sql`` applies in its one statement).
    """
    if not item_ids:
        return
    if adaptive_overlap_on(project):
        _count_with_adaptive_overlap(project=project, item_ids=item_ids, take_slot=take_slot)
        return
    limit = Greatest(F("target_overlap"), Value(project.overlap))
    Item.objects.filter(pk__in=item_ids).update(
        annotation_count=F("annotation_count") + 1,
        slots_taken=F("slots_taken") + 1 if take_slot else F("slots_taken"),
        status=Case(
            When(Q(probe_for__isnull=False) | Q(annotation_count__gte=limit - 1), then=Value(Item.Status.DONE)),
            default=F("status"),
        ),
    )


def adaptive_overlap_on(project: Project) -> bool:
    return project.max_overlap > project.overlap and project.agreement_threshold > 0


def _count_with_adaptive_overlap(*, project: Project, item_ids: list[int], take_slot: bool) -> None:
    """Count one more judgment on each item; on reaching its target, raise the target by one if agreement is too low.

    Under the items' row locks (``FOR NO KEY UPDATE``, the lock next-item's
    claim takes, taken in id order), so two submits that reach the target
    together are counted one after the other and the target grows by one
    per decision, never past ``project.max_overlap``. Raising the target
    frees one slot; the claim's ``slots_taken < GREATEST(target_overlap,
    overlap)`` hands it out again.
    """
    with transaction.atomic():
        rows = list(
            Item.objects.select_for_update(no_key=True)
            .filter(pk__in=item_ids)
            .order_by("pk")
            .values_list("pk", "kind", "annotation_count", "target_overlap", "probe_for_id")
        )
        counted, done, raised = [], [], []
        for pk, kind, annotation_count, target_overlap, probe_for_id in rows:
            target = max(target_overlap, project.overlap)
            if probe_for_id is not None:
                done.append(pk)  # a probe wants one judgment
            elif annotation_count + 1 < target:
                counted.append(pk)
            else:
                item = Item(pk=pk, kind=kind, project=project)
                agreement = item_votes_agreement(item=item) if target < project.max_overlap else None
                (raised if agreement is not None and agreement < project.agreement_threshold else done).append(pk)
        one_more = {
            "annotation_count": F("annotation_count") + 1,
            "slots_taken": F("slots_taken") + 1 if take_slot else F("slots_taken"),
        }
        if counted:
            Item.objects.filter(pk__in=counted).update(**one_more)
        if done:
            Item.objects.filter(pk__in=done).update(**one_more, status=Item.Status.DONE)
        if raised:
            Item.objects.filter(pk__in=raised).update(
                **one_more, target_overlap=Greatest(F("target_overlap"), Value(project.overlap)) + 1
            )


def item_votes_agreement(*, item: Item) -> float | None:
    """The item's agreement (``curation.consensus.item_agreement``) over the votes of the
    default voters, people and imported labels, never a model's; ``None`` for judgment items."""
    votes = Annotation.objects.filter(item_id=item.pk, annotator__type__in=list(DEFAULT_VOTERS))
    if item.kind == Kind.RANKING:
        return consensus.item_agreement(kind=item.kind, votes=[r for r in votes.values_list("ranking", flat=True) if r])
    return consensus.item_agreement(kind=item.kind, votes=list(votes.values_list("choice", flat=True)))


# A person's submission on a lease -------------------------------------------------


def _record_on_lease(
    *, assignment: Assignment, annotator: Annotator, data: AnnotationInput, key: uuid.UUID, now, require: bool = False
) -> Recorded:
    """A submission on ``assignment``: stored exactly once; a repeat returns the first one (``created=False``).

    The lease holds the item's slot, so the judgment takes none; it counts
    on the item whatever the annotator's type. A repeat of the same
    submission (same key, or a second submit on the same assignment) finds
    the lease submitted and returns the stored annotation.
    """
    now = now or timezone.now()
    if assignment.annotator_id != annotator.pk:
        raise ValidationError("This assignment is not yours.")
    try:
        if _submit_fast_applies(assignment.item, annotator):
            annotation = _submit_sql(
                assignment=assignment, annotator=annotator, data=data, key=key, now=now, require=require
            )
            if annotation is not None:
                return Recorded(annotation, True)
            # The lease is no longer live (a repeat, a skip, an expiry): the general path sorts it out.
        return _submit_locked(assignment=assignment, annotator=annotator, data=data, key=key, now=now, require=require)
    except (IntegrityError, _AlreadyStored):
        # The key was used before by this annotator (the repeat of a stored
        # submission arrives with the assignment already submitted, so this
        # is a key reused for another item), or the item already holds an
        # annotation of theirs written outside this assignment. Nothing of
        # this submission was written (one statement, or rolled back).
        existing = _stored(annotator=annotator, item_id=assignment.item_id, key=key)
        if existing is None:
            raise
        return Recorded(existing, False)


class _AlreadyStored(Exception):
    """Raised inside ``_submit_locked``'s transaction to undo it when the annotation turned out to be stored."""


def _submit_fast_applies(item: Item, annotator: Annotator) -> bool:
    """Whether a submit on ``item`` is the plain case ``_submit_sql`` handles.

    The item is not a probe (probes count differently); the project has no
    adaptive overlap (which reads the item's judgments under its lock); and
    no probe is drawn for this (annotator, item) (a probe row is written).
    """
    project = item.project
    return (
        item.probe_for_id is None
        and not adaptive_overlap_on(project)
        and (project.probe_rate <= 0 or _probe_draw(annotator, item)[0] >= project.probe_rate)
    )


def _submit_sql(
    *, assignment: Assignment, annotator: Annotator, data: AnnotationInput, key: uuid.UUID, now, require: bool = False
) -> Annotation | None:
    """The plain submit in one statement: the lease, the annotation, its verdicts, the item's count.

    The live lease becomes submitted (``won``); only if it did, the
    annotation is inserted with its principle verdicts and the item counts
    one more judgment (done at its overlap), exactly as ``_submit_locked``
    would (the rule of ``_items_count``), but in one round trip and without
    the ORM's query building. One statement is atomic: a unique clash (the
    key reused, the item already judged) raises ``IntegrityError`` and
    leaves nothing written. ``None`` when the lease was not live (nothing is
    written then either).
    """
    item = assignment.item
    answers = annotation_validate(item=item, data=data, require=require)
    annotation = _annotation_build(
        item=item, annotator=annotator, data=data, assignment=assignment, idempotency_key=key
    )
    columns = [a.columns() for a in answers]
    fields = _annotation_insert_fields()
    values = [f.get_db_prep_save(f.pre_save(annotation, True), connection) for f in fields]
    params = [
        Assignment.Status.SUBMITTED.value,
        now,
        assignment.pk,
        Assignment.Status.LEASED.value,
        *values,
        [int(pid) for pid in data.verdicts],
        list(_verdict_versions(item, data).values()),
        list(data.verdicts.values()),
        [a.question.pk for a in answers],
        [a.question.current_id for a in answers],
        [a.response_uuid for a in answers],
        [c["type"] for c in columns],
        [c["choice"] for c in columns],
        [json.dumps(c["labels"]) for c in columns],
        [c["rating"] for c in columns],
        [c["text"] for c in columns],
        [c["consistent"] for c in columns],
        item.project.overlap,
        Item.Status.DONE.value,
        item.pk,
    ]
    with rawsql.savepoint_if_nested(), rawsql.prepared_cursor() as cursor:
        cursor.execute(_submit_sql_text(), params)
        row = cursor.fetchone()
    if row is None:
        return None
    annotation.pk = row[0]
    annotation._state.adding, annotation._state.db = False, connection.alias
    assignment.status, assignment.finished_at = Assignment.Status.SUBMITTED, now
    return annotation


@functools.cache
def _submit_sql_text() -> str:
    """``_submit_sql``'s statement (built once: it depends on the models only)."""
    fields = _annotation_insert_fields()
    casts = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in fields)
    return f"""
        WITH won AS (
            UPDATE {Assignment._meta.db_table} SET status = %s, finished_at = %s
            WHERE id = %s AND status = %s
            RETURNING id
        ), ann AS (
            INSERT INTO {Annotation._meta.db_table} ({", ".join(f'"{f.column}"' for f in fields)})
            SELECT {casts} FROM won
            RETURNING id
        ), verdicts AS (
            INSERT INTO {PrincipleVerdict._meta.db_table} (annotation_id, principle_id, version_id, verdict)
            SELECT ann.id, v.principle, v.version, v.verdict
            FROM ann, unnest(CAST(%s AS bigint[]), CAST(%s AS bigint[]), CAST(%s AS text[]))
                AS v(principle, version, verdict)
        ), answers AS (
            INSERT INTO {Answer._meta.db_table}
                (annotation_id, question_id, version_id, response_id, type, choice, labels, rating, text, consistent)
            SELECT ann.id, x.question, x.version, resp.id, x.type, x.choice,
                   ARRAY(SELECT jsonb_array_elements_text(CAST(x.labels AS jsonb))), x.rating, x.text, x.consistent
            FROM ann, unnest(CAST(%s AS bigint[]), CAST(%s AS bigint[]), CAST(%s AS uuid[]), CAST(%s AS text[]),
                             CAST(%s AS text[]), CAST(%s AS text[]), CAST(%s AS integer[]), CAST(%s AS text[]),
                             CAST(%s AS boolean[]))
                 AS x(question, version, response, type, choice, labels, rating, text, consistent)
            LEFT JOIN {Response._meta.db_table} resp ON resp.uuid = x.response
        ), counted AS (
            UPDATE {Item._meta.db_table} SET annotation_count = annotation_count + 1,
                status = CASE WHEN annotation_count >= GREATEST(target_overlap, %s) - 1 THEN %s ELSE status END
            WHERE id = %s AND EXISTS (SELECT 1 FROM ann)
        )
        SELECT id FROM ann
    """  # noqa: S608 - only table and column names from the models are interpolated


def _submit_locked(
    *, assignment: Assignment, annotator: Annotator, data: AnnotationInput, key: uuid.UUID, now, require: bool = False
) -> Recorded:
    """The general submit: any lease state, probes, adaptive overlap (what ``_submit_sql`` cannot express)."""
    # No read of the key before the lock: a repeat finds the assignment
    # submitted under the lock, and a clash is found by the insert (one
    # round trip less per submit).
    with transaction.atomic():
        # The usual case in one statement: the live lease becomes submitted.
        # The UPDATE locks the assignment row (only that row: locking the item
        # and project too would queue every submit of a project behind one
        # row), so a parallel double submit waits here, then matches nothing.
        item = assignment.item
        won = Assignment.objects.filter(pk=assignment.pk, status=Assignment.Status.LEASED).update(
            status=Assignment.Status.SUBMITTED, finished_at=now
        )
        if not won:
            locked = Assignment.objects.select_for_update().only("status", "item_id").get(pk=assignment.pk)
            if locked.status == Assignment.Status.SUBMITTED:
                return Recorded(Annotation.objects.get(item_id=locked.item_id, annotator=annotator), False)
            if locked.status == Assignment.Status.SKIPPED:
                raise ValidationError("This item was skipped.")
            # Expired: the slot was given back; take one again if there is room.
            retaken = (
                Item.objects.filter(pk=item.pk, excluded=False)
                .annotate(limit=overlap_limit(item.project))
                .filter(slots_taken__lt=F("limit"))
                .update(slots_taken=F("slots_taken") + 1)
            )
            if not retaken:
                raise LeaseLost("Your time on this item ran out and others have completed it.")
            Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.SUBMITTED, finished_at=now)
        # Validates (a ValidationError undoes the status change above).
        answers = annotation_validate(item=item, data=data, require=require)
        annotation = _annotation_build(
            item=item, annotator=annotator, data=data, assignment=assignment, idempotency_key=key
        )
        if not _insert_new([annotation]):
            raise _AlreadyStored  # undoes the status change; the caller returns the stored one
        if data.verdicts:
            versions = _verdict_versions(item, data)
            PrincipleVerdict.objects.bulk_create(
                PrincipleVerdict(annotation=annotation, principle_id=pid, version_id=versions[pid], verdict=v)
                for pid, v in data.verdicts.items()
            )
        _answers_write([(annotation, answers)])
        _items_count(project=item.project, item_ids=[item.pk], take_slot=False)
        probe_maybe_create(item=item, annotator=annotator, project=item.project)
    return Recorded(annotation, True)


# Probes ------------------------------------------------------------------------


def _probe_draw(annotator: Annotator, item: Item) -> tuple[float, bool]:
    """A deterministic ``(u, swap)`` per (annotator, item): ``u`` uniform in [0, 1), ``swap`` a fair coin."""
    digest = hashlib.sha256(f"docket-probe:{annotator.uuid}:{item.uuid}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64, bool(digest[8] & 1)


def probe_maybe_create(*, item: Item, annotator: Annotator, project: Project) -> Item | None:
    """After ``annotator`` judged ``item`` on a lease, make a hidden repeat of it for them with probability ``probe_rate``.

    The draw is a hash of (annotator, item), so a run is reproducible. Half
    of the pairwise probes (the hash's coin) show the two responses on the
    other sides of the screen (``probe_swapped``). The probe is an item of its
    own (``probe_of`` = the original, ``probe_for`` = the annotator) with the
    same prompt and responses at the same canonical positions, so its
    annotation is stored in the same canonical terms as the original's and
    never counts towards the original's overlap or consensus. Called under
    the submit's transaction; ``None`` when no probe is drawn.
    """
    if item.probe_of_id or project.probe_rate <= 0:
        return None
    u, swap = _probe_draw(annotator, item)
    if u >= project.probe_rate:
        return None
    links = list(item.links.values_list("response_id", "position"))
    try:
        with transaction.atomic():
            probe = Item.objects.create(
                project=project,
                kind=item.kind,
                prompt_id=item.prompt_id,
                content_hash=content_hash(["probe", item.content_hash, str(annotator.uuid)]),
                probe_of=item,
                probe_for=annotator,
                probe_swapped=swap and item.kind == Kind.PAIRWISE,
            )
            ItemResponse.objects.bulk_create(
                ItemResponse(item=probe, response_id=rid, position=pos) for rid, pos in links
            )
    except IntegrityError:
        return None  # already made (cannot happen through submit; kept harmless for other callers)
    return probe
