"""The project audit as a pipeline of stages, each a module with explicit inputs and outputs.

:func:`audit_compute` reads the project into arrays (``load``), then runs
the stages in this order, passing each what it needs from the ones before:

====================  ===============================  ==========================================
stage                 reads                            returns (summary section) and passes on
====================  ===============================  ==========================================
``counts``            data                             ``counts``
``agreement``         data                             ``alpha``, ``consensus``; consensus_code
``rankings``          data                             ranking α/consensus, ``kendall_w``;
                                                       mid_ranks, order
``agreement``         item rows                        ``disagreement``
``annotators``        consensus_code, mid_ranks, order (rows only)
``consistency``       mid_ranks                        ``consistency``
``annotators``        annotator rows (after probes)    ``annotators`` (the outlier rule)
``discretion``        consensus_code, verdicts         ``discretion``
``ambiguity``         verdicts                         ``ambiguity`` (per-principle agreement)
``questions``         answers to custom questions      ``questions`` (per-question agreement,
                                                       categories, per-question outliers)
``ches``              consensus_code                   ``ches``
====================  ===============================  ==========================================

Every stage also writes its per-item and per-annotator figures into the
rows it is given (``rows.AuditRows``). ``store.audit_store`` then writes one
:class:`~curation.models.Audit` with its :class:`~curation.models.ItemAudit`
and :class:`~curation.models.AnnotatorAudit` rows in a single transaction,
so the dashboards open without recomputing; ``runner.project_audit`` is the
'audit' job that does both. The layout of what is stored is
``curation.audit.summary``.

What counts
    * **Votes**: every annotation of an audited item except an algorithmic
      judge's ``consistent=False`` ones (a judge that contradicted itself when
      the responses were swapped; see ``curation.judging.runner``).
    * **Audited items**: neither ``excluded`` nor probes (``probe_of`` set).
      Only they enter α, consensus and the per-item rows. Probes feed the
      annotators' consistency, excluded items their counts and speed.
    * Pairwise codes are canonical (A = the item's response at position 0):
      A=0, B=1, tie=2, both_bad=3 (nominal); thumb up=0, down=1.
    * A curator's ``resolution`` (``{"choice": ...}``, ``{"ranking": ...}``
      or a bare string) overrides the consensus (flag ``resolved``) and is
      what annotators are compared with and what CHES orients the pair by.

Each stage's module docstring says what it computes.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from annotate.models import Project
from curation.audit.agreement import choice_kinds, disagreement
from curation.audit.ambiguity import ambiguity
from curation.audit.annotators import annotators_vs_consensus, outliers
from curation.audit.ches import ches
from curation.audit.consistency import probes, transitivity_and_thumbs
from curation.audit.counts import counts
from curation.audit.discretion import discretion
from curation.audit.load import ProjectData, principle_verdicts_load, project_data_load
from curation.audit.params import AuditParams
from curation.audit.questions import questions
from curation.audit.rankings import rankings
from curation.audit.rows import AuditRows
from curation.audit.selectors import annotations_per_day
from curation.audit.summary import SUMMARY_VERSION, AuditSummary
from curation.jobs.lifecycle import JobProgress
from curation.judging.selectors import judge_calibrations

STAGES = (
    "reading annotations",
    "agreement and consensus",
    "rankings",
    "annotators",
    "consistency",
    "discretion",
    "principle ambiguity",
    "custom questions",
    "CHES",
    "writing results",
)


@dataclass
class AuditResult:
    """Every figure of one audit run, in memory: the data it read, the rows
    the stages filled in and the summary (without ``computed_at`` and ``job``,
    which ``audit_store`` adds)."""

    data: ProjectData
    rows: AuditRows
    summary: AuditSummary
    timings: dict[str, float] = field(default_factory=dict)


def audit_compute(*, project: Project, params: AuditParams, progress: JobProgress | None = None) -> AuditResult:
    """Every figure of the audit, in memory (nothing written).

    BLAS runs single-threaded meanwhile: the matrices here are tiny (a few
    values or principles wide) and thread start-up made the many small
    optimiser calls (principle priority) an order of magnitude slower on a
    busy machine.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _audit_compute(project=project, params=params, progress=progress)


def _audit_compute(*, project: Project, params: AuditParams, progress: JobProgress | None) -> AuditResult:
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
    threshold = (
        params.low_agreement_below if params.low_agreement_below is not None else (project.agreement_threshold or 0.6)
    )
    data = project_data_load(project=project, voters=params.voters)
    verdicts, principles = principle_verdicts_load(project=project)
    rows = AuditRows.for_data(data)
    summary: dict = {"version": SUMMARY_VERSION, "params": asdict(params) | {"low_agreement_below": threshold}}

    summary["counts"] = counts(data, rows)
    stage_done()
    choices = choice_kinds(data, rows, params=params, threshold=threshold)
    summary["alpha"], summary["consensus"] = choices.alpha, choices.consensus
    stage_done()
    ranked = rankings(data, rows, params=params, threshold=threshold)
    if ranked.alpha is not None:
        summary["alpha"]["ranking"] = ranked.alpha
    if ranked.kendall_w is not None:
        summary["kendall_w"] = ranked.kendall_w
    if ranked.consensus is not None:
        summary["consensus"]["ranking"] = ranked.consensus
    summary["disagreement"] = disagreement(rows)
    stage_done()
    annotators_vs_consensus(
        data, rows, consensus_code=choices.consensus_code, mid_ranks=ranked.mid_ranks, ranking_order=ranked.order
    )
    stage_done()
    consistency = probes(data, rows, mid_ranks=ranked.mid_ranks)
    consistency["transitivity"], consistency["thumbs"] = transitivity_and_thumbs(data, rows)
    summary["consistency"] = consistency
    summary["annotators"] = outliers(rows, params)
    stage_done()
    summary["discretion"] = discretion(
        data,
        rows,
        params=params,
        consensus_code=choices.consensus_code,
        verdict_rows=verdicts,
        principles=principles,
    )
    stage_done()
    summary["ambiguity"] = ambiguity(data, rows, params=params, verdict_rows=verdicts, principles=principles)
    stage_done()
    summary["questions"] = questions(data, rows, params=params, project=project)
    stage_done()
    summary["ches"] = ches(data, rows, project=project, consensus_code=choices.consensus_code)
    stage_done()
    summary["judges"] = judge_calibrations(project=project)
    summary["progress"] = annotations_per_day(project=project)
    summary["timings"] = timings
    summary["seconds"] = round(time.monotonic() - started, 3)
    return AuditResult(data=data, rows=rows, summary=summary, timings=timings)
