"""Curated dataset exports: a Celery job writes the files, then a ``Dataset`` row records them.

``export_create(project=, fmt=, options=, user=)`` checks the options and queues
an ``export`` job (light queue); :func:`dataset_export` is its runner. The
command ``manage.py export_dataset`` and the REST API both go through
``export_create``.

Options (one flat dict; every key optional):

format options (:class:`curation.exports.ExportOptions`)
    ``conversational``, ``plain_prompt``, ``ranking_pairs``, ``dpo_sources``,
    ``extra_columns``, ``kto_ties``, ``kto_rankings``,
    ``ranking_include_pairwise``, ``judgment_positives``, ``sft_sources``,
    ``row_group_size``
filters (:class:`curation.exports.FilterSpec`, applied in this order)
    ``exclude_excluded`` (default true: leave out items a curator excluded),
    ``annotator_types`` (``human`` / ``judge`` / ``both``),
    ``exclude_flagged_annotators`` (curator-flagged annotators and the latest
    audit's outliers), ``drop_swap_inconsistent`` (the audit's swap findings and
    judges' own ``consistent=False``), ``drop_judge_inconsistent`` (only the
    latter), ``drop_intransitive`` (the audit's transitivity violations),
    ``min_judgments``, ``min_agreement``, ``ches_drop_above_quantile`` or
    ``ches_keep_lowest_fraction`` (with ``ches_measure`` ``ln_ches``/``ches``
    and ``ches_unscored`` ``keep``/``drop``; scores from the latest audit),
    ``test_fraction`` and ``seed`` (train/test split by prompt)
``name``
    a label for the dataset.

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

import hashlib
import hmac
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404

from curation.exports import FORMATS, ExportInputError, ExportOptions, FilterSpec, export_run
from curation.exports.base import EXTRA_COLUMNS, SOURCES
from curation.exports.filters import ANNOTATOR_TYPE_SETS
from curation.exports.manifest import write_json
from curation.exports.orm import audit_findings, ches_scores, export_items, items_for_export, latest_audit
from curation.jobs.lifecycle import JobLost, JobProgress, job_create, job_runner
from curation.models import Dataset, Job, JobKind

logger = logging.getLogger(__name__)

OPTION_FIELDS = {f.name: f for f in fields(ExportOptions)}
# FilterSpec fields a user sets directly; the id sets come from the audit through the booleans below.
FILTER_FIELDS = {
    f.name: f for f in fields(FilterSpec) if f.name not in ("flagged_annotators", "swap_inconsistent", "intransitive")
}
AUDIT_SWITCHES = ("exclude_flagged_annotators", "drop_swap_inconsistent", "drop_intransitive")
OTHER_FIELDS = ("name",)
ALL_FIELDS = (*OPTION_FIELDS, *FILTER_FIELDS, *AUDIT_SWITCHES, *OTHER_FIELDS)
PROGRESS_EVERY_MIN = 1000  # items between progress writes (at least; 1% of the project otherwise)


@dataclass(frozen=True)
class OptionSpec:
    """One export option: its type, allowed values and help text.

    ``EXPORT_OPTIONS`` is the one description of the options: the coercion and
    range checks below, the REST API's typed serializer
    (``api.export_options``) and so the OpenAPI schema are built from it.
    ``kind`` is ``bool``, ``int``, ``float``, ``str`` or ``list`` (of ``choices``).
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
        # filters (FilterSpec), applied in this order
        OptionSpec("exclude_excluded", "bool", "Leave out items a curator excluded."),
        OptionSpec("annotator_types", "str", "Whose judgments count (imported labels only under both).", choices=tuple(ANNOTATOR_TYPE_SETS)),
        OptionSpec("exclude_flagged_annotators", "bool", "Drop judgments by curator-flagged annotators and the latest audit's outliers."),
        OptionSpec("drop_swap_inconsistent", "bool", "Drop judgments the latest audit found contradicted by an A/B-swapped repeat, and judges' inconsistent ones."),
        OptionSpec("drop_judge_inconsistent", "bool", "Drop judges' judgments marked inconsistent (both presentation orders disagree)."),
        OptionSpec("drop_intransitive", "bool", "Drop judgments in a transitivity violation (latest audit)."),
        OptionSpec("min_judgments", "int", "Drop items with fewer usable judgments.", minimum=0, maximum=10_000),
        OptionSpec("min_agreement", "float", "Drop items whose agreement (majority share) is below this.", minimum=0.0, maximum=1.0),
        OptionSpec("ches_drop_above_quantile", "float", "Drop pairwise items whose CHES is above this quantile of the project's scores (give this or ches_keep_lowest_fraction).", minimum=0.0, maximum=1.0),
        OptionSpec("ches_keep_lowest_fraction", "float", "Keep only this fraction of pairwise items, lowest CHES first (Razin et al. keep 0.05-0.15).", minimum=0.0, maximum=1.0),
        OptionSpec("ches_measure", "str", "Which CHES the CHES filter reads: length-normalised or raw.", choices=("ln_ches", "ches")),
        OptionSpec("ches_unscored", "str", "What the CHES filter does with pairs that have no score.", choices=("keep", "drop")),
        OptionSpec("test_fraction", "float", "Share of prompts in the test split (a prompt never lands in both).", minimum=0.0, maximum=1.0, maximum_exclusive=True),
        OptionSpec("seed", "int", "Seed of the train/test split.", minimum=0, maximum=SEED_MAX),
        # the dataset
        OptionSpec("name", "str", "A label for the dataset.", max_length=200),
    )
}  # fmt: skip
if set(EXPORT_OPTIONS) != set(ALL_FIELDS):  # pragma: no cover - caught by any import in the tests
    raise RuntimeError(f"export options without an OptionSpec: {set(ALL_FIELDS) ^ set(EXPORT_OPTIONS)}")


# ---------------------------------------------------------------- options


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
    return name if name in ALL_FIELDS else "options"


def export_options_clean(*, fmt: str, options: dict | None) -> dict:
    """The normalised options (every key, defaults filled in); ``ValidationError`` names the field.

    Builds the format options and the filters once, so whatever passes here
    also passes in the runner.
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
        spec = FilterSpec.from_dict({k: v for k, v in data.items() if k in FILTER_FIELDS})
        FORMATS[fmt](opts, salt="check")  # the format accepts these options
    except (ExportInputError, TypeError, ValueError) as exc:
        message = str(exc)
        raise ValidationError({_field_of(message): message}) from None
    out = {**opts.to_dict(), **{k: v for k, v in spec.to_dict().items() if k in FILTER_FIELDS}}
    out.update({switch: bool(data.get(switch, False)) for switch in AUDIT_SWITCHES})
    out["name"] = name
    return out


def _split_options(clean: dict) -> tuple[dict, dict, dict]:
    options = {k: clean[k] for k in OPTION_FIELDS if k in clean}
    filters = {k: clean[k] for k in FILTER_FIELDS if k in clean}
    switches = {k: bool(clean.get(k)) for k in AUDIT_SWITCHES}
    return options, filters, switches


def export_create(*, project, fmt: str, options: dict | None = None, user=None, enqueue: bool = True) -> Job:
    """Check the options and queue an export job of ``project`` (light queue).

    Raises ``ValidationError`` keyed by the option at fault (``format`` for the
    format). ``enqueue=False`` stores the job without sending it to a worker
    (the command runs it in its own process).
    """
    clean = export_options_clean(fmt=fmt, options=options)
    return job_create(
        project=project, kind=JobKind.EXPORT, params={"format": fmt, "options": clean}, user=user, enqueue=enqueue
    )


# ---------------------------------------------------------------- reading


def export_root() -> Path:
    return Path(settings.DOCKET_EXPORT_DIR)


def datasets_for_project(*, project):
    """The project's datasets, newest first."""
    return Dataset.objects.filter(project=project).select_related("job", "created_by").order_by("-created_at", "-id")


def dataset_folder(*, dataset: Dataset) -> Path:
    return export_root() / dataset.path


def dataset_file_names(*, dataset: Dataset) -> list[str]:
    """What can be downloaded: the data files, the card and the manifest."""
    return [f["name"] for f in dataset.files] + ["README.md", "manifest.json"]


def dataset_file_path(*, dataset: Dataset, name: str) -> Path:
    """The file ``name`` of ``dataset`` on disk; ``Http404`` for anything else.

    Only names the dataset lists are served (so ``../`` tricks, absolute paths
    and other datasets' files are refused), and the resolved path must still
    lie inside the dataset's folder (a symlink pointing out is refused too).
    """
    if not dataset.path or name not in dataset_file_names(dataset=dataset):
        raise Http404("no such file in this dataset")
    root = export_root().resolve()
    folder = (root / dataset.path).resolve()
    path = (folder / name).resolve()
    if not folder.is_relative_to(root) or folder == root or not path.is_relative_to(folder) or not path.is_file():
        raise Http404("no such file in this dataset")
    return path


def files_digest(files: list[dict]) -> str:
    """sha256 of the sorted ``name  sha256`` lines of the data files (stable across runs)."""
    lines = sorted(f"{f['name']}  {f['sha256']}\n" for f in files)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def raw_salt(*, project) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"docket-export-raw:{project.uuid}".encode(), "sha256").hexdigest()


# ---------------------------------------------------------------- the job


def _result(dataset: Dataset) -> dict:
    return {
        "dataset": str(dataset.uuid),
        "format": dataset.format,
        "rows": dataset.row_count,
        "files": len(dataset.files),
        "sha256": dataset.sha256,
    }


def _remove(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)


@job_runner("export")
def dataset_export(job: Job, progress: JobProgress) -> dict:
    existing = Dataset.objects.filter(job=job).first()
    if existing is not None:
        progress.log(f"dataset {existing.uuid} already written")
        return _result(existing)
    params = job.params or {}
    fmt = params.get("format", "")
    try:
        clean = export_options_clean(fmt=fmt, options=params.get("options") or {})
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

    options, filters, switches = _split_options(clean)
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
    scores = ches_scores(audit=audit, project=project, measure=spec.ches_measure) if spec.wants_ches else None

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
            items_for_export(project=project, audit=audit, full=fmt == "raw"),
            fmt=fmt,
            out_dir=partial,
            options=options,
            filters=spec,
            salt=raw_salt(project=project) if fmt == "raw" else None,
            project=project.slug,
            ches_scores=scores,
            progress=report,
            progress_every=max(PROGRESS_EVERY_MIN, total // 100),
        )
        manifest = dict(result.manifest)
        manifest["dataset"] = str(dataset_uuid)
        manifest["export_settings"] = clean
        manifest["audit"] = findings.summary()
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
                filters={k: clean[k] for k in (*FILTER_FIELDS, *AUDIT_SWITCHES)},
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
    return _result(dataset)
