"""Launch the encode job: :func:`encode_create`, the one service the audit
overview's **Encode responses** button, ``manage.py encode`` and tests call."""

from __future__ import annotations

from dataclasses import asdict

from django.conf import settings
from django.core.exceptions import ValidationError

from annotate.models import Project
from curation.ches.params import encode_params_clean
from curation.ches.selectors import encoding_model_ref
from curation.jobs.services import job_create
from curation.llm.model import ModelNotFoundError
from curation.models import Job, JobKind


def encode_create(*, project: Project, user, params: dict, enqueue: bool = True) -> Job:
    """Check every parameter (``batch_size``, ``limit``) and that the project's
    model can be encoded with (``ValidationError`` names the field), then
    queue an 'encode' job (model queue)."""
    cleaned = encode_params_clean(data=params)
    if getattr(settings, "DOCKET_LLM_BACKEND", "transformers") == "openai":
        raise ValidationError({"model": "hidden-state encoding needs the transformers backend, not the openai one"})
    try:
        encoding_model_ref(project=project)
    except ModelNotFoundError as exc:
        raise ValidationError({"model": str(exc)}) from None
    return job_create(project=project, kind=JobKind.ENCODE, params=asdict(cleaned), user=user, enqueue=enqueue)
