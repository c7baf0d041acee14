"""Raw rows: every judgment that passed the filters, one row each, for researchers
who aggregate themselves.

Annotator ids are pseudonymised: ``pseudonym(salt, annotator_id)`` is the first
16 hex digits (64 bits) of HMAC-SHA256 keyed with the export's salt, so one
annotator has the same pseudonym throughout an export (and in every export made
with the same salt) and nobody without the salt can link it to an account. The
caller chooses the salt and keeps it private (it is not written to the
manifest); a fresh random salt per export makes exports unlinkable, a
project-wide salt lets researchers follow annotators across exports.

Columns: ``item_id``, ``kind``, ``prompt_id``, ``prompt`` (messages or text),
``responses`` (``[{"id", "text"}]`` in canonical position order: ``A`` is
position 0), ``judgment_id``, ``annotator`` (pseudonym), ``annotator_type``,
``choice`` (canonical; null for rankings and judgments), ``strength``,
``ranking`` (groups of response ids, best first), ``critique``,
``corrected_response``, ``rationale`` (empty strings become null),
``display_order`` (response ids left to right as shown), ``time_spent_ms``,
``consistent``, ``created_at``, ``item_excluded``, ``resolution`` (the
curator's verdict as a JSON string, or null), and one ``q_<key>`` column per
custom question with the judgment's own answer (:mod:`.questions`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import pyarrow as pa

from .base import Format
from .questions import raw_columns, raw_fields
from .records import ExportInputError, ItemRec

RESPONSE = pa.struct([("id", pa.string()), ("text", pa.string())])


def pseudonym(salt: str | bytes, annotator_id: str) -> str:
    key = salt.encode("utf-8") if isinstance(salt, str) else salt
    return hmac.new(key, annotator_id.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


class RawFormat(Format):
    name = "raw"
    description = "Every judgment with pseudonymised annotators"
    trl_trainer = "none (aggregate it yourself)"
    drop_reasons = {}

    def __init__(self, options=None, *, salt: str | bytes | None = None, **kw) -> None:
        super().__init__(options, **kw)
        if not salt:
            raise ExportInputError("salt: the raw format needs a non-empty salt to pseudonymise annotator ids")
        self.salt = salt
        self._names: dict[str, str] = {}

    def fields(self) -> list[pa.Field]:
        return [
            pa.field("item_id", pa.string()),
            pa.field("kind", pa.string()),
            pa.field("prompt_id", pa.string()),
            pa.field("prompt", self.text_type),
            pa.field("responses", pa.list_(RESPONSE)),
            pa.field("judgment_id", pa.string()),
            pa.field("annotator", pa.string()),
            pa.field("annotator_type", pa.string()),
            pa.field("choice", pa.string(), nullable=True),
            pa.field("strength", pa.int64(), nullable=True),
            pa.field("ranking", pa.list_(pa.list_(pa.string())), nullable=True),
            pa.field("critique", pa.string(), nullable=True),
            pa.field("corrected_response", pa.string(), nullable=True),
            pa.field("rationale", pa.string(), nullable=True),
            pa.field("display_order", pa.list_(pa.string())),
            pa.field("time_spent_ms", pa.int64(), nullable=True),
            pa.field("consistent", pa.bool_(), nullable=True),
            pa.field("created_at", pa.string(), nullable=True),
            pa.field("item_excluded", pa.bool_()),
            pa.field("resolution", pa.string(), nullable=True),
        ]

    def question_fields(self) -> list[pa.Field]:
        return raw_fields(self.questions)

    def _pseudonym(self, annotator_id: str) -> str:
        name = self._names.get(annotator_id)
        if name is None:
            if len(self._names) > 100_000:
                self._names.clear()
            name = self._names[annotator_id] = pseudonym(self.salt, annotator_id)
        return name

    def rows(self, items: list[ItemRec]) -> Iterator[dict]:
        for item in items:
            prompt = self.prompt_value(item.prompt)
            responses = [{"id": r.id, "text": r.text} for r in item.responses]
            resolution = (
                None
                if item.resolution is None
                else json.dumps(item.resolution, sort_keys=True, ensure_ascii=False, default=list)
            )
            for j in item.judgments:
                row = {
                    "item_id": item.id,
                    "kind": item.kind,
                    "prompt_id": item.prompt.id,
                    "prompt": prompt,
                    "responses": responses,
                    "judgment_id": j.id,
                    "annotator": self._pseudonym(j.annotator_id),
                    "annotator_type": j.annotator_type,
                    "choice": j.choice or None,
                    "strength": j.strength,
                    "ranking": None if j.ranking is None else [list(g) for g in j.ranking],
                    "critique": j.critique or None,
                    "corrected_response": j.corrected_response or None,
                    "rationale": j.rationale or None,
                    "display_order": list(j.display_order),
                    "time_spent_ms": j.time_spent_ms,
                    "consistent": j.consistent,
                    "created_at": j.created_at,
                    "item_excluded": item.excluded,
                    "resolution": resolution,
                }
                if self.questions:
                    row.update(raw_columns(self.questions, item, j.answers))
                yield row
