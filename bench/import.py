"""Import throughput: N Docket items of mixed kinds into PostgreSQL.

Generates a JSONL file of distinct items (pairwise, thumb, ranking with 3-5
responses, judgment; plain and conversational prompts), imports it with
``items_import`` into a fresh project (deleted afterwards) and reports items/s,
the median over ``--runs`` runs. Only the import itself is timed.

    DATABASE_URL=postgres://... python bench/import.py [--items 50000] [--runs 3] [--quick]

The last line is ``RESULT items_per_s=… items=…``. Target: ≥ 2,000 items/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from annotate.models import Item, Project  # noqa: E402
from annotate.services.importing import items_import  # noqa: E402

# fmt: off
WORDS = (
    "the", "model", "answer", "explains", "why", "a", "careful", "reader", "would", "prefer", "one",
    "response", "over", "another", "because", "it", "is", "clear", "honest", "helpful", "concise", "correct",
    "and", "safe", "while", "the", "other", "rambles", "hedges", "or", "invents", "facts", "about",
    "databases", "networks", "proteins", "history", "poetry", "algebra", "recipes", "travel", "law",
    "medicine",
)
# fmt: on


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def generate(path: Path, n: int, seed: int = 1) -> dict[str, int]:
    """Write ``n`` distinct items of mixed kinds; returns the count per kind."""
    rng = random.Random(seed)
    counts: dict[str, int] = {}
    kinds = ["pairwise", "thumb", "ranking", "judgment"]
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            kind = kinds[i % 4]
            question = f"Question {i}: {_sentence(rng, 12)}"
            if i % 5 == 0:
                prompt = [
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": _sentence(rng, 20)},
                    {"role": "user", "content": "And then? " + _sentence(rng, 6)},
                ]
            else:
                prompt = question
            n_responses = {"pairwise": 2, "thumb": 1, "judgment": 1}.get(kind) or rng.randint(3, 5)
            responses = [
                {"text": f"{j}. " + " ".join(_sentence(rng, 15) for _ in range(4)), "model": f"model-{j}"}
                if j % 2
                else f"{j}. " + " ".join(_sentence(rng, 15) for _ in range(4))
                for j in range(n_responses)
            ]
            row = {"id": f"bench-{i}", "kind": kind, "prompt": prompt, "responses": responses, "metadata": {"i": i}}
            f.write(json.dumps(row) + "\n")
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def run_once(path: Path, n: int) -> float:
    project = Project.objects.create(slug=f"bench-import-{uuid.uuid4().hex[:8]}", name="Import benchmark", overlap=2)
    try:
        with path.open("rb") as f:
            start, cpu = time.perf_counter(), time.process_time()
            report = items_import(project=project, fileobj=f, source_name="bench")
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        created = Item.objects.filter(project=project).count()
        if report.items_created != n or created != n:
            raise SystemExit(f"expected {n} items, report says {report.items_created}, database has {created}")
        # Re-import: nothing new (de-duplication), and timed for information.
        with path.open("rb") as f:
            start = time.perf_counter()
            again = items_import(project=project, fileobj=f, source_name="bench")
            again_s = time.perf_counter() - start
        if again.items_created or again.items_skipped_duplicate != n:
            raise SystemExit(f"re-import created {again.items_created} items")
        print(
            f"  {n} items in {elapsed:.2f} s = {n / elapsed:,.0f} items/s (Python CPU {cpu:.2f} s) "
            f"({report.prompts_created} prompts, {report.responses_created} responses); "
            f"re-import (all duplicates) {again_s:.2f} s",
            flush=True,
        )
        return n / elapsed
    finally:
        _delete_project(project)


def _delete_project(project: Project) -> None:
    # Cascading through the ORM would load every row; delete in SQL, children first.
    with connection.cursor() as cur:
        pid = project.pk
        cur.execute(
            "DELETE FROM annotate_annotation WHERE item_id IN (SELECT id FROM annotate_item WHERE project_id = %s)",
            [pid],
        )
        cur.execute(
            "DELETE FROM annotate_itemresponse WHERE item_id IN (SELECT id FROM annotate_item WHERE project_id = %s)",
            [pid],
        )
        cur.execute("DELETE FROM annotate_item WHERE project_id = %s", [pid])
        cur.execute(
            "DELETE FROM annotate_response WHERE prompt_id IN (SELECT id FROM annotate_prompt WHERE project_id = %s)",
            [pid],
        )
        cur.execute("DELETE FROM annotate_prompt WHERE project_id = %s", [pid])
    project.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="5,000 items, 1 run")
    args = parser.parse_args()
    if args.quick:
        args.items, args.runs = 5_000, 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.jsonl"
        counts = generate(path, args.items)
        size_mb = path.stat().st_size / 1e6
        print(f"import benchmark: {args.items} items ({counts}), {size_mb:.1f} MB, {args.runs} run(s)", flush=True)
        rates = [run_once(path, args.items) for _ in range(args.runs)]
    median = statistics.median(rates)
    print(f"median {median:,.0f} items/s over {len(rates)} run(s): {', '.join(f'{r:,.0f}' for r in rates)}")
    print(f"RESULT items_per_s={median:.0f} items={args.items}")


if __name__ == "__main__":
    main()
