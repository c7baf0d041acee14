"""What every format shares: options, prompt/completion rendering, Arrow types.

Conversational vs plain text (``ExportOptions.conversational``):

* conversational (default): the prompt is the whole conversation as TRL's
  message list ``[{"role", "content"}, ...]`` (only those two keys are kept),
  and each completion is ``[{"role": "assistant", "content": text}]``;
* plain text: the prompt is a string, by default the last user message
  (``plain_prompt="last_user"``, what ``Prompt.text`` shows; earlier turns are
  lost) or, with ``plain_prompt="joined"``, every message as ``role: content``
  blocks separated by a blank line; completions are the response text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import pyarrow as pa

from .questions import QuestionColumns, check_filters, consensus_fields, row_passes
from .records import ExportInputError, ItemRec, PromptRec, QuestionRec

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES = pa.list_(MESSAGE)

SOURCES = ("pairwise", "ranking", "thumb", "correction")
EXTRA_COLUMNS = ("margin", "agreement", "ches", "ln_ches")


@dataclass(frozen=True)
class ExportOptions:
    """How rows are built. Every field is recorded in the manifest.

    conversational   message lists (True) or plain strings (False), see above
    plain_prompt     "last_user" | "joined": the prompt string in plain mode
    ranking_pairs    DPO from rankings: "all" pairs across groups or "adjacent" groups only
    dpo_sources      which signals make DPO pairs: pairwise, ranking, thumb, correction
    extra_columns    DPO optional columns: margin, agreement, ches, ln_ches
    kto_ties         "drop" | "desirable" (a tie gives two desirable rows)
    kto_rankings     KTO from rankings: top group desirable, bottom group undesirable
    ranking_include_pairwise  the ranking format also takes pairwise items as 2-rankings
    judgment_positives        the judgment format adds thumbs-up responses with judgment null
    sft_sources      which signals give SFT completions: pairwise, ranking, thumb, correction
    row_group_size   rows per Parquet row group (and per buffered write)
    question_filters conditions on the custom questions' columns a row must meet (.questions)
    """

    conversational: bool = True
    plain_prompt: str = "last_user"
    ranking_pairs: str = "all"
    dpo_sources: tuple[str, ...] = SOURCES
    extra_columns: tuple[str, ...] = ()
    kto_ties: str = "drop"
    kto_rankings: bool = True
    ranking_include_pairwise: bool = False
    judgment_positives: bool = False
    sft_sources: tuple[str, ...] = SOURCES
    row_group_size: int = 10_000
    question_filters: tuple[dict, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.question_filters, list | tuple):
            raise ExportInputError("options.question_filters: a list of {column, op, value}")
        object.__setattr__(self, "question_filters", tuple(self.question_filters))
        for name in ("dpo_sources", "extra_columns", "sft_sources"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        _choice("plain_prompt", self.plain_prompt, ("last_user", "joined"))
        _choice("ranking_pairs", self.ranking_pairs, ("all", "adjacent"))
        _choice("kto_ties", self.kto_ties, ("drop", "desirable"))
        for name, allowed in (("dpo_sources", SOURCES), ("sft_sources", SOURCES), ("extra_columns", EXTRA_COLUMNS)):
            for value in getattr(self, name):
                _choice(name, value, allowed)
        # Extra columns always come out in the same order, whatever order was asked.
        object.__setattr__(self, "extra_columns", tuple(c for c in EXTRA_COLUMNS if c in self.extra_columns))
        if not isinstance(self.row_group_size, int) or self.row_group_size < 1:
            raise ExportInputError(f"options.row_group_size: must be a positive integer, got {self.row_group_size!r}")
        for name in ("conversational", "kto_rankings", "ranking_include_pairwise", "judgment_positives"):
            if not isinstance(getattr(self, name), bool):
                raise ExportInputError(f"options.{name}: must be true or false, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ExportOptions:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ExportInputError(f"options: unknown option(s) {unknown}; known: {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ExportInputError(f"options.{name}: {value!r} is not one of {list(allowed)}")


class Format:
    """One dataset format: an Arrow schema and rows built from the items of one prompt.

    ``rows`` is called once per prompt with every (filtered) item of that prompt,
    so formats that combine items (thumbs up vs down) see them together.
    ``dropped`` counts what a format could not use, by reason.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    trl_trainer: ClassVar[str] = ""
    drop_reasons: ClassVar[dict[str, str]] = {}
    # The responses a row carries, for the custom questions' columns (.questions): ("",) one
    # completion, ("chosen", "rejected") a pair; None: no question columns in this format.
    question_roles: ClassVar[tuple[str, ...] | None] = None

    def __init__(
        self, options: ExportOptions | None = None, *, questions: tuple[QuestionRec, ...] = (), **_: Any
    ) -> None:
        self.options = options or ExportOptions()
        self.dropped: Counter[str] = Counter()
        self.questions = tuple(questions) if self.question_roles is not None or self.name == "raw" else ()
        self.answer_columns = QuestionColumns(self.questions, self.question_roles or ("",))
        names = [f.name for f in self.question_fields()]
        self.question_filters = check_filters(self.options.question_filters, names, self.question_list_columns())

    # -- to implement -----------------------------------------------------------------------
    def fields(self) -> list[pa.Field]:
        raise NotImplementedError

    def rows(self, items: list[ItemRec]) -> Iterator[dict]:
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------
    def question_fields(self) -> list[pa.Field]:
        return consensus_fields(self.questions, self.question_roles or ("",))

    def question_list_columns(self) -> frozenset[str]:
        """Question columns holding one value per response of the row (a filter holds for each)."""
        return frozenset()

    def schema(self) -> pa.Schema:
        return pa.schema(self.fields() + self.question_fields())

    def keep(self, row: dict) -> bool:
        """Whether ``row`` meets the question filters (a row that does not is counted as dropped)."""
        if self.question_filters and not row_passes(self.question_filters, row):
            self.drop("question_filter")
            return False
        return True

    def summary(self) -> dict:
        """A format-specific block for the manifest (KTO's class balance); empty by default."""
        return {}

    def drop(self, reason: str, n: int = 1) -> None:
        if n:
            self.dropped[reason] += n

    @property
    def text_type(self) -> pa.DataType:
        return MESSAGES if self.options.conversational else pa.string()

    def prompt_value(self, prompt: PromptRec) -> list[dict] | str:
        if self.options.conversational:
            return [{"role": m["role"], "content": m["content"]} for m in prompt.messages]
        return prompt.text if self.options.plain_prompt == "last_user" else prompt.joined

    def with_answers(self, row: dict, item: ItemRec, text: str | None = None, refs: dict | None = None) -> dict:
        """``row`` with the custom questions' columns (when the project has questions): about
        ``item``, and per response about the response whose text is ``text`` (SFT, KTO; none for a
        correction) or the ``refs`` given (role -> (item, response id))."""
        if not self.questions:
            return row
        if refs is None:
            match = next((r.id for r in item.responses if r.text == text), None)
            refs = {"": (item, match)}
        row.update(self.answer_columns.columns(item, refs))
        return row

    def completion_value(self, text: str) -> list[dict] | str:
        if self.options.conversational:
            return [{"role": "assistant", "content": text}]
        return text


def corrections(item: ItemRec) -> list[str]:
    """Distinct corrected responses of a judgment item that differ from the original.

    A curator resolution with ``corrected_response`` replaces the annotators'
    ones. Judgments with ``consistent=False`` are ignored; a correction equal to
    the original (after stripping whitespace) is no correction.
    """
    original = item.responses[0].text.strip()
    resolved = (item.resolution or {}).get("corrected_response")
    if resolved is not None:
        candidates = [resolved]
    else:
        candidates = [j.corrected_response for j in item.judgments if j.consistent is not False]
    out: list[str] = []
    for text in candidates:
        if text and text.strip() and text.strip() != original and text not in out:
            out.append(text)
    return out


def correction_outcome(item: ItemRec) -> tuple[list[str], str | None]:
    """``(corrections, reason)``: reason says why there are none (``None`` when there are some).

    ``correction_unchanged``: every correction equals the original;
    ``judgment_without_correction``: no correction was written.
    """
    fixed = corrections(item)
    if fixed:
        return fixed, None
    wrote = (item.resolution or {}).get("corrected_response") or any(
        j.corrected_response.strip() for j in item.judgments if j.consistent is not False
    )
    return fixed, "correction_unchanged" if wrote else "judgment_without_correction"
