"""Per-item consensus from the judgments that survive the filters.

Rules (the same for every format):

* **Usable votes**: every judgment of the item except those with
  ``consistent=False`` (an algorithmic judge that contradicted itself when the
  two responses were swapped). Filters run before this, so flagged annotators,
  excluded annotator types and inconsistent judgments are already gone.
* **Pairwise / thumb**: majority vote over the usable choices. The most frequent
  choice must be unique; a split (say one ``A`` and one ``B``) has no consensus.
* **Ranking**: mean Borda score over the usable rankings. In one ranking a
  response scores the number of responses ranked strictly below it plus half the
  number tied with it (so ties score equally and the scores of ``n`` responses
  always sum to ``n(n-1)/2``); a response missing from a ranking is counted as
  tied last. The consensus ranking groups responses with equal mean scores,
  best first (ties inside a group keep position order).
* **Curator resolution wins**: a ``resolution`` replaces the vote (``choice``
  for pairwise/thumb, ``ranking`` for rankings). It counts as one unanimous vote
  for the agreement and margin.
"""

from __future__ import annotations

from dataclasses import dataclass

from .records import ItemRec, JudgmentRec


def usable(item: ItemRec) -> tuple[JudgmentRec, ...]:
    """The judgments counted as votes (``consistent=False`` ones are not)."""
    return tuple(j for j in item.judgments if j.consistent is not False)


@dataclass(frozen=True, slots=True)
class Vote:
    """The outcome of a pairwise or thumb item.

    ``choice`` is ``None`` when there is no consensus. ``share`` is the fraction
    of usable votes that agree with it, ``votes`` the number of usable votes and
    ``margin`` (pairwise only) the signed mean strength: a vote for the winner
    counts ``+strength`` (1 when unset), a vote for the loser ``-strength``,
    tie and both-bad votes 0, divided by the number of votes.
    """

    choice: str | None
    share: float | None
    votes: int
    margin: float | None = None
    resolved: bool = False


def pairwise_vote(item: ItemRec) -> Vote:
    resolution = item.resolution.get("choice") if item.resolution else None
    if resolution:
        return Vote(resolution, 1.0, 1, 1.0 if resolution in ("A", "B") else None, resolved=True)
    counts = {"A": 0, "B": 0, "tie": 0, "both_bad": 0}
    signed = 0.0  # strength for A minus strength for B
    n = 0
    for j in item.judgments:
        if j.consistent is False:
            continue
        n += 1
        counts[j.choice] += 1
        if j.choice == "A":
            signed += j.strength or 1.0
        elif j.choice == "B":
            signed -= j.strength or 1.0
    if n == 0:
        return Vote(None, None, 0)
    # The most frequent choice, which must be unique.
    top, n_top, unique = "", -1, False
    for choice, count in counts.items():
        if count > n_top:
            top, n_top, unique = choice, count, True
        elif count == n_top:
            unique = False
    if not unique:
        return Vote(None, n_top / n, n)
    margin = None
    if top == "A":
        margin = signed / n
    elif top == "B":
        margin = -signed / n
    return Vote(top, n_top / n, n, margin)


def thumb_vote(item: ItemRec) -> Vote:
    resolution = (item.resolution or {}).get("choice")
    if resolution:
        return Vote(resolution, 1.0, 1, resolved=True)
    votes = usable(item)
    if not votes:
        return Vote(None, None, 0)
    up = sum(1 for j in votes if j.choice == "up")
    down = len(votes) - up
    if up == down:
        return Vote(None, 0.5, len(votes))
    return Vote("up" if up > down else "down", max(up, down) / len(votes), len(votes))


def borda_scores(ranking: tuple[tuple[str, ...], ...], response_ids: tuple[str, ...]) -> dict[str, float]:
    """Borda score of each response in one ranking (ties and missing ones as described above)."""
    groups = [list(g) for g in ranking]
    seen = {r for g in groups for r in g}
    missing = [r for r in response_ids if r not in seen]
    if missing:
        groups.append(missing)
    scores: dict[str, float] = {}
    below = len(response_ids)
    for group in groups:
        below -= len(group)
        for r in group:
            scores[r] = below + 0.5 * (len(group) - 1)
    return scores


@dataclass(frozen=True, slots=True)
class RankingConsensus:
    """``groups`` best first (equal mean scores share a group), ``scores`` by response id."""

    groups: tuple[tuple[str, ...], ...] | None
    scores: dict[str, float]
    votes: int
    share: float | None  # fraction of usable rankings identical to the consensus
    resolved: bool = False


def ranking_consensus(item: ItemRec) -> RankingConsensus:
    ids = item.response_ids
    resolution = (item.resolution or {}).get("ranking")
    if resolution:
        scores = borda_scores(resolution, ids)
        return RankingConsensus(_group(scores, ids), scores, 1, 1.0, resolved=True)
    votes = [j for j in usable(item) if j.ranking is not None]
    if not votes:
        return RankingConsensus(None, {}, 0, None)
    totals = dict.fromkeys(ids, 0.0)
    for j in votes:
        for r, s in borda_scores(j.ranking, ids).items():
            totals[r] += s
    scores = {r: totals[r] / len(votes) for r in ids}
    groups = _group(scores, ids)
    same = sum(1 for j in votes if _normal(j.ranking, ids) == groups)
    return RankingConsensus(groups, scores, len(votes), same / len(votes))


def _normal(ranking, ids) -> tuple[tuple[str, ...], ...]:
    return _group(borda_scores(ranking, ids), ids)


def _group(scores: dict[str, float], ids: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    order = {r: i for i, r in enumerate(ids)}
    levels = sorted(set(scores.values()), reverse=True)
    return tuple(tuple(sorted((r for r in ids if scores[r] == level), key=order.__getitem__)) for level in levels)


def item_agreement(item: ItemRec) -> float | None:
    """The audit's agreement when given, else the share of usable votes for the consensus."""
    if item.agreement is not None:
        return item.agreement
    if item.kind == "pairwise":
        return pairwise_vote(item).share
    if item.kind == "thumb":
        return thumb_vote(item).share
    if item.kind == "ranking":
        return ranking_consensus(item).share
    return None
