"""Launch an audit: :func:`audit_create`, the one service the audit overview's
**Run audit** button, ``manage.py audit`` and tests call."""

from __future__ import annotations

from annotate.models import Project
from curation.audit.params import audit_params_clean
from curation.jobs.services import job_create
from curation.models import Job, JobKind


def audit_create(*, project: Project, user, params: dict, enqueue: bool = True) -> Job:
    """Check every parameter (``ValidationError`` names the field), then queue
    an audit of ``project`` (light queue); the worker stores an ``Audit``."""
    audit_params_clean(data=params or {})
    return job_create(project=project, kind=JobKind.AUDIT, params=params or {}, user=user, enqueue=enqueue)
