"""``export_run``: filter, build rows, split, write, describe, in one pass over the items."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from pathlib import Path

from .base import ExportOptions, Format
from .dpo import DpoFormat
from .filters import FilterSpec
from .judgment import JudgmentFormat
from .kto import KtoFormat, kto_weights
from .manifest import build_manifest, dataset_card, write_json
from .ranking import RankingFormat
from .raw import RawFormat
from .records import ExportInputError, ItemRec, QuestionRec
from .sft import SftFormat
from .writers import FILE_TYPES, FileInfo, SplitWriters

FORMATS: dict[str, type[Format]] = {
    cls.name: cls for cls in (DpoFormat, KtoFormat, RankingFormat, JudgmentFormat, SftFormat, RawFormat)
}
QUESTION_DROP_REASONS = {"question_filter": "rows that failed options.question_filters"}
# Formats that combine several items of one prompt (thumb pairs, de-duplication).
GROUPED_FORMATS = frozenset({"dpo", "kto", "sft"})


def make_format(
    fmt: str, options: ExportOptions, *, salt: str | bytes | None = None, questions: tuple[QuestionRec, ...] = ()
) -> Format:
    try:
        cls = FORMATS[fmt]
    except KeyError:
        raise ExportInputError(f"format: {fmt!r} is not one of {sorted(FORMATS)}") from None
    return cls(options, salt=salt, questions=questions)


@dataclass
class ExportResult:
    out_dir: Path
    manifest: dict
    files: list[FileInfo]
    rows: dict[str, int]

    @property
    def rows_total(self) -> int:
        return sum(self.rows.values())


def export_run(
    items: Iterable[ItemRec],
    *,
    fmt: str,
    out_dir: str | os.PathLike,
    options: ExportOptions | dict | None = None,
    filters: FilterSpec | dict | None = None,
    salt: str | bytes | None = None,
    project: str | None = None,
    ches_scores: Iterable[tuple[str, float | None]] | None = None,
    file_types: tuple[str, ...] = FILE_TYPES,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 1000,
    created_at: datetime | None = None,
    questions: Iterable[QuestionRec] = (),
) -> ExportResult:
    """Export ``items`` in format ``fmt`` to ``out_dir`` (which must be empty or missing).

    ``items`` is read once. Items must come grouped by prompt (``ORDER BY
    prompt``) for the formats that combine the items of a prompt (dpo: thumbs
    up vs down; kto and sft: de-duplication); a prompt seen again after another
    one raises :class:`ExportInputError`. ``ches_scores`` (``(item_id, value)``
    for every pairwise item) is needed only by the CHES filter. ``salt`` is
    needed only by the raw format and is not written anywhere. ``progress`` is
    called with the number of items read every ``progress_every`` items and at
    the end. ``created_at`` fixes the manifest's time (tests). ``questions``:
    the project's custom questions, each a column set (:mod:`.questions`).
    """
    options = options if isinstance(options, ExportOptions) else ExportOptions.from_dict(options)
    spec = filters if isinstance(filters, FilterSpec) else FilterSpec.from_dict(filters)
    fmt_obj = make_format(fmt, options, salt=salt, questions=tuple(questions))
    pipeline = spec.build(ches_scores=ches_scores)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ExportInputError(f"out_dir: {out} is not empty")
    out.mkdir(parents=True, exist_ok=True)

    writers = SplitWriters(
        out, splits=spec.splits, schema=fmt_obj.schema(), row_group_size=options.row_group_size, file_types=file_types
    )
    labels: dict[str, Counter] = {split: Counter() for split in spec.splits}
    read = 0

    def counted(read_now: int) -> None:
        nonlocal read
        read = read_now
        if progress is not None and read_now % progress_every == 0:
            progress(read_now)

    try:
        for split, row in _rows(items, fmt=fmt, fmt_obj=fmt_obj, pipeline=pipeline, spec=spec, on_item=counted):
            writers.write(split, row)
            if fmt == "kto":
                labels[split][row["label"]] += 1
    finally:
        files = writers.close()
    if progress is not None:
        progress(read)
    files, rows, empty = _drop_empty_splits(out, files, dict(writers.rows))

    extra: dict = {"empty_splits": empty}
    if fmt == "kto":
        extra["kto_balance"] = {s: kto_weights(c[True], c[False]) for s, c in labels.items() if s in rows}
    if fmt == "raw":
        extra["pseudonymisation"] = "annotator = first 16 hex digits of HMAC-SHA256(salt, annotator id); salt private"
    manifest = build_manifest(
        project=project,
        fmt=fmt,
        options=options.to_dict(),
        filters=spec.to_dict(),
        filter_report=pipeline.report(),
        dropped=dict(fmt_obj.dropped),
        drop_reasons={**fmt_obj.drop_reasons, **QUESTION_DROP_REASONS},
        rows=rows,
        files=files,
        items_in=pipeline.items_in,
        items_kept=pipeline.items_out,
        extra=extra,
        created_at=created_at,
    )
    (out / "README.md").write_text(dataset_card(manifest), encoding="utf-8")
    write_json(out / "manifest.json", manifest)
    return ExportResult(out_dir=out, manifest=manifest, files=files, rows=rows)


@dataclass
class ExportCount:
    """What an export with these options would keep, without writing anything."""

    items_in: int
    items_kept: int
    rows: dict[str, int]
    filter_report: list[dict]
    dropped: dict[str, int]

    @property
    def rows_total(self) -> int:
        return sum(self.rows.values())


def export_count(
    items: Iterable[ItemRec],
    *,
    fmt: str,
    options: ExportOptions | dict | None = None,
    filters: FilterSpec | dict | None = None,
    salt: str | bytes | None = None,
    ches_scores: Iterable[tuple[str, float | None]] | None = None,
    questions: Iterable[QuestionRec] = (),
) -> ExportCount:
    """The rows per split :func:`export_run` would write for ``items`` (the same filters, formats and split)."""
    options = options if isinstance(options, ExportOptions) else ExportOptions.from_dict(options)
    spec = filters if isinstance(filters, FilterSpec) else FilterSpec.from_dict(filters)
    fmt_obj = make_format(fmt, options, salt=salt or "count", questions=tuple(questions))
    pipeline = spec.build(ches_scores=ches_scores)
    rows: Counter = Counter({split: 0 for split in spec.splits})
    for split, _row in _rows(items, fmt=fmt, fmt_obj=fmt_obj, pipeline=pipeline, spec=spec):
        rows[split] += 1
    return ExportCount(
        items_in=pipeline.items_in,
        items_kept=pipeline.items_out,
        rows=dict(rows),
        filter_report=pipeline.report(),
        dropped=dict(fmt_obj.dropped),
    )


def _rows(
    items: Iterable[ItemRec],
    *,
    fmt: str,
    fmt_obj: Format,
    pipeline,
    spec: FilterSpec,
    on_item: Callable[[int], None] | None = None,
) -> Iterator[tuple[str, dict]]:
    """``(split, row)`` for every row the export keeps: filters, then the format, prompt by prompt.

    The one loop :func:`export_run` writes from and :func:`export_count` counts.
    """
    seen_prompts: set[str] | None = set() if fmt in GROUPED_FORMATS else None
    read = 0
    for prompt_id, group in groupby(items, key=_prompt_id):
        if seen_prompts is not None:
            if prompt_id in seen_prompts:
                raise ExportInputError(
                    f"items: prompt {prompt_id} came again after other prompts; "
                    "pass the items grouped by prompt (order them by prompt)"
                )
            seen_prompts.add(prompt_id)
        kept = []
        for item in group:
            read += 1
            if on_item is not None:
                on_item(read)
            out_item = pipeline(item)
            if out_item is not None:
                kept.append(out_item)
        if not kept:
            continue
        split = spec.split(prompt_id)
        for row in fmt_obj.rows(kept):
            if fmt_obj.keep(row):  # the question filters (counted as the format's drops)
                yield split, row


def _drop_empty_splits(
    out: Path, files: list[FileInfo], rows: dict[str, int]
) -> tuple[list[FileInfo], dict[str, int], list[str]]:
    """Remove the files of splits that got no rows (``datasets`` refuses to load an empty split).

    When every split is empty the train files stay (with zero rows), so the
    export still has a schema to show.
    """
    empty = [s for s, n in rows.items() if n == 0]
    if len(empty) == len(rows):
        empty = [s for s in empty if s != "train"]
    for f in files:
        if f.split in empty:
            (out / f.path).unlink()
    return [f for f in files if f.split not in empty], {s: n for s, n in rows.items() if s not in empty}, empty


def _prompt_id(item: ItemRec) -> str:
    if not isinstance(item, ItemRec):
        raise ExportInputError(f"items: expected ItemRec, got {type(item).__name__}")
    return item.prompt.id
