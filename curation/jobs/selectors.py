"""Reads of jobs for the pages: a project's recent jobs, one job for a curator."""

from __future__ import annotations

from django.db.models import Count
from django.http import Http404
from django.utils import timezone

from annotate.selectors import project_for_curator
from curation.jobs.shards import shard_is_dead
from curation.models import Job, JobShard


def jobs_recent(*, project, limit: int = 10, kinds=None):
    """The project's latest jobs (of ``kinds`` when given), newest first (overview, job list, launch pages)."""
    jobs = Job.objects.for_project(project)
    if kinds is not None:
        jobs = jobs.filter(kind__in=list(kinds))
    return jobs.select_related("created_by").order_by("-created_at", "-id")[:limit]


def job_get_for_curator(user, slug: str, job_uuid, *, kind: str | None = None) -> Job:
    """A job of a project ``user`` curates (of ``kind`` when given); 404 for anything else."""
    project = project_for_curator(user, slug)
    jobs = Job.objects.filter(project=project, uuid=job_uuid)
    if kind is not None:
        jobs = jobs.filter(kind=kind)
    job = jobs.select_related("project", "created_by").first()
    if job is None:
        raise Http404("No such job")
    return job


def job_shards_summary(*, job: Job) -> dict | None:
    """A sharded job's shards by state and the workers holding them (the job page); None if unsharded."""
    rows = JobShard.objects.filter(job=job).order_by().values("status").annotate(n=Count("id"))
    counts = {row["status"]: row["n"] for row in rows}
    if not counts:
        return None
    now = timezone.now()
    running = list(JobShard.objects.filter(job=job, status=JobShard.Status.RUNNING))
    workers = sorted({s.worker.rsplit(":", 1)[0] for s in running if not shard_is_dead(s, now=now)})
    return {
        "total": sum(counts.values()),
        "done": counts.get(JobShard.Status.DONE, 0),
        "running": counts.get(JobShard.Status.RUNNING, 0),
        "waiting": counts.get(JobShard.Status.PENDING, 0),
        "workers": workers,
        "reclaimed": JobShard.objects.filter(job=job, attempts__gt=1).count(),
    }
