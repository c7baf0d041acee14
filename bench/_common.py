"""Helpers shared by the benchmarks: Django set-up, fast bulk fixtures,
percentiles, and a gunicorn server on a free local port."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"


def django_setup() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def require_postgresql() -> None:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(
            f"DATABASE_URL must point at PostgreSQL (got {url or 'nothing'}); e.g. postgres://postgres@127.0.0.1/docket"
        )


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation, as numpy's default."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: list[float]) -> float:
    return percentile(values, 50)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- fixtures ----------------------------------------------------------------

KIND_SIZES = {"pairwise": 2, "thumb": 1, "ranking": 4, "judgment": 1}


def bench_project_create(*, n_items: int, overlap: int = 3, kinds=tuple(KIND_SIZES), batch: int = 2000):
    """A fresh project with ``n_items`` items cycling through ``kinds``, written with bulk inserts."""
    from django.db import transaction

    from annotate.models import Item, ItemResponse, Project, Prompt, Response, content_hash

    tag = uuid.uuid4().hex[:8]
    project = Project.objects.create(
        slug=f"bench-{tag}", name=f"Bench {tag}", overlap=overlap, kinds=list(kinds), lease_seconds=900
    )
    for start in range(0, n_items, batch):
        with transaction.atomic():
            numbers = range(start, min(start + batch, n_items))
            prompts = Prompt.objects.bulk_create(
                Prompt(
                    project=project,
                    messages=[{"role": "user", "content": f"Bench question {tag}-{i}: explain *item* {i}."}],
                    content_hash=content_hash([tag, i]),
                )
                for i in numbers
            )
            items, responses = [], []
            for i, prompt in zip(numbers, prompts):
                kind = kinds[i % len(kinds)]
                texts = [
                    f"Answer {j} to {i}.\n\n- a point\n- `code`\n\n```python\nprint({j})\n```"
                    for j in range(KIND_SIZES[kind])
                ]
                responses.append(
                    [
                        Response(prompt=prompt, text=t, content_hash=content_hash([tag, i, j]))
                        for j, t in enumerate(texts)
                    ]
                )
                items.append(
                    Item(project=project, kind=kind, prompt=prompt, content_hash=content_hash([tag, "item", i]))
                )
            Response.objects.bulk_create([r for group in responses for r in group])
            Item.objects.bulk_create(items)
            ItemResponse.objects.bulk_create(
                ItemResponse(item=item, response=r, position=j)
                for item, group in zip(items, responses)
                for j, r in enumerate(group)
            )
    analyze()
    return project


# The tables a bench project's bulk load writes, and those the annotate loop writes.
FIXTURE_TABLES = ("annotate_prompt", "annotate_response", "annotate_item", "annotate_itemresponse")
LOOP_TABLES = ("annotate_item", "annotate_assignment", "annotate_annotation", "annotate_principleverdict")


def analyze() -> None:
    """Settle the tables after bulk inserts: ``VACUUM (ANALYZE)``.

    Fresh planner statistics, and the new rows' hint bits and visibility set
    now rather than by the first reads of the measurement (each of which
    would dirty its page again). The loop's tables too: where autovacuum is
    off (as on the development machines), earlier benches' deleted rows are
    still there.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        for table in dict.fromkeys((*FIXTURE_TABLES, *LOOP_TABLES)):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def bench_users_create(*, project, n: int, password: str, role: str = "annotator") -> list:
    """``n`` users with ``role`` in ``project`` (one password hash shared: hashing 50 is slow)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from annotate.models import Annotator, Membership

    user_model = get_user_model()
    hashed = make_password(password)
    users = user_model.objects.bulk_create(
        user_model(username=f"{project.slug}-u{i}", password=hashed) for i in range(n)
    )
    Membership.objects.bulk_create(Membership(project=project, user=u, role=role) for u in users)
    Annotator.objects.bulk_create(Annotator(user=u, name=u.username) for u in users)
    return users


def bench_cleanup(*, project, users) -> None:
    """Delete a bench project and its users (annotations and leases go with the items)."""
    from django.contrib.auth import get_user_model

    from annotate.models import Annotation, Assignment

    Annotation.objects.filter(item__project=project).delete()
    Assignment.objects.filter(item__project=project).delete()
    project.delete()
    get_user_model().objects.filter(pk__in=[u.pk for u in users]).delete()


# -- server --------------------------------------------------------------------


def production_env(data_dir: Path) -> dict[str, str]:
    """Environment for a production-like server (DEBUG off) speaking plain HTTP on 127.0.0.1."""
    env = dict(os.environ)
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SECURE_COOKIES="false",
        DJANGO_HSTS_SECONDS="0",
        DOCKET_DATA_DIR=str(data_dir),
        DJANGO_LOG_LEVEL="ERROR",
    )
    return env


def collectstatic(env: dict[str, str]) -> None:
    """The manifest static storage of DEBUG=False needs collected files to render any page."""
    subprocess.run([str(PYTHON), "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)


GUNICORN_CONFIG = ROOT / "config" / "gunicorn.conf.py"


def gunicorn_config() -> dict:
    """The shipped gunicorn configuration (``config/gunicorn.conf.py``) as this machine resolves it."""
    import runpy

    conf = runpy.run_path(str(GUNICORN_CONFIG))
    return {k: conf[k] for k in ("worker_class", "workers", "threads", "timeout")}


def gunicorn_start(
    *,
    port: int,
    env: dict[str, str],
    timeout: float = 180,
    workers: int | None = None,
    threads: int | None = None,
    worker_class: str | None = None,
):
    """gunicorn with the shipped configuration (the Dockerfile's and docker-compose.yml's), bound to ``port``.

    ``workers`` / ``threads`` / ``worker_class`` override the configuration's
    (to compare others); left ``None`` they are what ships.
    """
    import requests

    cmd = [
        str(PYTHON), "-m", "gunicorn", "-c", str(GUNICORN_CONFIG),
        "-b", f"127.0.0.1:{port}", "--log-level", "warning",
    ]  # fmt: skip
    if workers is not None:
        cmd += ["-w", str(workers)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    if worker_class is not None:
        cmd += ["-k", worker_class]
    if (worker_class or "sync") != "sync":
        # Longer than the pause between runs: with the default 2 s the server
        # closes idle connections the clients then reuse (ConnectionError).
        cmd += ["--keep-alive", "75"]
    # Not our stdout: a server left behind must not hold a caller's pipe open
    # (the access log, on stdout as in the image, goes nowhere).
    log = Path(env.get("DOCKET_DATA_DIR", ROOT / "var")) / "gunicorn.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as sink:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sink)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"gunicorn exited with {proc.returncode}; see {log}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=10).status_code == 200:
                return proc
        except requests.RequestException:
            pass  # still booting (workers import Django); on a busy machine that takes a while
        time.sleep(0.3)
    gunicorn_stop(proc)
    sys.exit(f"gunicorn did not answer on port {port} within {timeout:.0f} s")


def gunicorn_stop(proc) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- CPU accounting ---------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its children still alive (Linux /proc)."""
    total = 0.0
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


def machine_cpu() -> tuple[float, float, float]:
    """(busy, total, stolen) CPU seconds of the whole machine since boot (Linux /proc/stat).

    Stolen: time the hypervisor gave this virtual machine's CPUs to others
    (counted in busy), a sign that a figure was taken on a crowded host.
    """
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    steal = values[7] if len(values) > 7 else 0
    return (sum(values) - idle) / _TICKS, sum(values) / _TICKS, steal / _TICKS


def postgres_backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving ``database`` (their titles name it), by pid.

    Diff two snapshots per pid: a backend that exits in between takes its CPU
    time with it, so summing would go negative.
    """
    total: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not title.startswith("postgres:") or f" {database} " not in f"{title} ":
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total[int(entry.name)] = (int(fields[11]) + int(fields[12])) / _TICKS
    return total
