"""``make run`` stops within seconds on a SIGTERM to make, its Celery worker included while a task holds it.

Before: the recipe's shell waited for the web server in the foreground, so its
trap (which stops the worker) ran only once the server had ended, and nothing
ended it; and Celery's own SIGTERM is a warm shutdown that waits for the task
in hand and ignores further SIGTERMs (the worker of ``make run`` ignored two).
Here the worker is given a job whose first step waits on a row lock this test
holds, so it is busy when make gets SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connections

from config import embedded
from curation.jobs.services import job_create
from curation.jobs.tasks import light_run_job
from curation.models import Job
from tests.factories import ProjectFactory

ROOT = Path(__file__).resolve().parents[1]
STOP_WITHIN_S = 20  # seconds; a quiet machine needs a few

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_alive(sid: int) -> list[int]:
    """Processes still in the session ``make run`` started (its whole tree, whatever their groups)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


def wait_for(check, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.5)


def test_sigterm_to_make_stops_web_server_and_busy_worker_within_seconds(tmp_path):
    project = ProjectFactory()
    job = job_create(project=project, kind="audit", params={}, enqueue=False)
    log = tmp_path / "make-run.log"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": embedded.database_url(connections["default"].settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "DOCKET_CACHE_URL": settings.CACHE_URL,
        "DOCKET_DATA_DIR": str(tmp_path / "var"),
        "DOCKET_MODEL_CACHE": str(settings.DOCKET_MODEL_CACHE),
        "PYTHONUNBUFFERED": "1",
    }
    make = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    locker = connections.create_connection("default")
    try:

        def serving() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_for(lambda: make.poll() is None and serving() and " ready." in log.read_text(), 240, "make run", log)
        # The worker takes the job, and waits on the job's row, locked here.
        locker.set_autocommit(False)
        with locker.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {Job._meta.db_table} WHERE id = %s FOR UPDATE", [job.pk])  # noqa: S608
        light_run_job.delay(job.pk)
        wait_for(lambda: "light_run_job" in log.read_text() and "received" in log.read_text(), 60, "the task", log)
        time.sleep(1)

        start = time.monotonic()
        os.kill(make.pid, signal.SIGTERM)  # `kill <make>`, as a service manager or a terminal's close does
        deadline = start + STOP_WITHIN_S
        while session_alive(make.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = session_alive(make.pid)
        assert not left, (
            f"still running {time.monotonic() - start:.0f} s after SIGTERM: {left}\n"
            + log.read_text(errors="replace")[-4000:]
        )
    finally:
        locker.rollback()
        locker.close()
        for pid in session_alive(make.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        make.wait(timeout=30)
