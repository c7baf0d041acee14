"""A job row's life: claim a run, report progress, finish, fail, cancel.

Every write a run makes names its ``lease_token``, so a run that lost its
lease (another run took the job over) cannot overwrite its successor. What a
runner reports through is :class:`JobProgress`; :func:`job_cancel` is what the
job page, the API and the admin call. See the package docstring for the
guarantees.
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Case, F, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from curation.models import Job
from curation.webhooks.events import job_ended

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 50
ERROR_TAIL_CHARS = 8000
TICK_WRITE_SECONDS = 1.0


class JobCancelled(Exception):
    """Raised inside a runner when a cancel was requested; the job ends 'cancelled'."""


class JobFailed(Exception):
    """Raised by a runner for a failure it can explain (bad input found while
    running): the job fails with ``message`` as its error, no traceback, and
    ``result`` stored (e.g. the lines an import rejected)."""

    def __init__(self, message: str, *, result: dict | None = None):
        super().__init__(message)
        self.message = message
        self.result = result or {}


class JobLost(Exception):
    """This run no longer holds the job's lease (another run took it over, or it ended)."""


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def heartbeat_seconds() -> int:
    return _setting("DOCKET_JOB_HEARTBEAT_SECONDS", 10)


def stale_seconds() -> int:
    return _setting("DOCKET_JOB_STALE_SECONDS", 60)


def max_attempts() -> int:
    return _setting("DOCKET_JOB_MAX_ATTEMPTS", 3)


# ---------------------------------------------------------------- identity


def _process_start_time(pid: int) -> str | None:
    """The start time of a process in clock ticks since boot (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    try:
        return stat.rsplit(")", 1)[1].split()[19]
    except IndexError:
        return None


def worker_identity() -> str:
    """``host:pid:start-time`` of this process: unique even when pids are reused."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start_time(pid) or '?'}"


def _worker_is_dead(identity: str) -> bool:
    """True only when we can tell that the process that ran a job is gone."""
    try:
        host, pid_text, started = identity.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname() or started == "?" or not os.path.isdir("/proc"):
        return False
    return _process_start_time(pid) != started


def job_run_is_dead(job: Job, *, now=None) -> bool:
    """Whether a 'running' job's current run has stopped (crash, kill, lost machine)."""
    if job.status != Job.Status.RUNNING:
        return False
    now = now or timezone.now()
    if job.heartbeat_at is None or job.heartbeat_at < now - timedelta(seconds=stale_seconds()):
        return True
    return job.worker != worker_identity() and _worker_is_dead(job.worker)


# ---------------------------------------------------------------- services


def job_start(*, job_id: int, celery_task_id: str = "", now=None) -> tuple[Job, uuid.UUID] | None:
    """Claim the job for this process. Returns ``(job, lease_token)``, or None
    when it has ended or another live run holds it."""
    now = now or timezone.now()
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.ended:
        return None
    candidates = Job.objects.filter(pk=job.pk)
    if job.status == Job.Status.QUEUED:
        candidates = candidates.filter(status=Job.Status.QUEUED)
        note = "started"
    elif job_run_is_dead(job, now=now):
        candidates = candidates.filter(status=Job.Status.RUNNING, lease_token=job.lease_token)
        if job.attempts >= max_attempts():
            _ended(
                job,
                candidates.update(
                    status=Job.Status.FAILED,
                    finished_at=now,
                    error=f"Gave up: the worker running this job died {job.attempts} times.",
                    message="Failed",
                ),
            )
            return None
        note = f"resumed after its worker stopped ({job.worker or 'unknown worker'})"
    else:
        return None
    token = uuid.uuid4()
    won = candidates.update(
        status=Job.Status.RUNNING,
        lease_token=token,
        heartbeat_at=now,
        worker=worker_identity(),
        attempts=F("attempts") + 1,
        started_at=Coalesce(F("started_at"), now),
        celery_task_id=celery_task_id or F("celery_task_id"),
        message="Running",
    )
    if not won:
        return None
    job.refresh_from_db()
    progress = JobProgress(job, token)
    progress.log(f"attempt {job.attempts}: {note} on {job.worker}")
    return job, token


def _ended(job: Job, changed: int | bool) -> bool:
    """The one place a job's end is announced (webhooks: ``job.finished``, ``export.*``, ``audit.finished``)."""
    if changed:
        job_ended(job_id=job.pk, project_id=job.project_id)
    return bool(changed)


def _owned(job: Job, token: uuid.UUID):
    return Job.objects.filter(pk=job.pk, lease_token=token, status=Job.Status.RUNNING)


def job_finish(*, job: Job, token: uuid.UUID, result: dict | None = None, message: str = "Done") -> bool:
    now = timezone.now()
    fields = {"status": Job.Status.SUCCEEDED, "finished_at": now, "heartbeat_at": now, "message": message}
    fields["result"] = {**(job.result or {}), **(result or {})}
    fields["progress_done"] = Case(When(progress_total__gt=0, then=F("progress_total")), default=F("progress_done"))
    return _ended(job, _owned(job, token).update(**fields))


def job_fail(*, job: Job, token: uuid.UUID, error: str, message: str = "Failed", result: dict | None = None) -> bool:
    now = timezone.now()
    fields = {}
    if result is not None:
        fields["result"] = {**(job.result or {}), **result}
    return _ended(
        job,
        _owned(job, token).update(
            status=Job.Status.FAILED,
            finished_at=now,
            heartbeat_at=now,
            error=error[-ERROR_TAIL_CHARS:],
            message=message[:500],
            **fields,
        ),
    )


def job_mark_cancelled(*, job: Job, token: uuid.UUID, message: str = "Cancelled") -> bool:
    now = timezone.now()
    return _ended(
        job,
        _owned(job, token).update(status=Job.Status.CANCELLED, finished_at=now, heartbeat_at=now, message=message),
    )


def job_cancel(*, job: Job) -> Job:
    """Cancel a queued job now, or ask a running one to stop after its current batch."""
    now = timezone.now()
    _ended(
        job,
        Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
            status=Job.Status.CANCELLED, cancel_requested=True, finished_at=now, message="Cancelled before it started"
        ),
    )
    Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        cancel_requested=True, message="Cancelling after the current batch"
    )
    job.refresh_from_db()
    if job_run_is_dead(job, now=now):
        # Nobody is running it: end it here rather than wait for a worker.
        job_mark_cancelled(job=job, token=job.lease_token, message="Cancelled (its worker had stopped)")
        job.refresh_from_db()
    return job


def job_progress(
    *,
    job: Job,
    token: uuid.UUID,
    done: int | None = None,
    total: int | None = None,
    message: str | None = None,
    log_tail: str | None = None,
    checkpoint: dict | None = None,
) -> bool:
    """Write progress for the run holding ``token``; returns ``cancel_requested``.

    Raises :class:`JobLost` when the run no longer holds the job.
    """
    fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if done is not None:
        fields["progress_done"] = done
    if total is not None:
        fields["progress_total"] = total
    if message is not None:
        fields["message"] = message[:500]
    if log_tail is not None:
        fields["log_tail"] = log_tail
    if checkpoint is not None:
        fields["checkpoint"] = checkpoint
    if not _owned(job, token).update(**fields):
        raise JobLost(f"job {job.uuid} is no longer held by this run")
    return bool(Job.objects.filter(pk=job.pk).values_list("cancel_requested", flat=True).first())


# ---------------------------------------------------------------- reporting


class JobProgress:
    """What a runner reports through. Writes are scoped to this run's lease."""

    def __init__(self, job: Job, token: uuid.UUID, on_progress: Callable[[Job], None] | None = None):
        self.job = job
        self.token = token
        self.on_progress = on_progress
        self._lines = collections.deque((job.log_tail or "").splitlines(), maxlen=LOG_TAIL_LINES)
        self._last_tick = 0.0

    # -- state kept across runs of the same job
    @property
    def checkpoint(self) -> dict:
        return self.job.checkpoint

    def save_checkpoint(self, data: dict) -> None:
        self.job.checkpoint = data
        self._write(checkpoint=data)

    # -- reporting
    def _write(self, **fields) -> bool:
        fields = {k: v for k, v in fields.items() if v is not None}
        cancel = job_progress(job=self.job, token=self.token, **fields)
        for name, value in fields.items():
            attr = {"done": "progress_done", "total": "progress_total"}.get(name, name)
            setattr(self.job, attr, value)
        self.job.cancel_requested = cancel
        if self.on_progress is not None:
            self.on_progress(self.job)
        return cancel

    def set_total(self, total: int, *, message: str | None = None) -> None:
        self._write(total=max(0, int(total)), done=min(self.job.progress_done, max(0, int(total))), message=message)

    def advance(self, n: int = 1, *, message: str | None = None) -> None:
        """Count ``n`` more units done (after they are committed) and honour a cancel."""
        done = self.job.progress_done + n
        if self.job.progress_total:
            done = min(done, self.job.progress_total)
        if self._write(done=done, message=message):
            raise JobCancelled()

    def set_done(self, done: int, *, message: str | None = None) -> None:
        if self.job.progress_total:
            done = min(done, self.job.progress_total)
        if self._write(done=done, message=message):
            raise JobCancelled()

    def message(self, text: str) -> None:
        self._write(message=text)

    def tick(self, text: str | None = None) -> None:
        """A cheap heartbeat for inner loops (written at most once a second)."""
        now = time.monotonic()
        if now - self._last_tick >= TICK_WRITE_SECONDS:
            self._last_tick = now
            self._write(message=text) if text else self._write()

    def log(self, line: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        for part in str(line).splitlines() or [""]:
            self._lines.append(f"{stamp} {part}")
        self._write(log_tail="\n".join(self._lines))

    def check_cancelled(self) -> None:
        if self._write():
            raise JobCancelled()
