"""Run a job in this process: :func:`run_job`, what every Celery task, the
``run_job`` command, the job commands and tests call with a job's primary key.

It claims the job (``lifecycle.job_start``), looks its kind's runner up in
``curation.jobs.registry``, keeps a heartbeat thread going while the runner
works, and ends the job as succeeded, failed or cancelled. A sharded kind
(``registry.SHARDED``: plan, shards, finish; see ``curation.jobs.shards``) is
run by every process that calls ``run_job`` for it at once, each claiming
shards until none is left.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable

from django.db import close_old_connections, connection
from django.utils import timezone

from curation.jobs import registry
from curation.jobs.lifecycle import (
    JobCancelled,
    JobFailed,
    JobLost,
    JobProgress,
    heartbeat_seconds,
    job_fail,
    job_finish,
    job_mark_cancelled,
    job_start,
)
from curation.jobs.shards import (
    SHARD_POLL_SECONDS,
    ShardProgress,
    job_cancel_if_idle,
    job_fail_shared,
    job_log_append,
    shards_claim,
    shards_complete,
    shards_create,
    shards_extend,
    shards_release,
    worker_label,
)
from curation.models import Job, JobShard

logger = logging.getLogger(__name__)


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


def _run_holding_lease(job: Job, token: uuid.UUID, progress: JobProgress, body: Callable[[], None]) -> bool:
    """Run ``body`` while holding the job's lease (a heartbeat thread keeps it);
    a cancel, a failure or an error inside ends the job accordingly. Returns
    False when the run lost the job to another run."""
    interval = heartbeat_seconds()
    heartbeat = _Heartbeat(job, token, interval) if interval > 0 else None
    if heartbeat is not None:
        heartbeat.start()
    try:
        body()
    except JobCancelled:
        progress.log("cancelled on request")
        job_mark_cancelled(job=job, token=token)
    except JobLost:
        logger.warning("job %s was taken over by another run; stopping", job.uuid)
        return False
    except JobFailed as failure:
        progress.log(f"failed: {failure.message.splitlines()[-1] if failure.message else ''}")
        job_fail(
            job=job,
            token=token,
            error=failure.message,
            message=(failure.message.splitlines() or ["Failed"])[-1],
            result=failure.result,
        )
    except KeyboardInterrupt:
        job_mark_cancelled(job=job, token=token, message="Interrupted")
        raise
    except Exception as exc:
        logger.exception("job %s failed", job.uuid)
        try:
            progress.log(f"failed: {type(exc).__name__}: {exc}")
        except JobLost:
            return False
        except Exception:  # the database itself may be what failed
            close_old_connections()
        job_fail(job=job, token=token, error=traceback.format_exc())
    finally:
        if heartbeat is not None:
            heartbeat.stop()
    return True


def run_job(
    job_id: int,
    *,
    on_progress: Callable[[Job], None] | None = None,
    celery_task_id: str = "",
    fan_out: Callable[[Job, int], None] | None = None,
) -> Job | None:
    """Run (or resume, or join) a job in this process. Returns the job as it
    ended, or None when there was nothing for this process to do.

    A sharded kind (``registry.SHARDED``) runs through :func:`_run_sharded`,
    which any number of processes may call for the same job at once;
    ``fan_out(job, shards)`` (``tasks.job_fan_out``, passed by the Celery
    tasks) is called after planning to enqueue more tasks so idle workers join."""
    spec = registry.SHARDED.get(Job.objects.filter(pk=job_id).values_list("kind", flat=True).first() or "")
    if spec is not None:
        return _run_sharded(job_id, spec, on_progress=on_progress, celery_task_id=celery_task_id, fan_out=fan_out)
    claim = job_start(job_id=job_id, celery_task_id=celery_task_id)
    if claim is None:
        return None
    job, token = claim
    progress = JobProgress(job, token, on_progress)
    runner = registry.RUNNERS.get(job.kind)
    if job.cancel_requested:
        job_mark_cancelled(job=job, token=token)
    elif runner is None:
        job_fail(job=job, token=token, error=f"No runner is registered for job kind {job.kind!r}.")
    else:

        def body() -> None:
            result = runner(job, progress)
            job.refresh_from_db(fields=["result", "progress_total"])
            job_finish(job=job, token=token, result=result or {})

        if not _run_holding_lease(job, token, progress, body):
            return None
    job.refresh_from_db()
    if on_progress is not None:
        on_progress(job)
    return job


# ---------------------------------------------------------------- sharded jobs (curation.jobs.shards)


class _ShardHeartbeat(threading.Thread):
    """Refreshes the claimed shards' and the job's heartbeat while a shard's work runs."""

    def __init__(self, job: Job, shards: list[JobShard], token: uuid.UUID, interval: float):
        super().__init__(name=f"job-shard-heartbeat-{job.pk}", daemon=True)
        self.job_pk, self.ids, self.token, self.interval = job.pk, [s.pk for s in shards], token, interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(self.interval):
                now = timezone.now()
                held = JobShard.objects.filter(pk__in=self.ids, lease_token=self.token, status=JobShard.Status.RUNNING)
                if not held.update(heartbeat_at=now):
                    return
                Job.objects.filter(pk=self.job_pk, status=Job.Status.RUNNING).update(heartbeat_at=now)
        except Exception:  # best effort, like _Heartbeat
            logger.exception("shard heartbeat failed")
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop_event.set()


def _run_sharded(job_id: int, spec, *, on_progress, celery_task_id: str, fan_out) -> Job | None:
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.ended:
        return None
    took_part = False
    if not JobShard.objects.filter(job=job).exists():
        claim = job_start(job_id=job_id, celery_task_id=celery_task_id)  # queued, or its planning run died
        if claim is None:
            return None
        job, token = claim
        planned = _plan_shards(job, token, spec, on_progress)
        took_part = True
        if planned and fan_out is not None:
            fan_out(job, planned)
    took_part = _work_shards(job, spec, on_progress, fan_out) or took_part
    job.refresh_from_db()
    if on_progress is not None:
        on_progress(job)
    return job if (took_part or job.ended) else None


def _plan_shards(job: Job, token: uuid.UUID, spec, on_progress) -> int:
    """Plan the job into shards holding its lease; returns how many (0 when the job already ended)."""
    progress = JobProgress(job, token, on_progress)
    if job.cancel_requested:
        job_mark_cancelled(job=job, token=token)
        return 0
    planned = 0

    def body() -> None:
        nonlocal planned
        plan = spec.plan(job, progress)
        planned = shards_create(job=job, token=token, plan=plan)
        progress.log(f"planned {planned} shard(s) of {sum(u for _p, u in plan)} unit(s) on {worker_label()}")
        if not planned:  # nothing to do: finish here
            job_finish(job=job, token=token, result=spec.finish(job, progress) or {})

    _run_holding_lease(job, token, progress, body)
    job.refresh_from_db()
    return planned if job.status == Job.Status.RUNNING else 0


def _finish_sharded(job: Job, token: uuid.UUID, spec, on_progress) -> int:
    """Finish a job whose shards are all done, holding its lease: ``spec.more``
    first (a further round of shards: returns how many, and the job runs on),
    else ``spec.finish`` and the job ends (returns 0)."""
    job.refresh_from_db()
    progress = JobProgress(job, token, on_progress)
    added = 0

    def body() -> None:
        nonlocal added
        plan = spec.more(job, progress) if spec.more is not None else []
        if plan:
            added = shards_extend(job=job, token=token, plan=plan)
            progress.log(f"{added} more shard(s) of {sum(u for _p, u in plan)} unit(s) planned on {worker_label()}")
            return
        progress.log(f"all {job.shards.count()} shard(s) done; finishing on {worker_label()}")
        job_finish(job=job, token=token, result=spec.finish(job, progress) or {})

    _run_holding_lease(job, token, progress, body)
    job.refresh_from_db()
    return added if job.status == Job.Status.RUNNING else 0


def _work_shards(job: Job, spec, on_progress, fan_out=None) -> bool:
    """Claim and run shards of ``job`` until none is left; returns whether this run took part."""
    token = uuid.uuid4()
    took_part = joined = False
    while True:
        job.refresh_from_db()
        if job.ended:
            return took_part
        if not JobShard.objects.filter(job=job).exclude(status=JobShard.Status.DONE).exists():
            # every shard is done: its finisher holds the job; take over only if that run died
            claim = job_start(job_id=job.pk)
            if claim is None:
                return took_part
            took_part = True
            added = _finish_sharded(claim[0], claim[1], spec, on_progress)
            if not added:
                return True
            if fan_out is not None:
                fan_out(job, added)
            continue
        if job.cancel_requested:
            job_cancel_if_idle(job=job)
            return took_part
        try:
            shards = shards_claim(job=job, token=token, limit=spec.shards_per_claim(job))
        except JobLost:
            continue
        if not shards:
            time.sleep(SHARD_POLL_SECONDS)  # others hold the last shards: wait, and take any whose holder dies
            continue
        took_part = True
        progress = ShardProgress(job, shards, token, on_progress)
        if not joined:
            joined = True
            progress.log(f"{worker_label()} took shard {shards[0].index} of {job.shards.count()}")
        interval = heartbeat_seconds()
        heartbeat = _ShardHeartbeat(job, shards, token, interval) if interval > 0 else None
        if heartbeat is not None:
            heartbeat.start()
        try:
            write = spec.run(job, shards, progress)
            finishing = shards_complete(
                job=job, shards=shards, token=token, write=write, done_message=spec.done_message
            )
        except JobCancelled:
            shards_release(shards=shards, token=token)
            job_log_append(job_pk=job.pk, lines=[f"[{worker_label()}] stopped for the cancel"])
            job_cancel_if_idle(job=job)
            return True
        except JobLost:
            logger.warning("shard(s) of job %s were taken over or the job ended", job.uuid)
            continue
        except JobFailed as failure:
            shards_release(shards=shards, token=token)
            job_fail_shared(job=job, error=failure.message)
            return True
        except KeyboardInterrupt:
            shards_release(shards=shards, token=token)
            raise
        except Exception:
            logger.exception("shard(s) of job %s failed", job.uuid)
            shards_release(shards=shards, token=token)
            job_fail_shared(job=job, error=traceback.format_exc())
            return True
        finally:
            if heartbeat is not None:
                heartbeat.stop()
        progress.refresh()
        if finishing is not None:
            added = _finish_sharded(job, finishing, spec, on_progress)
            if not added:
                return True
            if fan_out is not None:
                fan_out(job, added)  # a further round (ShardSpec.more): idle workers join it
