"""Custom questions in the exports: typed columns and the filters on them (records in, no ORM).

Every format gets one set of columns per question of the project
(``QuestionRec``; retired questions too, as long as they have answers to
export), named after its key:

consensus formats (SFT, KTO, DPO, ranking, judgment), over the votes' answers
(:func:`curation.consensus.question_consensus`; an answer counts by its own
position check, :func:`curation.consensus.answer_counts`)
    ``q_<key>``         single choice: the option (string, null without a majority);
                        multi-label: the consensus labels (list of strings);
                        rating: the mean (float, null without answers);
                        text: every answer (list of strings)
    ``q_<key>_shares``  multi-label only: ``{option: share of answers selecting it}`` (a struct of floats)

    A question about each response is read for the row's response: SFT and
    KTO the completion's (null for a correction, which is no stored response),
    DPO twice, ``q_<key>_chosen`` / ``q_<key>_rejected`` (and their
    ``_shares``). A question about the item is read for the row's item (a
    DPO pair of thumbs: the chosen item's). The judgment format reads the
    row's ``response`` (the item's one response) like SFT. The ranking
    format's rows carry a list of responses: a question about each response
    is a list, one consensus per response in the row's ``responses`` order
    (``listwise_fields``), and a filter on it must hold for every response.

raw, one row per judgment: that judgment's own answers
    ``q_<key>``         about the item: the answer (string, list of strings, integer or string), null if none;
                        about each response: one answer per response in the item's order (a list, nulls
                        where none)
    ``answers_inconsistent``  the keys of its answers whose own position check failed (never votes), null if none

Filters (``ExportOptions.question_filters``): a list of ``{"column", "op",
"value"}``; a row is written only when every condition holds, otherwise it
is dropped and counted under ``question_filter``. ``column`` is one of the
format's question columns; ``op`` one of :data:`OPS`. A null value fails
every condition but ``empty``. Example: drop DPO pairs whose chosen response
has any hazard label by consensus: ``{"column": "q_hazard_chosen", "op":
"empty"}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from curation.consensus import answer_counts, question_consensus

from .records import ExportInputError, ItemRec, QuestionRec

OPS = ("empty", "not_empty", "==", "!=", ">=", "<=", ">", "<", "in", "not_in", "contains", "not_contains")
_NEEDS_VALUE = frozenset(OPS) - {"empty", "not_empty"}


def _consensus_type(q: QuestionRec) -> pa.DataType:
    return {
        "single_choice": pa.string(),
        "multi_label": pa.list_(pa.string()),
        "rating": pa.float64(),
        "text": pa.list_(pa.string()),
    }[q.type]


def _raw_type(q: QuestionRec) -> pa.DataType:
    one = {
        "single_choice": pa.string(),
        "multi_label": pa.list_(pa.string()),
        "rating": pa.int64(),
        "text": pa.string(),
    }[q.type]
    return pa.list_(one) if q.target == "response" else one


def _shares_type(q: QuestionRec) -> pa.DataType:
    return pa.struct([(v, pa.float64()) for v in q.values]) if q.values else pa.struct([("_", pa.float64())])


def consensus_fields(questions: Sequence[QuestionRec], roles: Sequence[str]) -> list[pa.Field]:
    """The question columns of a consensus format whose rows carry responses in ``roles``
    (``[""]``: one completion; ``["chosen", "rejected"]``: DPO)."""
    out = []
    for q in questions:
        suffixes = [f"_{r}" if r else "" for r in roles] if q.target == "response" else [""]
        for suffix in suffixes:
            out.append(pa.field(f"q_{q.key}{suffix}", _consensus_type(q), nullable=True))
            if q.type == "multi_label":
                out.append(pa.field(f"q_{q.key}{suffix}_shares", _shares_type(q), nullable=True))
    return out


def listwise_fields(questions: Sequence[QuestionRec]) -> list[pa.Field]:
    """The question columns of the ranking format, whose rows carry a list of responses: a question
    about the item as in the other consensus formats, a question about each response as a list of
    its consensus values (and shares) in the row's ``responses`` order."""
    out = []
    for q in questions:
        per = q.target == "response"
        out.append(pa.field(f"q_{q.key}", pa.list_(_consensus_type(q)) if per else _consensus_type(q), nullable=True))
        if q.type == "multi_label":
            shares = _shares_type(q)
            out.append(pa.field(f"q_{q.key}_shares", pa.list_(shares) if per else shares, nullable=True))
    return out


def listwise_columns(questions: Sequence[QuestionRec]) -> frozenset[str]:
    """The ranking format's per-response list columns: a filter on one holds when it holds for every
    response of the row (``check_filters``)."""
    names = set()
    for q in questions:
        if q.target == "response":
            names.add(f"q_{q.key}")
            if q.type == "multi_label":
                names.add(f"q_{q.key}_shares")
    return frozenset(names)


def raw_fields(questions: Sequence[QuestionRec]) -> list[pa.Field]:
    """The raw format's question columns, and ``answers_inconsistent`` (the keys of the judgment's
    answers whose own position check failed, null when none: docs/questions.md#judge-answers-and-position)."""
    if not questions:
        return []
    out = [pa.field(f"q_{q.key}", _raw_type(q), nullable=True) for q in questions]
    return out + [pa.field("answers_inconsistent", pa.list_(pa.string()), nullable=True)]


class QuestionColumns:
    """Builds a format's question columns for its rows, one item's consensus computed once."""

    def __init__(self, questions: Sequence[QuestionRec], roles: Sequence[str]) -> None:
        self.questions = tuple(questions)
        self.roles = tuple(roles)
        self._item_id: str | None = None
        self._cache: dict = {}

    def _answers(self, item: ItemRec) -> dict:
        """``{(key, response id or None): [values of the votes]}`` of ``item``, read once per item."""
        if self._item_id != item.id:
            answers: dict = {}
            for j in item.judgments + item.answer_judgments:
                # Each answer by its own position check, not the judgment's pairwise one
                # (curation.consensus.answer_counts).
                for key, response_id, value, consistent in j.answers:
                    if answer_counts(consistent):
                        answers.setdefault((key, response_id), []).append(value)
            self._item_id, self._cache = item.id, {"answers": answers}
        return self._cache["answers"]

    def consensus(self, item: ItemRec, key: str, response_id: str | None, q: QuestionRec):
        answers = self._answers(item)
        memo = self._cache.setdefault("consensus", {})
        if (key, response_id) not in memo:
            memo[(key, response_id)] = question_consensus(q.type, answers.get((key, response_id), []), values=q.values)
        return memo[(key, response_id)]

    def _value(self, item: ItemRec, q: QuestionRec, response_id: str | None) -> tuple[Any, Any]:
        """``(q_<key> value, q_<key>_shares value)`` of one unit (the item, or one of its responses)."""
        result = self.consensus(item, q.key, response_id, q)
        if q.type == "multi_label":
            shares = {v: result.shares.get(v) for v in q.values} if result.answers and q.values else None
            return (result.value if result.answers else None), shares
        if q.type == "text":
            return (result.value if result.answers else None), None
        return result.value, None

    def columns(self, item: ItemRec, responses: dict[str, tuple[ItemRec, str | None]] | None = None) -> dict:
        """The question columns of one row about ``item``; ``responses``: role -> (item, response id or
        None) of each response in the row (DPO's chosen item may differ from the rejected one's)."""
        out: dict[str, Any] = {}
        for q in self.questions:
            if q.target == "item":
                targets = [("", item, None)]
            else:
                targets = [(f"_{r}" if r else "", *((responses or {}).get(r) or (item, None))) for r in self.roles]
            for suffix, target_item, response_id in targets:
                name = f"q_{q.key}{suffix}"
                if q.target == "response" and response_id is None:
                    value, shares = None, None
                else:
                    value, shares = self._value(target_item, q, response_id)
                out[name] = value
                if q.type == "multi_label":
                    out[f"{name}_shares"] = shares
        return out

    def listwise(self, item: ItemRec, response_ids: Sequence[str]) -> dict:
        """The ranking format's question columns of one row about ``item`` whose responses are
        ``response_ids`` (in the row's order): see ``listwise_fields``. A per-response column is null
        when no response was answered, else one entry per response (null for one not answered)."""
        out: dict[str, Any] = {}
        for q in self.questions:
            if q.target == "item":
                value, shares = self._value(item, q, None)
            else:
                pairs = [self._value(item, q, r) for r in response_ids]
                answered = any(self.consensus(item, q.key, r, q).answers for r in response_ids)
                value = [v for v, _ in pairs] if answered else None
                shares = [sh for _, sh in pairs] if answered else None
            out[f"q_{q.key}"] = value
            if q.type == "multi_label":
                out[f"q_{q.key}_shares"] = shares
        return out


def raw_columns(questions: Sequence[QuestionRec], item: ItemRec, answers) -> dict:
    """One judgment's own answers as the raw format's question columns."""
    given = {(key, response_id): value for key, response_id, value, _consistent in answers}
    flipped = sorted({key for key, _response_id, _value, consistent in answers if not answer_counts(consistent)})
    out: dict[str, Any] = {"answers_inconsistent": flipped or None}
    for q in questions:
        if q.target == "item":
            out[f"q_{q.key}"] = given.get((q.key, None))
        else:
            values = [given.get((q.key, r.id)) for r in item.responses]
            out[f"q_{q.key}"] = values if any(v is not None for v in values) else None
    return out


def check_filters(
    filters: Sequence[dict], columns: Sequence[str], each: frozenset[str] = frozenset()
) -> tuple[dict, ...]:
    """Validated ``question_filters`` for a format with these question ``columns``; ``each``: the
    columns holding one value per response (the ranking format's), where a condition must hold for
    every response's value."""
    out = []
    for n, rule in enumerate(filters, start=1):
        where = f"options.question_filters[{n}]"
        if not isinstance(rule, dict):
            raise ExportInputError(f"{where}: an object with column, op and value")
        unknown = set(rule) - {"column", "op", "value"}
        if unknown:
            raise ExportInputError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        column, op = rule.get("column"), rule.get("op")
        if column not in columns:
            known = ", ".join(columns) or "none (the project has no questions, or this format has no question columns)"
            raise ExportInputError(
                f"{where}.column: {column!r} is not a question column of this format; known: {known}"
            )
        if op not in OPS:
            raise ExportInputError(f"{where}.op: {op!r} is not one of {list(OPS)}")
        if op in _NEEDS_VALUE and "value" not in rule:
            raise ExportInputError(f"{where}.value: {op} needs a value")
        if op in ("in", "not_in") and not isinstance(rule.get("value"), list):
            raise ExportInputError(f"{where}.value: {op} needs a list")
        out.append({"column": column, "op": op, "value": rule.get("value"), "each": column in each})
    return tuple(out)


def _holds(rule: dict, value) -> bool:
    op, wanted = rule["op"], rule["value"]
    if op == "empty":
        return value is None or value == [] or value == ""
    if op == "not_empty":
        return not (value is None or value == [] or value == "")
    if value is None:
        return False
    try:
        if op == "==":
            return value == wanted
        if op == "!=":
            return value != wanted
        if op == ">=":
            return value >= wanted
        if op == "<=":
            return value <= wanted
        if op == ">":
            return value > wanted
        if op == "<":
            return value < wanted
        if op == "in":
            return value in wanted
        if op == "not_in":
            return value not in wanted
        if op == "contains":
            return wanted in value
        return wanted not in value
    except TypeError:
        return False


def row_passes(filters: Sequence[dict], row: dict) -> bool:
    return all(_passes(rule, row.get(rule["column"])) for rule in filters)


def _passes(rule: dict, value) -> bool:
    if rule.get("each") and isinstance(value, list):
        return all(_holds(rule, v) for v in value)
    return _holds(rule, value)
