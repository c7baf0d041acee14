"""Background jobs: create, claim, report progress, finish, cancel, recover.

Every long task in Docket (candidate generation, judging, encoding, audits,
synthesis, exports) is a :class:`~curation.models.Job` row run by one
function, :func:`run_job`, which any Celery task, management command or test
calls with the job's primary key. A kind's work is a *runner* registered
with a decorator::

    from curation.jobs.lifecycle import job_runner

    @job_runner("export")
    def run_export(job, progress):
        progress.set_total(len(batches))
        for batch in batches:
            ...                          # one committed unit of work
            progress.advance(1, message=f"wrote {n} rows")   # raises JobCancelled on cancel
        return {"rows": n}               # stored in job.result

Runners live in any module of ``curation/services/`` (all of them are
imported before a job runs) or in an app's ``job_runners`` module.

Guarantees
    * Enqueued on commit (``delay_on_commit``), so a worker never sees a job
      row that is not there yet. Kinds in ``MODEL_KINDS`` go to the ``model``
      queue (task ``curation.tasks.model_run_job``), the rest to ``light``.
    * One run at a time: a worker starts a queued job with a conditional
      ``UPDATE … WHERE status='queued'``; whoever updates the row wins and
      gets a fresh ``lease_token``. Every later write of that run names the
      token, so a run that lost its lease cannot overwrite its successor.
    * Crash recovery: a running job's ``heartbeat_at`` is refreshed every
      ``DOCKET_JOB_HEARTBEAT_SECONDS`` (10) by a thread and at every progress
      report. A job whose heartbeat is older than ``DOCKET_JOB_STALE_SECONDS``
      (60), or whose worker process is known to be dead (same host, its
      pid/start time gone), is taken over by the next ``run_job`` for it: a
      redelivered task (``acks_late`` + ``reject_on_worker_lost``), the sweep
      every worker runs when it starts (``worker_ready``) or the beat sweep
      every minute (:func:`jobs_recover_stale`). Runners must therefore be
      idempotent: commit work in batches and skip what is already done
      (``progress.checkpoint`` keeps state across runs). After
      ``DOCKET_JOB_MAX_ATTEMPTS`` (3) runs that died the job fails instead of
      crash-looping a worker.
    * Cancel: a queued job is cancelled at once; a running one gets
      ``cancel_requested`` and stops at its next ``progress.advance`` /
      ``progress.check_cancelled`` (between batches) with status cancelled.
    * Errors: any exception fails the job with the traceback's tail in
      ``error``; the worker itself carries on.
"""

from __future__ import annotations

import collections
import importlib
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Case, F, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from curation.models import MODEL_KINDS, Job, JobKind

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 50
ERROR_TAIL_CHARS = 8000
TICK_WRITE_SECONDS = 1.0

Runner = Callable[[Job, "JobProgress"], dict | None]
JOB_RUNNERS: dict[str, Runner] = {}


class JobCancelled(Exception):
    """Raised inside a runner when a cancel was requested; the job ends 'cancelled'."""


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


# ---------------------------------------------------------------- registry


def job_runner(kind: str) -> Callable[[Runner], Runner]:
    """Register ``fn(job, progress) -> result dict`` as the runner of ``kind``."""
    if kind not in JobKind.values:
        raise ValueError(f"unknown job kind {kind!r}; expected one of {', '.join(JobKind.values)}")

    def register(fn: Runner) -> Runner:
        JOB_RUNNERS[kind] = fn
        return fn

    return register


_runners_loaded = False


def load_runners() -> None:
    """Import every module that may register a runner (once per process)."""
    global _runners_loaded
    if _runners_loaded:
        return
    for name in (
        "curation.audit.pipeline",
        "curation.ches.runner",
        "curation.exports.runner",
        "curation.generation.runner",
        "curation.judging.runner",
        "curation.synthesis.runner",
    ):
        importlib.import_module(name)
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("job_runners")
    _runners_loaded = True


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


def job_enqueue(*, job: Job) -> None:
    """Send the job to its queue once the current transaction commits (like
    Celery's ``delay_on_commit``). If the broker cannot be reached the job
    stays queued with a message saying so, instead of failing the request
    that created it; ``manage.py run_job <uuid>`` or the next recovery can
    still run it."""
    from curation.jobs import tasks

    task = tasks.model_run_job if job.kind in MODEL_KINDS else tasks.light_run_job
    job_pk = job.pk

    def send() -> None:
        try:
            task.delay(job_pk)
        except Exception as exc:
            logger.exception("could not enqueue job %s", job_pk)
            Job.objects.filter(pk=job_pk, status=Job.Status.QUEUED).update(
                message=f"Could not reach the task queue ({type(exc).__name__}); retry later or run it by hand"[:500]
            )

    transaction.on_commit(send)


def job_create(*, project, kind: str, params: dict | None = None, user=None, enqueue: bool = True) -> Job:
    """Store a queued job; unless ``enqueue=False`` a worker picks it up after commit."""
    if kind not in JobKind.values:
        raise ValueError(f"kind: unknown job kind {kind!r}; expected one of {', '.join(JobKind.values)}")
    job = Job.objects.create(
        project=project,
        kind=kind,
        params=params or {},
        created_by=user if (user is not None and user.is_authenticated) else None,
        message="Waiting for a worker",
    )
    if enqueue:
        job_enqueue(job=job)
    return job


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
            candidates.update(
                status=Job.Status.FAILED,
                finished_at=now,
                error=f"Gave up: the worker running this job died {job.attempts} times.",
                message="Failed",
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


def _owned(job: Job, token: uuid.UUID):
    return Job.objects.filter(pk=job.pk, lease_token=token, status=Job.Status.RUNNING)


def job_finish(*, job: Job, token: uuid.UUID, result: dict | None = None, message: str = "Done") -> bool:
    now = timezone.now()
    fields = {"status": Job.Status.SUCCEEDED, "finished_at": now, "heartbeat_at": now, "message": message}
    fields["result"] = {**(job.result or {}), **(result or {})}
    fields["progress_done"] = Case(When(progress_total__gt=0, then=F("progress_total")), default=F("progress_done"))
    return bool(_owned(job, token).update(**fields))


def job_fail(*, job: Job, token: uuid.UUID, error: str, message: str = "Failed") -> bool:
    now = timezone.now()
    return bool(
        _owned(job, token).update(
            status=Job.Status.FAILED,
            finished_at=now,
            heartbeat_at=now,
            error=error[-ERROR_TAIL_CHARS:],
            message=message,
        )
    )


def _job_mark_cancelled(*, job: Job, token: uuid.UUID, message: str = "Cancelled") -> bool:
    now = timezone.now()
    return bool(
        _owned(job, token).update(status=Job.Status.CANCELLED, finished_at=now, heartbeat_at=now, message=message)
    )


def job_cancel(*, job: Job) -> Job:
    """Cancel a queued job now, or ask a running one to stop after its current batch."""
    now = timezone.now()
    Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=Job.Status.CANCELLED, cancel_requested=True, finished_at=now, message="Cancelled before it started"
    )
    Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        cancel_requested=True, message="Cancelling after the current batch"
    )
    job.refresh_from_db()
    if job_run_is_dead(job, now=now):
        # Nobody is running it: end it here rather than wait for a worker.
        _job_mark_cancelled(job=job, token=job.lease_token, message="Cancelled (its worker had stopped)")
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


def jobs_recent(*, project, limit: int = 10):
    """The project's latest jobs, newest first (for the overview and job list pages)."""
    return Job.objects.for_project(project).select_related("created_by").order_by("-created_at", "-id")[:limit]


def jobs_recover_stale(*, now=None) -> list[Job]:
    """Re-enqueue running jobs whose run has died; returns them.

    Run by every worker at start-up and by beat every minute. The
    re-enqueued task takes the job over through :func:`job_start`, so
    enqueueing a job twice is harmless.
    """
    now = now or timezone.now()
    recovered = []
    for job in Job.objects.filter(status=Job.Status.RUNNING).order_by("id"):
        if job_run_is_dead(job, now=now):
            job_enqueue(job=job)
            recovered.append(job)
            logger.warning("re-enqueued job %s whose worker %s stopped", job.uuid, job.worker)
    return recovered


# ---------------------------------------------------------------- running


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


class _Heartbeat(threading.Thread):
    """Refreshes ``heartbeat_at`` while a runner is busy inside one long batch."""

    def __init__(self, job: Job, token: uuid.UUID, interval: float):
        super().__init__(name=f"job-heartbeat-{job.pk}", daemon=True)
        self.job_pk, self.token, self.interval = job.pk, token, interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(self.interval):
                updated = Job.objects.filter(pk=self.job_pk, lease_token=self.token, status=Job.Status.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
                if not updated:
                    return
        except Exception:  # the heartbeat is best effort; progress writes also refresh it
            logger.exception("job heartbeat failed")
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop_event.set()


def run_job(job_id: int, *, on_progress: Callable[[Job], None] | None = None, celery_task_id: str = "") -> Job | None:
    """Run (or resume) a job in this process. Returns the job as it ended,
    or None when there was nothing for this process to do."""
    load_runners()
    claim = job_start(job_id=job_id, celery_task_id=celery_task_id)
    if claim is None:
        return None
    job, token = claim
    progress = JobProgress(job, token, on_progress)
    runner = JOB_RUNNERS.get(job.kind)
    if job.cancel_requested:
        _job_mark_cancelled(job=job, token=token)
    elif runner is None:
        job_fail(job=job, token=token, error=f"No runner is registered for job kind {job.kind!r}.")
    else:
        interval = heartbeat_seconds()
        heartbeat = _Heartbeat(job, token, interval) if interval > 0 else None
        if heartbeat is not None:
            heartbeat.start()
        try:
            result = runner(job, progress)
        except JobCancelled:
            progress.log("cancelled on request")
            _job_mark_cancelled(job=job, token=token)
        except JobLost:
            logger.warning("job %s was taken over by another run; stopping", job.uuid)
            return None
        except KeyboardInterrupt:
            _job_mark_cancelled(job=job, token=token, message="Interrupted")
            raise
        except Exception as exc:
            logger.exception("job %s failed", job.uuid)
            try:
                progress.log(f"failed: {type(exc).__name__}: {exc}")
            except JobLost:
                return None
            except Exception:  # the database itself may be what failed
                close_old_connections()
            job_fail(job=job, token=token, error=traceback.format_exc())
        else:
            job.refresh_from_db(fields=["result", "progress_total"])
            job_finish(job=job, token=token, result=result or {})
        finally:
            if heartbeat is not None:
                heartbeat.stop()
    job.refresh_from_db()
    if on_progress is not None:
        on_progress(job)
    return job
