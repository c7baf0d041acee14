"""The ORM side of the exports: a project's items as :class:`~.records.ItemRec`, streamed.

:func:`items_for_export` yields one record per item, ordered by prompt (then
item id), probes left out, everything read in chunks of ``chunk_size`` items:

* the items come from one server-side cursor (``QuerySet.iterator``) over
  ``values_list`` rows, so the project is never in memory;
* per chunk, four queries fetch what the chunk needs: its responses (position
  order), its annotations (id order), the prompts not seen yet, and its
  ``ItemAudit`` rows of the audit in use. Annotators are looked up once each
  (uuid and type) and kept for the run;
* uuids are cast to text in SQL, so no ``uuid.UUID`` object is made per row.

What each record holds (the mapping :mod:`.records` documents): item, prompt
and response ids are uuids; a judgment's id is the annotation's uuid and its
``annotator_id`` the annotator's uuid (the raw format pseudonymises it); the
item's ``excluded`` and ``resolution`` as a curator left them; from the audit
(the project's latest :class:`~curation.models.Audit`, or the one given):
``agreement`` = ``ItemAudit.majority_share`` and ``ches`` / ``ln_ches``.
Principle verdicts are not read into the records (no format uses them);
:func:`principle_split_items` reads them for the ``drop_split_principle`` filter.

:func:`audit_findings` turns the audit into the id sets the filters take:
flagged annotators (``Annotator.flagged``, a curator's flag, plus
``AnnotatorAudit.outlier``), swap-inconsistent and intransitive judgments
(``ItemAudit.details["swap_inconsistent"]`` / ``["transitivity"]``, lists of
annotation uuids, of annotator uuids (that annotator's judgment of the item),
or of dicts naming either under ``annotation`` / ``annotator``). An item
flagged ``swap_inconsistent`` without such a list falls back to the
annotators its probes were shown to (``Item.probe_for``) whose probe choice
differs from their choice on the item. :func:`ches_scores` streams
``(item uuid, score)`` for the CHES filter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import chain
from json import loads

import numpy as np
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import CharField, Count, Exists, F, OuterRef, Prefetch, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from annotate.models import (
    Annotation,
    Annotator,
    Answer,
    Item,
    ItemResponse,
    Principle,
    PrincipleVerdict,
    PrincipleVersion,
    Prompt,
    Question,
    QuestionVersion,
    Response,
    Verdict,
)
from curation.metrics import verdicts_split
from curation.models import AnnotatorAudit, Audit, ItemAudit, ResponseEncoding

from .records import ItemRec, JudgmentRec, PromptRec, QuestionRec, ResponseRec

CHUNK_SIZE = 5000
ANNOTATORS_READ_AT_ONCE = 100_000
# ItemAudit.details keys (and flags) naming the judgments the consistency filters drop.
SWAP_KEYS = ("swap_inconsistent", "swap", "swap_inconsistent_annotations")
TRANSITIVITY_KEYS = ("transitivity", "intransitive", "transitivity_violations", "transitivity_annotations")
_ID_KEYS = ("annotation", "annotation_id", "annotation_uuid", "judgment", "annotator", "annotator_id", "annotator_uuid")


def _text(name: str) -> Cast:
    return Cast(name, output_field=CharField())


def latest_audit(*, project) -> Audit | None:
    return Audit.objects.filter(project=project).order_by("-created_at", "-id").first()


def export_items(*, project):
    """The items an export reads: the project's, without probes."""
    return Item.objects.filter(project=project, probe_of__isnull=True, rejudge_of__isnull=True)


def items_for_export(
    *,
    project,
    audit: Audit | None | bool = True,
    chunk_size: int = CHUNK_SIZE,
    full: bool = True,
    snapshot: bool | None = None,
    audit_agreement: bool = True,
) -> Iterator[ItemRec]:
    """Stream the project's items (no probes) as records, grouped by prompt.

    ``audit``: ``True`` (default) uses the project's latest audit, ``None`` or
    ``False`` none, or pass one. ``full=False`` skips what only the raw format
    shows (rationale, display order, time spent, creation time).
    ``audit_agreement=False`` leaves the audit's per-item agreement out (the
    export's voters differ from the audit's; the filters then compute it).

    ``snapshot`` (default: outside a transaction) reads on a
    connection of its own, in one REPEATABLE READ READ ONLY transaction: every
    stream sees the same state of the project, and the cursors stream lazily
    (no WITH HOLD copy of each result). The caller's connection stays free for
    the job's progress writes, which commit as they go. Inside a transaction
    (tests, callers that wrote uncommitted rows) it reads on the caller's
    connection, which sees those rows.

    Five ordered streams, each one query on a server-side cursor read
    ``chunk_size`` rows at a time, are merged on ``(prompt id, item id)``:
    items, their responses (by position), their annotations (by id), the
    prompts (by id: items are ordered by prompt) and the audit's item rows.
    A row of a child stream whose item the item stream does not have (added
    between the queries) is skipped.
    """
    if audit is True:
        audit = latest_audit(project=project)
    if snapshot is None:
        snapshot = not connection.in_atomic_block
    if snapshot:
        return _snapshot_records(
            project=project, audit=audit, chunk_size=chunk_size, full=full, audit_agreement=audit_agreement
        )
    return _records(project=project, audit=audit, chunk_size=chunk_size, full=full, audit_agreement=audit_agreement)


def _snapshot_records(**kwargs) -> Iterator[ItemRec]:
    import psycopg

    db = psycopg.connect(**connection.get_connection_params())  # Django's adapters (jsonb as text) included
    try:
        db.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        db.read_only = True
        db.execute("SELECT set_config('TimeZone', %s, false)", [connection.timezone_name])
        yield from _records(**kwargs, db=db)
    finally:
        db.close()


def _records(
    *, project, audit, chunk_size: int, full: bool, audit_agreement: bool = True, db=None
) -> Iterator[ItemRec]:
    items = export_items(project=project)
    in_export = {"item__project": project, "item__probe_of__isnull": True, "item__rejudge_of__isnull": True}
    streams = [
        (
            items.order_by("prompt_id", "id").values_list(
                "prompt_id", "id", _text("uuid"), "kind", "excluded", "resolution"
            ),
            chunk_size,
        ),
        (
            Prompt.objects.filter(project=project).order_by("id").values_list("id", _text("uuid"), "messages"),
            chunk_size,
        ),
        (
            ItemResponse.objects.filter(**in_export)
            .order_by("item__prompt_id", "item_id", "position")
            .values_list("item__prompt_id", "item_id", _text("response__uuid"), "response__text"),
            chunk_size * 2,
        ),
    ]
    columns = ["item__prompt_id", "item_id", _text("uuid"), "annotator_id", "choice", "strength", "ranking"]
    columns += ["critique", "corrected_response", "consistent"]
    if full:
        columns += ["rationale", "display_order", "time_spent_ms", "created_at"]
    # Each annotation's answers to custom questions, as JSON (null without: one index probe each).
    annotations = Annotation.objects.filter(**in_export).annotate(
        answers_json=RawSQL(_ANSWERS_SQL, [])  # noqa: S611 - only table names from the models
    )
    columns.append("answers_json")
    streams.append((annotations.order_by("item__prompt_id", "item_id", "id").values_list(*columns), chunk_size * 4))
    if audit:
        streams.append(
            (
                ItemAudit.objects.filter(audit=audit, **in_export)
                .order_by("item__prompt_id", "item_id")
                .values_list("item__prompt_id", "item_id", "majority_share", "ches", "ln_ches"),
                chunk_size,
            )
        )
    cursors: list = []
    try:
        rows = [_stream(qs, size, cursors, db) for qs, size in streams]
        if not audit:
            rows.append(iter(()))
        yield from _merge(*rows, full=full, annotator=_annotator_lookup(), audit_agreement=audit_agreement)
    finally:
        for cursor in cursors:
            cursor.close()


def _stream(queryset, size: int, cursors: list, db=None) -> Iterator[tuple]:
    """The rows of ``queryset`` as psycopg returns them, from a server-side cursor, ``size`` at a time.

    Django's per-row machinery is skipped: uuids are cast to text in SQL and
    JSON columns come as text (Django's jsonb loader), parsed where used.
    ``db``: a psycopg connection to read on instead of Django's.
    """
    sql, params = queryset.query.sql_with_params()
    cursor = connection.chunked_cursor() if db is None else db.cursor(name=f"docket_export_{len(cursors)}")
    cursors.append(cursor)
    cursor.execute(sql, params)
    return chain.from_iterable(iter(partial(cursor.fetchmany, size), []))


_END = (float("inf"), float("inf"))


def _annotator_lookup() -> Callable[[int], tuple[str, str]]:
    """``pk -> (uuid, type)``. On the first miss every annotator is read in one query when there are
    at most ``ANNOTATORS_READ_AT_ONCE`` of them (the usual case), else one query per annotator."""
    known: dict[int, tuple[str, str]] = {}
    state = {"all_read": False}
    rows = Annotator.objects.values_list("id", _text("uuid"), "type")

    def annotator(pk: int) -> tuple[str, str]:
        if pk not in known and not state["all_read"]:
            state["all_read"] = True
            if Annotator.objects.count() <= ANNOTATORS_READ_AT_ONCE:
                known.update((row[0], row[1:]) for row in rows)
        if pk not in known:
            known.update((row[0], row[1:]) for row in rows.filter(pk=pk))
        return known[pk]

    return annotator


def _merge(
    item_rows,
    prompt_rows,
    response_rows,
    annotation_rows,
    audit_rows,
    *,
    full: bool,
    annotator,
    audit_agreement=True,
) -> Iterator[ItemRec]:
    """Records from the five streams, all ordered by ``(prompt id, item id)`` (prompts by id).

    JSON columns come as text (``_stream``) and are parsed here.
    """
    annotators: dict[int, tuple[str, str]] = {}
    prompt = None
    prompt_pk = -1
    response = next(response_rows, _END)
    judgment = next(annotation_rows, _END)
    scored = next(audit_rows, _END)
    for prompt_id, pk, uuid_text, kind, excluded, resolution in item_rows:
        key = (prompt_id, pk)
        if prompt_id != prompt_pk:
            row = next(prompt_rows, None)
            while row is not None and row[0] != prompt_id:  # prompts without items
                row = next(prompt_rows, None)
            if row is None:
                raise RuntimeError(f"prompt {prompt_id} of item {pk} not found")  # pragma: no cover
            prompt_pk = prompt_id
            prompt = PromptRec(row[1], loads(row[2]))
        if resolution is not None:
            resolution = loads(resolution)

        responses = []
        while response[1] != pk and response[:2] < key:  # rows of items we do not have
            response = next(response_rows, _END)
        while response[1] == pk:
            responses.append(ResponseRec(response[2], response[3]))
            response = next(response_rows, _END)

        judgments = []
        while judgment[1] != pk and judgment[:2] < key:
            judgment = next(annotation_rows, _END)
        while judgment[1] == pk:
            who = judgment[3]
            ann_uuid, ann_type = annotators.get(who) or annotators.setdefault(who, annotator(who))
            ranking = judgment[6]
            if ranking is not None:
                ranking = loads(ranking)
            if full:
                order = judgment[11]
                if order is not None:
                    order = loads(order)
                # id, annotator, type, choice, strength, ranking, critique, correction, rationale,
                # display order, time spent, consistent, created at
                judgments.append(
                    JudgmentRec(
                        judgment[2], ann_uuid, ann_type, judgment[4], judgment[5], ranking, judgment[7],
                        judgment[8], judgment[10], tuple(order or ()), judgment[12], judgment[9],
                        judgment[13].isoformat(),
                    )
                )  # fmt: skip
            else:
                judgments.append(
                    JudgmentRec(
                        judgment[2], ann_uuid, ann_type, judgment[4], judgment[5], ranking, judgment[7],
                        judgment[8], "", (), None, judgment[9],
                    )
                )  # fmt: skip
            if judgment[-1] is not None:
                judgments[-1] = replace(judgments[-1], answers=_answers_of(judgment[-1]))
            judgment = next(annotation_rows, _END)

        agreement = ches = ln_ches = None
        while scored[1] != pk and scored[:2] < key:
            scored = next(audit_rows, _END)
        if scored[1] == pk:
            agreement, ches, ln_ches = scored[2:]
            if not audit_agreement:
                agreement = None
            scored = next(audit_rows, _END)

        yield ItemRec(uuid_text, kind, prompt, responses, judgments, excluded, resolution, agreement, ches, ln_ches)


# ---------------------------------------------------------------- custom questions

# One annotation's answers as JSON text:
# [[key, response uuid or null, type, choice, labels, rating, text, consistent], ...].
_ANSWERS_SQL = f"""(SELECT json_agg(json_build_array(q.key, r.uuid::text, a.type, a.choice, a.labels, a.rating, a.text,
                                              a.consistent)
                            ORDER BY a.id)
                   FROM {Answer._meta.db_table} a JOIN {Question._meta.db_table} q ON q.id = a.question_id
                   LEFT JOIN {Response._meta.db_table} r ON r.id = a.response_id
                   WHERE a.annotation_id = {Annotation._meta.db_table}.id)::text"""  # noqa: S608


def _answers_of(text: str | None) -> tuple:
    """``(key, response uuid or None, typed value, consistent)`` per answer (``_ANSWERS_SQL``'s JSON)."""
    out = []
    for key, response, qtype, choice, labels, rating, answer_text, consistent in loads(text) if text else ():
        value = {"single_choice": choice, "multi_label": labels, "rating": rating, "text": answer_text}[qtype]
        out.append((key, response, value, consistent))
    return tuple(out)


def questions_for_export(*, project) -> tuple[QuestionRec, ...]:
    """The project's questions (retired ones too: their answers are exported), in order, each
    with the options of every version (the current version's first)."""
    out = []
    for question in Question.objects.filter(project=project).order_by("position", "id"):
        values: list[str] = []
        versions = (
            QuestionVersion.objects.filter(question=question).order_by("-number").values_list("options", flat=True)
        )
        for options in versions:
            values += [o["value"] for o in options or () if o["value"] not in values]
        out.append(QuestionRec(question.key, question.type, question.target, tuple(values)))
    return tuple(out)


# ---------------------------------------------------------------- audit findings


@dataclass
class AuditFindings:
    """What the consistency and annotator filters need, as uuids (strings)."""

    audit_id: int | None = None
    flagged_annotators: set[str] = field(default_factory=set)
    swap_inconsistent: set[str] = field(default_factory=set)
    intransitive: set[str] = field(default_factory=set)

    def summary(self) -> dict:
        return {
            "audit": self.audit_id,
            "flagged_annotators": len(self.flagged_annotators),
            "swap_inconsistent": len(self.swap_inconsistent),
            "intransitive": len(self.intransitive),
        }


def _named_ids(value) -> list[str]:
    """uuids named by a details entry: a list of strings, or of dicts naming them."""
    if isinstance(value, str):
        return [value]
    out: list[str] = []
    if isinstance(value, list | tuple):
        for entry in value:
            if isinstance(entry, str):
                out.append(entry)
            elif isinstance(entry, dict):
                out += [str(entry[k]) for k in _ID_KEYS if entry.get(k)]
            elif isinstance(entry, list | tuple):
                out += _named_ids(list(entry))
    elif isinstance(value, dict):
        out += [str(value[k]) for k in _ID_KEYS if value.get(k)]
    return out


def audit_findings(*, project, audit: Audit | None | bool = True) -> AuditFindings:
    """Flagged annotators and inconsistent judgments of ``project`` (see the module docstring)."""
    if audit is True:
        audit = latest_audit(project=project)
    findings = AuditFindings(audit_id=audit.pk if audit else None)
    in_project = Annotation.objects.filter(annotator=OuterRef("pk"), item__project=project)
    findings.flagged_annotators.update(
        Annotator.objects.filter(flagged=True).filter(Exists(in_project)).values_list(_text("uuid"), flat=True)
    )
    if audit is None or audit is False:
        return findings
    findings.flagged_annotators.update(
        AnnotatorAudit.objects.filter(audit=audit, outlier=True).values_list(_text("annotator__uuid"), flat=True)
    )
    flagged_items = [
        (item_id, flags or [], details or {})
        for item_id, flags, details in ItemAudit.objects.filter(
            audit=audit, item__probe_of__isnull=True, item__rejudge_of__isnull=True
        )
        .exclude(flags=[])
        .values_list("item_id", "flags", "details")
    ]
    if not flagged_items:
        return findings
    named: dict[int, dict[str, set[str]]] = {}
    probe_fallback: list[int] = []
    for item_id, flags, details in flagged_items:
        swap = {i for k in SWAP_KEYS for i in _named_ids(details.get(k))}
        trans = {i for k in TRANSITIVITY_KEYS for i in _named_ids(details.get(k))}
        if not swap and "swap_inconsistent" in flags:
            probe_fallback.append(item_id)
        if swap or trans:
            named[item_id] = {"swap": swap, "trans": trans}
    wanted = set(named) | set(probe_fallback)
    by_item: dict[int, list[tuple[str, str, str]]] = {}
    for item_id, annotation_uuid, annotator_uuid, choice in Annotation.objects.filter(item_id__in=wanted).values_list(
        "item_id", _text("uuid"), _text("annotator__uuid"), "choice"
    ):
        by_item.setdefault(item_id, []).append((annotation_uuid, annotator_uuid, choice))
    for item_id, sets in named.items():
        for annotation_uuid, annotator_uuid, _choice in by_item.get(item_id, ()):
            if annotation_uuid in sets["swap"] or annotator_uuid in sets["swap"]:
                findings.swap_inconsistent.add(annotation_uuid)
            if annotation_uuid in sets["trans"] or annotator_uuid in sets["trans"]:
                findings.intransitive.add(annotation_uuid)
    if probe_fallback:
        probe_choice = _probe_choices(probe_fallback)
        for item_id in probe_fallback:
            for annotation_uuid, annotator_uuid, choice in by_item.get(item_id, ()):
                repeat = probe_choice.get((item_id, annotator_uuid))
                if repeat is not None and repeat != choice:
                    findings.swap_inconsistent.add(annotation_uuid)
    return findings


def _probe_choices(item_ids: list[int]) -> dict[tuple[int, str], str]:
    """``(original item id, annotator uuid) -> choice`` on the probes (repeats) of those items."""
    rows = Annotation.objects.filter(item__probe_of_id__in=item_ids).values_list(
        "item__probe_of_id", _text("annotator__uuid"), "choice"
    )
    return {(probe_of, annotator_uuid): choice for probe_of, annotator_uuid, choice in rows}


def ches_scores(
    *, audit: Audit | None, project, measure: str = "ln_ches", with_chosen_tokens: bool = False
) -> Iterator[tuple]:
    """``(item uuid, score)`` for every pairwise item of the export that the audit scored; with
    ``with_chosen_tokens``, ``(item uuid, score, chosen_tokens)``: the token count of the chosen
    response's encoding by the audit's CHES model (None when there is none), for the length guard."""
    if audit is None:
        return iter(())
    rows = ItemAudit.objects.filter(
        audit=audit,
        item__project=project,
        item__kind="pairwise",
        item__probe_of__isnull=True,
        item__rejudge_of__isnull=True,
    )
    columns = [_text("item__uuid"), measure]
    if with_chosen_tokens:
        tokens = ResponseEncoding.objects.filter(response=OuterRef("chosen"), model_name=OuterRef("ches_model"))
        rows = rows.annotate(chosen_tokens=Subquery(tokens.values("n_tokens")[:1]))
        columns.append("chosen_tokens")
    return rows.values_list(*columns).iterator(chunk_size=10_000)


def principle_versions_manifest(*, project) -> list[dict]:
    """The manifest's ``principle_versions``: every principle of the project (in use
    first, in order, then the retired) with its current version's number and each of
    its versions' wording and verdict count (the wording each verdict was given under)."""
    versions = PrincipleVersion.objects.annotate(verdict_count=Count("verdicts")).order_by("number")
    principles = (
        Principle.objects.filter(project=project)
        .select_related("current_version")
        .prefetch_related(Prefetch("versions", queryset=versions, to_attr="version_list"))
        .order_by(F("retired_at").asc(nulls_first=True), "position", "id")
    )
    return [
        {
            "id": p.pk,
            "name": p.name,
            "retired": p.retired_at is not None,
            "version": p.current_version.number if p.current_version else None,
            "versions": [
                {
                    "number": v.number,
                    "name": v.name,
                    "description": v.description,
                    "guidance": v.guidance,
                    "created_at": v.created_at.isoformat(),
                    "verdicts": v.verdict_count,
                }
                for v in p.version_list
            ],
        }
        for p in principles
    ]


def principle_find(*, project, ref: str) -> Principle | None:
    """The project's principle named ``ref``, or whose id is ``ref`` (None when none is)."""
    principles = Principle.objects.filter(project=project)
    found = principles.filter(name=ref).first()
    if found is None and ref.strip().isdigit():
        found = principles.filter(pk=int(ref)).first()
    return found


def principle_required(*, project, ref: str) -> Principle:
    """:func:`principle_find`, or ``ValidationError`` on ``drop_split_principle`` naming the project's principles."""
    found = principle_find(project=project, ref=ref)
    if found is None:
        names = ", ".join(project.principles.order_by("position", "id").values_list("name", flat=True)) or "none"
        raise ValidationError(
            {
                "drop_split_principle": f"drop_split_principle: no principle {ref!r} in this project (its principles: {names})"
            }
        )
    return found


def principle_split_items(*, project, principle: Principle, annotator_types: frozenset[str]) -> frozenset[str]:
    """Uuids of the project's items whose verdicts on ``principle``, from
    annotators of ``annotator_types``, split: two or more different verdicts
    (``metrics.verdicts_split``, docs/algorithms.md#principle-ambiguity)."""
    rows = list(
        PrincipleVerdict.objects.filter(
            principle=principle,
            annotation__item__project=project,
            annotation__item__rejudge_of__isnull=True,
            annotation__annotator__type__in=sorted(annotator_types),
        )
        .values_list(_text("annotation__item__uuid"), "verdict")
        .order_by()
    )
    if not rows:
        return frozenset()
    items = sorted({item for item, _ in rows})
    unit = {item: u for u, item in enumerate(items)}
    values = {verdict: v for v, verdict in enumerate(Verdict.values)}
    counts = np.zeros((len(items), len(values)))
    np.add.at(counts, ([unit[i] for i, _ in rows], [values[v] for _, v in rows]), 1)
    return frozenset(item for item, split in zip(items, verdicts_split(counts).tolist(), strict=True) if split)
