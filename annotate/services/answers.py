"""Answers to a project's custom questions: the one check of what an
annotation answers, and the typed rows it becomes.

Every writer passes answers the same way (``AnnotationInput.answers``; the
annotate page's form, the API, import and the judge build it), keyed by the
question's ``key``:

* a question about the item: ``{"helpful": 4}``;
* a question about each response: ``{"hazard": {"<response uuid>": [...], ...}}``,
  or a list in the item's canonical order (position 0 first), as an import
  line gives it before the responses have uuids; a response left out has
  no answer.

Values by type: single choice, an option's value (a string); multi-label, a
list of option values (``[]``: none of them applies); rating, a whole number
1..scale; text, a string (empty: no answer). A question is answered under
its current version.

Required questions (``answers_required``, the one rule)
    A person's judgment (an annotator of type ``human``) must answer every
    required question asked on the item's kind, whatever the path: the
    annotate page, or the REST API when the token's user posts as a person.
    ``annotation_record`` applies it (``require=True`` here). Imported labels
    and model annotators (the judge, a panel's jury, Magpie-DPO's judge,
    external annotators through the API) are exempt: an import carries the
    labels an existing dataset has, which never answered questions defined
    here, and refusing it would lose the labels; a judge answers only what
    it can (never free text, and only with ``questions`` on), and its
    answers are added later when questions change (docs/questions.md#required-questions).

Errors are field errors named ``answers.<key>`` (and ``answers.<key>.<response
uuid>`` for one response's answer), so a page shows each in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from annotate.models import Annotator, Answer, Item, Question, QuestionTarget, QuestionType

ANSWER_TEXT_MAX = 20000


def answers_required(annotator: Annotator) -> bool:
    """Whether ``annotator``'s judgments must answer the required questions: a person's do,
    imported labels and model annotators' do not (module docstring)."""
    return annotator.type == Annotator.Type.HUMAN


@dataclass(frozen=True)
class AnswerValue:
    """One checked answer: the question (its ``current`` version loaded), the
    response's uuid (per-response questions) and the typed value."""

    question: Question
    response_uuid: str | None
    value: object
    # The answer's own position check (``Answer.consistent``): None when nothing was checked.
    consistent: bool | None = None

    def columns(self) -> dict:
        """The typed columns of the answer's row (``Answer`` fields)."""
        qtype = self.question.type
        return {
            "consistent": self.consistent,
            "type": qtype,
            "choice": self.value if qtype == QuestionType.SINGLE_CHOICE else "",
            "labels": list(self.value) if qtype == QuestionType.MULTI_LABEL else [],
            "rating": self.value if qtype == QuestionType.RATING else None,
            "text": self.value if qtype == QuestionType.TEXT else "",
        }


def _value(question: Question, raw):
    """The typed value of ``raw`` for ``question``, ``None`` for no answer; ``ValidationError(str)`` if bad."""
    version = question.current
    qtype = question.type
    if raw is None:
        return None
    if qtype == QuestionType.SINGLE_CHOICE:
        if raw == "":
            return None
        if not isinstance(raw, str) or raw not in version.values:
            raise ValidationError(f"choose one of {', '.join(version.values[:20])}")
        return raw
    if qtype == QuestionType.MULTI_LABEL:
        if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            raise ValidationError("a list of labels")
        allowed = set(version.values)
        if unknown := [v for v in raw if v not in allowed]:
            raise ValidationError(f"unknown label {unknown[0]!r}")
        if len(set(raw)) != len(raw):
            raise ValidationError("each label once")
        order = {v: n for n, v in enumerate(version.values)}
        return sorted(raw, key=order.__getitem__)
    if qtype == QuestionType.RATING:
        if raw == "":
            return None
        if isinstance(raw, str) and raw.strip().isdigit():
            raw = int(raw.strip())
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= version.scale:
            raise ValidationError(f"a whole number from 1 to {version.scale}")
        return raw
    if not isinstance(raw, str):
        raise ValidationError("text")
    raw = raw.replace("\r\n", "\n").strip()
    if len(raw) > (version.max_length or ANSWER_TEXT_MAX):
        raise ValidationError(f"at most {version.max_length} characters")
    return raw or None


def _missing(question: Question, value) -> bool:
    return value is None or (question.type == QuestionType.MULTI_LABEL and not value)


def answers_validate(
    *,
    item: Item,
    answers: Mapping | None,
    questions: list[Question],
    require: bool = False,
    consistent: Mapping[str, bool] | None = None,
) -> list[AnswerValue]:
    """Check ``answers`` (see the module docstring) against the project's
    ``questions`` in use (``questions_in_use``) for ``item``; the typed
    answers, or ``ValidationError`` with every bad answer named.
    ``consistent``: question key -> the answers' own position check (an
    algorithmic judge's, ``Answer.consistent``); keys not given: unchecked."""
    answers = answers or {}
    consistent = consistent or {}
    if not isinstance(answers, Mapping):
        raise ValidationError({"answers": "an object of question keys and answers"})
    errors: dict[str, str] = {}
    for key, flag in consistent.items():
        if key not in answers:
            errors[f"answers.{key}"] = "a position check is given without its answer"
        elif not isinstance(flag, bool):
            errors[f"answers.{key}"] = "the position check is true or false"
    asked = {q.key: q for q in questions if item.kind in q.current.kinds}
    for key in answers:
        if key not in asked:
            known = any(q.key == key for q in questions)
            errors[f"answers.{key}"] = (
                f"not asked on {item.kind} items" if known else "no such question in use in this project"
            )
    out: list[AnswerValue] = []
    canonical = item.response_uuids() if any(q.target == QuestionTarget.RESPONSE for q in asked.values()) else []
    for key, question in asked.items():
        field = f"answers.{key}"
        raw = answers.get(key)
        if question.target == QuestionTarget.ITEM:
            try:
                value = _value(question, raw)
            except ValidationError as error:
                errors[field] = error.messages[0]
                continue
            if value is not None:
                out.append(AnswerValue(question, None, value, consistent.get(key)))
            if require and question.current.required and _missing(question, value):
                errors[field] = "required"
            continue
        if raw is None:
            per_response: dict = {}
        elif isinstance(raw, list):
            if len(raw) != len(canonical):
                errors[field] = f"one answer per response: {len(canonical)} in the item's order"
                continue
            per_response = dict(zip(canonical, raw, strict=True))
        elif isinstance(raw, Mapping):
            per_response = {str(k): v for k, v in raw.items()}
            if stray := [k for k in per_response if k not in canonical]:
                errors[field] = f"{stray[0]!r} is not one of this item's responses"
                continue
        else:
            errors[field] = "an answer per response: an object keyed by response uuid, or a list in the item's order"
            continue
        for response_uuid in canonical:
            value_raw = per_response.get(response_uuid)
            try:
                value = _value(question, value_raw)
            except ValidationError as error:
                errors[f"{field}.{response_uuid}"] = error.messages[0]
                continue
            if value is not None:
                out.append(AnswerValue(question, response_uuid, value, consistent.get(key)))
            if require and question.current.required and _missing(question, value):
                errors[f"{field}.{response_uuid}"] = "required"
    if errors:
        raise ValidationError(errors)
    return out


def answer_rows(*, annotation_id: int, values: list[AnswerValue], response_ids: Mapping[str, int]) -> list[Answer]:
    """The unsaved ``Answer`` rows of an annotation's checked answers (``response_ids``: uuid → id)."""
    return [
        Answer(
            annotation_id=annotation_id,
            question_id=v.question.pk,
            version_id=v.question.current_id,
            response_id=response_ids[v.response_uuid] if v.response_uuid else None,
            **v.columns(),
        )
        for v in values
    ]
