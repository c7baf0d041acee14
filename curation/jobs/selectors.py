"""Reads of jobs for the pages: a project's recent jobs, one job for a curator."""

from __future__ import annotations

from django.http import Http404

from annotate.selectors import project_for_curator
from curation.models import Job


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
