"""Celery's side of jobs: the tasks that run them, sending a job to its queue,
and the sweep that re-enqueues jobs whose worker died.

Two tasks run jobs, one per queue (``CELERY_TASK_ROUTES`` sends
``curation.tasks.model_*`` to the ``model`` queue, everything else to
``light``; the task names predate this module and stay, so queued messages
and routes keep working); :func:`job_enqueue` picks one by the job's kind.
Both are ``acks_late`` + ``reject_on_worker_lost``: a task whose worker dies
is delivered again, and ``run_job`` either resumes the job (its run is dead)
or does nothing (it ended, or a live run holds it).

Every worker also sweeps for jobs whose worker died when it starts
(``worker_ready``), and beat repeats the sweep every minute, so a crashed
job resumes as soon as any worker is up instead of after the broker's
visibility timeout. (The beat entry is ``recover-stale-jobs`` in
``CELERY_BEAT_SCHEDULE``.)
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import celeryd_after_setup, worker_ready
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from curation.jobs.lifecycle import job_run_is_dead
from curation.jobs.runner import run_job
from curation.jobs.shards import fanout, job_needs_workers
from curation.llm.threads import record_worker_concurrency
from curation.models import MODEL_KINDS, Job

logger = logging.getLogger(__name__)


@shared_task(name="curation.tasks.model_run_job", bind=True, acks_late=True, reject_on_worker_lost=True)
def model_run_job(self, job_id: int) -> None:
    """Run a job that needs a model (generate, judge, encode, synthesize); a
    sharded one is joined: this worker claims its shards alongside the others."""
    run_job(job_id, celery_task_id=self.request.id or "", fan_out=job_fan_out)


@shared_task(name="curation.tasks.light_run_job", bind=True, acks_late=True, reject_on_worker_lost=True)
def light_run_job(self, job_id: int) -> None:
    """Run a job that needs no model (audit, export)."""
    run_job(job_id, celery_task_id=self.request.id or "", fan_out=job_fan_out)


def job_enqueue(*, job: Job) -> None:
    """Send the job to its queue once the current transaction commits (like
    Celery's ``delay_on_commit``). If the broker cannot be reached the job
    stays queued with a message saying so, instead of failing the request
    that created it; ``manage.py run_job <uuid>`` or the next recovery can
    still run it."""
    task = model_run_job if job.kind in MODEL_KINDS else light_run_job
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


def job_fan_out(job: Job, shards: int) -> None:
    """After a sharded job is planned (or given a further round, ``ShardSpec.more``):
    enqueue up to ``DOCKET_JOB_FANOUT`` more tasks for it (one fewer than its
    shards), so that many more idle workers
    join it (``curation.jobs.shards``); a task that finds nothing left ends at
    once. Not in eager mode, where a task would run inline inside this one."""
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        return
    for _ in range(min(shards - 1, fanout())):
        job_enqueue(job=job)


def jobs_recover_stale(*, now=None) -> list[Job]:
    """Re-enqueue running jobs whose run has died, and sharded jobs with a
    shard nobody alive is working on (``shards.job_needs_workers``); returns them.

    Run by every worker at start-up and by beat every minute. The
    re-enqueued task takes the job over through ``job_start``, so
    enqueueing a job twice is harmless.
    """
    now = now or timezone.now()
    recovered = []
    for job in Job.objects.filter(status=Job.Status.RUNNING).order_by("id"):
        if job_run_is_dead(job, now=now) or job_needs_workers(job, now=now):
            job_enqueue(job=job)
            recovered.append(job)
            logger.warning("re-enqueued job %s whose worker %s stopped", job.uuid, job.worker)
    return recovered


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


@celeryd_after_setup.connect
def _record_concurrency(sender=None, instance=None, **kwargs) -> None:
    """The worker's pool size (``-c``) is its share divisor for torch threads (``curation.llm.threads``)."""
    record_worker_concurrency(getattr(instance, "concurrency", None))
