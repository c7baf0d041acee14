"""Plain records that feed the exports (no ORM here).

The ORM layer reads a project's items and turns each into one :class:`ItemRec`
holding its prompt, its responses in position order and every annotation as a
:class:`JudgmentRec`. Everything below works on these records only, so the
formats, filters and writers are tested without a database.

Conventions (the same as ``annotate.models``):

* pairwise choices are canonical: ``A`` is ``responses[0]``, ``B`` is
  ``responses[1]``, whatever side of the screen each was shown on;
* a ranking is a list of groups of response ids, best group first; a group of
  several ids is a tie;
* ``annotator_type`` is ``human``, ``model`` (an algorithmic judge) or
  ``imported``;
* ``consistent`` is what an algorithmic judge's position-swap check said
  (``None`` when not checked); a judgment with ``consistent=False`` is never
  counted as a vote (see :mod:`curation.exports.aggregate`);
* ``resolution`` is a curator's verdict that overrides the consensus, a dict
  with one of the keys ``choice`` (pairwise ``A``/``B``/``tie``/``both_bad`` or
  thumb ``up``/``down``), ``ranking`` (groups best first) or
  ``corrected_response`` / ``critique`` (judgment items). A bare string is read
  as ``{"choice": string}``.
* ``ches`` / ``ln_ches`` are the item's CHES scores for the pair oriented as the
  consensus (chosen = the winner), as stored by the audit; ``agreement`` is the
  audit's per-item agreement (``None``: not audited, the filters then use the
  share of votes for the consensus).

Mapping from ``annotate.models`` (what the ORM layer is expected to do):

* ``ItemRec(id=str(item.uuid), kind=item.kind, prompt=PromptRec(str(prompt.uuid),
  prompt.messages), responses=[ResponseRec(str(r.uuid), r.text) for r in
  item.ordered_responses()], excluded=item.excluded, resolution=item.resolution,
  agreement/ches/ln_ches from the audit results)``; reuse one ``PromptRec`` per
  prompt, and pass items ordered by prompt;
* leave probe items (``probe_of`` set) out: they are hidden repeats for the
  consistency audit, not extra data;
* ``JudgmentRec(id=str(a.uuid), annotator_id=str(a.annotator.uuid),
  annotator_type=a.annotator.type, choice=a.choice, strength=a.strength,
  ranking=a.ranking, critique=..., corrected_response=..., rationale=...,
  display_order=a.display_order, time_spent_ms=..., consistent=a.consistent,
  created_at=a.created_at.isoformat())``;
* flagged annotators (``Annotator.flagged``) go to
  ``FilterSpec.flagged_annotators`` as the same ids; the audit's swap and
  transitivity findings to ``FilterSpec.swap_inconsistent`` / ``intransitive``
  as judgment ids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

KINDS = ("pairwise", "thumb", "ranking", "judgment")
ANNOTATOR_TYPES = ("human", "model", "imported")
PAIRWISE_CHOICES = ("A", "B", "tie", "both_bad")
THUMB_CHOICES = ("up", "down")


class ExportInputError(ValueError):
    """A record handed to the exports is malformed; the message names the field."""


def _check(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise ExportInputError(f"{where}: {message}")


def _opt_float(value: Any, where: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ExportInputError(f"{where}: expected a number or None, got {value!r}") from None
    return None if math.isnan(number) else number


@dataclass(frozen=True, slots=True)
class PromptRec:
    """A conversation in TRL's conversational form: ``[{"role", "content"}, ...]``."""

    id: str
    messages: tuple[dict, ...]

    def __post_init__(self) -> None:
        # Checks are written as plain ``if``s: records are built by the million.
        if not isinstance(self.id, str) or not self.id:
            raise ExportInputError(f"prompt {self.id!r}: id must be a non-empty string")
        msgs = self.messages if type(self.messages) is tuple else tuple(self.messages)
        if not msgs:
            raise ExportInputError(f"prompt {self.id}: messages must not be empty")
        for i, m in enumerate(msgs):
            if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
                raise ExportInputError(
                    f"prompt {self.id}: messages[{i}] must be a dict with string 'role' and 'content'"
                )
        object.__setattr__(self, "messages", msgs)

    @property
    def text(self) -> str:
        """The last user message (what ``Prompt.text`` returns too)."""
        for message in reversed(self.messages):
            if message["role"] == "user":
                return message["content"]
        return self.messages[-1]["content"]

    @property
    def joined(self) -> str:
        """The whole conversation as ``role: content`` blocks separated by a blank line."""
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in self.messages)


@dataclass(frozen=True, slots=True)
class ResponseRec:
    id: str
    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ExportInputError(f"response {self.id!r}: id must be a non-empty string")
        if not isinstance(self.text, str):
            raise ExportInputError(f"response {self.id}: text must be a string")


@dataclass(frozen=True, slots=True)
class JudgmentRec:
    """One annotation of one item by one annotator."""

    id: str
    annotator_id: str
    annotator_type: str = "human"
    choice: str = ""  # pairwise A/B/tie/both_bad, thumb up/down, "" otherwise
    strength: int | None = None  # pairwise 1..3
    ranking: tuple[tuple[str, ...], ...] | None = None  # groups of response ids, best first
    critique: str = ""
    corrected_response: str = ""
    rationale: str = ""
    display_order: tuple[str, ...] = ()  # response ids left to right as shown
    time_spent_ms: int | None = None
    consistent: bool | None = None
    created_at: str | None = None  # ISO 8601, only the raw export shows it
    # Answers to custom questions: (question key, response id or None for the item, typed value, and
    # the answer's own position check, ``Answer.consistent``: None unchecked; False is never a vote).
    answers: tuple[tuple[str, str | None, Any, bool | None], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ExportInputError(f"judgment {self.id!r}: id must be a non-empty string")
        if not isinstance(self.annotator_id, str) or not self.annotator_id:
            raise ExportInputError(f"judgment {self.id}: annotator_id must be set")
        if self.annotator_type not in ANNOTATOR_TYPES:
            raise ExportInputError(
                f"judgment {self.id}: annotator_type must be one of {ANNOTATOR_TYPES}, got {self.annotator_type!r}"
            )
        if self.strength is not None and (type(self.strength) is not int or not 1 <= self.strength <= 3):
            raise ExportInputError(f"judgment {self.id}: strength must be None or 1..3, got {self.strength!r}")
        if self.ranking is not None:
            groups = tuple(tuple(str(r) for r in g) for g in self.ranking)
            if not all(groups):
                raise ExportInputError(f"judgment {self.id}: ranking groups must not be empty")
            object.__setattr__(self, "ranking", groups)
        if type(self.display_order) is not tuple:
            object.__setattr__(self, "display_order", tuple(self.display_order))


QUESTION_TYPES = ("single_choice", "multi_label", "rating", "text")


@dataclass(frozen=True, slots=True)
class QuestionRec:
    """A custom question as the exports see it: ``values`` are its options (every version's,
    current first) for single choice and multi-label; ``target`` is ``item`` or ``response``."""

    key: str
    type: str
    target: str = "item"
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ExportInputError(f"question {self.key!r}: key must be a non-empty string")
        if self.type not in QUESTION_TYPES:
            raise ExportInputError(f"question {self.key}: type must be one of {QUESTION_TYPES}, got {self.type!r}")
        if self.target not in ("item", "response"):
            raise ExportInputError(f"question {self.key}: target must be item or response, got {self.target!r}")
        object.__setattr__(self, "values", tuple(self.values))


_RESPONSES_PER_KIND = {"pairwise": (2, 2), "thumb": (1, 1), "ranking": (2, 20), "judgment": (1, 1)}
_CHOICES_PER_KIND = {"pairwise": frozenset(PAIRWISE_CHOICES), "thumb": frozenset(THUMB_CHOICES)}


@dataclass(frozen=True, slots=True)
class ItemRec:
    """One item with everything the exports need about it."""

    id: str
    kind: str
    prompt: PromptRec
    responses: tuple[ResponseRec, ...]
    judgments: tuple[JudgmentRec, ...] = ()
    excluded: bool = False
    resolution: dict | None = None
    agreement: float | None = None
    ches: float | None = None
    ln_ches: float | None = None
    metadata: dict = field(default_factory=dict)
    # Judgments a filter removed for their verdict alone (a judge's position-inconsistent one, with
    # ``drop_judge_inconsistent``) whose answers to the custom questions still count (.questions).
    answer_judgments: tuple[JudgmentRec, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ExportInputError(f"item {self.id!r}: id must be a non-empty string")
        where = f"item {self.id}"
        bounds = _RESPONSES_PER_KIND.get(self.kind)
        if bounds is None:
            raise ExportInputError(f"{where}: kind must be one of {KINDS}, got {self.kind!r}")
        if not isinstance(self.prompt, PromptRec):
            raise ExportInputError(f"{where}: prompt must be a PromptRec")
        responses = self.responses if type(self.responses) is tuple else tuple(self.responses)
        if not bounds[0] <= len(responses) <= bounds[1]:
            raise ExportInputError(
                f"{where}: a {self.kind} item needs {bounds[0]}..{bounds[1]} responses, got {len(responses)}"
            )
        ids = {r.id for r in responses}
        if len(ids) != len(responses):
            raise ExportInputError(f"{where}: response ids must be distinct")
        judgments = self.judgments if type(self.judgments) is tuple else tuple(self.judgments)
        choices = _CHOICES_PER_KIND.get(self.kind)
        for j in judgments:
            if type(j) is not JudgmentRec:
                raise ExportInputError(f"{where}: judgments must be JudgmentRec, got {type(j).__name__}")
            if choices is not None:
                if j.choice not in choices:
                    raise ExportInputError(
                        f"{where} judgment {j.id}: choice must be one of {sorted(choices)}, got {j.choice!r}"
                    )
            elif self.kind == "ranking":
                self._check_ranking(j, ids)
        object.__setattr__(self, "responses", responses)
        object.__setattr__(self, "judgments", judgments)
        for name in ("agreement", "ches", "ln_ches"):
            value = getattr(self, name)
            if value is not None and (type(value) is not float or value != value):
                object.__setattr__(self, name, _opt_float(value, f"{where} {name}"))
        if self.resolution is not None:
            object.__setattr__(self, "resolution", self._normalise_resolution(self.resolution, ids))

    def _check_ranking(self, j: JudgmentRec, ids: set[str]) -> None:
        where = f"item {self.id} judgment {j.id}"
        if j.ranking is None:
            raise ExportInputError(f"{where}: a ranking judgment needs ranking")
        flat = [r for g in j.ranking for r in g]
        if len(set(flat)) != len(flat):
            raise ExportInputError(f"{where}: ranking names a response twice")
        if not set(flat) <= ids:
            raise ExportInputError(f"{where}: ranking names responses not in the item: {sorted(set(flat) - ids)}")

    def _normalise_resolution(self, value: Any, ids: set[str]) -> dict | None:
        if value is None or value == {}:
            return None
        where = f"item {self.id} resolution"
        if isinstance(value, str):
            value = {"choice": value}
        _check(isinstance(value, dict), where, f"expected a dict or a string, got {type(value).__name__}")
        value = dict(value)
        if "choice" in value and value["choice"] not in (None, ""):
            allowed = PAIRWISE_CHOICES if self.kind == "pairwise" else THUMB_CHOICES
            _check(self.kind in ("pairwise", "thumb"), where, f"'choice' does not apply to a {self.kind} item")
            _check(value["choice"] in allowed, where, f"choice must be one of {allowed}, got {value['choice']!r}")
        if value.get("ranking") is not None:
            _check(self.kind == "ranking", where, f"'ranking' does not apply to a {self.kind} item")
            groups = tuple(tuple(str(r) for r in g) for g in value["ranking"])
            flat = [r for g in groups for r in g]
            _check(all(groups) and len(set(flat)) == len(flat) and set(flat) <= ids, where, "invalid ranking")
            value["ranking"] = groups
        return value

    @property
    def response_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.responses)

    def response(self, response_id: str) -> ResponseRec:
        for r in self.responses:
            if r.id == response_id:
                return r
        raise ExportInputError(f"item {self.id}: no response {response_id!r}")
