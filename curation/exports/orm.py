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
Principle verdicts are not read: no format uses them.

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

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice

from django.db.models import CharField, Exists, OuterRef
from django.db.models.functions import Cast

from annotate.models import Annotation, Annotator, Item, ItemResponse, Prompt
from curation.models import AnnotatorAudit, Audit, ItemAudit

from .records import ItemRec, JudgmentRec, PromptRec, ResponseRec

CHUNK_SIZE = 2000
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
    return Item.objects.filter(project=project, probe_of__isnull=True)


def items_for_export(
    *, project, audit: Audit | None | bool = True, chunk_size: int = CHUNK_SIZE, full: bool = True
) -> Iterator[ItemRec]:
    """Stream the project's items (no probes) as records, grouped by prompt.

    ``audit``: ``True`` (default) uses the project's latest audit, ``None`` or
    ``False`` none, or pass one. ``full=False`` skips what only the raw format
    shows (rationale, display order, time spent, creation time).
    """
    if audit is True:
        audit = latest_audit(project=project)
    audit_id = audit.pk if audit else None
    rows = (
        export_items(project=project)
        .order_by("prompt_id", "id")
        .values_list("id", _text("uuid"), "kind", "prompt_id", "excluded", "resolution")
        .iterator(chunk_size=chunk_size)
    )
    annotators: dict[int, tuple[str, str]] = {}
    prompts: dict[int, PromptRec] = {}
    while chunk := list(islice(rows, chunk_size)):
        yield from _chunk_records(chunk, prompts, annotators, audit_id, full)


def _chunk_records(chunk, prompts: dict, annotators: dict, audit_id: int | None, full: bool) -> Iterator[ItemRec]:
    ids = [r[0] for r in chunk]
    # Prompts: keep only the last one seen (items come grouped by prompt, one may span chunks).
    last = chunk[0][3]
    for key in [k for k in prompts if k != last]:
        del prompts[key]
    wanted = {r[3] for r in chunk} - prompts.keys()
    if wanted:
        for pk, uuid_text, messages in Prompt.objects.filter(pk__in=wanted).values_list(
            "id", _text("uuid"), "messages"
        ):
            prompts[pk] = PromptRec(uuid_text, messages)

    responses: dict[int, list[ResponseRec]] = {pk: [] for pk in ids}
    for item_id, uuid_text, text in (
        ItemResponse.objects.filter(item_id__in=ids)
        .order_by("item_id", "position")
        .values_list("item_id", _text("response__uuid"), "response__text")
    ):
        responses[item_id].append(ResponseRec(uuid_text, text))

    judgments: dict[int, list[JudgmentRec]] = {pk: [] for pk in ids}
    columns = ["item_id", _text("uuid"), "annotator_id", "choice", "strength", "ranking", "critique"]
    columns.append("corrected_response")
    columns += ["consistent", "rationale", "display_order", "time_spent_ms", "created_at"] if full else ["consistent"]
    annotation_rows = list(Annotation.objects.filter(item_id__in=ids).order_by("item_id", "id").values_list(*columns))
    missing = {r[2] for r in annotation_rows} - annotators.keys()
    if missing:
        for pk, uuid_text, kind in Annotator.objects.filter(pk__in=missing).values_list("id", _text("uuid"), "type"):
            annotators[pk] = (uuid_text, kind)
    if full:
        for item_id, uid, ann, choice, strength, ranking, critique, corr, cons, rat, order, ms, at in annotation_rows:
            who, kind = annotators[ann]
            judgments[item_id].append(
                JudgmentRec(
                    uid,
                    who,
                    kind,
                    choice,
                    strength,
                    ranking,
                    critique,
                    corr,
                    rat,
                    tuple(order or ()),
                    ms,
                    cons,
                    at.isoformat(),
                )  # fmt: skip
            )
    else:
        for item_id, uid, ann, choice, strength, ranking, critique, corr, cons in annotation_rows:
            who, kind = annotators[ann]
            judgments[item_id].append(
                JudgmentRec(uid, who, kind, choice, strength, ranking, critique, corr, "", (), None, cons)
            )

    scores: dict[int, tuple] = {}
    if audit_id is not None:
        scores = {
            r[0]: r[1:]
            for r in ItemAudit.objects.filter(audit_id=audit_id, item_id__in=ids).values_list(
                "item_id", "majority_share", "ches", "ln_ches"
            )
        }
    none = (None, None, None)
    for pk, uuid_text, kind, prompt_id, excluded, resolution in chunk:
        agreement, ches, ln_ches = scores.get(pk, none)
        yield ItemRec(
            uuid_text,
            kind,
            prompts[prompt_id],
            responses[pk],
            judgments[pk],
            excluded,
            resolution,
            agreement,
            ches,
            ln_ches,
        )


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
        for item_id, flags, details in ItemAudit.objects.filter(audit=audit, item__probe_of__isnull=True)
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


def ches_scores(*, audit: Audit | None, project, measure: str = "ln_ches") -> Iterator[tuple[str, float | None]]:
    """``(item uuid, score)`` for every pairwise item of the export that the audit scored."""
    if audit is None:
        return iter(())
    return (
        ItemAudit.objects.filter(audit=audit, item__project=project, item__kind="pairwise", item__probe_of__isnull=True)
        .values_list(_text("item__uuid"), measure)
        .iterator(chunk_size=10_000)
    )
