"""The project audit: agreement, consensus, consistency, CHES and discretion.

``audit_create(project=..., user=...)`` stores a queued ``audit`` job (light
queue); its runner :func:`project_audit` reads the project's annotations into
numpy arrays (``values_list``, no model instances), calls the pure functions of
:mod:`curation.metrics` and writes one :class:`~curation.models.Audit` with its
:class:`~curation.models.ItemAudit` and :class:`~curation.models.AnnotatorAudit`
rows in a single transaction, so the dashboards open without recomputing.
``manage.py audit PROJECT_SLUG`` runs the same job from the shell.

What counts
    * **Votes**: every annotation of an audited item except an algorithmic
      judge's ``consistent=False`` ones (a judge that contradicted itself when
      the responses were swapped; see ``curation.judging.runner``).
    * **Audited items**: neither ``excluded`` nor probes (``probe_of`` set).
      Only they enter α, consensus and the per-item rows. Probes feed the
      annotators' consistency, excluded items their counts and speed.
    * Pairwise codes are canonical (A = the item's response at position 0):
      A=0, B=1, tie=2, both_bad=3 (nominal); thumb up=0, down=1.

Per kind
    * Krippendorff α with a percentile bootstrap over items (``n_boot``,
      ``seed``): pairwise choice nominal; pairwise signed strength ordinal
      (A with strength s → +s, B → −s, tie → 0; only when strengths exist);
      thumbs nominal; rankings ordinal with units = (item, response) and
      values = the mid-rank (1 = best, a tie group shares its mean rank).
    * Per item: votes, majority share, entropy (bits), disagreement =
      1 − majority share. Rankings: over the distinct full orders, plus
      Kendall's W of the item's rankings (responses missing from a ranking
      are tied last).
    * Consensus: majority for pairwise/thumbs (a tied top has none);
      Dawid–Skene as a second opinion in ``details`` (flag ``ds_disagrees``);
      Bradley–Terry strengths for rankings (maximum likelihood when the
      comparison graph is strongly connected, else MAP with ``alpha=0.1``).
      A curator's ``resolution`` (``{"choice": ...}``, ``{"ranking": ...}``
      or a bare string) overrides it (flag ``resolved``) and is what
      annotators are compared with and what CHES orients the pair by.
    * Annotators: agreement = share of their pairwise/thumb votes equal to
      the consensus (their own vote included); Cohen's κ against the
      consensus on their main kind; ranking-only annotators get the mean
      (τ_b + 1)/2 with the consensus order instead.
    * Probes (an item with ``probe_of`` shown again to ``probe_for``): the
      probe's label is put in the original's orientation (by response
      identity when both hold the same responses, else by position) and
      compared with the annotator's label on the original: retest agreement
      for plain repeats, swap consistency for ``probe_swapped`` ones.
      Algorithmic judges' own order check (``consistent``) gives their
      swap consistency when they have no swapped probe.
    * Transitivity per annotator per prompt over their pairwise choices
      (``transitivity_violations``, weak-order mode); thumbs vs pairwise
      contradictions per annotator (a winner they gave a thumbs-down and a
      loser they gave a thumbs-up).
    * Discretion (ALGORITHMS.md §3): principle verdicts of the ``source``
      annotators (default all) are summed per item and principle (pairwise:
      A +1, B −1; thumb/judgment: A "upholds" +1, neither "violates" −1; na
      0) and the sign is the principle's preference; the item's category
      follows. Annotator preference: A/up +1, B/down −1, tie 0, both_bad
      none, a judge's inconsistent vote 0. Groups "human", "judge",
      "imported" (every annotation a row) and "consensus" (the item's
      consensus): arbitrariness with bootstrap, supremacy matrix, priority
      (Elo) with a bootstrap of the Elo scores (``n_boot_priority``), and
      the discrepancy human vs judge; per annotator the same without the
      matrix bootstrap, and their discrepancy with the human group.
    * CHES per pairwise item with consensus A or B: chosen = the winner,
      from the stored response encodings of the project's model
      (``curation.ches.runner.pair_ches``); items whose responses are
      not encoded keep null CHES.

Outlier rule (``AnnotatorAudit.outlier``)
    An annotator is an outlier when
    (a) ``low_agreement``: they have ≥ ``min_compared`` (10) votes on items
    with a consensus, at least ``min_peers`` (3) other annotators do too, and
    their agreement lies more than 2 standard deviations below the mean of
    those others (leave-one-out; the standard deviation is floored at 0.05
    so that near-unanimous peers do not turn a small gap into a huge z); or
    (b) ``low_probe_consistency``: probe consistency < 0.6 over ≥
    ``min_probes`` (5) probes.
    Informational flags (not outliers): ``too_fast`` (a human whose median
    seconds is below a quarter of the median over humans, ≥ 10 timed
    annotations, ≥ 3 timed humans), ``intransitive``, ``thumbs_contradiction``.

Audit.summary layout (JSON; NaN/undefined → null; ids are uuid strings)::

    {"version": 1, "computed_at": ISO, "seconds": s, "job": uuid|null, "params": {...},
     "counts": {"items", "audited", "excluded", "probes", "annotations", "annotators",
                "by_kind": {kind: {"items", "annotations"}}},
     "alpha": {"pairwise"|"pairwise_strength"|"thumb"|"ranking":
                 {"level", "alpha", "low", "high", "mean", "sd", "level_ci", "n_units",
                  "n_pairable_units", "n_ratings", "n_boot", "reason"?}},
     "kendall_w": {"mean", "n_items"},
     "consensus": {kind: {"method", "second_opinion", "items", "with_consensus", "resolved", "ds_disagrees"}},
     "disagreement": {"edges", "counts", "mean", "low_agreement", "no_consensus"},
     "annotators": {"n", "outliers", "rule", "agreement_mean", "median_seconds"},
     "consistency": {"retest": {"n", "rate"}, "swap": {"n", "rate"}, "judge_order": {"n", "rate"},
                     "transitivity": {"violations", "triads"}, "thumbs": {"contradictions", "comparable"}},
     "ches": {"model", "status": "ok"|"no_encodings"|"unavailable"|"no_pairs", "reason", "eligible",
              "scored", "mean_ln_ches", "histogram": {"edges", "counts"},
              "quantiles": {"p05", "p25", "p50", "p75", "p95"},
              "top": [{"item", "chosen", "rejected", "ches", "ln_ches"}]},       # 20 highest LN-CHES
     "discretion": {"source", "principles": [{"id", "name"}],
                    "categories": {"consensus", "conflict", "indifference", "assessed"},
                    "groups": {name: {"n_rows", "arbitrariness": {"estimate", "mean", "sd", "low",
                                       "high", "n_ok"},
                                      "supremacy": [[PS|null]], "conflicts": [[N]],
                                      "priority": {"elo", "status", "rank", "low", "high"}}},
                    "discrepancy": {"human_vs_judge", "annotators": {uuid: DD}}},
     "progress": {"days": ["YYYY-MM-DD"], "by_kind": {kind: [n]}, "total": [n], "cumulative": [n]},
     "timings": {stage: seconds}}

``ItemAudit.details``: ``votes`` {choice: n}, ``dawid_skene`` {"choice", "p"},
``kendall_w``, ``probes`` [{"annotator", "swapped", "consistent"}],
``swap_inconsistent`` / ``retest_inconsistent`` / ``intransitive`` /
``thumbs_contradiction`` (annotation uuids), ``principles`` {principle id: ±1|null}.
``AnnotatorAudit.details`` (keys present only where the annotator has such data):
``type``, ``compared``, ``timed``, ``n_probes``, ``by_kind`` {kind: {"n",
"compared", "agreement", "kappa"}} (ranking: {"n", "compared", "tau"}),
``kappa_kind``, ``agreement_basis``, ``agreement_z``,
``probes`` {"retest": {"n", "agreement", "kappa"}, "swap": {"n", "rate"}},
``judge_order`` {"n", "rate"}, ``transitivity`` {"violations", "triads", "prompts"},
``thumbs`` {"contradictions", "comparable"}, ``dawid_skene_accuracy`` {kind: p},
``discretion`` {"arbitrariness", "priority", "discrepancy_vs_human", "n_rows"}.
Priority in the summary's groups also has ``converged`` and, when
``n_boot_priority`` > 0, ``low``/``high`` (2.5/97.5 % bootstrap of the Elo).
This docstring is the reference for the layout (the dashboards and the API read it).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np
from django.db import connection, transaction
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from annotate.models import Annotation, Annotator, Item, ItemResponse, Kind, Principle, PrincipleVerdict, Project
from curation import metrics
from curation.audit import batched
from curation.audit.params import AuditParams
from curation.jobs.lifecycle import JobProgress
from curation.models import AnnotatorAudit, Audit, ItemAudit, Job

logger = logging.getLogger(__name__)

SUMMARY_VERSION = 1
PAIRWISE_CODES = ("A", "B", "tie", "both_bad")
THUMB_CODES = ("up", "down")
KIND_CODES = {Kind.PAIRWISE.value: PAIRWISE_CODES, Kind.THUMB.value: THUMB_CODES}
KINDS = [k.value for k in Kind]
OUTLIER_RULE = (
    "low_agreement: agreement with the consensus more than 2 SD (SD floored at 0.05) below the mean of the other "
    "annotators with >= {min_compared} compared votes (needs >= {min_peers} such others); "
    "low_probe_consistency: probe consistency < {probe_floor} over >= {min_probes} probes"
)
BT_FALLBACK_ALPHA = 0.1
CHES_TOP = 20
STAGES = (
    "reading annotations",
    "agreement and consensus",
    "rankings",
    "annotators",
    "consistency",
    "discretion",
    "CHES",
    "writing results",
)


# ---------------------------------------------------------------- JSON helpers


def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _nums(values) -> list:
    return [_num(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def _matrix(values) -> list:
    return [_nums(row) for row in np.asarray(values, dtype=np.float64)]


def _boot(result: metrics.BootstrapResult) -> dict:
    return {
        "estimate": _num(result.estimate),
        "mean": _num(result.mean),
        "sd": _num(result.sd),
        "low": _num(result.low),
        "high": _num(result.high),
        "n_ok": result.n_ok,
    }


# ---------------------------------------------------------------- data


@dataclass
class ProjectData:
    """The project as arrays. Item and annotator arrays are indexed 0..n-1;
    annotation arrays hold one entry per annotation."""

    # items
    item_id: np.ndarray
    item_uuid: list[str]
    item_kind: np.ndarray  # object: kind string
    item_prompt: np.ndarray
    item_excluded: np.ndarray
    item_probe_of: np.ndarray  # index of the original item, -1 if not a probe
    item_probe_for: np.ndarray  # annotator pk or -1
    item_probe_swapped: np.ndarray
    item_resolution: list
    item_responses: list[list[int]]  # response pks in position order
    response_uuid: dict[int, str]
    # annotators
    annotator_id: np.ndarray
    annotator_uuid: list[str]
    annotator_type: list[str]
    # annotations
    ann_id: np.ndarray
    ann_item: np.ndarray  # item index
    ann_annotator: np.ndarray  # annotator index
    ann_kind: np.ndarray  # object
    ann_code: np.ndarray  # float: pairwise/thumb code, NaN otherwise
    ann_strength: np.ndarray  # float, NaN when unset
    ann_seconds: np.ndarray  # float, NaN when unset
    ann_consistent: np.ndarray  # int8: 1 True, 0 False, -1 None
    rankings: dict[int, list] = field(default_factory=dict)  # annotation pk -> ranking JSON

    @property
    def audited(self) -> np.ndarray:
        return ~self.item_excluded & (self.item_probe_of < 0)

    @property
    def vote(self) -> np.ndarray:
        return self.audited[self.ann_item] & (self.ann_consistent != 0)


def _index_of(sorted_ids: np.ndarray, ids) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    if sorted_ids.size == 0:
        return np.full(ids.shape, -1, dtype=np.int64)
    pos = np.searchsorted(sorted_ids, ids)
    pos = np.minimum(pos, len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == ids, pos, -1)


def project_data_load(*, project: Project) -> ProjectData:
    """Read the project into arrays with a handful of ``values_list`` queries."""
    rows = list(
        Item.objects.filter(project=project)
        .order_by("id")
        .values_list(
            "id", "uuid", "kind", "prompt_id", "excluded", "resolution", "probe_of_id", "probe_for_id", "probe_swapped"
        )
    )
    item_id = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    probe_of = _index_of(item_id, [r[6] or -1 for r in rows])
    responses: list[list[int]] = [[] for _ in rows]
    response_uuid: dict[int, str] = {}
    links = (
        ItemResponse.objects.filter(item__project=project)
        .order_by("item_id", "position")
        .values_list("item_id", "response_id", "response__uuid")
    )
    link_rows = list(links)
    link_items = _index_of(item_id, [r[0] for r in link_rows])
    for idx, (_, response_id, response_uuid_value) in zip(link_items.tolist(), link_rows, strict=True):
        responses[idx].append(response_id)
        response_uuid[response_id] = str(response_uuid_value)

    ann_rows = list(
        Annotation.objects.filter(item__project=project)
        .order_by("id")
        .values_list("id", "item_id", "annotator_id", "kind", "choice", "strength", "time_spent_ms", "consistent")
    )
    n = len(ann_rows)
    annotator_pks = sorted({r[2] for r in ann_rows})
    annotator_rows = {
        pk: (str(u), t) for pk, u, t in Annotator.objects.filter(pk__in=annotator_pks).values_list("id", "uuid", "type")
    }
    annotator_id = np.asarray(annotator_pks, dtype=np.int64)
    code_of = {(kind, choice): float(i) for kind, codes in KIND_CODES.items() for i, choice in enumerate(codes)}
    ann_kind = np.empty(n, dtype=object)
    ann_kind[:] = [r[3] for r in ann_rows]
    data = ProjectData(
        item_id=item_id,
        item_uuid=[str(r[1]) for r in rows],
        item_kind=np.array([r[2] for r in rows], dtype=object),
        item_prompt=np.fromiter((r[3] for r in rows), dtype=np.int64, count=len(rows)),
        item_excluded=np.fromiter((r[4] for r in rows), dtype=bool, count=len(rows)),
        item_probe_of=probe_of,
        item_probe_for=np.fromiter((r[7] or -1 for r in rows), dtype=np.int64, count=len(rows)),
        item_probe_swapped=np.fromiter((r[8] for r in rows), dtype=bool, count=len(rows)),
        item_resolution=[_resolution(r[5]) for r in rows],
        item_responses=responses,
        response_uuid=response_uuid,
        annotator_id=annotator_id,
        annotator_uuid=[annotator_rows[pk][0] for pk in annotator_pks],
        annotator_type=[annotator_rows[pk][1] for pk in annotator_pks],
        ann_id=np.fromiter((r[0] for r in ann_rows), dtype=np.int64, count=n),
        ann_item=_index_of(item_id, [r[1] for r in ann_rows]),
        ann_annotator=_index_of(annotator_id, [r[2] for r in ann_rows]),
        ann_kind=ann_kind,
        ann_code=np.fromiter((code_of.get((r[3], r[4]), np.nan) for r in ann_rows), dtype=np.float64, count=n),
        ann_strength=np.fromiter((np.nan if r[5] is None else r[5] for r in ann_rows), dtype=np.float64, count=n),
        ann_seconds=np.fromiter(
            (np.nan if r[6] is None else r[6] / 1000.0 for r in ann_rows), dtype=np.float64, count=n
        ),
        ann_consistent=np.fromiter((-1 if r[7] is None else int(r[7]) for r in ann_rows), dtype=np.int8, count=n),
    )
    if (data.ann_kind == Kind.RANKING.value).any():
        data.rankings = dict(
            Annotation.objects.filter(item__project=project, kind=Kind.RANKING).values_list("id", "ranking")
        )
    return data


def _resolution(value) -> dict | None:
    if value in (None, "", {}):
        return None
    if isinstance(value, str):
        return {"choice": value}
    return value if isinstance(value, dict) else None


# ---------------------------------------------------------------- array helpers


def _alpha(slots: np.ndarray, level: str, params: AuditParams, seed_offset: int) -> dict:
    ratings = ~np.isnan(slots)
    m_u = ratings.sum(axis=0)
    out = {
        "level": level,
        "n_units": int((m_u > 0).sum()),
        "n_pairable_units": int((m_u >= 2).sum()),
        "n_ratings": int(m_u.sum()),
        "n_boot": params.n_boot,
        "level_ci": 0.95,
    }
    if out["n_pairable_units"] == 0:
        return {**out, "alpha": None, "low": None, "high": None, "mean": None, "sd": None,
                "reason": "no item has two or more judgments"}  # fmt: skip
    if np.unique(slots[ratings]).size < 2:
        return {**out, "alpha": None, "low": None, "high": None, "mean": None, "sd": None,
                "reason": "every judgment has the same value (α is undefined)"}  # fmt: skip
    pairable = slots[:, m_u >= 2]  # units with a single rating add nothing to α
    # Same figures as metrics.krippendorff_alpha_bootstrap (same resamples), in one matrix product per chunk.
    result = batched.krippendorff_alpha_bootstrap_fast(
        pairable, level=level, n_boot=params.n_boot, seed=params.seed + seed_offset
    )
    return {
        **out,
        "alpha": _num(result.estimate),
        "low": _num(result.low),
        "high": _num(result.high),
        "mean": _num(result.mean),
        "sd": _num(result.sd),
    }


def _group_slices(keys: np.ndarray):
    """(key, indices) for each distinct key, indices into ``keys``."""
    if keys.size == 0:
        return
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    cuts = np.flatnonzero(np.diff(sorted_keys)) + 1
    for part in np.split(order, cuts):
        yield keys[part[0]], part


# ---------------------------------------------------------------- the audit


class _Flags:
    flags: list

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)


@dataclass
class ItemRow(_Flags):
    n_judgments: int = 0
    majority_share: float | None = None
    entropy: float | None = None
    disagreement: float | None = None
    consensus: dict = field(default_factory=dict)
    chosen: int | None = None
    rejected: int | None = None
    ches: float | None = None
    ln_ches: float | None = None
    ches_model: str = ""
    discretion_category: str = ""
    flags: list = field(default_factory=list)
    details: dict = field(default_factory=dict)


@dataclass
class AnnotatorRow(_Flags):
    n_annotations: int = 0
    agreement: float | None = None
    kappa: float | None = None
    probe_consistency: float | None = None
    swap_consistency: float | None = None
    transitivity_violations: int = 0
    median_seconds: float | None = None
    arbitrariness: float | None = None
    outlier: bool = False
    flags: list = field(default_factory=list)
    details: dict = field(default_factory=dict)


class ProjectAudit:
    """All figures of one audit run, computed from a :class:`ProjectData`."""

    def __init__(self, data: ProjectData, *, project: Project, params: AuditParams):
        self.data = data
        self.project = project
        self.params = params
        self.threshold = (
            params.low_agreement_below
            if params.low_agreement_below is not None
            else (project.agreement_threshold or 0.6)
        )
        self.items: dict[int, ItemRow] = {int(i): ItemRow() for i in np.flatnonzero(data.audited)}
        self.annotators = [AnnotatorRow() for _ in data.annotator_id]
        # consensus code per item (NaN = none) for pairwise/thumb, order for rankings
        self.consensus_code = np.full(len(data.item_id), np.nan)
        self.ranking_order: dict[int, np.ndarray] = {}  # item index -> consensus mid-ranks per position
        self.mid_ranks: dict[int, np.ndarray] = {}  # annotation index -> mid-ranks per item position
        self.summary: dict = {
            "version": SUMMARY_VERSION,
            "params": asdict(params) | {"low_agreement_below": self.threshold},
        }
        self._ann_uuid_wanted: set[int] = set()
        self.timings: dict[str, float] = {}

    # -- counts ----------------------------------------------------------------------------
    def counts(self) -> None:
        d = self.data
        by_kind = {}
        for kind in KINDS:
            by_kind[kind] = {
                "items": int(((d.item_kind == kind) & d.audited).sum()),
                "annotations": int((d.ann_kind == kind).sum()),
            }
        self.summary["counts"] = {
            "items": len(d.item_id),
            "audited": int(d.audited.sum()),
            "excluded": int(d.item_excluded.sum()),
            "probes": int((d.item_probe_of >= 0).sum()),
            "annotations": len(d.ann_id),
            "annotators": len(d.annotator_id),
            "by_kind": by_kind,
        }
        for a, row in enumerate(self.annotators):
            row.details["type"] = d.annotator_type[a]
        n_per = np.bincount(d.ann_annotator, minlength=len(d.annotator_id)) if len(d.ann_id) else []
        # Judgment items (free-text critiques) get their count here; other kinds in their own stage.
        votes = np.bincount(d.ann_item[d.vote], minlength=len(d.item_id)) if len(d.ann_id) else []
        for item in np.flatnonzero(d.audited & (d.item_kind == Kind.JUDGMENT.value)).tolist():
            self.items[item].n_judgments = int(votes[item])
        for a, row in enumerate(self.annotators):
            row.n_annotations = int(n_per[a])

    # -- pairwise and thumbs ---------------------------------------------------------------
    def choice_kinds(self) -> None:
        d = self.data
        self.summary["alpha"] = {}
        self.summary["consensus"] = {}
        for offset, (kind, codes) in enumerate(KIND_CODES.items()):
            mask = d.vote & (d.ann_kind == kind) & ~np.isnan(d.ann_code)
            items = np.flatnonzero(d.audited & (d.item_kind == kind))
            if items.size == 0:
                continue
            unit_of = np.full(len(d.item_id), -1)
            unit_of[items] = np.arange(items.size)
            ann = np.flatnonzero(mask)
            units = unit_of[d.ann_item[ann]]
            slots = batched.slots(units, d.ann_code[ann], items.size)
            domain = np.arange(len(codes), dtype=np.float64)
            self.summary["alpha"][kind] = _alpha(slots, "nominal", self.params, offset)
            if kind == Kind.PAIRWISE.value:
                self._strength_alpha(ann, units, items.size)
            agree = metrics.item_agreement(slots, value_domain=domain)
            counts, _ = metrics.value_counts(slots, value_domain=domain)
            ds = self._dawid_skene(ann, units, len(codes), kind)
            info = {"method": "majority", "second_opinion": "dawid_skene" if ds else None, "items": int(items.size),
                    "with_consensus": 0, "resolved": 0, "ds_disagrees": 0}  # fmt: skip
            for u, item in enumerate(items.tolist()):
                row = self.items[item]
                m = int(agree.n_ratings[u])
                row.n_judgments = m
                row.details["votes"] = {codes[c]: int(counts[u, c]) for c in range(len(codes)) if counts[u, c]}
                choice = None
                if m:
                    row.majority_share = _num(agree.majority_share[u])
                    row.entropy = _num(agree.entropy[u])
                    row.disagreement = _num(1.0 - agree.majority_share[u])
                    majority = agree.majority_value[u]
                    choice = None if np.isnan(majority) else codes[int(majority)]
                    if m >= 2 and (choice is None or agree.majority_share[u] < self.threshold):
                        row.flag("low_agreement")
                shares = {codes[c]: float(counts[u, c] / m) for c in range(len(codes)) if m and counts[u, c]}
                method = "majority"
                resolved = (d.item_resolution[item] or {}).get("choice")
                if resolved in codes:
                    choice, method = resolved, "resolution"
                    row.flag("resolved")
                    info["resolved"] += 1
                elif m and choice is None:
                    row.flag("no_consensus")
                row.consensus = {"choice": choice, "method": method, "shares": shares}
                if choice is not None:
                    self.consensus_code[item] = codes.index(choice)
                    info["with_consensus"] += 1
                if ds is not None and ds.get(u) is not None:
                    ds_code, probs = ds[u]
                    row.details["dawid_skene"] = {"choice": codes[ds_code], "p": {codes[c]: round(float(p), 6)
                                                                                  for c, p in enumerate(probs)}}  # fmt: skip
                    majority_choice = row.consensus["choice"] if method == "majority" else None
                    if majority_choice is not None and codes[ds_code] != majority_choice:
                        row.flag("ds_disagrees")
                        info["ds_disagrees"] += 1
            self.summary["consensus"][kind] = info

    def _strength_alpha(self, ann: np.ndarray, units: np.ndarray, n_units: int) -> None:
        d = self.data
        strength = d.ann_strength[ann]
        if np.isnan(strength).all():
            return
        code = d.ann_code[ann]
        signed = np.where(code == 0, strength, np.where(code == 1, -strength, np.where(code == 2, 0.0, np.nan)))
        keep = ~np.isnan(signed)
        slots = batched.slots(units[keep], signed[keep], n_units)
        self.summary["alpha"]["pairwise_strength"] = _alpha(slots, "ordinal", self.params, 7)

    def _dawid_skene(self, ann: np.ndarray, units: np.ndarray, n_classes: int, kind: str) -> dict | None:
        d = self.data
        if ann.size == 0:
            return None
        result = metrics.dawid_skene(units, d.ann_annotator[ann], d.ann_code[ann].astype(np.int64), n_classes)
        out = {}
        for t, unit in enumerate(result.tasks.tolist()):
            out[int(unit)] = (int(result.labels[t]), result.probas[t])
        # Each annotator's probability of answering the true class (prior-weighted).
        for w, a in enumerate(result.workers.tolist()):
            diag = np.diagonal(result.errors[w])
            acc = float((diag * result.priors).sum() / result.priors.sum())
            details = self.annotators[int(a)].details
            details.setdefault("dawid_skene_accuracy", {})[kind] = round(acc, 6)
        return out

    # -- rankings --------------------------------------------------------------------------
    def _ranks(self, ann_index: int, responses: list[int]) -> np.ndarray | None:
        """Mid-ranks (1 = best) of the item's responses in one ranking; missing ones tied last."""
        d = self.data
        ranking = d.rankings.get(int(d.ann_id[ann_index]))
        if not ranking:
            return None
        position = {d.response_uuid[r]: i for i, r in enumerate(responses)}
        ranks = np.full(len(responses), np.nan)
        placed = 0
        for group in ranking:
            idx = [position[str(u)] for u in group if str(u) in position and np.isnan(ranks[position[str(u)]])]
            if not idx:
                continue
            ranks[idx] = placed + (len(idx) + 1) / 2.0
            placed += len(idx)
        missing = np.isnan(ranks)
        if missing.all():
            return None
        if missing.any():
            ranks[missing] = placed + (missing.sum() + 1) / 2.0
        return ranks

    def rankings(self) -> None:
        d = self.data
        items = np.flatnonzero(d.audited & (d.item_kind == Kind.RANKING.value))
        for a in np.flatnonzero(d.ann_kind == Kind.RANKING.value).tolist():
            ranks = self._ranks(a, d.item_responses[d.ann_item[a]])
            if ranks is not None:
                self.mid_ranks[a] = ranks
        if items.size == 0:
            return
        votes = [a for a in np.flatnonzero(d.vote & (d.ann_kind == Kind.RANKING.value)).tolist() if a in self.mid_ranks]
        by_item: dict[int, list[int]] = defaultdict(list)
        for a in votes:
            by_item[int(d.ann_item[a])].append(a)
        # α over (item, response) units, value = mid-rank
        link_base = {}
        offset = 0
        for item in items.tolist():
            link_base[item] = offset
            offset += len(d.item_responses[item])
        units, values = [], []
        for a in votes:
            base = link_base[int(d.ann_item[a])]
            ranks = self.mid_ranks[a]
            units.extend(range(base, base + len(ranks)))
            values.extend(ranks.tolist())
        slots = batched.slots(np.asarray(units, dtype=np.int64), np.asarray(values, dtype=np.float64), offset)
        self.summary["alpha"]["ranking"] = _alpha(slots, "ordinal", self.params, 13)
        info = {"method": "bradley_terry", "second_opinion": None, "items": int(items.size), "with_consensus": 0,
                "resolved": 0, "ds_disagrees": 0}  # fmt: skip

        # Per item: share of the most common full order, its entropy; Kendall's W in batches of equal shape.
        w_batches: dict[tuple[int, int], list[int]] = defaultdict(list)
        fit: list[int] = []
        for item in items.tolist():
            row = self.items[item]
            uuids = [d.response_uuid[r] for r in d.item_responses[item]]
            rank_rows = [self.mid_ranks[a] for a in by_item.get(item, [])]
            row.n_judgments = len(rank_rows)
            if rank_rows:
                keys = Counter(tuple(r.tolist()) for r in rank_rows)
                share = max(keys.values()) / len(rank_rows)
                p = np.array(list(keys.values()), dtype=np.float64) / len(rank_rows)
                row.majority_share = share
                row.entropy = _num(max(0.0, float(-(p * np.log2(p)).sum())))
                row.disagreement = 1.0 - share
                if len(rank_rows) >= 2:
                    w_batches[(len(rank_rows), len(uuids))].append(item)
                    if share < self.threshold:
                        row.flag("low_agreement")
            resolved = (d.item_resolution[item] or {}).get("ranking")
            order = self._order_from_groups(resolved, uuids) if resolved else None
            if order is not None:
                row.consensus = {"order": [[uuids[i] for i in g] for g in _groups(order)], "scores": {},
                                 "method": "resolution"}  # fmt: skip
                self.ranking_order[item] = order
                row.flag("resolved")
                info["resolved"] += 1
                info["with_consensus"] += 1
            elif rank_rows:
                fit.append(item)
        ws = []
        for batch in w_batches.values():
            stacked = np.stack([np.vstack([self.mid_ranks[a] for a in by_item[item]]) for item in batch])
            for item, w in zip(batch, batched.kendall_w_many(stacked).tolist(), strict=True):
                self.items[item].details["kendall_w"] = _num(w)
                if math.isfinite(w):
                    ws.append(w)
        self._bradley_terry(fit, by_item)
        info["with_consensus"] += len(fit)
        self.summary["kendall_w"] = {"mean": _num(np.mean(ws)) if ws else None, "n_items": len(ws)}
        self.summary["consensus"][Kind.RANKING.value] = info

    def _bradley_terry(self, items: list[int], by_item: dict[int, list[int]]) -> None:
        """Consensus orders from Bradley–Terry fits of every item's rankings, read as
        pairwise comparisons (a tie is half a win each way: both orders listed)."""
        if not items:
            return
        d = self.data
        sizes = np.array([len(d.item_responses[item]) for item in items], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        winners, losers = [], []
        pairs = {}
        for item, base in zip(items, offsets.tolist(), strict=True):
            for a in by_item[item]:
                ranks = self.mid_ranks[a]
                n = len(ranks)
                if n not in pairs:
                    pairs[n] = np.triu_indices(n, 1)
                i, j = pairs[n]
                ri, rj = ranks[i], ranks[j]
                tie = ri == rj
                winners.append(np.concatenate([i[ri < rj], j[rj < ri], i[tie], j[tie]]) + base)
                losers.append(np.concatenate([j[ri < rj], i[rj < ri], j[tie], i[tie]]) + base)
        p, alphas = batched.bradley_terry_many(
            sizes, np.concatenate(winners), np.concatenate(losers), fallback_alpha=BT_FALLBACK_ALPHA
        )
        for item, base, size, alpha in zip(items, offsets.tolist(), sizes.tolist(), alphas.tolist(), strict=True):
            strengths = p[base : base + size]
            uuids = [d.response_uuid[r] for r in d.item_responses[item]]
            order = batched.mid_ranks(strengths)
            self.ranking_order[item] = order
            self.items[item].consensus = {
                "order": [[uuids[i] for i in g] for g in _groups(order)],
                "scores": {uuids[i]: round(float(x), 6) for i, x in enumerate(strengths)},
                "method": "bradley_terry",
                "alpha": alpha,
            }

    @staticmethod
    def _order_from_groups(groups, uuids: list[str]) -> np.ndarray | None:
        position = {u: i for i, u in enumerate(uuids)}
        scores = np.zeros(len(uuids))
        seen = set()
        try:
            for level, group in enumerate(groups):
                for u in group:
                    scores[position[str(u)]] = -level
                    seen.add(str(u))
        except (KeyError, TypeError):
            return None
        for u in set(uuids) - seen:
            scores[position[u]] = -len(groups)
        return batched.mid_ranks(scores)

    # -- annotators vs consensus -----------------------------------------------------------
    def annotators_vs_consensus(self) -> None:
        d = self.data
        vote = d.vote
        ranking_tau = self._ranking_taus()
        for a_idx, part in _group_slices(d.ann_annotator):
            row = self.annotators[int(a_idx)]
            by_kind = {}
            hits, compared = 0.0, 0
            for kind in KIND_CODES:
                sel = part[(d.ann_kind[part] == kind) & vote[part] & ~np.isnan(d.ann_code[part])]
                if sel.size == 0:
                    continue
                labels = d.ann_code[sel]
                cons = self.consensus_code[d.ann_item[sel]]
                res = metrics.annotator_vs_consensus(labels[None, :], cons)
                n = int(res.n[0])
                kappa = metrics.cohen_kappa(labels, cons) if n else float("nan")
                by_kind[kind] = {"n": int(sel.size), "compared": n, "agreement": _num(res.share[0]),
                                 "kappa": _num(kappa)}  # fmt: skip
                if n:
                    hits += float(res.share[0]) * n
                    compared += n
            sel = part[(d.ann_kind[part] == Kind.RANKING.value) & vote[part]]
            taus = [ranking_tau[a] for a in sel.tolist() if math.isfinite(ranking_tau.get(a, math.nan))]
            if sel.size:
                by_kind[Kind.RANKING.value] = {"n": int(sel.size), "compared": len(taus),
                                               "tau": _num(np.mean(taus)) if taus else None}  # fmt: skip
            row.details["by_kind"] = by_kind
            if compared:
                row.agreement = hits / compared
                row.details["agreement_basis"] = "pairwise/thumb votes equal to the consensus"
            elif taus:
                row.agreement = float((np.mean(taus) + 1) / 2)
                row.details["agreement_basis"] = "mean (tau_b + 1) / 2 with the consensus ranking"
            row.details["compared"] = compared or len(taus)
            main = max((k for k in by_kind if "kappa" in by_kind[k]), key=lambda k: by_kind[k]["compared"],
                       default=None)  # fmt: skip
            if main is not None:
                row.kappa = by_kind[main]["kappa"]
                row.details["kappa_kind"] = main
            seconds = d.ann_seconds[part]
            seconds = seconds[~np.isnan(seconds)]
            row.details["timed"] = int(seconds.size)
            if seconds.size:
                row.median_seconds = float(np.median(seconds))

    def _ranking_taus(self) -> dict[int, float]:
        """τ_b of every ranking vote with its item's consensus order, in batches of equal length."""
        d = self.data
        by_length: dict[int, list[int]] = defaultdict(list)
        for a in self.mid_ranks:
            if int(d.ann_item[a]) in self.ranking_order:
                by_length[len(self.mid_ranks[a])].append(a)
        taus: dict[int, float] = {}
        for anns in by_length.values():
            x = np.stack([self.mid_ranks[a] for a in anns])
            y = np.stack([self.ranking_order[int(d.ann_item[a])] for a in anns])
            taus.update(zip(anns, batched.tau_b_many(x, y).tolist(), strict=True))
        return taus

    # -- consistency -----------------------------------------------------------------------
    def _oriented(self, probe: int, original: int, code: float) -> float:
        """A pairwise probe label in the original item's orientation."""
        d = self.data
        pr, orr = d.item_responses[probe], d.item_responses[original]
        if code in (0.0, 1.0) and len(pr) == 2 and set(pr) == set(orr) and pr[0] == orr[1]:
            return 1.0 - code
        return code

    def probes(self) -> None:
        d = self.data
        key_of = {(int(d.ann_item[a]), int(d.ann_annotator[a])): a for a in range(len(d.ann_id))}
        annotator_index = {int(pk): i for i, pk in enumerate(d.annotator_id.tolist())}
        per = defaultdict(lambda: {"retest": ([], []), "swap": ([], [])})
        for probe in np.flatnonzero(d.item_probe_of >= 0).tolist():
            original = int(d.item_probe_of[probe])
            a_idx = annotator_index.get(int(d.item_probe_for[probe]))
            if a_idx is None:
                continue
            a_probe, a_orig = key_of.get((probe, a_idx)), key_of.get((original, a_idx))
            if a_probe is None or a_orig is None:
                continue
            kind = d.item_kind[probe]
            if kind == Kind.PAIRWISE.value:
                first = _signed(d.ann_code[a_orig])
                second = _signed(self._oriented(probe, original, d.ann_code[a_probe]))
            elif kind == Kind.THUMB.value:
                first = 1.0 - 2.0 * d.ann_code[a_orig]
                second = 1.0 - 2.0 * d.ann_code[a_probe]
            elif kind == Kind.RANKING.value and a_orig in self.mid_ranks and a_probe in self.mid_ranks:
                r1 = self.mid_ranks[a_orig]
                r2 = self._ranking_oriented(probe, original, self.mid_ranks[a_probe])
                first, second = 1.0, 1.0 if (r2 is not None and np.array_equal(r1, r2)) else -1.0
            else:
                continue
            if np.isnan(first) or np.isnan(second):
                continue
            swapped = bool(d.item_probe_swapped[probe])
            group = per[a_idx]["swap" if swapped else "retest"]
            group[0].append(first)
            group[1].append(second)
            consistent = first == second
            if original in self.items:
                row = self.items[original]
                row.details.setdefault("probes", []).append(
                    {"annotator": d.annotator_uuid[a_idx], "swapped": swapped, "consistent": bool(consistent)}
                )
                if not consistent:
                    reason = "swap_inconsistent" if swapped else "retest_inconsistent"
                    row.flag(reason)
                    self._mark(original, reason, a_orig, a_probe)
        totals = {"retest": [0, 0], "swap": [0, 0]}
        for a_idx, groups in per.items():
            row = self.annotators[a_idx]
            probes_info = {}
            same_total, n_total = 0, 0
            first, second = groups["retest"]
            if first:
                res = metrics.retest_agreement(first, second)
                probes_info["retest"] = {"n": res.n, "agreement": _num(res.agreement), "kappa": _num(res.kappa)}
                same_total += int(res.same.sum())
                n_total += res.n
                totals["retest"][0] += int(res.same.sum())
                totals["retest"][1] += res.n
            first, second = groups["swap"]
            if first:
                # swap_consistency takes the repeat in the orientation shown, i.e. flipped.
                res = metrics.swap_consistency(first, -np.asarray(second))
                n = int(res.usable.sum())
                probes_info["swap"] = {"n": n, "rate": _num(res.rate)}
                row.swap_consistency = _num(res.rate)
                same_total += int(res.consistent.sum())
                n_total += n
                totals["swap"][0] += int(res.consistent.sum())
                totals["swap"][1] += n
            row.details["probes"] = probes_info
            if n_total:
                row.probe_consistency = same_total / n_total
                row.details["n_probes"] = n_total
        # Algorithmic judges' own order check.
        judge_n, judge_ok = 0, 0
        for a_idx, part in _group_slices(d.ann_annotator):
            flags = d.ann_consistent[part]
            checked = flags >= 0
            if not checked.any():
                continue
            n, ok = int(checked.sum()), int((flags == 1).sum())
            row = self.annotators[int(a_idx)]
            row.details["judge_order"] = {"n": n, "rate": ok / n}
            if row.swap_consistency is None:
                row.swap_consistency = ok / n
            judge_n += n
            judge_ok += ok
        self.summary["consistency"] = {
            name: {"n": n, "rate": _num(s / n) if n else None} for name, (s, n) in totals.items()
        }
        self.summary["consistency"]["judge_order"] = {"n": judge_n, "rate": judge_ok / judge_n if judge_n else None}

    def _ranking_oriented(self, probe: int, original: int, ranks: np.ndarray) -> np.ndarray | None:
        d = self.data
        pr, orr = d.item_responses[probe], d.item_responses[original]
        if len(pr) != len(orr):
            return None
        if set(pr) == set(orr):
            where = {r: i for i, r in enumerate(pr)}
            return ranks[[where[r] for r in orr]]
        return ranks

    def _mark(self, item: int, reason: str, *annotations: int) -> None:
        row = self.items.get(item)
        if row is None:
            return
        row.details.setdefault(reason, [])
        for a in annotations:
            row.details[reason].append(int(a))  # annotation index; turned into uuids before writing
            self._ann_uuid_wanted.add(int(a))

    def transitivity_and_thumbs(self) -> None:
        d = self.data
        not_probe = d.item_probe_of[d.ann_item] < 0
        usable = not_probe & (d.ann_consistent != 0)
        pair = np.flatnonzero(usable & (d.ann_kind == Kind.PAIRWISE.value) & np.isin(d.ann_code, (0.0, 1.0, 2.0)))
        thumb = np.flatnonzero(usable & (d.ann_kind == Kind.THUMB.value) & ~np.isnan(d.ann_code))
        total_v, total_t = 0, 0
        # transitivity: per (annotator, prompt) with ≥ 3 pairwise judgments
        prompts = d.item_prompt[d.ann_item[pair]]
        keys = d.ann_annotator[pair].astype(np.int64) * (int(prompts.max()) + 1 if prompts.size else 1) + prompts
        per_annotator = defaultdict(lambda: [0, 0, 0])
        for _, part in _group_slices(keys):
            if part.size < 3:
                continue
            anns = pair[part]
            edges, ties = [], []
            for a in anns.tolist():
                r = d.item_responses[d.ann_item[a]]
                if len(r) != 2 or r[0] == r[1]:
                    continue
                code = d.ann_code[a]
                if code == 0:
                    edges.append((r[0], r[1]))
                elif code == 1:
                    edges.append((r[1], r[0]))
                else:
                    ties.append((r[0], r[1]))
            violations, triads = metrics.transitivity_violations(edges, ties)
            a_idx = int(d.ann_annotator[anns[0]])
            per_annotator[a_idx][0] += violations
            per_annotator[a_idx][1] += triads
            per_annotator[a_idx][2] += bool(violations)
            total_v += violations
            total_t += triads
            if violations:
                for a in anns.tolist():
                    item = int(d.ann_item[a])
                    if item in self.items:
                        self.items[item].flag("transitivity")
                    self._mark(item, "intransitive", a)
        for a_idx, (violations, triads, prompts) in per_annotator.items():
            row = self.annotators[a_idx]
            row.transitivity_violations = violations
            row.details["transitivity"] = {"violations": violations, "triads": triads, "prompts": prompts}
            if violations:
                row.flag("intransitive")
        # thumbs vs pairwise, per annotator
        total_c, total_k = 0, 0
        thumbs_by = defaultdict(dict)
        for a in thumb.tolist():
            r = d.item_responses[d.ann_item[a]]
            if r:
                thumbs_by[int(d.ann_annotator[a])][r[0]] = 1.0 - 2.0 * d.ann_code[a]
        strict = pair[np.isin(d.ann_code[pair], (0.0, 1.0))]
        for a_idx, part in _group_slices(d.ann_annotator[strict]):
            thumbs = thumbs_by.get(int(a_idx))
            if not thumbs:
                continue
            anns = strict[part]
            choices = []
            for a in anns.tolist():
                r = d.item_responses[d.ann_item[a]]
                choices.append((r[0], r[1]) if d.ann_code[a] == 0 else (r[1], r[0]))
            check = metrics.thumbs_contradictions(choices, thumbs)
            row = self.annotators[int(a_idx)]
            row.details["thumbs"] = {"contradictions": check.contradictions, "comparable": check.comparable}
            total_c += check.contradictions
            total_k += check.comparable
            if check.contradictions:
                row.flag("thumbs_contradiction")
                for a in anns[check.mask].tolist():
                    item = int(d.ann_item[a])
                    if item in self.items:
                        self.items[item].flag("thumbs_contradiction")
                    self._mark(item, "thumbs_contradiction", a)
        self.summary["consistency"]["transitivity"] = {"violations": total_v, "triads": total_t}
        self.summary["consistency"]["thumbs"] = {"contradictions": total_c, "comparable": total_k}

    # -- outliers --------------------------------------------------------------------------
    def outliers(self) -> None:
        p = self.params
        rows = self.annotators
        eligible = [
            i for i, r in enumerate(rows) if r.agreement is not None and r.details.get("compared", 0) >= p.min_compared
        ]
        values = np.array([rows[i].agreement for i in eligible])
        for pos, i in enumerate(eligible):
            if len(eligible) - 1 < p.min_peers:
                break
            others = np.delete(values, pos)
            sd = max(float(others.std(ddof=1)) if others.size > 1 else 0.0, 0.05)
            z = (values[pos] - others.mean()) / sd
            rows[i].details["agreement_z"] = round(float(z), 4)
            if z < -2:
                rows[i].flag("low_agreement")
        for r in rows:
            probed = r.probe_consistency is not None and r.details.get("n_probes", 0) >= p.min_probes
            if probed and r.probe_consistency < p.probe_floor:
                r.flag("low_probe_consistency")
            r.outlier = "low_agreement" in r.flags or "low_probe_consistency" in r.flags
        humans = [r for r in rows if r.details.get("type") == "human" and r.median_seconds is not None
                  and r.details.get("timed", 0) >= 10]  # fmt: skip
        human_median = float(np.median([r.median_seconds for r in humans])) if len(humans) >= 3 else None
        if human_median:
            for r in humans:
                if r.median_seconds < 0.25 * human_median:
                    r.flag("too_fast")
        agreements = [r.agreement for r in rows if r.agreement is not None]
        medians = [r.median_seconds for r in rows if r.median_seconds is not None]
        self.summary["annotators"] = {
            "n": len(rows),
            "outliers": sum(r.outlier for r in rows),
            "rule": OUTLIER_RULE.format(**asdict(p)),
            "agreement_mean": _num(np.mean(agreements)) if agreements else None,
            "median_seconds": _num(np.median(medians)) if medians else None,
        }

    # -- disagreement ----------------------------------------------------------------------
    def disagreement(self) -> None:
        values = [r.disagreement for r in self.items.values() if r.disagreement is not None]
        edges = np.linspace(0, 1, 11)
        counts = np.histogram(values, bins=edges)[0] if values else np.zeros(10, dtype=int)
        self.summary["disagreement"] = {
            "edges": _nums(edges),
            "counts": [int(c) for c in counts],
            "mean": _num(np.mean(values)) if values else None,
            "low_agreement": sum("low_agreement" in r.flags for r in self.items.values()),
            "no_consensus": sum("no_consensus" in r.flags for r in self.items.values()),
        }

    # -- discretion ------------------------------------------------------------------------
    def discretion(self, verdict_rows: list[tuple[int, int, str]], principles: list[tuple[int, str]]) -> None:
        d = self.data
        p = self.params
        info = {"source": p.discretion_source, "principles": [{"id": pk, "name": name} for pk, name in principles],
                "categories": {"consensus": 0, "conflict": 0, "indifference": 0, "assessed": 0}, "groups": {},
                "discrepancy": {"human_vs_judge": None, "annotators": {}}}  # fmt: skip
        self.summary["discretion"] = info
        if not principles or not verdict_rows:
            return
        principle_col = {pk: c for c, (pk, _) in enumerate(principles)}
        ann_index = _index_of(d.ann_id, [r[0] for r in verdict_rows])
        allowed_types = {"all": None, "human": {"human"}, "model": {"model"}}[p.discretion_source]
        sums = defaultdict(float)
        assessed: set[int] = set()
        for a, (_, principle_id, verdict) in zip(ann_index.tolist(), verdict_rows, strict=True):
            if a < 0 or principle_id not in principle_col:
                continue
            item = int(d.ann_item[a])
            if item not in self.items or d.item_kind[item] == Kind.RANKING.value:
                continue
            if allowed_types is not None and d.annotator_type[d.ann_annotator[a]] not in allowed_types:
                continue
            assessed.add(item)
            if d.item_kind[item] == Kind.PAIRWISE.value:
                value = {"A": 1.0, "B": -1.0}.get(verdict, 0.0)
            else:
                value = {"A": 1.0, "neither": -1.0}.get(verdict, 0.0)
            sums[(item, principle_col[principle_id])] += value
        if not assessed:
            return
        rows_items = np.array(sorted(assessed), dtype=np.int64)
        row_of = {int(item): r for r, item in enumerate(rows_items.tolist())}
        P = np.full((len(rows_items), len(principles)), np.nan)
        for (item, col), total in sums.items():
            if total:
                P[row_of[item], col] = np.sign(total)
        cats = metrics.agreement_categories(P)
        for r, item in enumerate(rows_items.tolist()):
            row = self.items[item]
            row.discretion_category = str(cats.category[r])
            row.details["principles"] = {str(pk): _num(P[r, c]) for c, (pk, _) in enumerate(principles)}
            info["categories"][row.discretion_category] += 1
        info["categories"]["assessed"] = len(rows_items)

        # annotator preferences on the assessed items
        sel = np.flatnonzero(np.isin(d.ann_item, rows_items) & np.isin(d.ann_kind, list(KIND_CODES)))
        pref = np.full(len(d.ann_id), np.nan)
        code = d.ann_code
        pair = d.ann_kind == Kind.PAIRWISE.value
        pref = np.where(pair & (code == 0), 1.0, pref)
        pref = np.where(pair & (code == 1), -1.0, pref)
        pref = np.where(pair & (code == 2), 0.0, pref)
        pref = np.where(~pair & (code == 0), 1.0, pref)
        pref = np.where(~pair & (code == 1), -1.0, pref)
        pref = np.where(d.ann_consistent == 0, 0.0, pref)
        sel = sel[~np.isnan(pref[sel])]
        rows_of_sel = np.array([row_of[int(i)] for i in d.ann_item[sel]], dtype=np.int64)

        groups = {"human": "human", "model": "judge", "imported": "imported"}
        group_rank = {}
        for type_name, group in groups.items():
            mask = np.array([d.annotator_type[a] == type_name for a in d.ann_annotator[sel]], dtype=bool)
            if not mask.any():
                continue
            result = self._discretion_group(P[rows_of_sel[mask]], pref[sel][mask], bootstrap_priority=True)
            info["groups"][group] = result
            group_rank[group] = result.pop("_rank")
        cons = np.array([self._consensus_sign(int(item)) for item in rows_items.tolist()])
        if (~np.isnan(cons)).any():
            result = self._discretion_group(P, cons, bootstrap_priority=True)
            info["groups"]["consensus"] = result
            group_rank["consensus"] = result.pop("_rank")
        if "human" in group_rank and "judge" in group_rank:
            info["discrepancy"]["human_vs_judge"] = _num(
                metrics.discretion_discrepancy(group_rank["human"], group_rank["judge"])
            )
        # per annotator
        for a_idx, part in _group_slices(d.ann_annotator[sel]):
            a_rows = rows_of_sel[part]
            a_pref = pref[sel][part]
            result = self._discretion_group(P[a_rows], a_pref, bootstrap_priority=False)
            rank = result.pop("_rank")
            row = self.annotators[int(a_idx)]
            row.arbitrariness = result["arbitrariness"]["estimate"]
            dd = _num(metrics.discretion_discrepancy(group_rank["human"], rank)) if "human" in group_rank else None
            result.pop("supremacy", None)
            result.pop("conflicts", None)
            result["discrepancy_vs_human"] = dd
            row.details["discretion"] = result
            if dd is not None:
                info["discrepancy"]["annotators"][d.annotator_uuid[int(a_idx)]] = dd

    def _consensus_sign(self, item: int) -> float:
        code = self.consensus_code[item]
        if np.isnan(code):
            return np.nan
        if self.data.item_kind[item] == Kind.PAIRWISE.value:
            return {0.0: 1.0, 1.0: -1.0, 2.0: 0.0}.get(float(code), np.nan)
        return 1.0 if code == 0 else -1.0

    def _discretion_group(self, P: np.ndarray, a: np.ndarray, *, bootstrap_priority: bool) -> dict:
        p = self.params
        da = batched.discretion_arbitrariness_bootstrap_fast(P, a, n_boot=p.n_boot, seed=p.seed)
        ps, n = metrics.principle_supremacy(P, a)
        priority = metrics.principle_priority(ps, n)
        status = [
            "never_in_conflict" if np.isnan(e) else "always_wins" if e == np.inf else "always_loses"
            if e == -np.inf else "fitted" for e in priority.elo
        ]  # fmt: skip
        out = {
            "n_rows": int(len(a)),
            "arbitrariness": _boot(da),
            "supremacy": _matrix(ps),
            "conflicts": [[int(x) for x in row] for row in n],
            "priority": {
                "elo": _nums(priority.elo),
                "status": status,
                "rank": _nums(priority.rank),
                "converged": priority.converged,
            },  # fmt: skip
            "_rank": priority.rank,
        }
        if bootstrap_priority and p.n_boot_priority and len(a) > 1 and np.isfinite(priority.elo).any():
            rng = np.random.default_rng(p.seed)
            samples = []
            for _ in range(p.n_boot_priority):
                idx = rng.integers(0, len(a), size=len(a))
                ps_b, n_b = metrics.principle_supremacy(P[idx], a[idx])
                elo = metrics.principle_priority(ps_b, n_b).elo
                samples.append(np.where(np.isfinite(elo), elo, np.nan))
            with np.errstate(all="ignore"), _quiet_nan():
                low = np.nanpercentile(np.array(samples), 2.5, axis=0)
                high = np.nanpercentile(np.array(samples), 97.5, axis=0)
            out["priority"]["low"] = _nums(low)
            out["priority"]["high"] = _nums(high)
        return out

    # -- CHES ------------------------------------------------------------------------------
    def ches(self) -> None:
        d = self.data
        pairs, items = [], []
        for item, row in self.items.items():
            if d.item_kind[item] != Kind.PAIRWISE.value:
                continue
            code = self.consensus_code[item]
            responses = d.item_responses[item]
            if code not in (0.0, 1.0) or len(responses) != 2:
                continue
            chosen, rejected = (responses[0], responses[1]) if code == 0 else (responses[1], responses[0])
            row.chosen, row.rejected = chosen, rejected
            pairs.append((chosen, rejected))
            items.append(item)
        info = {"model": None, "status": "no_pairs", "reason": "", "eligible": len(pairs), "scored": 0,
                "mean_ln_ches": None, "histogram": {"edges": [], "counts": []}, "quantiles": {}, "top": []}  # fmt: skip
        self.summary["ches"] = info
        if not pairs:
            info["reason"] = "no pairwise item has a consensus winner"
            return
        try:
            model_name, values, normalised = ches_for_pairs(project=self.project, pairs=pairs)
        except ChesUnavailable as exc:
            info["status"] = "unavailable"
            info["reason"] = str(exc)
            return
        info["model"] = model_name
        scored = []
        for item, value, ln_value in zip(items, values.tolist(), normalised.tolist(), strict=True):
            if not math.isfinite(ln_value):
                continue
            row = self.items[item]
            row.ches, row.ln_ches, row.ches_model = _num(value), ln_value, model_name
            scored.append((ln_value, item))
        info["scored"] = len(scored)
        if not scored:
            info["status"] = "no_encodings"
            info["reason"] = "none of the pairs' responses are encoded with this model; run the encode job"
            return
        info["status"] = "ok"
        ln = np.array([s for s, _ in scored])
        counts, edges = np.histogram(ln, bins=20)
        info["histogram"] = {"edges": _nums(edges), "counts": [int(c) for c in counts]}
        q = np.quantile(ln, [0.05, 0.25, 0.5, 0.75, 0.95])
        info["quantiles"] = dict(zip(("p05", "p25", "p50", "p75", "p95"), _nums(q), strict=True))
        info["mean_ln_ches"] = _num(ln.mean())
        for value, item in sorted(scored, key=lambda s: -s[0])[:CHES_TOP]:
            row = self.items[item]
            info["top"].append({
                "item": d.item_uuid[item], "chosen": d.response_uuid[row.chosen],
                "rejected": d.response_uuid[row.rejected], "ches": row.ches, "ln_ches": value,
            })  # fmt: skip


class _quiet_nan:
    """Silence numpy's 'All-NaN slice' RuntimeWarning inside nanpercentile."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def _signed(code: float) -> float:
    """Pairwise code → signed label: A +1, B −1, tie 0, both_bad 2 (its own value)."""
    if np.isnan(code):
        return np.nan
    return (1.0, -1.0, 0.0, 2.0)[int(code)]


def _groups(order: np.ndarray) -> list[list[int]]:
    """Positions grouped by mid-rank, best first (position order inside a group)."""
    levels = sorted(set(order.tolist()))
    return [[i for i, r in enumerate(order.tolist()) if r == level] for level in levels]


# ---------------------------------------------------------------- CHES source


class ChesUnavailable(Exception):
    """CHES cannot be computed for this project (no model, no encoding service)."""


def ches_for_pairs(*, project: Project, pairs: list[tuple[int, int]]) -> tuple[str, np.ndarray, np.ndarray]:
    """``(model_name, ches [N], ln_ches [N])`` from the stored encodings (NaN where not encoded)."""
    from curation.ches.selectors import encoding_model_name, pair_ches

    try:
        model_name = encoding_model_name(project=project)
    except Exception as exc:  # ModelNotFoundError and friends: say why in the summary
        raise ChesUnavailable(f"no model to encode with: {exc}") from None
    values, normalised = pair_ches(pairs=pairs, model_name=model_name)
    return model_name, values, normalised


# ---------------------------------------------------------------- progress over time


def annotations_per_day(*, project: Project) -> dict:
    rows = (
        Annotation.objects.filter(item__project=project)
        .annotate(day=TruncDate("created_at"))
        .values_list("day", "kind")
        .annotate(n=Count("id"))
        .order_by("day")
    )
    per = defaultdict(dict)
    for day, kind, n in rows:
        per[day.isoformat()][kind] = n
    days = sorted(per)
    by_kind = {k: [per[day].get(k, 0) for day in days] for k in KINDS if any(k in per[day] for day in days)}
    total = [sum(per[day].values()) for day in days]
    return {"days": days, "by_kind": by_kind, "total": total, "cumulative": np.cumsum(total).tolist() if total else []}


# ---------------------------------------------------------------- run and store


def audit_compute(*, project: Project, params: AuditParams, progress: JobProgress | None = None) -> ProjectAudit:
    """Every figure of the audit, in memory (nothing written).

    BLAS runs single-threaded meanwhile: the matrices here are tiny (a few
    values or principles wide) and thread start-up made the many small
    optimiser calls (principle priority) an order of magnitude slower on a
    busy machine.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _audit_compute(project=project, params=params, progress=progress)


def _audit_compute(*, project: Project, params: AuditParams, progress: JobProgress | None) -> ProjectAudit:
    started = time.monotonic()
    stage_start = started
    stage_names = iter(STAGES)

    def stage_done(name_override: str | None = None) -> None:
        nonlocal stage_start
        name = next(stage_names)
        now = time.monotonic()
        timings[name] = round(now - stage_start, 4)
        stage_start = now
        if progress is not None:
            progress.advance(1, message=f"Audit: {name_override or name} done")

    timings: dict[str, float] = {}
    data = project_data_load(project=project)
    verdicts = list(
        PrincipleVerdict.objects.filter(annotation__item__project=project).values_list(
            "annotation_id", "principle_id", "verdict"
        )
    )
    principles = list(Principle.objects.filter(project=project).order_by("position", "id").values_list("id", "name"))
    audit = ProjectAudit(data, project=project, params=params)
    audit.timings = timings
    audit.counts()
    stage_done()
    audit.choice_kinds()
    stage_done()
    audit.rankings()
    audit.disagreement()
    stage_done()
    audit.annotators_vs_consensus()
    stage_done()
    audit.probes()
    audit.transitivity_and_thumbs()
    audit.outliers()
    stage_done()
    audit.discretion(verdicts, principles)
    stage_done()
    audit.ches()
    stage_done()
    audit.summary["progress"] = annotations_per_day(project=project)
    audit.summary["timings"] = timings
    audit.summary["seconds"] = round(time.monotonic() - started, 3)
    return audit


def audit_store(*, audit: ProjectAudit, project: Project, job: Job | None = None) -> Audit:
    """Write the run: one ``Audit``, its item and annotator rows, in one transaction."""
    d = audit.data
    wanted = sorted(audit._ann_uuid_wanted)
    uuid_of = {}
    if wanted:
        ids = d.ann_id[wanted].tolist()
        uuid_of = {pk: str(u) for pk, u in Annotation.objects.filter(pk__in=ids).values_list("id", "uuid")}
    marks = ("swap_inconsistent", "retest_inconsistent", "intransitive", "thumbs_contradiction")
    summary = dict(audit.summary)
    summary["computed_at"] = timezone.now().isoformat()
    summary["job"] = str(job.uuid) if job else None
    with transaction.atomic():
        record = Audit.objects.create(project=project, job=job, summary=summary)
        item_rows = []
        for item, row in audit.items.items():
            details = dict(row.details)
            for key in marks:
                if key in details:
                    details[key] = sorted({uuid_of.get(int(d.ann_id[a]), "") for a in details[key]} - {""})
            item_rows.append(
                {
                    "audit_id": record.pk,
                    "item_id": int(d.item_id[item]),
                    "n_judgments": row.n_judgments,
                    "majority_share": _num(row.majority_share),
                    "entropy": _num(row.entropy),
                    "disagreement": _num(row.disagreement),
                    "consensus": row.consensus,
                    "chosen_id": row.chosen,
                    "rejected_id": row.rejected,
                    "ches": _num(row.ches),
                    "ln_ches": _num(row.ln_ches),
                    "ches_model": row.ches_model,
                    "discretion_category": row.discretion_category,
                    "flags": row.flags,
                    "details": details,
                }
            )
        _rows_insert(ItemAudit, item_rows)
        _rows_insert(
            AnnotatorAudit,
            [
                {
                    "audit_id": record.pk,
                    "annotator_id": int(d.annotator_id[a]),
                    "n_annotations": row.n_annotations,
                    "agreement": _num(row.agreement),
                    "kappa": _num(row.kappa),
                    "probe_consistency": _num(row.probe_consistency),
                    "swap_consistency": _num(row.swap_consistency),
                    "transitivity_violations": row.transitivity_violations,
                    "median_seconds": _num(row.median_seconds),
                    "arbitrariness": _num(row.arbitrariness),
                    "outlier": row.outlier,
                    "flags": row.flags,
                    "details": row.details,
                }
                for a, row in enumerate(audit.annotators)
            ],
        )
    return record


def _rows_insert(model, rows: list[dict]) -> None:
    """Insert plain rows (column name -> value). PostgreSQL: one ``COPY`` (tens of
    thousands of item rows in well under a second, where ``bulk_create`` spent
    most of its time binding half a million parameters); other databases:
    ``bulk_create``."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**row) for row in rows], batch_size=2000)
        return
    columns = list(rows[0])
    json_columns = {f.column for f in model._meta.concrete_fields if f.get_internal_type() == "JSONField"}
    encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([encode(row[c]) if c in json_columns else row[c] for c in columns])
