"""Launch the algorithmic judge: :func:`judge_create`, the one service the
judge page, ``manage.py judge`` and tests call."""

from __future__ import annotations

from annotate.models import Project
from curation.jobs.services import job_create
from curation.judging.params import judge_params_clean
from curation.models import Job, JobKind


def judge_create(*, project: Project, user, params: dict, enqueue: bool = True) -> Job:
    """Check every parameter (``ValidationError`` names the field), then queue
    a 'judge' job (model queue) with them."""
    judge_params_clean(project=project, data=params)
    return job_create(project=project, kind=JobKind.JUDGE, params=params, user=user, enqueue=enqueue)
