"""DPO rows ``prompt / chosen / rejected`` (TRL ``DPOTrainer``'s preference format).

Where pairs come from (``options.dpo_sources``):

* **pairwise**: the item's consensus (:mod:`curation.consensus`, read by :mod:`.aggregate`): ``A`` gives
  chosen = response 0, ``B`` chosen = response 1. Ties, both-bad and items
  without a consensus give no row; they are counted under ``pairwise_tie``,
  ``pairwise_both_bad`` and ``pairwise_no_consensus``.
* **ranking**: the consensus ranking expanded into pairs. With
  ``ranking_pairs="all"`` every response is preferred over every response in
  every lower group (``n(n-1)/2`` pairs without ties); with ``"adjacent"`` only
  over the responses of the next group down (``n-1`` pairs without ties).
  Members of one group (a tie) are never paired with each other.
* **thumb**: thumb items of the same prompt. Each thumb item gets its consensus
  (up/down); then every response voted up is paired over every response voted
  down on that prompt (all ``n_up x n_down`` pairs, in input order). A prompt
  with only ups or only downs gives nothing (``thumb_unpaired`` counts those
  items).
* **correction**: a judgment item's corrected response (chosen) over the
  original (rejected), once per distinct correction that differs from the
  original (``correction_unchanged`` counts judgment items whose only
  corrections equal the original, ``judgment_without_correction`` those with none).

Optional columns (``options.extra_columns``), all nullable floats:

* ``margin``: pairwise, the signed mean strength of the votes
  (:class:`.aggregate.Vote`); ranking, the difference of the two responses'
  mean Borda scores; null for thumbs and corrections;
* ``agreement``: the item's agreement (the audit's, else
  ``curation.consensus.item_agreement`` of its votes); for a thumb pair the
  lower of the two items'; null for corrections;
* ``ches`` / ``ln_ches``: the item's stored CHES scores (pairwise items only).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from .aggregate import agreement_of, pairwise_vote, ranking_consensus, thumb_vote
from .base import Format, correction_outcome
from .records import ItemRec


class DpoFormat(Format):
    name = "dpo"
    description = "Preference pairs prompt/chosen/rejected"
    trl_trainer = "DPOTrainer"
    drop_reasons = {
        "pairwise_tie": "pairwise items whose consensus is a tie",
        "pairwise_both_bad": "pairwise items whose consensus is both bad",
        "pairwise_no_consensus": "pairwise items without votes or with a split vote",
        "ranking_no_consensus": "ranking items without usable rankings or with everything tied",
        "thumb_no_consensus": "thumb items without votes or with as many ups as downs",
        "thumb_unpaired": "thumb items whose prompt has no opposite thumb",
        "correction_unchanged": "judgment items whose corrections all equal the original",
        "judgment_without_correction": "judgment items without a correction",
        "source_not_used": "items of a kind not in options.dpo_sources",
    }

    question_roles = ("chosen", "rejected")

    def fields(self) -> list[pa.Field]:
        t = self.text_type
        out = [pa.field("prompt", t), pa.field("chosen", t), pa.field("rejected", t)]
        out += [pa.field(c, pa.float64(), nullable=True) for c in self.options.extra_columns]
        return out

    def _row(self, item: ItemRec, chosen: str, rejected: str, refs: dict | None = None, **extra) -> dict:
        """A pair; ``refs``: ``{"chosen": (item, response id or None), "rejected": ...}`` for the
        custom questions about each response (.questions)."""
        row = {
            "prompt": self.prompt_value(item.prompt),
            "chosen": self.completion_value(chosen),
            "rejected": self.completion_value(rejected),
        }
        for column in self.options.extra_columns:
            row[column] = extra.get(column)
        return self.with_answers(row, item, refs=refs or {})

    def rows(self, items: list[ItemRec]) -> Iterator[dict]:
        sources = self.options.dpo_sources
        ups: list[tuple[ItemRec, str, float | None]] = []
        downs: list[tuple[ItemRec, str, float | None]] = []
        for item in items:
            source = "correction" if item.kind == "judgment" else item.kind
            if source not in sources:
                self.drop("source_not_used")
                continue
            if item.kind == "pairwise":
                yield from self._pairwise(item)
            elif item.kind == "ranking":
                yield from self._ranking(item)
            elif item.kind == "judgment":
                yield from self._corrections(item)
            else:
                vote = thumb_vote(item)
                if vote.choice is None:
                    self.drop("thumb_no_consensus")
                else:
                    (ups if vote.choice == "up" else downs).append((item, item.responses[0].id, agreement_of(item)))
        if ups and downs:
            for up_item, up_id, up_agreement in ups:
                for down_item, down_id, down_agreement in downs:
                    if up_id == down_id:
                        continue
                    agreements = [a for a in (up_agreement, down_agreement) if a is not None]
                    yield self._row(
                        up_item,
                        up_item.responses[0].text,
                        down_item.responses[0].text,
                        refs={"chosen": (up_item, up_id), "rejected": (down_item, down_id)},
                        agreement=min(agreements) if agreements else None,
                    )
        else:
            self.drop("thumb_unpaired", len(ups) + len(downs))

    def _pairwise(self, item: ItemRec) -> Iterator[dict]:
        vote = pairwise_vote(item)
        if vote.choice in ("A", "B"):
            win, lose = (0, 1) if vote.choice == "A" else (1, 0)
            yield self._row(
                item,
                item.responses[win].text,
                item.responses[lose].text,
                refs={"chosen": (item, item.responses[win].id), "rejected": (item, item.responses[lose].id)},
                margin=vote.margin,
                agreement=agreement_of(item),
                ches=item.ches,
                ln_ches=item.ln_ches,
            )
        elif vote.choice is None:
            self.drop("pairwise_no_consensus")
        else:
            self.drop(f"pairwise_{vote.choice}")

    def _ranking(self, item: ItemRec) -> Iterator[dict]:
        consensus = ranking_consensus(item)
        groups = consensus.groups
        if not groups or len(groups) < 2:
            self.drop("ranking_no_consensus")
            return
        agreement = agreement_of(item)
        for g, group in enumerate(groups[:-1]):
            lower = groups[g + 1 :] if self.options.ranking_pairs == "all" else groups[g + 1 : g + 2]
            for better in group:
                for worse_group in lower:
                    for worse in worse_group:
                        yield self._row(
                            item,
                            item.response(better).text,
                            item.response(worse).text,
                            refs={"chosen": (item, better), "rejected": (item, worse)},
                            margin=consensus.scores[better] - consensus.scores[worse],
                            agreement=agreement,
                        )

    def _corrections(self, item: ItemRec) -> Iterator[dict]:
        fixed, reason = correction_outcome(item)
        if reason:
            self.drop(reason)
        for text in fixed:
            yield self._row(
                item,
                text,
                item.responses[0].text,
                refs={"chosen": (item, None), "rejected": (item, item.responses[0].id)},
            )
