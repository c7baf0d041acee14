"""Judge answers to custom questions from next-token probabilities, and a jury's
aggregate (docs/algorithms.md#judge-answers, docs/algorithms.md#judge-juries).

Pure functions on plain dicts: the judge job (``curation.judging.runner``)
asks the model, reads the next-token probabilities of the answer labels
(calibrated by the content-free question as for pairwise), and calls these to
decide. Nothing here parses generated text.

Single choice
    The options are shown as letters ``A``, ``B``, … (at most 26); the answer
    is the option whose letter has the largest probability (ties: the first).
Multi-label
    One yes/no question per category; the category is in the set when
    ``P(yes) > P(no)``. The empty set ("none") is a possible answer.
Rating 1..N
    The points are shown as digits: ``1``..``N`` for N ≤ 9, ``0``..``9`` for a
    10-point scale (digit d = point d + 1; "10" would be two tokens). The
    answer is the expected value ``Σ k·p_k / Σ p_k`` rounded half up
    (``rule="expected"``, the default) or the most probable point
    (``rule="argmax"``, ties: the lowest).
Jury (a panel's members answering the same question)
    Single choice: the option most members chose; a tie goes to the tied
    option with the largest mean probability over the members. Multi-label:
    a category is in when more than half the members put it in; exactly half:
    when the members' mean ``P(yes)`` (renormalised over yes/no) exceeds ½.
    Rating: the mean of the members' ratings, rounded half up (the mean is
    kept).
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

CHOICE_LETTERS = string.ascii_uppercase
RATING_RULES = ("expected", "argmax")
# ``Annotator.model_name`` of a panel's jury (curation.judging.runner.jury_annotator): a record of the
# members' aggregate answers, not a judge of its own (no calibration card).
JURY_MODEL_NAME = "jury"

__all__ = [
    "CHOICE_LETTERS",
    "RATING_RULES",
    "JudgeAnswer",
    "choice_from_probs",
    "choice_letters",
    "jury_answer",
    "labels_from_probs",
    "rating_digits",
    "rating_from_probs",
    "round_half_up",
]


@dataclass(frozen=True)
class JudgeAnswer:
    """A decided answer: ``value`` (an option value, a list of option values, an int rating)
    and ``details`` (the probabilities behind it, JSON-ready)."""

    value: object
    details: dict = field(default_factory=dict)


def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def choice_letters(n_options: int) -> list[str]:
    """The letters a single-choice question's options are shown with."""
    if not 1 <= n_options <= len(CHOICE_LETTERS):
        raise ValueError(f"a judge answers single-choice questions of 1 to {len(CHOICE_LETTERS)} options, "
                         f"not {n_options}")  # fmt: skip
    return list(CHOICE_LETTERS[:n_options])


def rating_digits(scale: int) -> list[str]:
    """The digit tokens of the points 1..scale: ``1..N`` for N ≤ 9, ``0..9`` for N = 10."""
    if not 2 <= scale <= 10:
        raise ValueError(f"a judge answers ratings on 2 to 10 points, not {scale}")
    return [str(k) for k in range(1, scale + 1)] if scale <= 9 else [str(k) for k in range(10)]


def _normalised(values: Sequence[float]) -> list[float]:
    total = sum(values)
    if total <= 0:
        return [1.0 / len(values)] * len(values)
    return [v / total for v in values]


def choice_from_probs(probs: Mapping[str, float], values: Sequence[str]) -> JudgeAnswer:
    """The option whose letter is most probable; ``probs``: letter -> probability (calibrated)."""
    letters = choice_letters(len(values))
    p = _normalised([float(probs.get(letter, 0.0)) for letter in letters])
    best = max(range(len(values)), key=lambda i: (p[i], -i))
    return JudgeAnswer(values[best], {"probs": dict(zip(values, p, strict=True))})


def labels_from_probs(yes_no: Mapping[str, Mapping[str, float]]) -> JudgeAnswer:
    """The categories with ``P(yes) > P(no)``, in the order given; ``yes_no``: category ->
    ``{"yes": p, "no": p}``. ``details["p_yes"]``: P(yes) renormalised over yes/no per category."""
    p_yes = {}
    chosen = []
    for value, p in yes_no.items():
        yes, no = float(p.get("yes", 0.0)), float(p.get("no", 0.0))
        p_yes[value] = yes / (yes + no) if yes + no > 0 else 0.5
        if yes > no:
            chosen.append(value)
    return JudgeAnswer(chosen, {"p_yes": p_yes})


def rating_from_probs(probs: Mapping[str, float], scale: int, rule: str = "expected") -> JudgeAnswer:
    """A rating 1..scale from the probabilities of its digit tokens (see the module docstring)."""
    if rule not in RATING_RULES:
        raise ValueError(f"rule must be one of {RATING_RULES}, got {rule!r}")
    digits = rating_digits(scale)
    p = _normalised([float(probs.get(d, 0.0)) for d in digits])
    points = list(range(1, scale + 1))
    expected = sum(k * pk for k, pk in zip(points, p, strict=True))
    if rule == "expected":
        value = min(max(round_half_up(expected), 1), scale)
    else:
        value = points[max(range(scale), key=lambda i: (p[i], -i))]
    return JudgeAnswer(value, {"probs": {str(k): pk for k, pk in zip(points, p, strict=True)}, "expected": expected,
                               "rule": rule})  # fmt: skip


def jury_answer(qtype: str, members: Sequence[JudgeAnswer]) -> JudgeAnswer:
    """The panel's answer from its members' answers (see the module docstring). ``qtype``:
    ``single_choice``, ``multi_label`` or ``rating``. ``details["members"]`` lists the members' values."""
    if not members:
        raise ValueError("a jury needs at least one member's answer")
    values = [m.value for m in members]
    n = len(members)
    if qtype == "single_choice":
        counts: dict[str, int] = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        top = max(counts.values())
        tied = [v for v in counts if counts[v] == top]

        def mean_p(v):
            return sum(float(m.details.get("probs", {}).get(v, 0.0)) for m in members) / n

        value = tied[0] if len(tied) == 1 else max(tied, key=lambda v: (mean_p(v), -tied.index(v)))
        return JudgeAnswer(value, {"rule": "majority", "members": values, "votes": counts[value], "tie": len(tied) > 1})
    if qtype == "multi_label":
        order: list[str] = []
        for m in members:
            for c in list(m.details.get("p_yes", {})) + list(m.value):
                if c not in order:
                    order.append(c)
        shares, chosen = {}, []
        for c in order:
            k = sum(c in v for v in values)
            shares[c] = k / n
            if 2 * k > n:
                chosen.append(c)
            elif 2 * k == n:
                mean_yes = sum(float(m.details.get("p_yes", {}).get(c, float(c in m.value))) for m in members) / n
                if mean_yes > 0.5:
                    chosen.append(c)
        return JudgeAnswer(chosen, {"rule": "majority per category", "members": [list(v) for v in values],
                                    "shares": shares})  # fmt: skip
    if qtype == "rating":
        mean = sum(float(v) for v in values) / n
        return JudgeAnswer(round_half_up(mean), {"rule": "mean", "members": values, "mean": mean})
    raise ValueError(f"a jury answers single_choice, multi_label or rating questions, not {qtype!r}")
