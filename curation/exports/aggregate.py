"""Per-item consensus of the judgments that survive the filters, read from the records.

The rules are :mod:`curation.consensus` (docs/algorithms.md#consensus); this
module only picks an item's votes and resolution out of its :class:`ItemRec`:

* **Votes**: every judgment the filters left (the ``voters`` filter has
  already removed the annotator sources that do not vote) except those with
  ``consistent=False``.
* **Resolution**: the item's ``resolution`` (``choice`` or ``ranking``).
* **Agreement**: the audit's when the record carries one (the same measure,
  computed over the same voters), else :func:`curation.consensus.item_agreement`
  of the votes.
"""

from __future__ import annotations

from curation import consensus
from curation.consensus import RankingConsensus, Vote

from .records import ItemRec, JudgmentRec

__all__ = ["RankingConsensus", "Vote", "agreement_of", "pairwise_vote", "ranking_consensus", "thumb_vote", "usable"]


def usable(item: ItemRec) -> tuple[JudgmentRec, ...]:
    """The judgments counted as votes (``consistent=False`` ones are not)."""
    return tuple(j for j in item.judgments if j.consistent is not False)


def pairwise_vote(item: ItemRec) -> Vote:
    votes = usable(item)
    return consensus.choice_vote(
        [j.choice for j in votes],
        strengths=[j.strength for j in votes],
        resolution=(item.resolution or {}).get("choice"),
    )


def thumb_vote(item: ItemRec) -> Vote:
    return consensus.choice_vote(
        [j.choice for j in usable(item)], resolution=(item.resolution or {}).get("choice"), pairwise=False
    )


def ranking_consensus(item: ItemRec) -> RankingConsensus:
    return consensus.ranking_consensus(
        [j.ranking for j in usable(item) if j.ranking is not None],
        item.response_ids,
        resolution=(item.resolution or {}).get("ranking"),
    )


def agreement_of(item: ItemRec) -> float | None:
    """The audit's agreement when the record has it, else the measure of the item's votes."""
    if item.agreement is not None:
        return item.agreement
    votes = usable(item)
    if item.kind == "ranking":
        return consensus.item_agreement(kind="ranking", votes=[j.ranking for j in votes if j.ranking])
    return consensus.item_agreement(kind=item.kind, votes=[j.choice for j in votes])
