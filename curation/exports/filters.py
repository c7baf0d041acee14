"""Filters on items and judgments, and the train/test split.

Every filter is a small object with a ``name``, a ``unit`` (``items`` or
``judgments``: what it removes) and a ``reason``; ``f(item)`` returns the item
(with some judgments removed, for judgment filters) or ``None`` when the whole
item goes, and counts what it removed in ``f.removed``. ``f.apply(items)``
returns ``(kept, removed_count, reason)`` for a list.

:class:`FilterSpec` holds the user's choices (all off by default except
leaving out curator-excluded items) and builds a :class:`FilterPipeline` that
runs the filters in this order, so each count is "removed by this filter from
what the earlier ones left":

1. ``excluded``: items a curator excluded (``ItemRec.excluded``);
2. ``voters``: judgments whose annotator's source is not among the voters
   (``human``, ``imported``, ``model``; by default ``human`` + ``imported``,
   so a judge's verdicts count only when asked: docs/algorithms.md#consensus);
3. ``flagged_annotators``: judgments by the given annotator ids;
4. ``swap_inconsistent``: judgments whose ids are given (the audit's
   position-swap probes) and, with ``drop_judge_inconsistent``, judgments an
   algorithmic judge marked ``consistent=False`` (never counted as votes anyway;
   their answers to the custom questions stay, each counting by its own
   position check: ``ItemRec.answer_judgments``);
5. ``intransitive``: judgments whose ids are given (the audit's transitivity
   violations);
6. ``min_judgments``: items with fewer usable judgments (``consistent`` not False);
7. ``min_agreement``: items whose agreement is lower (the audit's per-item
   agreement when the record has one, else ``curation.consensus.item_agreement``
   of the votes left; items with no defined agreement, such as judgment items,
   are kept);
   then ``principle_split``: items whose ids are given (those whose verdicts on
   a chosen principle split, docs/algorithms.md#principle-ambiguity);
8. ``ches``: pairwise items whose CHES score (``ln_ches`` by default) is above
   the ``drop_above_quantile`` quantile, or outside the ``keep_lowest_fraction``
   lowest (docs/algorithms.md#ches-selection, ``keep = order[:n]`` with ``n = ceil(p·N)``, ties
   broken by item id so exactly ``n`` are kept). The quantile needs every score
   first, so the caller passes them (``ches_scores``, pairs ``(item_id, value)``)
   when building the pipeline. Items of other kinds pass; pairwise items
   without a score pass or go as ``ches_unscored`` says. With
   ``ches_min_chosen_tokens`` N > 0 (a score may then come as ``(item_id,
   value, chosen_tokens)``) the pairs whose chosen reply has fewer than N
   tokens (end-of-turn included) are removed and left out of the quantile:
   ln-CHES divides by the reply's length, so its low end is dominated by very
   short chosen replies ("Yes.", "4"), and "keep the lowest 10 %" would mostly
   keep those (docs/algorithms.md#ches-length-guard).

The split (:func:`split_of`) is by prompt: ``sha256(seed, prompt_id)`` read as
a number in [0, 1) below ``test_fraction`` means test. It depends on nothing but
the seed and the prompt id, so the same prompt never lands in both splits, the
split is stable when items are added, and it needs no state.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from curation.consensus import DEFAULT_VOTERS, voters_clean

from .aggregate import agreement_of
from .records import ExportInputError, ItemRec, JudgmentRec

# The old ``annotator_types`` option, read as the voters it meant (``human``
# now takes imported labels too: they are people's labels).
ANNOTATOR_TYPES_AS_VOTERS = {
    "human": ("human", "imported"),
    "judge": ("model",),
    "both": ("human", "imported", "model"),
}


class Filter:
    name = ""
    unit = "items"
    reason = ""

    def __init__(self) -> None:
        self.removed = 0

    def __call__(self, item: ItemRec) -> ItemRec | None:
        raise NotImplementedError

    def apply(self, items: Iterable[ItemRec]) -> tuple[list[ItemRec], int, str]:
        before = self.removed
        kept = [out for out in map(self, items) if out is not None]
        return kept, self.removed - before, self.reason

    def report(self) -> dict:
        return {"name": self.name, "unit": self.unit, "removed": self.removed, "reason": self.reason}


class ItemFilter(Filter):
    def keep(self, item: ItemRec) -> bool:
        raise NotImplementedError

    def __call__(self, item: ItemRec) -> ItemRec | None:
        if self.keep(item):
            return item
        self.removed += 1
        return None


class JudgmentFilter(Filter):
    unit = "judgments"

    def keep(self, judgment: JudgmentRec) -> bool:
        raise NotImplementedError

    def __call__(self, item: ItemRec) -> ItemRec | None:
        kept = tuple(j for j in item.judgments if self.keep(j))
        if len(kept) == len(item.judgments):
            return item
        self.removed += len(item.judgments) - len(kept)
        return dataclasses.replace(item, judgments=kept)


class ExcludedItems(ItemFilter):
    name = "excluded"
    reason = "items a curator excluded"

    def keep(self, item: ItemRec) -> bool:
        return not item.excluded


class Voters(JudgmentFilter):
    name = "voters"

    def __init__(self, voters) -> None:
        super().__init__()
        self.voters = _voters(voters)
        left_out = [s for s in ("human", "imported", "model") if s not in self.voters]
        self.reason = f"judgments by {' or '.join(left_out)} annotators (voters: {', '.join(self.voters)})"

    def keep(self, judgment: JudgmentRec) -> bool:
        return judgment.annotator_type in self.voters


def _voters(value) -> tuple[str, ...]:
    try:
        return voters_clean(value)
    except ValueError as exc:
        raise ExportInputError(f"filters.voters: {exc}") from None


class FlaggedAnnotators(JudgmentFilter):
    name = "flagged_annotators"
    reason = "judgments by flagged annotators"

    def __init__(self, annotator_ids: Iterable[str]) -> None:
        super().__init__()
        self.ids = frozenset(str(a) for a in annotator_ids)

    def keep(self, judgment: JudgmentRec) -> bool:
        return judgment.annotator_id not in self.ids


class SwapInconsistent(JudgmentFilter):
    name = "swap_inconsistent"

    def __init__(self, judgment_ids: Iterable[str] = (), *, drop_judge_inconsistent: bool = True) -> None:
        super().__init__()
        self.ids = frozenset(str(j) for j in judgment_ids)
        self.drop_judge_inconsistent = drop_judge_inconsistent
        self.reason = "judgments that contradict the same annotator's A/B-swapped repeat" + (
            " or that a judge marked inconsistent" if drop_judge_inconsistent else ""
        )

    def keep(self, judgment: JudgmentRec) -> bool:
        if self.drop_judge_inconsistent and judgment.consistent is False:
            return False
        return judgment.id not in self.ids

    def __call__(self, item: ItemRec) -> ItemRec | None:
        """As every judgment filter; a judge's judgment removed only for its position-inconsistent
        verdict keeps its answers to the custom questions (``ItemRec.answer_judgments``): each answer
        counts by its own position check (docs/questions.md#judge-answers-and-position)."""
        kept = super().__call__(item)
        if kept is item or kept is None:
            return kept
        verdict_only = tuple(j for j in item.judgments if j.answers and j.consistent is False and j.id not in self.ids)
        return (
            dataclasses.replace(kept, answer_judgments=kept.answer_judgments + verdict_only) if verdict_only else kept
        )


class Intransitive(JudgmentFilter):
    name = "intransitive"
    reason = "judgments in a cycle of the same annotator's pairwise choices on a prompt"

    def __init__(self, judgment_ids: Iterable[str]) -> None:
        super().__init__()
        self.ids = frozenset(str(j) for j in judgment_ids)

    def keep(self, judgment: JudgmentRec) -> bool:
        return judgment.id not in self.ids


class MinJudgments(ItemFilter):
    name = "min_judgments"

    def __init__(self, n: int) -> None:
        super().__init__()
        if not isinstance(n, int) or n < 0:
            raise ExportInputError(f"filters.min_judgments: must be a non-negative integer, got {n!r}")
        self.n = n
        self.reason = f"items with fewer than {n} usable judgments"

    def keep(self, item: ItemRec) -> bool:
        return sum(1 for j in item.judgments if j.consistent is not False) >= self.n


class MinAgreement(ItemFilter):
    name = "min_agreement"

    def __init__(self, threshold: float) -> None:
        super().__init__()
        _unit_interval("min_agreement", threshold, allow_negative=True)
        self.threshold = float(threshold)
        self.reason = f"items with agreement below {self.threshold:g}"

    def keep(self, item: ItemRec) -> bool:
        agreement = agreement_of(item)
        return agreement is None or agreement >= self.threshold


class PrincipleSplit(ItemFilter):
    name = "principle_split"

    def __init__(self, item_ids: Iterable[str], *, principle: str = "") -> None:
        super().__init__()
        self.ids = frozenset(str(i) for i in item_ids)
        self.reason = f"items whose verdicts on the principle {principle!r} split (two or more different verdicts)"

    def keep(self, item: ItemRec) -> bool:
        return item.id not in self.ids


class Ches(ItemFilter):
    """Keep pairwise items whose ``(score, item_id)`` is at most ``limit``."""

    name = "ches"

    def __init__(
        self,
        limit: tuple[float, str] | None,
        *,
        measure: str = "ln_ches",
        unscored: str = "keep",
        reason: str = "",
        short: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__()
        if measure not in ("ches", "ln_ches"):
            raise ExportInputError(f"filters.ches_measure: {measure!r} is not one of ['ches', 'ln_ches']")
        if unscored not in ("keep", "drop"):
            raise ExportInputError(f"filters.ches_unscored: {unscored!r} is not one of ['keep', 'drop']")
        self.limit = limit
        self.measure = measure
        self.unscored = unscored
        self.reason = reason
        self.short = short

    @classmethod
    def from_scores(
        cls,
        scores: Iterable[tuple[str, float | None]],
        *,
        drop_above_quantile: float | None = None,
        keep_lowest_fraction: float | None = None,
        measure: str = "ln_ches",
        unscored: str = "keep",
        min_chosen_tokens: int = 0,
    ) -> Ches:
        if (drop_above_quantile is None) == (keep_lowest_fraction is None):
            raise ExportInputError("filters.ches: give exactly one of drop_above_quantile and keep_lowest_fraction")
        short: set[str] = set()
        pairs = []
        for row in scores:
            i, v = str(row[0]), row[1]
            tokens = row[2] if len(row) > 2 else None
            if min_chosen_tokens and tokens is not None and tokens < min_chosen_tokens:
                short.add(i)
            elif v is not None and not math.isnan(float(v)):
                pairs.append((float(v), i))
        pairs.sort()  # ascending score, ties by item id
        if drop_above_quantile is not None:
            _unit_interval("ches_drop_above_quantile", drop_above_quantile)
            limit = None
            if pairs:
                threshold = float(np.quantile(np.array([v for v, _ in pairs]), drop_above_quantile))
                limit = (threshold, "\U0010ffff")  # every id sorts below: keep all scores <= threshold
            reason = f"pairwise items with {measure} above its {drop_above_quantile:g} quantile"
        else:
            _unit_interval("ches_keep_lowest_fraction", keep_lowest_fraction)
            n = math.ceil(keep_lowest_fraction * len(pairs) - 1e-9)
            limit = pairs[n - 1] if n > 0 else None
            reason = (
                f"pairwise items outside the lowest {keep_lowest_fraction:g} of {measure} ({n} of {len(pairs)} kept)"
            )
        if unscored == "drop":
            reason += "; pairwise items without a score"
        if min_chosen_tokens:
            reason += f"; pairwise items whose chosen reply has fewer than {min_chosen_tokens} tokens ({len(short)})"
        return cls(limit, measure=measure, unscored=unscored, reason=reason, short=frozenset(short))

    def keep(self, item: ItemRec) -> bool:
        if item.kind != "pairwise":
            return True
        if item.id in self.short:
            return False
        value = getattr(item, self.measure)
        if value is None:
            return self.unscored == "keep"
        return self.limit is not None and (value, item.id) <= self.limit


def _unit_interval(name: str, value: Any, *, allow_negative: bool = False) -> None:
    low = -1.0 if allow_negative else 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= 1:
        raise ExportInputError(f"filters.{name}: must be a number in [{low:g}, 1], got {value!r}")


def split_of(prompt_id: str, *, seed: int | str = 0, test_fraction: float = 0.0) -> str:
    """``"test"`` or ``"train"`` for a prompt, from a hash of the seed and the prompt id."""
    if test_fraction <= 0:
        return "train"
    digest = hashlib.sha256(f"{seed}\x00{prompt_id}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"


# FilterSpec fields holding ids (sizes only in the manifest), filled in from the audit or the verdicts.
ID_SETS = ("flagged_annotators", "swap_inconsistent", "intransitive", "principle_split")


@dataclass
class FilterSpec:
    """The user's filter choices (what the CLI flags and the REST API fields map to)."""

    exclude_excluded: bool = True
    voters: tuple[str, ...] = DEFAULT_VOTERS
    flagged_annotators: frozenset[str] = field(default_factory=frozenset)
    swap_inconsistent: frozenset[str] = field(default_factory=frozenset)
    drop_judge_inconsistent: bool = False
    intransitive: frozenset[str] = field(default_factory=frozenset)
    principle_split: frozenset[str] = field(default_factory=frozenset)  # item ids
    principle_split_name: str = ""  # the principle, for the manifest's reason
    min_judgments: int = 0
    min_agreement: float | None = None
    ches_drop_above_quantile: float | None = None
    ches_keep_lowest_fraction: float | None = None
    ches_measure: str = "ln_ches"
    ches_unscored: str = "keep"
    ches_min_chosen_tokens: int = 0
    test_fraction: float = 0.0
    seed: int | str = 0

    def __post_init__(self) -> None:
        for name in ID_SETS:
            value = getattr(self, name)
            if isinstance(value, str):
                raise ExportInputError(f"filters.{name}: expected a list of ids, got a string")
            setattr(self, name, frozenset(str(v) for v in value))
        self.voters = _voters(self.voters)
        _unit_interval("test_fraction", self.test_fraction)
        if self.test_fraction >= 1:
            raise ExportInputError("filters.test_fraction: must be below 1 (nothing would be left to train on)")
        if self.min_agreement is not None:
            _unit_interval("min_agreement", self.min_agreement, allow_negative=True)
        if not isinstance(self.min_judgments, int) or isinstance(self.min_judgments, bool) or self.min_judgments < 0:
            raise ExportInputError(f"filters.min_judgments: must be a non-negative integer, got {self.min_judgments!r}")
        if (
            not isinstance(self.ches_min_chosen_tokens, int)
            or isinstance(self.ches_min_chosen_tokens, bool)
            or self.ches_min_chosen_tokens < 0
        ):
            raise ExportInputError(
                f"filters.ches_min_chosen_tokens: must be a non-negative integer, got {self.ches_min_chosen_tokens!r}"
            )
        if self.ches_drop_above_quantile is not None and self.ches_keep_lowest_fraction is not None:
            raise ExportInputError(
                "filters.ches: give only one of ches_drop_above_quantile and ches_keep_lowest_fraction"
            )

    @property
    def wants_ches(self) -> bool:
        return self.ches_drop_above_quantile is not None or self.ches_keep_lowest_fraction is not None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> FilterSpec:
        data = dict(data or {})
        if "annotator_types" in data:  # the old name: it replaces voters
            which = data.pop("annotator_types")
            if which not in ANNOTATOR_TYPES_AS_VOTERS:
                raise ExportInputError(
                    f"filters.annotator_types: {which!r} is not one of {sorted(ANNOTATOR_TYPES_AS_VOTERS)}"
                )
            data["voters"] = ANNOTATOR_TYPES_AS_VOTERS[which]
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ExportInputError(f"filters: unknown filter(s) {unknown}; known: {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict:
        """JSON-ready, for the manifest: id sets become their sizes (the ids themselves stay private)."""
        out = dataclasses.asdict(self)
        out["voters"] = list(self.voters)
        for name in ID_SETS:
            out[name] = len(out[name])
        return out

    def build(self, *, ches_scores: Iterable[tuple[str, float | None]] | None = None) -> FilterPipeline:
        filters: list[Filter] = []
        if self.exclude_excluded:
            filters.append(ExcludedItems())
        if set(self.voters) != {"human", "imported", "model"}:
            filters.append(Voters(self.voters))
        if self.flagged_annotators:
            filters.append(FlaggedAnnotators(self.flagged_annotators))
        if self.swap_inconsistent or self.drop_judge_inconsistent:
            filters.append(
                SwapInconsistent(self.swap_inconsistent, drop_judge_inconsistent=self.drop_judge_inconsistent)
            )
        if self.intransitive:
            filters.append(Intransitive(self.intransitive))
        if self.min_judgments:
            filters.append(MinJudgments(self.min_judgments))
        if self.min_agreement is not None:
            filters.append(MinAgreement(self.min_agreement))
        if self.principle_split_name:
            filters.append(PrincipleSplit(self.principle_split, principle=self.principle_split_name))
        if self.wants_ches:
            if ches_scores is None:
                raise ExportInputError(
                    "filters.ches: the CHES filter needs every item's score first; pass ches_scores=[(item_id, value), ...]"
                )
            filters.append(
                Ches.from_scores(
                    ches_scores,
                    drop_above_quantile=self.ches_drop_above_quantile,
                    keep_lowest_fraction=self.ches_keep_lowest_fraction,
                    measure=self.ches_measure,
                    unscored=self.ches_unscored,
                    min_chosen_tokens=self.ches_min_chosen_tokens,
                )
            )
        return FilterPipeline(filters)

    def split(self, prompt_id: str) -> str:
        return split_of(prompt_id, seed=self.seed, test_fraction=self.test_fraction)

    @property
    def splits(self) -> tuple[str, ...]:
        return ("train", "test") if self.test_fraction > 0 else ("train",)


class FilterPipeline:
    def __init__(self, filters: list[Filter]) -> None:
        self.filters = filters
        self.items_in = 0
        self.items_out = 0

    def __call__(self, item: ItemRec) -> ItemRec | None:
        self.items_in += 1
        out: ItemRec | None = item
        for f in self.filters:
            out = f(out)
            if out is None:
                return None
        self.items_out += 1
        return out

    def report(self) -> list[dict]:
        return [f.report() for f in self.filters]
