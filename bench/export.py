"""Export benchmark: pairwise annotations in PostgreSQL exported to DPO JSONL + Parquet by the export job.

Loads ``--annotations`` synthetic pairwise annotations (3 per item from 500
human annotators, 2 items per prompt, 2 responses per item) into a dedicated
database (``docket_bench_export`` on the server of ``DATABASE_URL``, created
and migrated when missing) with PostgreSQL ``COPY``. The load is not timed and
is kept: a later run with the same size reuses it.

Each timed run is a fresh process that runs the export job exactly as a
worker would (``export_create`` + ``run_job``: count, audit look-ups, the
streaming ORM reader, consensus, DPO rows, JSONL and Parquet writers, sha256,
manifest, card, the ``Dataset`` row), then deletes the dataset. Rows/s is
input annotations per second of the job's wall time (``rows_per_cpu_s``: per
second of the run process's CPU time, both threads; PostgreSQL's own CPU is
not in it, so it says what the export costs on a busy machine); peak RSS is the run
process's ``ru_maxrss`` (the whole process: Django, pyarrow, the export).
Figures are the median over ``--runs`` runs.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/docket python bench/export.py     # 1,000,000 annotations
    python bench/export.py --quick                                                     # 60,000, one run (< 60 s)

Ends with one line ``RESULT rows_per_s=… peak_rss_mb=… …``. Target: ≥ 50,000
rows/s and < 500 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "docket_bench_export"
ANNOTATORS = 500
PER_ITEM = 3
ITEMS_PER_PROMPT = 2
CHOICES = ("A", "A", "B", "A", "B", "tie", "both_bad", "A", "B", "A", "B")
LOAD_CHUNK = 20_000  # items per COPY batch


def bench_database_url() -> str:
    url = os.environ.get("BENCH_EXPORT_DATABASE_URL") or os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/docket"
    )
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(f"DATABASE_URL must point at PostgreSQL (got {url})")
    if os.environ.get("BENCH_EXPORT_DATABASE_URL"):
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}", flush=True)


def django_setup(url: str, export_dir: str | None = None) -> None:
    os.environ["DATABASE_URL"] = url
    if export_dir:
        os.environ["DOCKET_EXPORT_DIR"] = export_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def slug_for(n: int) -> str:
    return f"bench-export-{n}"


# ---------------------------------------------------------------- load


def load(n: int) -> None:
    """The project ``bench-export-<n>`` with ``n`` annotations, unless it is there already."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction

    from annotate.models import Annotation, Annotator, Item, ItemResponse, Project, Prompt, Response, content_hash
    from annotate.services.importing import _Inserter

    call_command("migrate", verbosity=0)
    slug = slug_for(n)
    project = Project.objects.filter(slug=slug).first()
    if project is not None and project.options.get("bench_loaded") == n:
        print(f"reusing {slug} ({n} annotations)", flush=True)
        return
    if project is not None:
        Annotation.objects.filter(item__project=project).delete()
        project.delete()
    started = time.perf_counter()
    project = Project.objects.create(slug=slug, name=f"Export bench {n}", kinds=["pairwise"], overlap=PER_ITEM)
    users = get_user_model()
    existing = set(users.objects.filter(username__startswith="bench-export-u").values_list("username", flat=True))
    users.objects.bulk_create(
        users(username=f"bench-export-u{k}", password="!")
        for k in range(ANNOTATORS)
        if f"bench-export-u{k}" not in existing
    )
    people = list(users.objects.filter(username__startswith="bench-export-u").order_by("id")[:ANNOTATORS])
    have = set(Annotator.objects.filter(user__in=people).values_list("user_id", flat=True))
    Annotator.objects.bulk_create(Annotator(user=u, name=u.username) for u in people if u.pk not in have)
    annotator_ids = list(Annotator.objects.filter(user__in=people).order_by("id").values_list("id", flat=True))

    n_items = -(-n // PER_ITEM)
    inserter = _Inserter()
    made = 0
    for start in range(0, n_items, LOAD_CHUNK):
        stop = min(start + LOAD_CHUNK, n_items)
        with transaction.atomic():
            first_prompt, last_prompt = start // ITEMS_PER_PROMPT, (stop - 1) // ITEMS_PER_PROMPT
            prompt_numbers = list(range(first_prompt, last_prompt + 1))
            prompt_rows = []
            for p in prompt_numbers:
                messages = [
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": f"Question {p}: how would you explain topic {p % 977} to a beginner?"},
                ]
                prompt_rows.append((project.pk, messages, content_hash([slug, p]), {}, {}))
            # A prompt split across two chunks was inserted by the earlier one.
            known = dict(
                Prompt.objects.filter(project=project, content_hash__in=[r[2] for r in prompt_rows]).values_list(
                    "content_hash", "id"
                )
            )
            fresh = [r for r in prompt_rows if r[2] not in known]
            ids = inserter.insert(Prompt, ["project_id", "messages", "content_hash", "tags", "metadata"], fresh)
            known.update({r[2]: pk for r, pk in zip(fresh, ids)})
            prompt_id = {p: known[content_hash([slug, p])] for p in prompt_numbers}

            response_rows, item_rows = [], []
            for i in range(start, stop):
                p = i // ITEMS_PER_PROMPT
                a = f"Answer A to question {p}, take {i}. " + "It goes like this. " * (3 + i % 5)
                b = f"Answer B to question {p}, take {i}. " + "Another take on it. " * (2 + i % 7)
                for text in (a, b):
                    response_rows.append((prompt_id[p], text, content_hash(text), {}, {}))
                item_rows.append((project.pk, "pairwise", prompt_id[p], content_hash([slug, "item", i]), {}))
            response_ids = inserter.insert(
                Response, ["prompt_id", "text", "content_hash", "generation_params", "metadata"], response_rows
            )
            item_ids = inserter.insert(Item, ["project_id", "kind", "prompt_id", "content_hash", "metadata"], item_rows)
            link_rows, annotation_rows = [], []
            for offset, item_id in enumerate(item_ids):
                i = start + offset
                link_rows.append((item_id, response_ids[2 * offset], 0))
                link_rows.append((item_id, response_ids[2 * offset + 1], 1))
                for k in range(min(PER_ITEM, n - made)):
                    annotation_rows.append(
                        (
                            item_id,
                            annotator_ids[(i + k) % ANNOTATORS],
                            "pairwise",
                            CHOICES[(i * 7 + k * 3) % len(CHOICES)],
                            1 + (i + k) % 3,
                            [],
                            1000 + (i * 13 + k) % 20000,
                            {},
                        )
                    )
                    made += 1
            inserter.insert(ItemResponse, ["item_id", "response_id", "position"], link_rows, returning=False)
            inserter.insert(
                Annotation,
                ["item_id", "annotator_id", "kind", "choice", "strength", "display_order", "time_spent_ms", "metadata"],
                annotation_rows,
                returning=False,
            )
            Item.objects.filter(pk__in=item_ids).update(annotation_count=PER_ITEM, slots_taken=PER_ITEM, status="done")
        print(f"  loaded {stop}/{n_items} items", flush=True)
    with connection.cursor() as cursor:
        for table in ("annotate_prompt", "annotate_response", "annotate_item", "annotate_itemresponse"):
            cursor.execute(f"ANALYZE {table}")
        cursor.execute("ANALYZE annotate_annotation")
    project.options = {"bench_loaded": n}
    project.save(update_fields=["options"])
    print(f"loaded {made} annotations on {n_items} items in {time.perf_counter() - started:.0f} s", flush=True)


# ---------------------------------------------------------------- one timed run


def run_once(n: int) -> dict:
    import resource
    import shutil

    from django.conf import settings

    from annotate.models import Project
    from curation.exports.selectors import dataset_folder
    from curation.exports.services import export_create
    from curation.jobs.runner import run_job

    project = Project.objects.get(slug=slug_for(n))
    options = {"extra_columns": ["margin", "agreement"], "test_fraction": 0.1, "seed": 0}
    job = export_create(project=project, user=None, params={"format": "dpo", "options": options}, enqueue=False)
    start, cpu_start = time.perf_counter(), time.process_time()
    ended = run_job(job.pk)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    if ended is None or ended.status != "succeeded":
        sys.exit(f"export job ended {getattr(ended, 'status', None)}: {getattr(ended, 'error', '')}")
    dataset = ended.dataset
    size = sum(f["bytes"] for f in dataset.files)
    out = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rows": dataset.row_count,
        "bytes": size,
        "sha256": dataset.sha256,
        "items": ended.progress_total,
    }
    shutil.rmtree(dataset_folder(dataset=dataset))
    dataset.delete()
    ended.delete()
    assert str(settings.DOCKET_EXPORT_DIR).startswith(tempfile.gettempdir())
    return out


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60,000 annotations, one run (< 60 s)")
    parser.add_argument("--annotations", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None, help="timed runs (default 3, 1 with --quick)")
    parser.add_argument("--load-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run-once", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = args.annotations or (60_000 if args.quick else 1_000_000)
    runs = args.runs or (1 if args.quick else 3)
    url = bench_database_url()

    if args.load_only:
        django_setup(url)
        load(n)
        return
    if args.run_once:
        django_setup(url, os.environ["DOCKET_EXPORT_DIR"])
        print("RUN " + json.dumps(run_once(n)), flush=True)
        return

    ensure_database(url)
    me = [sys.executable, str(Path(__file__).resolve()), "--annotations", str(n)]
    # Loading happens in its own process, so its memory is not in the runs' peak RSS.
    subprocess.run([*me, "--load-only"], check=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="docket-bench-export-") as export_dir:
        env = {**os.environ, "DOCKET_EXPORT_DIR": export_dir, "DJANGO_LOG_LEVEL": "WARNING"}
        for k in range(runs):
            load_before = os.getloadavg()[0]
            done = subprocess.run([*me, "--run-once"], check=True, capture_output=True, text=True, env=env)
            line = [x for x in done.stdout.splitlines() if x.startswith("RUN ")]
            if not line:
                sys.exit(f"run {k + 1} printed no result:\n{done.stdout}\n{done.stderr[-3000:]}")
            result = json.loads(line[-1][4:])
            result["load"] = load_before
            results.append(result)
            print(
                f"run {k + 1}: {result['items']} items, {n} annotations -> {result['rows']} DPO rows "
                f"({result['bytes'] / 1e6:.1f} MB JSONL + Parquet) in {result['seconds']:.1f} s = "
                f"{n / result['seconds']:,.0f} annotations/s (CPU {result['cpu_seconds']:.1f} s = "
                f"{n / result['cpu_seconds']:,.0f} per CPU-second), peak RSS {result['peak_rss_mb']:.0f} MB, "
                f"load average {load_before:.2f}",
                flush=True,
            )
    if len({r["sha256"] for r in results}) != 1:
        sys.exit("runs produced different files")
    seconds = statistics.median(r["seconds"] for r in results)
    peak = statistics.median(r["peak_rss_mb"] for r in results)
    cpu = statistics.median(r["cpu_seconds"] for r in results)
    load1, load5, _ = os.getloadavg()
    print(f"median of {runs}: {seconds:.1f} s; identical files across runs (sha256 {results[0]['sha256'][:12]}…)")
    print(f"load average now {load1:.2f} (1 min), {load5:.2f} (5 min) on {os.cpu_count()} CPUs")
    print(
        f"RESULT rows_per_s={n / seconds:.0f} peak_rss_mb={peak:.0f} annotations={n} "
        f"out_rows={results[0]['rows']} seconds={seconds:.1f} cpu_s={cpu:.1f} rows_per_cpu_s={n / cpu:.0f} "
        f"runs={runs} load1={load1:.2f}"
    )


if __name__ == "__main__":
    main()
