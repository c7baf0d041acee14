"""The one write that starts a job: :func:`job_create`.

Only the kinds' own ``<kind>_create`` services call it (``generate_create``,
``judge_create``, ``encode_create``, ``audit_create``, ``synthesize_create``,
``export_create``), after validating every parameter; pages, the API and the
commands call those, so no job is ever queued with parameters its runner
would refuse.
"""

from __future__ import annotations

from django.db import transaction

from curation.jobs.tasks import job_enqueue
from curation.models import Job, JobKind
from curation.projects.activity import activity_record


def job_create(*, project, kind: str, params: dict | None = None, user=None, enqueue: bool = True) -> Job:
    """Store a queued job and record its launch in the project's activity log;
    unless ``enqueue=False`` a worker picks it up after commit."""
    if kind not in JobKind.values:
        raise ValueError(f"kind: unknown job kind {kind!r}; expected one of {', '.join(JobKind.values)}")
    with transaction.atomic():
        job = Job.objects.create(
            project=project,
            kind=kind,
            params=params or {},
            created_by=user if (user is not None and user.is_authenticated) else None,
            message="Waiting for a worker",
        )
        activity_record(
            project=project,
            actor=user,
            verb="job.launch",
            target=job,
            changes={"kind": [None, kind], "parameters": [None, job.params]},
        )
    if enqueue:
        job_enqueue(job=job)
    return job
