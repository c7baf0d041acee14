"""SFT rows ``prompt / completion`` (TRL ``SFTTrainer``'s prompt-completion format)
from the best responses (``options.sft_sources``):

* **pairwise**: the consensus winner (``A`` or ``B``); ties, both-bad and
  split votes give nothing;
* **ranking**: every response of the consensus top group (nothing when all are tied);
* **thumb**: responses whose consensus is up;
* **correction**: each distinct corrected response of a judgment item.

Within one prompt each completion text is written once (``duplicate`` counts
the repeats).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from .aggregate import pairwise_vote, ranking_consensus, thumb_vote
from .base import Format, correction_outcome
from .records import ItemRec


class SftFormat(Format):
    name = "sft"
    description = "Best responses as prompt/completion"
    trl_trainer = "SFTTrainer"
    drop_reasons = {
        "pairwise_no_winner": "pairwise items whose consensus is a tie, both bad or split",
        "ranking_no_consensus": "ranking items without usable rankings or with everything tied",
        "thumb_not_up": "thumb items not voted up",
        "correction_unchanged": "judgment items whose corrections all equal the original",
        "judgment_without_correction": "judgment items without a correction",
        "source_not_used": "items of a kind not in options.sft_sources",
        "duplicate": "completions already written for the prompt",
    }

    question_roles = ("",)

    def fields(self) -> list[pa.Field]:
        t = self.text_type
        return [pa.field("prompt", t), pa.field("completion", t)]

    def rows(self, items: list[ItemRec]) -> Iterator[dict]:
        seen: set[str] = set()
        for item in items:
            source = "correction" if item.kind == "judgment" else item.kind
            if source not in self.options.sft_sources:
                self.drop("source_not_used")
                continue
            for text in self._best(item):
                if text in seen:
                    self.drop("duplicate")
                    continue
                seen.add(text)
                row = {"prompt": self.prompt_value(item.prompt), "completion": self.completion_value(text)}
                yield self.with_answers(row, item, text)

    def _best(self, item: ItemRec) -> list[str]:
        if item.kind == "pairwise":
            choice = pairwise_vote(item).choice
            if choice in ("A", "B"):
                return [item.responses[0 if choice == "A" else 1].text]
            self.drop("pairwise_no_winner")
        elif item.kind == "ranking":
            groups = ranking_consensus(item).groups
            if groups and len(groups) >= 2:
                return [item.response(r).text for r in groups[0]]
            self.drop("ranking_no_consensus")
        elif item.kind == "thumb":
            if thumb_vote(item).choice == "up":
                return [item.responses[0].text]
            self.drop("thumb_not_up")
        else:
            fixed, reason = correction_outcome(item)
            if reason:
                self.drop(reason)
            return fixed
        return []
