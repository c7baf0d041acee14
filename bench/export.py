"""Export benchmark: synthetic pairwise annotations exported to DPO JSONL + Parquet.

This measures the ORM-free core (``curation.exports.export_run``): records are
generated on the fly (never all in memory), consensus, filters, row building,
JSONL and Parquet writing, hashing. Rows/s counts input annotations per second
of wall time, record generation included (it stands for the ORM read); peak
RSS is the process's maximum resident set size. The PostgreSQL read is not in
this figure: the export job's bench adds it.

    python bench/export.py            # 1,000,000 annotations
    python bench/export.py --quick    # 60,000 annotations (< 60 s)

Ends with one line ``RESULT rows_per_s=... peak_rss_mb=... ...``.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.exports import ItemRec, JudgmentRec, PromptRec, ResponseRec, export_run  # noqa: E402

CHOICES = ("A", "A", "B", "A", "B", "tie", "both_bad", "A", "B", "A", "B")


def synthetic_items(annotations: int, per_item: int = 3, items_per_prompt: int = 2):
    """Pairwise items with ``per_item`` judgments each, grouped by prompt, deterministic."""
    n_items = -(-annotations // per_item)
    made = 0
    for i in range(n_items):
        p = i // items_per_prompt
        prompt = PromptRec(
            id=f"prompt-{p:08d}",
            messages=(
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": f"Question {p}: how would you explain topic {p % 977} to a beginner?"},
            ),
        )
        k = min(per_item, annotations - made)
        judgments = tuple(
            JudgmentRec(
                id=f"j{i}-{n}",
                annotator_id=f"annotator-{(i + n) % 500}",
                choice=CHOICES[(i * 7 + n * 3) % len(CHOICES)],
                strength=1 + (i + n) % 3,
                time_spent_ms=1000 + (i * 13 + n) % 20000,
            )
            for n in range(k)
        )
        made += k
        yield ItemRec(
            id=f"item-{i:08d}",
            kind="pairwise",
            prompt=prompt,
            responses=(
                ResponseRec(f"r{i}a", f"Answer A to question {p}. " + "It goes like this. " * (3 + i % 5)),
                ResponseRec(f"r{i}b", f"Answer B to question {p}. " + "Another take on it. " * (2 + i % 7)),
            ),
            judgments=judgments,
            ln_ches=(i % 1000) / 1000,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60,000 annotations instead of 1,000,000")
    parser.add_argument("--annotations", type=int, default=None)
    parser.add_argument("--format", default="dpo")
    parser.add_argument("--keep", action="store_true", help="keep the output folder")
    args = parser.parse_args()
    annotations = args.annotations or (60_000 if args.quick else 1_000_000)
    out = Path(tempfile.mkdtemp(prefix="docket-bench-export-")) / "out"
    start = time.perf_counter()
    result = export_run(
        synthetic_items(annotations),
        fmt=args.format,
        out_dir=out,
        options={"extra_columns": ["margin", "agreement", "ln_ches"]},
        filters={"test_fraction": 0.1, "seed": 0},
        salt="bench",
    )
    elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mb = sum(f.bytes for f in result.files) / 1e6
    print(f"{annotations} annotations -> {result.rows_total} {args.format} rows in {elapsed:.1f} s ({size_mb:.1f} MB)")
    if not args.keep:
        shutil.rmtree(out.parent)
    print(
        f"RESULT rows_per_s={annotations / elapsed:.0f} peak_rss_mb={peak_mb:.0f} "
        f"out_rows_per_s={result.rows_total / elapsed:.0f} annotations={annotations} seconds={elapsed:.1f}"
    )


if __name__ == "__main__":
    main()
