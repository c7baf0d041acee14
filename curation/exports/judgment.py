"""Judgment rows (CUT style, docs/algorithms.md#judgment-rows): ``instruction``, ``response``,
``judgment``, ``corrected_response``.

* One row per usable judgment of a judgment item (judgments with
  ``consistent=False`` are left out): ``judgment`` is the critique and
  ``corrected_response`` the correction, null when there is none or when it
  equals the response. A curator resolution with ``critique`` (and optionally
  ``corrected_response``) replaces the annotators' rows with one row.
* ``options.judgment_positives``: thumb items whose consensus is up add a row
  with ``judgment`` null, CUT's marker of a good response (its "Align-P" data).

``instruction`` is the prompt (a message list when conversational, else a
string as set by ``plain_prompt``); ``response`` and ``corrected_response`` are
completions (``[{"role": "assistant", ...}]`` when conversational).

Custom questions (docs/questions.md#exports): the consensus of the item's
votes, as in SFT: a question about the item is the item's, a question about
each response is read for ``response`` (the item's one response); every row
of an item carries the same values.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from .aggregate import thumb_vote
from .base import Format
from .records import ItemRec


class JudgmentFormat(Format):
    name = "judgment"
    description = "Critiques instruction/response/judgment/corrected_response (CUT)"
    trl_trainer = "none (CUT-style judgment training)"
    drop_reasons = {
        "judgment_no_critique": "judgments without a critique",
        "thumb_not_up": "thumb items not voted up (judgment_positives)",
        "kind_not_used": "pairwise and ranking items (and thumbs unless judgment_positives)",
    }

    question_roles = ("",)

    def fields(self) -> list[pa.Field]:
        t = self.text_type
        return [
            pa.field("instruction", t),
            pa.field("response", t),
            pa.field("judgment", pa.string(), nullable=True),
            pa.field("corrected_response", t, nullable=True),
        ]

    def _row(self, item: ItemRec, critique: str | None, corrected: str | None) -> dict:
        original = item.responses[0].text
        if corrected is not None and (not corrected.strip() or corrected.strip() == original.strip()):
            corrected = None
        row = {
            "instruction": self.prompt_value(item.prompt),
            "response": self.completion_value(original),
            "judgment": critique,
            "corrected_response": None if corrected is None else self.completion_value(corrected),
        }
        return self.with_answers(row, item, refs={"": (item, item.responses[0].id)})

    def rows(self, items: list[ItemRec]) -> Iterator[dict]:
        for item in items:
            if item.kind == "judgment":
                resolution = item.resolution or {}
                if resolution.get("critique"):
                    yield self._row(item, resolution["critique"], resolution.get("corrected_response"))
                    continue
                for j in item.judgments:
                    if j.consistent is False:
                        continue
                    if not j.critique.strip():
                        self.drop("judgment_no_critique")
                        continue
                    yield self._row(item, j.critique, j.corrected_response or None)
            elif item.kind == "thumb" and self.options.judgment_positives:
                if thumb_vote(item).choice == "up":
                    yield self._row(item, None, None)
                else:
                    self.drop("thumb_not_up")
            else:
                self.drop("kind_not_used")
