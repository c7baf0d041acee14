"""Ranking rows (PRO style, docs/algorithms.md#ranking-rows): ``prompt``, ``responses`` best to
worst, ``scores``.

One row per ranking item with a consensus. ``scores`` are the mean Borda
scores of :mod:`curation.consensus` (a response scores the number of responses ranked
below it plus half the number tied with it, averaged over the usable rankings),
so tied responses have equal scores and the list is non-increasing. PRO uses
the scores as reward gaps (its dynamic temperature ``r_k - r_i``); a tie gives
a gap of 0. Tied responses keep their position order.

With ``options.ranking_include_pairwise`` pairwise items become 2-rankings:
``A``/``B`` give the winner first with scores ``[1, 0]``, a tie gives both in
position order with ``[0.5, 0.5]``; both-bad and split votes are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from .aggregate import pairwise_vote, ranking_consensus
from .base import Format
from .records import ItemRec


class RankingFormat(Format):
    name = "ranking"
    description = "Listwise rankings prompt/responses/scores (PRO)"
    trl_trainer = "none (PRO-style listwise training)"
    drop_reasons = {
        "ranking_no_consensus": "ranking items without usable rankings",
        "pairwise_both_bad": "pairwise items whose consensus is both bad",
        "pairwise_no_consensus": "pairwise items without votes or with a split vote",
        "kind_not_used": "thumb and judgment items (and pairwise unless ranking_include_pairwise)",
    }

    def fields(self) -> list[pa.Field]:
        return [
            pa.field("prompt", self.text_type),
            pa.field("responses", pa.list_(self.text_type)),
            pa.field("scores", pa.list_(pa.float64())),
        ]

    def rows(self, items: list[ItemRec]) -> Iterator[dict]:
        for item in items:
            if item.kind == "ranking":
                consensus = ranking_consensus(item)
                if not consensus.groups:
                    self.drop("ranking_no_consensus")
                    continue
                order = [r for group in consensus.groups for r in group]
                texts = [item.response(r).text for r in order]
                scores = [consensus.scores[r] for r in order]
            elif item.kind == "pairwise" and self.options.ranking_include_pairwise:
                vote = pairwise_vote(item)
                a, b = item.responses[0].text, item.responses[1].text
                if vote.choice == "A":
                    texts, scores = [a, b], [1.0, 0.0]
                elif vote.choice == "B":
                    texts, scores = [b, a], [1.0, 0.0]
                elif vote.choice == "tie":
                    texts, scores = [a, b], [0.5, 0.5]
                else:
                    self.drop("pairwise_both_bad" if vote.choice == "both_bad" else "pairwise_no_consensus")
                    continue
            else:
                self.drop("kind_not_used")
                continue
            yield {
                "prompt": self.prompt_value(item.prompt),
                "responses": [self.completion_value(t) for t in texts],
                "scores": scores,
            }
