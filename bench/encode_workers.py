"""One encode job on 1, 2, … real Celery workers: how the sharded job scales.

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/encode_workers.py [--quick] [--workers 1,2]

For each worker count W: a fresh project holding a sample of ``bench/ches.py``'s
chat-shaped set (``--pairs`` pairs over whole prompts), W Celery workers on the
``model`` queue (each told ``DOCKET_WORKER_PROCESSES=W``, so each takes cores ÷ W
torch threads, or ``--threads``), a warm-up job so every worker has loaded the model, then one
encode job with shards of ``--shard`` prompts, timed from its creation to its
end (``wall_s``; the workers' model loads are not in it). Prints one RESULT line
per worker count, the last with ``speedup`` = the one-worker wall time ÷ the
largest count's. The projects are deleted afterwards. Needs PostgreSQL and
Redis the workers can reach (a separate Redis database from a running
deployment's: the bench purges the ``model`` queue).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, django_setup, require_postgresql  # noqa: E402


def _project(prompts, tag: str):
    from annotate.models import Item, ItemResponse, Project, Prompt, Response, content_hash

    project = Project.objects.create(slug=f"bench-workers-{tag}", name=f"Bench workers {tag}", kinds=["pairwise"])
    for p, (conversation, responses) in enumerate(prompts):
        prompt = Prompt.objects.create(project=project, messages=conversation, content_hash=content_hash([tag, p]))
        stored = [
            Response.objects.create(prompt=prompt, text=text, content_hash=content_hash([tag, p, r]))
            for r, text in enumerate(responses)
        ]
        for j in range(1, len(stored)):
            item = Item.objects.create(
                project=project, kind="pairwise", prompt=prompt, content_hash=content_hash([tag, p, j])
            )
            ItemResponse.objects.bulk_create(
                [
                    ItemResponse(item=item, response=stored[0], position=0),
                    ItemResponse(item=item, response=stored[j], position=1),
                ]
            )
    return project


def _wait_end(job, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.ended:
            return
        time.sleep(0.2)
    raise SystemExit(f"job {job.uuid} did not end within {timeout:.0f} s")


def _purge() -> None:
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).delete("model", "unacked", "unacked_index", "unacked_mutex")


def run(workers: int, prompts, *, shard: int, batch_size: int | None, threads: int | None, log_dir: Path) -> dict:
    from django.conf import settings

    from curation.ches.services import encode_create
    from curation.models import JobShard

    env = dict(os.environ)
    env.update(
        DOCKET_WORKER_PROCESSES=str(workers),
        DOCKET_ENCODE_SHARD_PROMPTS=str(shard),
        DOCKET_CELERY_EAGER="false",
        REDIS_URL=settings.REDIS_URL,
        PYTHONUNBUFFERED="1",
    )
    env.pop("DOCKET_TORCH_THREADS", None)
    if threads:
        env["DOCKET_TORCH_THREADS"] = str(threads)
    _purge()
    procs = [
        subprocess.Popen(
            [
                str(ROOT / ".venv/bin/celery"),
                "-A",
                "config",
                "worker",
                "-Q",
                "model",
                "-c",
                "1",
                "--pool=solo",
                "-n",
                f"bench{n}@%h",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=(log_dir / f"w{workers}-{n}.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        for n in range(workers)
    ]
    projects = []
    try:
        # warm-up: a job with a shard per worker and more, so each worker loads the model
        warm = _project(prompts[: 2 * shard * workers], f"warm{workers}-{os.getpid()}")
        projects.append(warm)
        job = encode_create(project=warm, user=None, params={})
        _wait_end(job, 1800)
        loaded_by = {w.rsplit(":", 1)[0] for w in JobShard.objects.filter(job=job).values_list("worker", flat=True)}
        if len(loaded_by) < workers:
            print(f"note: only {len(loaded_by)} of {workers} worker(s) took part in the warm-up", flush=True)
        project = _project(prompts, f"run{workers}-{os.getpid()}")
        projects.append(project)
        started = time.perf_counter()
        job = encode_create(project=project, user=None, params={"batch_size": batch_size} if batch_size else {})
        _wait_end(job, 3600)
        wall = time.perf_counter() - started
        if job.status != "succeeded":
            raise SystemExit(f"job {job.uuid} {job.status}: {job.error}")
        by = {w.rsplit(":", 1)[0] for w in JobShard.objects.filter(job=job).values_list("worker", flat=True)}
        return {
            "workers": workers,
            "wall_s": wall,
            "prompts": job.result["prompts"],
            "responses": job.result["responses_encoded"],
            "tokens": job.result["tokens"],
            "shards": JobShard.objects.filter(job=job).count(),
            "workers_used": len(by),
        }
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        _purge()
        for project in projects:
            project.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 pairs, shards of 2 prompts")
    parser.add_argument("--pairs", type=int, default=None, help="pairs encoded (48; --quick 16)")
    parser.add_argument("--workers", default="1,2", help="worker counts to time, comma-separated (1,2)")
    parser.add_argument("--shard", type=int, default=None, help="prompts per shard (4; --quick 2)")
    parser.add_argument("--batch-size", type=int, default=None, help="rows per forward pass (default: the job's)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per worker (default: cores ÷ workers, the workers' rule)",
    )
    args = parser.parse_args()
    require_postgresql()
    django_setup()
    from ches import build, subset  # bench/ches.py: the chat-shaped set

    pairs = args.pairs or (16 if args.quick else 48)
    shard = args.shard or (2 if args.quick else 4)
    full_prompts, full_pairs = build(2300)
    prompts, chosen = subset(full_prompts, full_pairs, pairs)
    counts = [int(w) for w in args.workers.split(",")]
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a TERM stops the workers and deletes the projects
    results = []
    with tempfile.TemporaryDirectory(prefix="docket-bench-workers-") as tmp:
        for w in counts:
            r = run(w, prompts, shard=shard, batch_size=args.batch_size, threads=args.threads, log_dir=Path(tmp))
            results.append(r)
            speed = f" speedup={results[0]['wall_s'] / r['wall_s']:.2f}" if w != counts[0] else ""
            print(
                f"RESULT workers={w} wall_s={r['wall_s']:.1f} prompts={r['prompts']} pairs={len(chosen)} "
                f"responses={r['responses']} tokens={r['tokens']} shards={r['shards']} "
                f"workers_used={r['workers_used']}{speed} threads={args.threads or 'share'} cores={os.cpu_count()} "
                f"load1={os.getloadavg()[0]:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
