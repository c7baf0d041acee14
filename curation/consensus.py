"""Consensus: who votes, what an item's votes agree on, and how much they agree.

The one place these rules live (docs/algorithms.md#consensus). Adaptive
overlap (``annotate.services.annotations``), the audit (``curation.audit``),
the dashboards that show the audit and every export format
(``curation.exports``) call these functions, so the consensus a curator sees
on a dashboard is the one the exported dataset is built from. Plain Python on
plain values: no ORM, no settings.

Who votes
    Annotators come from three sources: ``human`` (a person with an
    account), ``imported`` (the labels of an imported preference set, people
    too) and ``model`` (an algorithmic judge). :data:`DEFAULT_VOTERS` is
    ``human`` + ``imported``: a judge's verdict is a vote only when the
    curator or the export asks for it (``voters`` including ``model``).
    Whatever the voters, a judgment with ``consistent=False`` (a judge that
    contradicted itself when the responses were swapped) is never a vote.

Pairwise and thumb: majority (:func:`choice_vote`)
    The most frequent choice wins and must be unique; a split (one ``A``, one
    ``B``) has no consensus. ``tie`` and ``both_bad`` are choices like any
    other, so a majority of ``both_bad`` is a both-bad consensus.

Rankings: mean Borda score (:func:`ranking_consensus`)
    In one ranking a response scores the number of responses ranked strictly
    below it plus half the number tied with it; a response missing from a
    ranking is tied last. The consensus orders responses by their mean score,
    equal means forming one tied group (position order inside it).

    Why Borda and not Bradley–Terry: an item has a handful of rankings, and
    Bradley–Terry's maximum-likelihood strengths do not exist as soon as one
    response is never beaten (the usual case with two or three rankings), so
    it needs a prior whose strength changes the scores and, on near-ties, the
    order. Mean Borda is closed-form and deterministic, treats ties and
    missing responses by definition rather than by a fitting trick, equals
    ``n`` minus the mean mid-rank (so it orders responses as the mean rank
    does, the quantity behind the audit's Kendall's W) and its scores are the
    reward gaps the ranking export writes.

A curator's resolution wins
    A resolution (``choice`` for pairwise/thumb, ``ranking`` for rankings)
    replaces the vote; it counts as one unanimous vote for the consensus's
    ``share`` and margin. It does not change the item's agreement, which
    describes the annotators.

Agreement, one measure per kind (:func:`item_agreement`)
    Pairwise and thumb: the majority share, the fraction of votes equal to
    the most frequent choice (strength ignored). Rankings: the mean over pairs
    of rankings of the share of response pairs the two order alike (both the
    same way round or both tied), ``(1 + τ_a) / 2`` without ties; ``None``
    with fewer than two rankings. Judgment items have no measure (``None``).

Custom questions (:func:`question_consensus`)
    Over the answers of the votes to one question (about the item, or about
    one response): single choice, the majority as for a thumb (a unique most
    frequent option, else none); multi-label, each option's share of the
    answers that selected it, and the consensus labels are those selected
    by more than half; rating, the mean; free text has no consensus (every
    answer is kept).

    Whose answers count (:func:`answer_counts`): the voters' answers, each
    by its own position check, not its annotation's. A judge whose pairwise
    verdict flipped when the responses were swapped (``consistent=False``
    on the annotation) still answered a question about one response, or
    about a one-response item, without any A/B order to be biased by: those
    answers count. A question about the whole item whose prompt shows two or
    more responses is asked by the judge in both orders, and its answer
    counts only when both orders agree (``Answer.consistent``); a panel
    jury's answers never count (they aggregate the members, who vote
    themselves). docs/questions.md#judge-answers-and-position.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

VOTER_SOURCES = ("human", "imported", "model")
DEFAULT_VOTERS = ("human", "imported")

Ranking = Sequence[Sequence[str]]  # groups of response ids, best first


def voters_clean(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """The voter sources as a tuple in canonical order; ``ValueError`` names a bad one.

    Takes ``"human,imported"``, a list, or ``None`` / an empty value for the default.
    """
    if not value:
        return DEFAULT_VOTERS
    names = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    if not all(isinstance(v, str) for v in names):
        raise ValueError(f"must be a list of {', '.join(VOTER_SOURCES)}, got {value!r}")
    names = [v for v in names if v]
    bad = [v for v in names if v not in VOTER_SOURCES]
    if bad:
        raise ValueError(f"{bad[0]!r} is not one of {', '.join(VOTER_SOURCES)}")
    if not names:
        raise ValueError(f"name at least one of {', '.join(VOTER_SOURCES)}")
    return tuple(v for v in VOTER_SOURCES if v in names)


# ---------------------------------------------------------------- pairwise and thumb


@dataclass(frozen=True, slots=True)
class Vote:
    """The consensus of a pairwise or thumb item.

    ``choice`` is ``None`` without a consensus. ``share`` is the fraction of
    votes for it (the top share when split), ``votes`` the number of votes and
    ``margin`` (pairwise only) the signed mean strength: a vote for the winner
    counts ``+strength`` (1 when unset), a vote for the loser ``-strength``,
    tie and both-bad votes 0, over the number of votes.
    """

    choice: str | None
    share: float | None
    votes: int
    margin: float | None = None
    resolved: bool = False


def choice_vote(
    choices: Sequence[str],
    *,
    strengths: Sequence[int | None] | None = None,
    resolution: str | None = None,
    pairwise: bool = True,
) -> Vote:
    """Majority of ``choices`` (the votes only), or the curator's ``resolution``."""
    if resolution:
        margin = 1.0 if pairwise and resolution in ("A", "B") else None
        return Vote(resolution, 1.0, 1, margin, resolved=True)
    n = len(choices)
    if n == 0:
        return Vote(None, None, 0)
    counts: dict[str, int] = {}
    for choice in choices:
        counts[choice] = counts.get(choice, 0) + 1
    top, n_top, unique = _top(counts)
    if not unique:
        return Vote(None, n_top / n, n)
    margin = None
    if pairwise and top in ("A", "B"):
        signed = 0.0  # strength for A minus strength for B
        for i, choice in enumerate(choices):
            strength = (strengths[i] if strengths is not None else None) or 1.0
            if choice == "A":
                signed += strength
            elif choice == "B":
                signed -= strength
        margin = signed / n if top == "A" else -signed / n
    return Vote(top, n_top / n, n, margin)


def majority_share(choices: Sequence[str]) -> float | None:
    """Fraction of the votes equal to the most frequent choice (``None`` without votes)."""
    if not choices:
        return None
    counts: dict[str, int] = {}
    for choice in choices:
        counts[choice] = counts.get(choice, 0) + 1
    return max(counts.values()) / len(choices)


def _top(counts: dict[str, int]) -> tuple[str, int, bool]:
    top, n_top, unique = "", -1, False
    for choice, count in counts.items():
        if count > n_top:
            top, n_top, unique = choice, count, True
        elif count == n_top:
            unique = False
    return top, n_top, unique


# ---------------------------------------------------------------- rankings


def borda_scores(ranking: Ranking, response_ids: Sequence[str]) -> dict[str, float]:
    """Borda score of each response in one ranking (ties half a point, missing ones tied last).

    Names not among ``response_ids`` and repeats are ignored.
    """
    known = set(response_ids)
    seen: set[str] = set()
    groups = []
    for group in ranking:
        kept = [r for r in map(str, group) if r in known and r not in seen]
        seen.update(kept)
        if kept:
            groups.append(kept)
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
    """``groups`` best first (equal mean scores share a group), ``scores`` (mean Borda) by response id.

    ``share`` is the fraction of rankings that order the responses exactly as
    the consensus does.
    """

    groups: tuple[tuple[str, ...], ...] | None
    scores: dict[str, float]
    votes: int
    share: float | None
    resolved: bool = False


def ranking_consensus(
    rankings: Sequence[Ranking], response_ids: Sequence[str], *, resolution: Ranking | None = None
) -> RankingConsensus:
    """Mean Borda consensus of ``rankings`` (the votes only), or the curator's ``resolution``."""
    ids = tuple(response_ids)
    if resolution:
        scores = borda_scores(resolution, ids)
        return RankingConsensus(_group(scores, ids), scores, 1, 1.0, resolved=True)
    if not rankings:
        return RankingConsensus(None, {}, 0, None)
    totals = dict.fromkeys(ids, 0.0)
    for ranking in rankings:
        for r, s in borda_scores(ranking, ids).items():
            totals[r] += s
    scores = {r: totals[r] / len(rankings) for r in ids}
    groups = _group(scores, ids)
    same = sum(1 for ranking in rankings if _group(borda_scores(ranking, ids), ids) == groups)
    return RankingConsensus(groups, scores, len(rankings), same / len(rankings))


def _group(scores: dict[str, float], ids: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    order = {r: i for i, r in enumerate(ids)}
    levels = sorted(set(scores.values()), reverse=True)
    return tuple(tuple(sorted((r for r in ids if scores[r] == level), key=order.__getitem__)) for level in levels)


def ranking_agreement(rankings: Sequence[Ranking]) -> float | None:
    """Mean pairwise Kendall agreement of rankings: for each two rankings the share of
    the response pairs both name that they order alike; ``None`` with fewer than two."""
    ranks = [{str(r): level for level, group in enumerate(ranking) for r in group} for ranking in rankings if ranking]
    if len(ranks) < 2:
        return None
    shares = []
    for i in range(len(ranks)):
        for j in range(i + 1, len(ranks)):
            common = sorted(set(ranks[i]) & set(ranks[j]))
            pairs = [(x, y) for k, x in enumerate(common) for y in common[k + 1 :]]
            if not pairs:
                continue
            same = 0
            for x, y in pairs:
                a = ranks[i][x] - ranks[i][y]
                b = ranks[j][x] - ranks[j][y]
                same += (a > 0) - (a < 0) == (b > 0) - (b < 0)
            shares.append(same / len(pairs))
    return sum(shares) / len(shares) if shares else None


# ---------------------------------------------------------------- agreement


def item_agreement(*, kind: str, votes: Sequence) -> float | None:
    """How much an item's votes agree, in [0, 1] (the module docstring's measure for ``kind``).

    ``votes``: the choices (pairwise, thumb) or the rankings (ranking) of the
    votes only; ``None`` for judgment items and where the measure is undefined.
    """
    if kind in ("pairwise", "thumb"):
        return majority_share(votes)
    if kind == "ranking":
        return ranking_agreement(votes)
    return None


# ---------------------------------------------------------------- custom questions


@dataclass(frozen=True)
class QuestionConsensus:
    """What the votes say about one question: ``value`` (single choice: an option or ``None``;
    multi-label: the labels chosen by more than half, in option order; rating: the mean or
    ``None``; text: every answer), ``shares`` (multi-label: option -> share of answers that
    selected it; single choice: option -> share of answers), ``answers`` (how many)."""

    value: object
    shares: dict
    answers: int


def answer_counts(consistent: bool | None) -> bool:
    """Whether a voter's answer to a custom question is a vote: unless its own position check
    failed (``Answer.consistent`` is ``False``), whatever its annotation's pairwise check said."""
    return consistent is not False


def question_consensus(qtype: str, answers: Sequence, *, values: Sequence[str] = ()) -> QuestionConsensus:
    """The consensus of ``answers`` (typed values, one per vote that answered) to a question of
    type ``qtype`` whose options are ``values`` (single choice and multi-label)."""
    n = len(answers)
    if qtype == "multi_label":
        counts = dict.fromkeys(values, 0)
        for labels in answers:
            for label in set(labels):
                counts[label] = counts.get(label, 0) + 1
        shares = {v: (c / n if n else None) for v, c in counts.items()}
        chosen = [v for v, c in counts.items() if n and c * 2 > n]
        return QuestionConsensus(chosen, shares, n)
    if qtype == "single_choice":
        vote = choice_vote(list(answers), pairwise=False)
        counts = dict.fromkeys(values, 0)
        for choice in answers:
            counts[choice] = counts.get(choice, 0) + 1
        return QuestionConsensus(vote.choice, {v: (c / n if n else None) for v, c in counts.items()}, n)
    if qtype == "rating":
        return QuestionConsensus(sum(answers) / n if n else None, {}, n)
    return QuestionConsensus([a for a in answers if a], {}, n)
