"""Launch candidate generation: :func:`generate_create`, the one service the
generate page, ``manage.py generate_candidates`` and tests call."""

from __future__ import annotations

from annotate.models import Project
from curation.generation.params import generation_params_clean
from curation.jobs.services import job_create
from curation.models import Job, JobKind


def generate_create(*, project: Project, user, params: dict, enqueue: bool = True) -> Job:
    """Check every parameter (``ValidationError`` names the field), then queue
    a 'generate' job (model queue) with them."""
    generation_params_clean(project=project, data=params)
    return job_create(project=project, kind=JobKind.GENERATE, params=params, user=user, enqueue=enqueue)
