"""Launch an export: :func:`export_create`, the one service the REST API,
``manage.py export_dataset`` and tests call."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from curation.exports.options import export_options_clean
from curation.exports.orm import principle_required, questions_for_export
from curation.jobs.services import job_create
from curation.models import Job, JobKind


def export_create(*, project, user, params: dict, enqueue: bool = True) -> Job:
    """Check every export parameter, then queue an export job of ``project`` (light queue).

    ``params`` is ``{"format": "dpo"|"kto"|…, "options": {option: value}}``
    (the options of ``curation.exports.options``). Raises ``ValidationError``
    keyed by the option at fault (``format`` for the format, ``params`` for
    anything else). ``enqueue=False`` stores the job without sending it to a
    worker (the command runs it in its own process).
    """
    if not isinstance(params, dict):
        raise ValidationError({"params": "params must be an object with format and options"})
    unknown = set(params) - {"format", "options"}
    if unknown:
        raise ValidationError(
            {"params": f"unknown parameter(s): {', '.join(sorted(unknown))}; give format and options"}
        )
    fmt = params.get("format", "")
    clean = export_options_clean(
        fmt=fmt, options=params.get("options"), questions=questions_for_export(project=project)
    )
    if clean.get("drop_split_principle"):
        principle_required(project=project, ref=clean["drop_split_principle"])
    return job_create(
        project=project, kind=JobKind.EXPORT, params={"format": fmt, "options": clean}, user=user, enqueue=enqueue
    )
