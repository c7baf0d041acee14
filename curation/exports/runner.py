"""Curated dataset exports: a Celery job writes the files, then a ``Dataset`` row records them.

``export_create(project=, user=, params={"format": …, "options": {…}})``
(``curation.exports.services``) checks the options
(``curation.exports.options``, where every option is listed) and queues an
``export`` job (light queue); :func:`dataset_export` is its runner
(``curation.jobs.registry``). The command ``manage.py export_dataset`` and
the REST API both go through ``export_create``.

What a run does
    1. If the job already has its ``Dataset`` (a redelivered task), return it.
    2. Read the project's items through :func:`curation.exports.orm.items_for_export`
       (streamed, ordered by prompt, probes left out) into :func:`export_run`,
       which writes ``DOCKET_EXPORT_DIR/.partial-<uuid>/``; progress counts items
       read against a count query.
    3. Rename the folder to ``DOCKET_EXPORT_DIR/<uuid>/`` and create the
       ``Dataset`` in one transaction that checks the job's lease. Any failure
       (or a cancel) removes the folder, so there is never a Dataset without
       files or files without a Dataset. A run that died leaves a
       ``.partial-<uuid>`` folder its successor (same uuid, from the job's
       checkpoint) removes before starting again.

``Dataset.files`` lists the data files ``{name, split, format, rows, sha256,
bytes}`` (``name`` relative to the dataset folder, e.g.
``data/train-00000-of-00001.parquet``); ``README.md`` (the card) and
``manifest.json`` sit beside them and are downloadable too. ``Dataset.sha256``
is the sha256 of the sorted ``name  sha256`` lines of the data files: the same
data with the same options give the same files, hence the same value.

The raw format pseudonymises annotators with a salt derived from
``SECRET_KEY`` and the project (HMAC), stable across exports of the project and
written nowhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from curation.exports import FilterSpec, export_run
from curation.exports.manifest import write_json
from curation.exports.options import (
    AUDIT_SWITCHES,
    FILTER_FIELDS,
    PRINCIPLE_FILTERS,
    export_options_clean,
    export_options_split,
)
from curation.exports.orm import (
    audit_findings,
    ches_scores,
    export_items,
    items_for_export,
    latest_audit,
    principle_required,
    principle_split_items,
    principle_versions_manifest,
    questions_for_export,
)
from curation.exports.run import ExportCount, export_count
from curation.exports.selectors import export_root
from curation.jobs.lifecycle import JobLost, JobProgress
from curation.models import Dataset, Job

logger = logging.getLogger(__name__)

PROGRESS_EVERY_MIN = 1000  # items between progress writes (at least; 1% of the project otherwise)


def files_digest(files: list[dict]) -> str:
    """sha256 of the sorted ``name  sha256`` lines of the data files (stable across runs)."""
    lines = sorted(f"{f['name']}  {f['sha256']}\n" for f in files)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def raw_salt(*, project) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"docket-export-raw:{project.uuid}".encode(), "sha256").hexdigest()


# ---------------------------------------------------------------- the job


@dataclass
class _Plan:
    options: dict
    spec: FilterSpec
    audit: object
    findings: object
    scores: object
    audit_voters: tuple
    audit_agreement: bool
    split_principle: object  # the principle of drop_split_principle (None without it)


def _plan(*, project, clean: dict) -> _Plan:
    """The format options, the filters (audit id sets filled in), the audit, its findings, the CHES scores
    and whether the audit's agreement counts these voters.

    What both the export job and :func:`export_preview` run on, so the count a
    page shows is the count the job writes.
    """
    options, filters, switches = export_options_split(clean)
    audit = latest_audit(project=project)
    findings = audit_findings(project=project, audit=audit if audit else None)
    if switches["exclude_flagged_annotators"]:
        filters["flagged_annotators"] = findings.flagged_annotators
    if switches["drop_swap_inconsistent"]:
        filters["swap_inconsistent"] = findings.swap_inconsistent
        filters["drop_judge_inconsistent"] = True
    if switches["drop_intransitive"]:
        filters["intransitive"] = findings.intransitive
    spec = FilterSpec.from_dict(filters)
    split_principle = None
    if switches["drop_split_principle"]:
        # ValidationError when the principle is gone (deleted since export_create checked it)
        split_principle = principle_required(project=project, ref=switches["drop_split_principle"])
        spec = dataclasses.replace(
            spec,
            # the verdicts of the export's voters (the annotator types whose judgments count)
            principle_split=principle_split_items(
                project=project, principle=split_principle, annotator_types=frozenset(spec.voters)
            ),
            principle_split_name=split_principle.name,
        )
    # The audit's per-item agreement counts the audit's voters; with other voters the export computes its own
    # (an audit that predates the voters option did not record them: its agreement is used as before).
    audit_voters = tuple((audit.summary or {}).get("params", {}).get("voters") or ()) if audit else ()
    audit_agreement = bool(audit) and audit_voters in ((), spec.voters)
    scores = (
        ches_scores(
            audit=audit, project=project, measure=spec.ches_measure, with_chosen_tokens=spec.ches_min_chosen_tokens > 0
        )
        if spec.wants_ches
        else None
    )
    return _Plan(options, spec, audit, findings, scores, audit_voters, audit_agreement, split_principle)


def export_preview(*, project, fmt: str, options: dict | None) -> ExportCount:
    """How many items and rows an export of ``project`` with these options would keep, nothing queued or written.

    Checks the options as :func:`~curation.exports.services.export_create`
    does (``ValidationError`` naming the field), then runs the export job's own
    reader, filters, format and split (``export_count``) without the writers.
    """
    questions = questions_for_export(project=project)
    clean = export_options_clean(fmt=fmt, options=options, questions=questions)
    plan = _plan(project=project, clean=clean)
    return export_count(
        items_for_export(project=project, audit=plan.audit, full=fmt == "raw", audit_agreement=plan.audit_agreement),
        fmt=fmt,
        options=plan.options,
        filters=plan.spec,
        ches_scores=plan.scores,
        questions=questions,
    )


def _result(dataset: Dataset) -> dict:
    """The job's result; ``why_empty`` (the manifest's) says what removed everything when there are no rows."""
    return {
        "dataset": str(dataset.uuid),
        "format": dataset.format,
        "rows": dataset.row_count,
        "files": len(dataset.files),
        "sha256": dataset.sha256,
        "why_empty": (dataset.manifest or {}).get("why_empty"),
    }


def _remove(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)


def dataset_export(job: Job, progress: JobProgress) -> dict:
    existing = Dataset.objects.filter(job=job).first()
    if existing is not None:
        progress.log(f"dataset {existing.uuid} already written")
        return _result(existing)
    params = job.params or {}
    fmt = params.get("format", "")
    try:
        clean = export_options_clean(
            fmt=fmt, options=params.get("options") or {}, questions=questions_for_export(project=job.project)
        )
    except ValidationError as exc:
        raise ValueError(f"invalid export parameters: {exc}") from None
    project = job.project
    state = dict(progress.checkpoint or {})
    dataset_uuid = uuid.UUID(state["dataset"]) if state.get("dataset") else uuid.uuid4()
    if not state.get("dataset"):
        state["dataset"] = str(dataset_uuid)
        progress.save_checkpoint(state)
    root = export_root()
    root.mkdir(parents=True, exist_ok=True)
    partial = root / f".partial-{dataset_uuid}"
    final = root / str(dataset_uuid)
    _remove(partial)  # left by a run that died
    _remove(final)  # renamed by a run that died before its Dataset was committed

    try:
        plan = _plan(project=project, clean=clean)
    except ValidationError as exc:
        raise ValueError(f"invalid export parameters: {exc}") from None
    options, spec, audit, findings, scores = plan.options, plan.spec, plan.audit, plan.findings, plan.scores
    audit_voters, audit_agreement, split_principle = plan.audit_voters, plan.audit_agreement, plan.split_principle

    total = export_items(project=project).count()
    progress.set_total(total, message=f"Exporting {total} items ({fmt})")
    progress.log(
        f"export {fmt} of {total} items; audit {findings.audit_id or 'none'}; "
        f"flagged annotators {len(findings.flagged_annotators)}, swap-inconsistent {len(findings.swap_inconsistent)}, "
        f"intransitive {len(findings.intransitive)}"
    )

    def report(read: int) -> None:
        progress.set_done(read, message=f"{read} of {total} items read")

    committed = False
    try:
        result = export_run(
            items_for_export(project=project, audit=audit, full=fmt == "raw", audit_agreement=audit_agreement),
            fmt=fmt,
            out_dir=partial,
            options=options,
            filters=spec,
            salt=raw_salt(project=project) if fmt == "raw" else None,
            project=project.slug,
            ches_scores=scores,
            progress=report,
            progress_every=max(PROGRESS_EVERY_MIN, total // 100),
            questions=questions_for_export(project=project),
        )
        manifest = dict(result.manifest)
        manifest["dataset"] = str(dataset_uuid)
        manifest["export_settings"] = clean
        manifest["audit"] = {
            **findings.summary(),
            "voters": list(audit_voters) or None,
            "agreement_from_audit": audit_agreement,
        }
        manifest["principle_versions"] = principle_versions_manifest(project=project)
        if split_principle is not None:
            manifest["principle_split"] = {
                "principle": {"id": split_principle.pk, "name": split_principle.name},
                "split_items": len(spec.principle_split),
            }
        write_json(partial / "manifest.json", manifest)
        files = [
            {
                "name": f.path,
                "split": f.split,
                "format": f.file_type,
                "rows": f.rows,
                "sha256": f.sha256,
                "bytes": f.bytes,
            }
            for f in result.files
        ]
        os.replace(partial, final)
        with transaction.atomic():
            held = Job.objects.select_for_update().filter(
                pk=job.pk, lease_token=progress.token, status=Job.Status.RUNNING
            )
            if not held.exists():
                raise JobLost(f"job {job.uuid} is no longer held by this run")
            dataset = Dataset.objects.create(
                uuid=dataset_uuid,
                project=project,
                job=job,
                name=clean.get("name", ""),
                format=fmt,
                filters={k: clean[k] for k in (*FILTER_FIELDS, *AUDIT_SWITCHES, *PRINCIPLE_FILTERS)},
                path=str(dataset_uuid),
                files=files,
                row_count=result.rows_total,
                manifest=json.loads(json.dumps(manifest, default=str)),
                sha256=files_digest(files),
                created_by=job.created_by,
            )
        committed = True
    finally:
        if not committed:
            _remove(partial)
            _remove(final)
    progress.log(f"dataset {dataset.uuid}: {dataset.row_count} rows, {result.rows}")
    if manifest.get("why_empty"):
        progress.log(manifest["why_empty"])
    return _result(dataset)
