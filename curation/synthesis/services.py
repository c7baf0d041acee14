"""Launch Magpie synthesis: :func:`synthesize_create`, the one service the
synthesize page, ``manage.py synthesize`` and tests call."""

from __future__ import annotations

from annotate.models import Project
from curation.jobs.services import job_create
from curation.models import Job, JobKind
from curation.synthesis.params import synthesis_params_clean


def synthesize_create(*, project: Project, user, params: dict, enqueue: bool = True) -> Job:
    """Check every parameter (``ValidationError`` names the field), then queue
    a 'synthesize' job (model queue) with them."""
    synthesis_params_clean(project=project, data=params)
    return job_create(project=project, kind=JobKind.SYNTHESIZE, params=params, user=user, enqueue=enqueue)
