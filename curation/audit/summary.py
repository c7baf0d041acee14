"""The layout of what an audit stores: ``Audit.summary`` and the JSON of its rows.

These TypedDicts are the reference the dashboards (``curation.audit.presenters``),
the API and the exports read against. Stored as JSON: NaN and undefined
figures are null, ids are uuid strings, and PostgreSQL (``jsonb``) keeps no
key order. Each audit stage returns its own section (see
``curation.audit.pipeline``).
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

SUMMARY_VERSION = 1


class KindCounts(TypedDict):
    items: int  # audited items of the kind
    annotations: int


class Counts(TypedDict):
    items: int
    audited: int  # neither excluded nor probes
    excluded: int
    probes: int
    annotations: int
    annotators: int
    by_kind: dict[str, KindCounts]


class AlphaEntry(TypedDict):
    """Krippendorff's α of one kind with a percentile bootstrap over items."""

    level: str  # nominal / ordinal
    alpha: float | None
    low: float | None
    high: float | None
    mean: float | None
    sd: float | None
    level_ci: float  # 0.95
    n_units: int
    n_pairable_units: int  # units with two or more ratings
    n_ratings: int
    n_boot: int
    reason: NotRequired[str]  # why α is undefined, when it is


class ConsensusInfo(TypedDict):
    method: str  # majority / borda (curation.consensus)
    second_opinion: str | None  # dawid_skene
    items: int
    with_consensus: int
    resolved: int
    ds_disagrees: int


class KendallW(TypedDict):
    mean: float | None
    n_items: int


class DisagreementSummary(TypedDict):
    edges: list[float | None]  # 11 bin edges over [0, 1]
    counts: list[int]
    mean: float | None
    low_agreement: int
    no_consensus: int


class AnnotatorsSummary(TypedDict):
    n: int
    outliers: int
    rule: str
    agreement_mean: float | None
    median_seconds: float | None


class Rate(TypedDict):
    n: int
    rate: float | None


class TransitivityCount(TypedDict):
    violations: int
    triads: int


class ThumbsCheck(TypedDict):
    contradictions: int
    comparable: int


class ConsistencySummary(TypedDict):
    retest: Rate
    swap: Rate
    judge_order: Rate
    transitivity: TransitivityCount
    thumbs: ThumbsCheck


class Histogram(TypedDict):
    edges: list[float | None]
    counts: list[int]


class ChesPair(TypedDict):
    item: str
    chosen: str
    rejected: str
    ches: float | None
    ln_ches: float


class ChesSummary(TypedDict):
    model: str | None
    status: Literal["ok", "no_encodings", "unavailable", "no_pairs"]
    reason: str
    eligible: int  # pairwise items with a winner
    scored: int
    mean_ln_ches: float | None
    histogram: Histogram
    quantiles: dict[str, float | None]  # p05, p25, p50, p75, p95
    top: list[ChesPair]  # the 20 highest LN-CHES


class Bootstrap(TypedDict):
    estimate: float | None
    mean: float | None
    sd: float | None
    low: float | None
    high: float | None
    n_ok: int


class Priority(TypedDict):
    elo: list[float | None]
    status: list[str]  # fitted / never_in_conflict / always_wins / always_loses
    rank: list[float | None]
    converged: bool
    low: NotRequired[list[float | None]]  # 2.5 % bootstrap of the Elo, when n_boot_priority > 0
    high: NotRequired[list[float | None]]


class DiscretionGroup(TypedDict):
    n_rows: int
    arbitrariness: Bootstrap
    supremacy: list[list[float | None]]
    conflicts: list[list[int]]
    priority: Priority


class PrincipleRef(TypedDict):
    id: int
    name: str


class DiscretionCategories(TypedDict):
    consensus: int
    conflict: int
    indifference: int
    assessed: int


class Discrepancy(TypedDict):
    human_vs_judge: float | None
    annotators: dict[str, float]  # annotator uuid -> discrepancy with the human group


class DiscretionSummary(TypedDict):
    source: str  # all / human / model
    principles: list[PrincipleRef]
    categories: DiscretionCategories
    groups: dict[str, DiscretionGroup]  # human / judge / imported / consensus
    discrepancy: Discrepancy


class SplitItem(TypedDict):
    """An item whose interpreters split on a principle."""

    item: str  # the item's uuid
    spread: float | None  # 1 − share of its most frequent verdict
    verdicts: dict[str, int]  # verdict (A / B / neither / na) -> count


class PrincipleAgreementEntry(TypedDict):
    """One principle's agreement on one kind of item among one group of interpreters
    (docs/algorithms.md#principle-ambiguity)."""

    principle: int  # the principle's id
    kind: str  # pairwise / thumb / ranking / judgment
    group: str  # all / human / judge
    alpha: float | None  # Krippendorff's α (nominal); null when undefined
    low: float | None  # percentile bootstrap over the items (95 %)
    high: float | None
    mean: float | None
    sd: float | None
    n_ok: int  # bootstrap replicates where α was defined
    split_share: float | None  # share of the items whose verdicts take two or more values
    n_items: int  # items with verdicts from two or more interpreters
    n_verdicts: int
    n_interpreters: int
    top_split: list[SplitItem]  # the split items with the largest spread, at most 10
    reason: NotRequired[str]  # why α is undefined, when it is


class AmbiguitySummary(TypedDict):
    principles: list[PrincipleRef]
    verdicts: list[str]  # the verdict codes, in code order
    groups: list[str]  # all / human / judge
    n_boot: int
    entries: list[PrincipleAgreementEntry]


class QuestionAlpha(TypedDict):
    """Krippendorff's α of one question (docs/algorithms.md#question-agreement)."""

    level: str  # nominal / interval / ordinal / masi / jaccard
    n_units: int  # units with two or more votes
    alpha: float | None
    low: NotRequired[float | None]  # percentile bootstrap over units (95 %), headline α only
    high: NotRequired[float | None]
    mean: NotRequired[float | None]
    sd: NotRequired[float | None]
    n_ok: NotRequired[int]
    reason: NotRequired[str]  # why α is undefined, when it is


class QuestionEntry(TypedDict):
    """One custom question's agreement (``curation.audit.questions``)."""

    key: str
    label: str
    type: str  # single_choice / multi_label / rating / text
    target: str  # item / response
    retired: bool
    version: int | None  # the current version's number
    n_answers: int  # usable answers (voters or not)
    n_annotators: int
    n_units: NotRequired[int]  # units with two or more votes
    n_votes: NotRequired[int]
    alpha: NotRequired[QuestionAlpha]  # nominal / interval / masi
    alpha_ordinal: NotRequired[QuestionAlpha]  # rating
    alpha_jaccard: NotRequired[QuestionAlpha]  # multi-label
    distribution: NotRequired[dict[str, int]]  # option / label / point -> votes
    distribution_none: NotRequired[int]  # multi-label: votes with no label
    labels: NotRequired[dict[str, str]]  # option value -> label
    categories: NotRequired[list[dict]]  # multi-label: {"value", "label", "rate", "n_labelled", "n_answers", "alpha"}
    scale: NotRequired[int]
    mean: NotRequired[float | None]
    top_split: NotRequired[list[dict]]  # {"item", "response", "agreement", "answers", "consensus"}, lowest first
    annotators: NotRequired[list[dict]]  # {"annotator", "type", "agreement", "n", "z", "outlier"}
    outliers: NotRequired[int]
    reason: NotRequired[str]  # free text: no agreement measure


class QuestionsSummary(TypedDict):
    n_boot: int
    entries: list[QuestionEntry]


class ProgressSummary(TypedDict):
    days: list[str]  # YYYY-MM-DD
    by_kind: dict[str, list[int]]
    total: list[int]
    cumulative: list[int]


class AuditSummary(TypedDict):
    """``Audit.summary``."""

    version: int
    computed_at: str  # ISO time
    seconds: float
    job: str | None  # the job's uuid
    params: dict  # AuditParams, with low_agreement_below resolved
    counts: Counts
    alpha: dict[str, AlphaEntry]  # pairwise / pairwise_strength / thumb / ranking
    consensus: dict[str, ConsensusInfo]  # per kind
    kendall_w: NotRequired[KendallW]  # when there are ranking items
    disagreement: DisagreementSummary
    annotators: AnnotatorsSummary
    consistency: ConsistencySummary
    discretion: DiscretionSummary
    ambiguity: NotRequired[AmbiguitySummary]  # absent in audits stored before it existed
    questions: NotRequired[QuestionsSummary]  # absent in audits stored before custom questions
    ches: ChesSummary
    judges: NotRequired[list[dict]]  # calibration cards of model annotators (curation.judging.selectors)
    progress: ProgressSummary
    timings: dict[str, float]  # stage -> seconds


class ItemDetails(TypedDict, total=False):
    """``ItemAudit.details``: keys present only where the item has such data."""

    votes: dict[str, int]  # choice -> count
    dawid_skene: dict  # {"choice", "p": {choice: probability}}
    kendall_w: float | None
    probes: list[dict]  # [{"annotator", "swapped", "consistent"}]
    swap_inconsistent: list[str]  # annotation uuids
    retest_inconsistent: list[str]
    intransitive: list[str]
    thumbs_contradiction: list[str]
    principles: dict[str, float | None]  # principle id -> ±1 or null


class AnnotatorDetails(TypedDict, total=False):
    """``AnnotatorAudit.details``: keys present only where the annotator has such data."""

    type: str
    compared: int
    timed: int
    n_probes: int
    by_kind: dict[str, dict]  # {"n", "compared", "agreement", "kappa"}; ranking: {"n", "compared", "tau"}
    kappa_kind: str
    agreement_basis: str
    agreement_z: float
    probes: dict  # {"retest": {"n", "agreement", "kappa"}, "swap": {"n", "rate"}}
    judge_order: Rate
    transitivity: dict  # {"violations", "triads", "prompts"}
    thumbs: ThumbsCheck
    dawid_skene_accuracy: dict[str, float]  # kind -> p
    discretion: dict  # {"arbitrariness", "priority", "discrepancy_vs_human", "n_rows"}
    questions: dict[str, dict]  # question key -> {"agreement", "n", "z", "outlier"}
