"""KTO rows ``prompt / completion / label`` (TRL ``KTOTrainer``'s unpaired format).

* **thumb**: one row per thumb item, labelled by its consensus (up = True);
  a split vote gives no row (``thumb_no_consensus``).
* **pairwise**: the consensus unpaired: ``A``/``B`` give the chosen response
  True and the other False; ``both_bad`` gives both responses False; a ``tie``
  is dropped (``options.kto_ties="drop"``, counted as ``pairwise_tie``) or gives
  both responses True (``kto_ties="desirable"``: both were judged equally
  acceptable; choose it only if ties in your project mean "both fine").
* **ranking** (``options.kto_rankings``): the top group True, the bottom group
  False, groups in between unused (``ranking_middle`` counts those responses).
* **judgment**: each distinct corrected response True and the original False.

Within one prompt a (completion, label) pair is written once, however many
items produced it (a response chosen in two pairwise items is one desirable row;
``duplicate`` counts the rest). The same completion may appear with both labels
when the items disagree; KTO accepts that.

Class balance (docs/algorithms.md#kto-weights, KTO paper Eq. 8 as TRL implements it): TRL
recommends ``1 <= (λ_D·n_D)/(λ_U·n_U) <= 4/3``. :func:`kto_weights` keeps both
weights at 1.0 when the counts already satisfy it; otherwise it keeps the weight
of the larger class at 1.0 and up-weights the smaller class so the ratio is
7/6, the middle of the band (so TRL's own check, which rounds its bounds to two
decimals and uses 1.33, passes too). ``export_run`` reports the balance per
split in the manifest (``kto_balance``); the train split's weights are the ones
to pass to ``KTOConfig``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from .aggregate import pairwise_vote, ranking_consensus, thumb_vote
from .base import Format, correction_outcome
from .records import ItemRec

BAND_LOW = 1.0
BAND_HIGH = 4.0 / 3.0
TARGET_RATIO = (BAND_LOW + BAND_HIGH) / 2  # 7/6


def kto_weights(n_desirable: int, n_undesirable: int) -> dict:
    """``desirable_weight`` / ``undesirable_weight`` for TRL's ``KTOConfig``.

    Returns the counts, both weights, the resulting ratio and whether the
    recommended band holds. With no rows of one class no weight can balance
    it: both weights stay 1.0 and ``in_band`` is False.
    """
    n_d, n_u = int(n_desirable), int(n_undesirable)
    w_d = w_u = 1.0
    if n_d > 0 and n_u > 0:
        ratio = n_d / n_u
        if ratio < BAND_LOW:  # fewer desirable rows: up-weight them
            w_d = TARGET_RATIO * n_u / n_d
        elif ratio > BAND_HIGH:  # too many desirable rows: up-weight the undesirable ones
            w_u = n_d / (TARGET_RATIO * n_u)
    ratio = (w_d * n_d) / (w_u * n_u) if n_u > 0 else None
    return {
        "desirable": n_d,
        "undesirable": n_u,
        "desirable_weight": w_d,
        "undesirable_weight": w_u,
        "weighted_ratio": ratio,
        "in_band": ratio is not None and n_d > 0 and BAND_LOW <= ratio <= BAND_HIGH,
        "band": [BAND_LOW, BAND_HIGH],
    }


class KtoFormat(Format):
    name = "kto"
    description = "Unpaired binary feedback prompt/completion/label"
    trl_trainer = "KTOTrainer"
    drop_reasons = {
        "thumb_no_consensus": "thumb items without votes or with as many ups as downs",
        "pairwise_tie": "pairwise items whose consensus is a tie (kto_ties=drop)",
        "pairwise_no_consensus": "pairwise items without votes or with a split vote",
        "ranking_no_consensus": "ranking items without usable rankings or with everything tied",
        "ranking_middle": "responses ranked neither top nor bottom",
        "ranking_not_used": "ranking items (kto_rankings=false)",
        "correction_unchanged": "judgment items whose corrections all equal the original",
        "judgment_without_correction": "judgment items without a correction",
        "duplicate": "rows repeating a (completion, label) already written for the prompt",
    }

    question_roles = ("",)

    def fields(self) -> list[pa.Field]:
        t = self.text_type
        return [pa.field("prompt", t), pa.field("completion", t), pa.field("label", pa.bool_())]

    def rows(self, items: list[ItemRec]) -> Iterator[dict]:
        seen: set[tuple[str, bool]] = set()
        for item in items:
            for text, label in self._labelled(item):
                if (text, label) in seen:
                    self.drop("duplicate")
                    continue
                seen.add((text, label))
                row = {
                    "prompt": self.prompt_value(item.prompt),
                    "completion": self.completion_value(text),
                    "label": label,
                }
                yield self.with_answers(row, item, text)

    def _labelled(self, item: ItemRec) -> Iterator[tuple[str, bool]]:
        if item.kind == "thumb":
            vote = thumb_vote(item)
            if vote.choice is None:
                self.drop("thumb_no_consensus")
            else:
                yield item.responses[0].text, vote.choice == "up"
        elif item.kind == "pairwise":
            vote = pairwise_vote(item)
            a, b = item.responses[0].text, item.responses[1].text
            if vote.choice == "A":
                yield a, True
                yield b, False
            elif vote.choice == "B":
                yield b, True
                yield a, False
            elif vote.choice == "both_bad":
                yield a, False
                yield b, False
            elif vote.choice == "tie" and self.options.kto_ties == "desirable":
                yield a, True
                yield b, True
            elif vote.choice == "tie":
                self.drop("pairwise_tie")
            else:
                self.drop("pairwise_no_consensus")
        elif item.kind == "ranking":
            if not self.options.kto_rankings:
                self.drop("ranking_not_used")
                return
            groups = ranking_consensus(item).groups
            if not groups or len(groups) < 2:
                self.drop("ranking_no_consensus")
                return
            for r in groups[0]:
                yield item.response(r).text, True
            for r in groups[-1]:
                yield item.response(r).text, False
            middle = sum(len(g) for g in groups[1:-1])
            if middle:
                self.drop("ranking_middle", middle)
        else:
            fixed, reason = correction_outcome(item)
            if reason:
                self.drop(reason)
                return
            for text in fixed:
                yield text, True
            yield item.responses[0].text, False
