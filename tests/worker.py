"""A real Celery worker for tests: started as a subprocess on the test
database and the real Redis, in its own process group so it is killed as a
whole. Tests that use it need ``@pytest.mark.django_db(transaction=True)``
(the worker must see committed rows) and the ``worker`` marker.

    def test_something(live_worker):
        job = job_create(...)               # enqueued on commit
        wait_for(lambda: ..., timeout=120, what="job done", proc=live_worker.proc, log=live_worker.log)
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config import embedded

ROOT = Path(__file__).resolve().parents[1]


def worker_env() -> dict:
    env = dict(os.environ)
    env.update(
        # the test database and Redis, the embedded ones included (a socket folder becomes an encoded host)
        DATABASE_URL=embedded.database_url(connection.settings_dict),
        REDIS_URL=settings.REDIS_URL,
        DOCKET_CACHE_URL=settings.CACHE_URL,
        DOCKET_TORCH_THREADS="1",
        DOCKET_CELERY_EAGER="false",
        PYTHONUNBUFFERED="1",
    )
    export_dir = getattr(settings, "DOCKET_EXPORT_DIR", None)
    if export_dir:
        env["DOCKET_EXPORT_DIR"] = str(export_dir)
    import_dir = getattr(settings, "DOCKET_IMPORT_DIR", None)
    if import_dir:
        env["DOCKET_IMPORT_DIR"] = str(import_dir)
    return env


def start_worker(name: str, log: Path, *, queues: str = "light,model", env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/celery"), "-A", "config", "worker", "-Q", queues, "-c", "1", "--pool=solo",
         "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "-l", "INFO"],
        cwd=ROOT,
        env={**worker_env(), **(env or {})},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, killed as a whole
    )  # fmt: skip


def stop_worker(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def wait_for(predicate, *, timeout: float, what: str, proc=None, log=None, every=0.05):
    """Poll ``predicate`` until it returns something truthy; fail with the
    worker's log if the worker dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"worker exited ({proc.returncode}) while waiting for {what}:\n{log.read_text()[-4000:]}")
        time.sleep(every)
    pytest.fail(f"timed out waiting for {what}" + (f":\n{log.read_text()[-4000:]}" if log else ""))


def job_ended(job) -> bool:
    """Whether ``job`` (reloaded) has ended: succeeded, failed or cancelled."""
    job.refresh_from_db()
    return job.status in type(job).ENDED


def kill_a_worker_mid_shard(job, workers: list[subprocess.Popen], logs: list[Path]):
    """SIGKILL one of ``workers`` in the middle of a shard of sharded ``job``:
    one that has already finished a shard (its model is loaded) and holds
    another, frozen (SIGSTOP) first to check the shard is still its and
    unfinished. Returns ``(victim, shard)``; fails if the job ends first."""
    from curation.models import Job, JobShard

    def holding(proc):
        prefix = f":{proc.pid}:"
        return [s for s in JobShard.objects.filter(job=job) if prefix in s.worker]

    for _ in range(4000):
        candidates = [
            (proc, s)
            for proc in workers
            for s in holding(proc)
            if s.status == "running" and any(d.status == "done" for d in holding(proc))
        ]
        if candidates:
            proc, shard = candidates[0]
            os.kill(proc.pid, signal.SIGSTOP)
            shard.refresh_from_db()
            if shard.status == "running" and f":{proc.pid}:" in shard.worker:
                stop_worker(proc, signal.SIGKILL)
                return proc, shard
            os.kill(proc.pid, signal.SIGCONT)
        job.refresh_from_db()
        assert job.status not in Job.ENDED, f"the job ended before a worker was caught mid-shard: {job.error}"
        assert all(proc.poll() is None for proc in workers), [log.read_text()[-2000:] for log in logs]
        time.sleep(0.05)
    pytest.fail("no worker was caught in the middle of a shard")


def purge_queues() -> None:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("light", "model", "unacked", "unacked_index", "unacked_mutex")


@dataclass
class LiveWorker:
    proc: subprocess.Popen
    log: Path

    def wait_for(self, predicate, *, timeout: float, what: str):
        return wait_for(predicate, timeout=timeout, what=what, proc=self.proc, log=self.log)


@pytest.fixture
def live_worker(tmp_path, transactional_db):
    """One Celery worker serving both queues for the length of the test."""
    purge_queues()
    log = tmp_path / "worker.log"
    proc = start_worker("t", log)
    try:
        yield LiveWorker(proc=proc, log=log)
    finally:
        stop_worker(proc)
        purge_queues()
