"""The embedded PostgreSQL and Redis (config/embedded.py): started on demand by
whichever process needs them first, shared, kept between runs, and stopped
when the last process using them ends, however it ends.

Every case runs real processes on a cluster of its own in a temporary data
folder (no DATABASE_URL / REDIS_URL), as ``make run``'s web server and worker
would. The cluster is initialised once for the module.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from config import embedded

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = ("DJANGO_", "DOCKET_", "DATABASE_", "REDIS_", "CELERY_")

# A Docket process: connect, say which server it talks to, then (optionally) wait for a file before exiting.
USER = """
import os, sys, time, json
import django
django.setup()
from django.core.cache import cache
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT pg_postmaster_start_time()::text, current_database()")
    started, name = cursor.fetchone()
    cursor.execute("CREATE TABLE IF NOT EXISTS kept (note text)")
    if len(sys.argv) > 2:
        cursor.execute("INSERT INTO kept VALUES (%s)", [sys.argv[2]])
    cursor.execute("SELECT coalesce(string_agg(note, ','), '') FROM kept")
    notes = cursor.fetchone()[0]
cache.add("seen", 0)
seen = cache.incr("seen")
print(json.dumps({"postmaster": started, "database": name, "notes": notes, "cache": seen}), flush=True)
go = sys.argv[1]
while go != "-" and not os.path.exists(go):
    time.sleep(0.05)
"""


def private_data_dir(prefix: str) -> Path:
    """A data folder outside pytest's temporary folders: run as root, the server runs as another user
    that must traverse the folders above it, and every pytest session on the machine makes
    /tmp/pytest-of-<user> private again when it starts."""
    return Path(tempfile.mkdtemp(prefix=prefix)) / "var"


@pytest.fixture(scope="module")
def data_dir():
    root = private_data_dir("docket-embedded-")
    root.mkdir()
    yield root
    embedded.stop(root)
    shutil.rmtree(root.parent, ignore_errors=True)


def _env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DOCKET_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    return env


def _start(data_dir: Path, go: str = "-", note: str | None = None, code: str = USER) -> subprocess.Popen:
    args = [sys.executable, "-c", code, go] + ([note] if note else [])
    return subprocess.Popen(
        args, cwd=ROOT, env=_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _report(proc: subprocess.Popen) -> dict:
    """The JSON line a USER process prints once connected."""
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=60)
        pytest.fail(f"process exited ({proc.returncode}) before connecting:\n{proc.stderr.read()[-3000:]}")
    return json.loads(line)


def _finish(proc: subprocess.Popen) -> None:
    proc.wait(timeout=120)
    assert proc.returncode == 0, proc.stderr.read()[-3000:]


def _running(data_dir: Path) -> tuple[bool, bool]:
    state = embedded.status(data_dir)
    return state["postgres"] == "running", state["redis"] == "running"


def _wait_stopped(data_dir: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _running(data_dir) == (False, False):
            return
        time.sleep(0.1)
    pytest.fail(f"the embedded servers still run: {embedded.status(data_dir)}")


def test_two_processes_starting_at_once_share_one_cluster_and_the_last_out_stops_it(data_dir, tmp_path):
    """A fresh folder and two processes at once (the web server and the worker): one initdb, one server each."""
    go_a, go_b = tmp_path / "a", tmp_path / "b"
    a, b = _start(data_dir, str(go_a)), _start(data_dir, str(go_b))
    ra, rb = _report(a), _report(b)
    assert ra["postmaster"] == rb["postmaster"]  # one server
    assert ra["database"] == rb["database"] == "docket"
    assert {ra["cache"], rb["cache"]} == {1, 2}  # one Redis too
    assert (data_dir / "postgres" / "PG_VERSION").read_text().strip() == embedded._pg_major()
    assert sorted(embedded.status(data_dir)["users"]) == sorted([a.pid, b.pid])

    go_a.touch()  # the first one leaves: the other still uses them
    _finish(a)
    assert _running(data_dir) == (True, True)
    assert embedded.status(data_dir)["users"] == [b.pid]

    go_b.touch()  # the last one leaves: both servers stop
    _finish(b)
    assert _running(data_dir) == (False, False)
    assert not (data_dir / "postgres" / "postmaster.pid").exists()  # a clean shutdown


def test_data_is_kept_between_runs(data_dir):
    _finish(first := _start(data_dir, note="one"))
    assert _report(first)["notes"].endswith("one")
    _wait_stopped(data_dir)
    second = _start(data_dir)
    assert _report(second)["notes"].endswith("one")  # the row written by the first run, read after a restart
    _finish(second)
    _wait_stopped(data_dir)


def test_sigterm_ends_the_process_cleanly_and_stops_the_servers(data_dir, tmp_path):
    """``kill`` (and ``make run``'s trap) send SIGTERM: the process exits through its exit hooks."""
    proc = _start(data_dir, str(tmp_path / "never"))
    _report(proc)
    assert _running(data_dir) == (True, True)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    _wait_stopped(data_dir)


def test_a_process_killed_outright_is_dropped_by_the_next_one(data_dir, tmp_path):
    """SIGKILL runs no exit code: the servers outlive it, the next process adopts them and stops them when it ends."""
    killed = _start(data_dir, str(tmp_path / "never"))
    first = _report(killed)
    killed.kill()
    killed.wait(timeout=30)
    assert _running(data_dir) == (True, True)
    assert embedded.status(data_dir)["users"] == []  # a dead pid is not a user

    later = _start(data_dir)
    assert _report(later)["postmaster"] == first["postmaster"]  # adopted, not restarted
    _finish(later)
    _wait_stopped(data_dir)


RELOADER = """
import os, subprocess, sys
import django
django.setup()  # the autoreloader's parent loads the settings but never connects
child = subprocess.run([sys.executable, "-c", sys.argv[2], "-"], env={**os.environ, "RUN_MAIN": "true"})
assert child.returncode == 0
print("child done", flush=True)
go = sys.argv[1]
import time
while not os.path.exists(go):
    time.sleep(0.05)
"""


def test_the_autoreloaders_parent_keeps_them_up_across_reloads(data_dir, tmp_path):
    """runserver's parent outlives the children it restarts: a reload never stops the database under it."""
    go = tmp_path / "go"
    parent = subprocess.Popen(
        [sys.executable, "-c", RELOADER, str(go), USER],
        cwd=ROOT, env=_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _report(parent)  # the child's line
    assert parent.stdout.readline().strip() == "child done"
    assert _running(data_dir) == (True, True)  # the child ended, its parent still holds them
    assert embedded.status(data_dir)["users"] == [parent.pid]
    go.touch()
    _finish(parent)
    _wait_stopped(data_dir)


def test_the_stop_command(data_dir, tmp_path):
    holder = _start(data_dir, str(tmp_path / "never"))
    try:
        _report(holder)
        result = subprocess.run(
            [sys.executable, "-m", "config.embedded", "stop", "--data-dir", str(data_dir)],
            cwd=ROOT, env=_env(data_dir), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["postgres"] == "stopped"
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_the_database_url_of_a_socket_folder_reads_back():
    import dj_database_url

    settings = {"USER": "postgres", "PASSWORD": "", "HOST": "/tmp/a b/var/postgres", "PORT": "5432", "NAME": "docket"}
    parsed = dj_database_url.parse(embedded.database_url(settings))
    assert (parsed["HOST"], parsed["PORT"], parsed["NAME"], parsed["USER"]) == (
        "/tmp/a b/var/postgres",
        5432,
        "docket",
        "postgres",
    )


def test_a_long_data_folder_puts_the_sockets_in_a_short_one(tmp_path):
    deep = tmp_path.joinpath(*["folder-with-a-long-name"] * 6, "var")
    layout = embedded.Layout(deep)
    assert len(str(layout.pg_socket_dir / ".s.PGSQL.5432")) <= 107
    assert len(str(layout.redis_socket)) <= 107
    assert layout.pg_socket_dir != layout.pgdata
