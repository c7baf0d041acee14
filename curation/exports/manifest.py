"""The manifest (``manifest.json``) and the dataset card (``README.md``) of an export.

The manifest's ``created_at`` is the only value that changes between two runs
on the same data; it lives in ``manifest.json`` only, never in the data files
or the card, so those are byte-identical across runs.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import pyarrow as pa

from .writers import FileInfo

MANIFEST_VERSION = 1


@lru_cache(maxsize=1)
def code_version() -> str:
    """``git describe --always --dirty`` of the checkout when there is one, else the package version."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        if out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return metadata.version("docket")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_manifest(
    *,
    project: str | None,
    fmt: str,
    options: dict,
    filters: dict,
    filter_report: list[dict],
    dropped: dict[str, int],
    drop_reasons: dict[str, str],
    rows: dict[str, int],
    files: list[FileInfo],
    items_in: int,
    items_kept: int,
    extra: dict | None = None,
    created_at: datetime | None = None,
) -> dict:
    """A JSON-ready description of the export (see the module docstring)."""
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "project": project,
        "format": fmt,
        "options": options,
        "filters": filters,
        "items": {"read": items_in, "kept_by_filters": items_kept},
        "filter_report": filter_report,
        "dropped_by_format": [
            {"reason": reason, "count": count, "description": drop_reasons.get(reason, "")}
            for reason, count in sorted(dropped.items())
        ],
        "rows": dict(rows),
        "rows_total": sum(rows.values()),
        "files": [f.to_dict() for f in files],
        "code_version": code_version(),
        "pyarrow_version": pa.__version__,
        "created_at": (created_at or datetime.now(UTC)).isoformat(timespec="seconds"),
    }
    if extra:
        manifest.update(extra)
    manifest["why_empty"] = why_empty(manifest)
    return manifest


def why_empty(manifest: dict) -> str | None:
    """For an export without rows, one line saying which filter and which format rule removed what.

    ``None`` when the export has rows. Read from the manifest's ``items``,
    ``filter_report`` and ``dropped_by_format`` (docs/algorithms.md#export-filters).
    """
    if manifest["rows_total"]:
        return None
    read, kept = manifest["items"]["read"], manifest["items"]["kept_by_filters"]
    if read == 0:
        return "0 rows: the project has no items to export (probes are never exported)"
    parts = [f"0 rows from {read} items read"]
    removed = [
        f"{f['name']} removed {f['removed']} {f['unit']} ({f['reason']})"
        for f in manifest["filter_report"]
        if f["removed"]
    ]
    if removed:
        parts.append("filters: " + "; ".join(removed))
    parts.append(f"{kept} items left after the filters")
    drops = [f"{d['count']} {d['description']} ({d['reason']})" for d in manifest["dropped_by_format"]]
    if drops:
        parts.append(f"the {manifest['format']} format made no row from: " + "; ".join(drops))
    return "; ".join(parts)


def write_json(path: str | Path, value: dict) -> None:
    Path(path).write_text(json.dumps(value, sort_keys=True, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


_LOAD_HINTS = {
    "dpo": (
        "from trl import DPOConfig, DPOTrainer\n"
        "trainer = DPOTrainer(model=model, args=DPOConfig(output_dir='out'), train_dataset=ds['train'],\n"
        "                     processing_class=tokenizer)"
    ),
    "kto": (
        "from trl import KTOConfig, KTOTrainer\n"
        "config = KTOConfig(output_dir='out', desirable_weight={dw}, undesirable_weight={uw})\n"
        "trainer = KTOTrainer(model=model, args=config, train_dataset=ds['train'], processing_class=tokenizer)"
    ),
    "sft": (
        "from trl import SFTConfig, SFTTrainer\n"
        "trainer = SFTTrainer(model=model, args=SFTConfig(output_dir='out'), train_dataset=ds['train'])"
    ),
}

_COLUMNS = {
    "dpo": "`prompt`, `chosen`, `rejected` (+ optional `margin`, `agreement`, `ches`, `ln_ches`)",
    "kto": "`prompt`, `completion`, `label` (bool, true = desirable)",
    "ranking": "`prompt`, `responses` (best to worst), `scores` (mean Borda, ties equal)",
    "judgment": "`instruction`, `response`, `judgment` (null = judged good), `corrected_response` (nullable)",
    "sft": "`prompt`, `completion`",
    "raw": "one row per annotation, annotator ids pseudonymised (HMAC-SHA256 with a private salt)",
}


def dataset_card(manifest: dict) -> str:
    """README.md text: YAML header for ``datasets``/the Hub, then filters, counts and how to load.

    Built from the manifest without its ``created_at``, so the card is identical across runs.
    """
    fmt = manifest["format"]
    project = manifest.get("project") or "docket"
    files = manifest["files"]
    splits = list(manifest["rows"])
    parquet = {f["split"]: f["path"] for f in files if f["type"] == "parquet"}
    jsonl = {f["split"]: f["path"] for f in files if f["type"] == "jsonl"}
    primary = parquet or jsonl
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split in splits:
        lines += [f"  - split: {split}", f"    path: {primary[split]}"]
    lines += ["tags:", "- docket", f"- {fmt}", "- preference-data", "---", ""]
    conversational = manifest["options"].get("conversational", True)
    lines += [
        f"# {project}: {fmt} export",
        "",
        f"Exported by Docket ({manifest['code_version']}, pyarrow {manifest['pyarrow_version']}).",
        "",
        "## Format",
        "",
        f"Columns: {_COLUMNS.get(fmt, '')}.",
        "Text is "
        + (
            "conversational: message lists `[{role, content}]` (TRL's conversational form)."
            if conversational
            else f"plain strings (prompt = {manifest['options'].get('plain_prompt', 'last_user')})."
        ),
        "",
        "Options: `" + json.dumps(manifest["options"], sort_keys=True) + "`",
        "",
        "## Rows",
        "",
        "| split | rows |",
        "| --- | --- |",
    ]
    lines += [f"| {split} | {n} |" for split, n in manifest["rows"].items()]
    if manifest.get("empty_splits"):
        lines += ["", "Splits left empty by the filters, so not written: " + ", ".join(manifest["empty_splits"]) + "."]
    if manifest.get("why_empty"):
        lines += ["", f"No rows. Why: {manifest['why_empty']}."]
    lines += [
        "",
        f"Items read: {manifest['items']['read']}; kept by the filters: {manifest['items']['kept_by_filters']}.",
        "",
        "## Filters",
        "",
        "Settings: `" + json.dumps(manifest["filters"], sort_keys=True) + "`",
        "",
    ]
    if manifest["filter_report"]:
        lines += ["| filter | removed | unit | what |", "| --- | --- | --- | --- |"]
        lines += [f"| {f['name']} | {f['removed']} | {f['unit']} | {f['reason']} |" for f in manifest["filter_report"]]
    else:
        lines.append("No filter removed anything.")
    if manifest["dropped_by_format"]:
        lines += ["", "Not usable by this format:", "", "| reason | count | what |", "| --- | --- | --- |"]
        lines += [f"| {d['reason']} | {d['count']} | {d['description']} |" for d in manifest["dropped_by_format"]]
    balance = manifest.get("kto_balance")
    dw = uw = 1.0
    if balance:
        train = balance.get("train", {})
        dw, uw = train.get("desirable_weight", 1.0), train.get("undesirable_weight", 1.0)
        lines += [
            "",
            "## Class balance (KTO)",
            "",
            "| split | desirable | undesirable | desirable_weight | undesirable_weight |",
            "| --- | --- | --- | --- | --- |",
        ]
        for split, b in balance.items():
            lines.append(
                f"| {split} | {b['desirable']} | {b['undesirable']} | {b['desirable_weight']:.6g} | "
                f"{b['undesirable_weight']:.6g} |"
            )
        lines += ["", "The weights put (desirable_weight·n_D)/(undesirable_weight·n_U) in TRL's recommended [1, 4/3]."]
    lines += ["", "## Files", "", "| file | rows | bytes | sha256 |", "| --- | --- | --- | --- |"]
    lines += [f"| {f['path']} | {f['rows']} | {f['bytes']} | `{f['sha256']}` |" for f in files]
    data_files = ", ".join(f'"{s}": "{p}"' for s, p in primary.items())
    kind = "parquet" if parquet else "json"
    lines += [
        "",
        "## Load",
        "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("path/to/this/folder")  # Parquet, via the configs above',
        f'ds = load_dataset("{kind}", data_files={{{data_files}}})  # paths relative to this folder',
    ]
    if jsonl and parquet:
        js = ", ".join(f'"{s}": "{p}"' for s, p in jsonl.items())
        lines.append(f'ds = load_dataset("json", data_files={{{js}}})')
    hint = _LOAD_HINTS.get(fmt)
    if hint:
        lines += ["", hint.format(dw=round(dw, 6), uw=round(uw, 6))]
    lines += ["```", ""]
    return "\n".join(lines)
