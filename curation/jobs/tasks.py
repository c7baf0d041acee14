"""Celery tasks: thin wrappers that take a job id and call ``run_job``.

Two tasks run jobs, one per queue (``CELERY_TASK_ROUTES`` sends
``curation.tasks.model_*`` to the ``model`` queue, everything else to
``light``); ``curation.jobs.lifecycle.job_enqueue`` picks one by the job's kind. Both
are ``acks_late`` + ``reject_on_worker_lost``: a task whose worker dies is
delivered again, and ``run_job`` either resumes the job (its run is dead) or
does nothing (it ended, or a live run holds it).

Every worker also sweeps for jobs whose worker died when it starts
(``worker_ready``), and beat repeats the sweep every minute, so a crashed
job resumes as soon as any worker is up instead of after the broker's
visibility timeout. (The beat entry is ``recover-stale-jobs`` in
``CELERY_BEAT_SCHEDULE``.)
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready

from curation.jobs.lifecycle import jobs_recover_stale, run_job

logger = logging.getLogger(__name__)


@shared_task(name="curation.tasks.model_run_job", bind=True, acks_late=True, reject_on_worker_lost=True)
def model_run_job(self, job_id: int) -> None:
    """Run a job that needs a model (generate, judge, encode, synthesize)."""
    run_job(job_id, celery_task_id=self.request.id or "")


@shared_task(name="curation.tasks.light_run_job", bind=True, acks_late=True, reject_on_worker_lost=True)
def light_run_job(self, job_id: int) -> None:
    """Run a job that needs no model (audit, export)."""
    run_job(job_id, celery_task_id=self.request.id or "")


@shared_task(name="curation.tasks.jobs_recover_stale", ignore_result=True)
def recover_stale_jobs() -> int:
    return len(jobs_recover_stale())


@worker_ready.connect
def _recover_on_worker_start(sender=None, **kwargs) -> None:
    try:
        recovered = jobs_recover_stale()
    except Exception:  # a sweep must never stop a worker from starting
        logger.exception("job recovery sweep failed at worker start")
        return
    if recovered:
        logger.warning("worker start: re-enqueued %d job(s) whose worker had stopped", len(recovered))
