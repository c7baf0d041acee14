"""Export options: one flat dict (every key optional), checked once.

format options (:class:`curation.exports.ExportOptions`)
    ``conversational``, ``plain_prompt``, ``ranking_pairs``, ``dpo_sources``,
    ``extra_columns``, ``kto_ties``, ``kto_rankings``,
    ``ranking_include_pairwise``, ``judgment_positives``, ``sft_sources``,
    ``row_group_size``, ``question_filters`` (conditions on the custom
    questions' columns, :mod:`curation.exports.questions`)
filters (:class:`curation.exports.FilterSpec`, applied in this order)
    ``exclude_excluded`` (default true: leave out items a curator excluded),
    ``voters`` (whose judgments count: ``human``, ``imported``, ``model``;
    default ``human,imported``; ``annotator_types`` is its old name, still read),
    ``exclude_flagged_annotators`` (curator-flagged annotators and the latest
    audit's outliers), ``drop_swap_inconsistent`` (the audit's swap findings and
    judges' own ``consistent=False``), ``drop_judge_inconsistent`` (only the
    latter), ``drop_intransitive`` (the audit's transitivity violations),
    ``min_judgments``, ``min_agreement``, ``drop_split_principle`` (a
    principle's name or id: items whose verdicts on it split, from the
    verdicts of the voters), ``ches_drop_above_quantile`` or
    ``ches_keep_lowest_fraction`` (with ``ches_measure`` ``ln_ches``/``ches``
    and ``ches_unscored`` ``keep``/``drop``; scores from the latest audit;
    ``ches_min_chosen_tokens``: the length guard, pairs whose chosen reply is
    shorter are dropped and left out of the quantile),
    ``test_fraction`` and ``seed`` (train/test split by prompt)
``name``
    a label for the dataset.

``export_options_clean`` turns what a form, JSON or the command line gave
into typed values with every default filled in, or raises a
``ValidationError`` keyed by the option at fault; ``export_create`` runs it
before anything is queued and the runner runs it again on the stored job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

from django.core.exceptions import ValidationError

from curation.consensus import VOTER_SOURCES
from curation.exports import FORMATS, ExportInputError, ExportOptions, FilterSpec
from curation.exports.base import EXTRA_COLUMNS, SOURCES
from curation.exports.filters import ANNOTATOR_TYPES_AS_VOTERS, ID_SETS

OPTION_FIELDS = {f.name: f for f in fields(ExportOptions)}
# FilterSpec fields a user sets directly; the id sets come from the audit through the booleans below.
FILTER_FIELDS = {f.name: f for f in fields(FilterSpec) if f.name not in (*ID_SETS, "principle_split_name")}
AUDIT_SWITCHES = ("exclude_flagged_annotators", "drop_swap_inconsistent", "drop_intransitive")
# Filters named by the user and turned into id sets by the runner (the principle checked by export_create).
PRINCIPLE_FILTERS = ("drop_split_principle",)
OTHER_FIELDS = ("name",)
ALIASES = {"annotator_types": "voters"}  # old name -> the option it sets; FilterSpec.from_dict reads it
ALL_FIELDS = (*OPTION_FIELDS, *FILTER_FIELDS, *AUDIT_SWITCHES, *PRINCIPLE_FILTERS, *OTHER_FIELDS, *ALIASES)


@dataclass(frozen=True)
class OptionSpec:
    """One export option: its type, allowed values and help text.

    ``EXPORT_OPTIONS`` is the one description of the options: the coercion and
    range checks below, the REST API's typed serializer
    (``api.export_options``) and so the OpenAPI schema are built from it.
    ``kind`` is ``bool``, ``int``, ``float``, ``str``, ``list`` (of ``choices``)
    or ``rules`` (a list of ``{column, op, value}`` objects, or that as JSON text).
    """

    name: str
    kind: str
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    maximum_exclusive: bool = False
    max_length: int | None = None

    @property
    def default(self) -> Any:
        spec_field = OPTION_FIELDS.get(self.name) or FILTER_FIELDS.get(self.name)
        if spec_field is None:
            return "" if self.kind == "str" else False
        value = spec_field.default
        return list(value) if isinstance(value, tuple) else value

    def range_text(self) -> str:
        high = ")" if self.maximum_exclusive else "]"
        return f"[{self.minimum:g}, {self.maximum:g}{high}"

    def check(self, value: Any) -> None:
        """``ValueError`` naming the allowed values when ``value`` (already coerced) is out of range."""
        if self.kind in ("int", "float"):
            low_ok = self.minimum is None or value >= self.minimum
            high_ok = self.maximum is None or (
                value < self.maximum if self.maximum_exclusive else value <= self.maximum
            )
            if not (low_ok and high_ok):
                raise ValueError(f"must be in {self.range_text()}, got {value!r}")
        elif self.kind == "str" and self.choices and value not in self.choices:
            raise ValueError(f"must be one of {', '.join(self.choices)}, got {value!r}")
        elif self.kind == "list":
            bad = [v for v in value if v not in self.choices]
            if bad:
                raise ValueError(f"{bad[0]!r} is not one of {', '.join(self.choices)}")
        if self.kind == "str":
            if self.max_length is not None and len(value) > self.max_length:
                raise ValueError(f"must be at most {self.max_length} characters, got {len(value)}")
            if "\x00" in value:
                raise ValueError("must not contain NUL characters")


SEED_MAX = 2**32 - 1
EXPORT_OPTIONS: dict[str, OptionSpec] = {
    spec.name: spec
    for spec in (
        # format options (ExportOptions)
        OptionSpec("conversational", "bool", "Rows as TRL message lists (true) or plain strings (false)."),
        OptionSpec("plain_prompt", "str", "The prompt string in plain mode: the last user message or the whole conversation joined.", choices=("last_user", "joined")),
        OptionSpec("ranking_pairs", "str", "DPO pairs from rankings: every pair across rank groups, or adjacent groups only.", choices=("all", "adjacent")),
        OptionSpec("dpo_sources", "list", "Which signals make DPO pairs.", choices=SOURCES),
        OptionSpec("extra_columns", "list", "Optional DPO columns.", choices=EXTRA_COLUMNS),
        OptionSpec("kto_ties", "str", "KTO: drop ties, or give two desirable rows.", choices=("drop", "desirable")),
        OptionSpec("kto_rankings", "bool", "KTO from rankings: top group desirable, bottom group undesirable."),
        OptionSpec("ranking_include_pairwise", "bool", "The ranking format also takes pairwise items as 2-rankings."),
        OptionSpec("judgment_positives", "bool", "The judgment format adds thumbs-up responses with judgment null."),
        OptionSpec("sft_sources", "list", "Which signals give SFT completions.", choices=SOURCES),
        OptionSpec("row_group_size", "int", "Rows per Parquet row group (and per buffered write).", minimum=1, maximum=1_000_000),
        OptionSpec("question_filters", "rules", "Conditions on the custom questions' columns a row must meet, each {column, op, value}: e.g. {\"column\": \"q_hazard_chosen\", \"op\": \"empty\"} drops DPO pairs whose chosen response has a hazard label by consensus."),
        # filters (FilterSpec), applied in this order
        OptionSpec("exclude_excluded", "bool", "Leave out items a curator excluded."),
        OptionSpec("voters", "list", "Whose judgments count as votes: people (human), imported labels (imported), algorithmic judges (model). Default human,imported.", choices=VOTER_SOURCES),
        OptionSpec("exclude_flagged_annotators", "bool", "Drop judgments by curator-flagged annotators and the latest audit's outliers."),
        OptionSpec("drop_swap_inconsistent", "bool", "Drop judgments the latest audit found contradicted by an A/B-swapped repeat, and judges' inconsistent ones."),
        OptionSpec("drop_judge_inconsistent", "bool", "Drop judges' judgments marked inconsistent (both presentation orders disagree)."),
        OptionSpec("drop_intransitive", "bool", "Drop judgments in a transitivity violation (latest audit)."),
        OptionSpec("min_judgments", "int", "Drop items with fewer usable judgments.", minimum=0, maximum=10_000),
        OptionSpec("min_agreement", "float", "Drop items whose agreement is below this (majority share; rankings: mean pairwise Kendall agreement).", minimum=0.0, maximum=1.0),
        OptionSpec("drop_split_principle", "str", "Drop items whose verdicts on this principle (its name or id) split: two or more different verdicts among the voters.", max_length=100),
        OptionSpec("ches_drop_above_quantile", "float", "Drop pairwise items whose CHES is above this quantile of the project's scores (give this or ches_keep_lowest_fraction).", minimum=0.0, maximum=1.0),
        OptionSpec("ches_keep_lowest_fraction", "float", "Keep only this fraction of pairwise items, lowest CHES first (Razin et al. keep 0.05-0.15).", minimum=0.0, maximum=1.0),
        OptionSpec("ches_measure", "str", "Which CHES the CHES filter reads: length-normalised or raw.", choices=("ln_ches", "ches")),
        OptionSpec("ches_unscored", "str", "What the CHES filter does with pairs that have no score.", choices=("keep", "drop")),
        OptionSpec("ches_min_chosen_tokens", "int", "CHES filter's length guard: drop pairwise items whose chosen reply has fewer tokens than this and leave them out of the quantile (ln-CHES' low end is mostly very short chosen replies); 0 = off.", minimum=0, maximum=100_000),
        OptionSpec("test_fraction", "float", "Share of prompts in the test split (a prompt never lands in both).", minimum=0.0, maximum=1.0, maximum_exclusive=True),
        OptionSpec("seed", "int", "Seed of the train/test split.", minimum=0, maximum=SEED_MAX),
        # the old name of voters
        OptionSpec("annotator_types", "str", "Old name of voters, read when given: human = human,imported; judge = model; both = all three.", choices=tuple(ANNOTATOR_TYPES_AS_VOTERS)),
        # the dataset
        OptionSpec("name", "str", "A label for the dataset.", max_length=200),
    )
}  # fmt: skip
if set(EXPORT_OPTIONS) != set(ALL_FIELDS):  # pragma: no cover - caught by any import in the tests
    raise RuntimeError(f"export options without an OptionSpec: {set(ALL_FIELDS) ^ set(EXPORT_OPTIONS)}")


def _coerce(name: str, value: Any) -> Any:
    """One option from JSON, a form or the command line, to its type and range (``ValueError`` says why not)."""
    spec = EXPORT_OPTIONS[name]
    value = _coerce_type(spec.kind, value)
    spec.check(value)
    return value


def _coerce_type(kind: str, value: Any) -> Any:
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.strip().lower() in ("true", "1", "yes", "on")
        raise ValueError(f"must be true or false, got {value!r}")
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError(f"must be a whole number, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ValueError(f"must be a whole number, got {value!r}")
    if kind == "float":
        if isinstance(value, bool):
            raise ValueError(f"must be a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"must be a number, got {value!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"must be a finite number, got {value!r}")
        return number
    if kind == "rules":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(f"must be a JSON list of {{column, op, value}}: {error.msg}") from None
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(v, dict) for v in value):
            raise ValueError("must be a list of {column, op, value} objects")
        return [dict(v) for v in value]
    if kind == "list":
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ValueError(f"must be a list of names or a comma-separated string, got {value!r}")
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {value!r}")
    return value


def _field_of(message: str) -> str:
    """``"filters.min_agreement: ..."`` -> ``min_agreement`` (the user's name for it)."""
    head = message.split(":", 1)[0].strip()
    name = head.split(".", 1)[1] if "." in head else head
    if name == "ches":
        return "ches_drop_above_quantile"
    if name.startswith("question_filters"):
        return "question_filters"
    return name if name in ALL_FIELDS else "options"


def export_options_clean(*, fmt: str, options: dict | None, questions: tuple = ()) -> dict:
    """The normalised options (every key, defaults filled in); ``ValidationError`` names the field.

    Builds the format options and the filters once, so whatever passes here
    also passes in the runner. ``questions``: the project's custom questions
    (``orm.questions_for_export``), whose columns ``question_filters`` may name.
    """
    errors: dict[str, str] = {}
    if fmt not in FORMATS:
        errors["format"] = f"format must be one of {', '.join(FORMATS)}, got {fmt!r}"
    if options is not None and not isinstance(options, dict):
        raise ValidationError({"options": "options must be an object of option names to values"})
    data: dict[str, Any] = {}
    for name, value in (options or {}).items():
        if name not in ALL_FIELDS:
            errors[name] = f"unknown option {name!r}; known: {', '.join(sorted(ALL_FIELDS))}"
            continue
        if value is None or value == "":
            continue  # the default
        try:
            data[name] = _coerce(name, value)
        except ValueError as exc:
            errors[name] = f"{name} {exc}"
    if errors:
        raise ValidationError(errors)
    name = str(data.pop("name", ""))
    try:
        opts = ExportOptions.from_dict({k: v for k, v in data.items() if k in OPTION_FIELDS})
        spec = FilterSpec.from_dict({k: v for k, v in data.items() if k in FILTER_FIELDS or k in ALIASES})
        FORMATS[fmt](opts, salt="check", questions=tuple(questions))  # the format accepts these options
    except (ExportInputError, TypeError, ValueError) as exc:
        message = str(exc)
        raise ValidationError({_field_of(message): message}) from None
    out = {**opts.to_dict(), **{k: v for k, v in spec.to_dict().items() if k in FILTER_FIELDS}}
    out.update({switch: bool(data.get(switch, False)) for switch in AUDIT_SWITCHES})
    out.update({key: str(data.get(key, "")).strip() for key in PRINCIPLE_FILTERS})
    out["name"] = name
    return out


def export_options_split(clean: dict) -> tuple[dict, dict, dict]:
    options = {k: clean[k] for k in OPTION_FIELDS if k in clean}
    filters = {k: clean[k] for k in FILTER_FIELDS if k in clean}
    switches: dict = {k: bool(clean.get(k)) for k in AUDIT_SWITCHES}
    switches.update({k: clean.get(k) or "" for k in PRINCIPLE_FILTERS})
    return options, filters, switches
