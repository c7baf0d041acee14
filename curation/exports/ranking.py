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

Custom questions (docs/questions.md#exports): a question about the item is
its consensus (``q_<key>``, and ``q_<key>_shares`` for multi-label) as in
the other consensus formats; a question about each response is a list, one
consensus per response in the row's ``responses`` order (null where a
response was not answered; the whole column null when none was), and a
``question_filters`` condition on it must hold for every response.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from .aggregate import pairwise_vote, ranking_consensus
from .base import Format
from .questions import listwise_columns, listwise_fields
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

    question_roles = ("",)

    def question_fields(self) -> list[pa.Field]:
        return listwise_fields(self.questions)

    def question_list_columns(self) -> frozenset[str]:
        return listwise_columns(self.questions)

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
                a, b = item.responses[0], item.responses[1]
                if vote.choice == "A":
                    order, scores = [a.id, b.id], [1.0, 0.0]
                elif vote.choice == "B":
                    order, scores = [b.id, a.id], [1.0, 0.0]
                elif vote.choice == "tie":
                    order, scores = [a.id, b.id], [0.5, 0.5]
                else:
                    self.drop("pairwise_both_bad" if vote.choice == "both_bad" else "pairwise_no_consensus")
                    continue
                texts = [item.response(r).text for r in order]
            else:
                self.drop("kind_not_used")
                continue
            row = {
                "prompt": self.prompt_value(item.prompt),
                "responses": [self.completion_value(t) for t in texts],
                "scores": scores,
            }
            if self.questions:
                row.update(self.answer_columns.listwise(item, order))
            yield row
