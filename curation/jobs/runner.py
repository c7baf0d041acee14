"""Run a job in this process: :func:`run_job`, what every Celery task, the
``run_job`` command, the job commands and tests call with a job's primary key.

It claims the job (``lifecycle.job_start``), looks its kind's runner up in
``curation.jobs.registry``, keeps a heartbeat thread going while the runner
works, and ends the job as succeeded, failed or cancelled.
"""

from __future__ import annotations

import logging
import threading
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
from curation.models import Job

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


def run_job(job_id: int, *, on_progress: Callable[[Job], None] | None = None, celery_task_id: str = "") -> Job | None:
    """Run (or resume) a job in this process. Returns the job as it ended,
    or None when there was nothing for this process to do."""
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
        interval = heartbeat_seconds()
        heartbeat = _Heartbeat(job, token, interval) if interval > 0 else None
        if heartbeat is not None:
            heartbeat.start()
        try:
            result = runner(job, progress)
        except JobCancelled:
            progress.log("cancelled on request")
            job_mark_cancelled(job=job, token=token)
        except JobLost:
            logger.warning("job %s was taken over by another run; stopping", job.uuid)
            return None
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
