"""Launch the algorithmic judge: :func:`judge_create`, the one service the
judge page, ``manage.py judge`` and tests call."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from annotate.models import Project
from curation.jobs.services import job_create
from curation.judging.params import judge_panel_clean, judge_panel_text, judge_params_clean
from curation.models import Job, JobKind


def judge_create(*, project: Project, user, params: dict, enqueue: bool = True) -> Job:
    """Check every parameter (``ValidationError`` names the field), then queue
    a 'judge' job (model queue) with them. With ``save_panel`` the panel is
    also saved as the project's (``judge_panel_set``), in the same transaction."""
    clean = judge_params_clean(project=project, data=params)
    with transaction.atomic():
        if clean.save_panel:
            judge_panel_set(project=project, panel=judge_panel_text(clean.panel))
        # saving the panel is this launch's side effect, not a parameter of the job it queues
        job_params = {key: value for key, value in params.items() if key != "save_panel"}
        return job_create(project=project, kind=JobKind.JUDGE, params=job_params, user=user, enqueue=enqueue)


def judge_panel_set(*, project: Project, panel) -> list[str]:
    """Save the project's judge panel (``Project.options["judge_panel"]``; docs/algorithms.md#judge-panels):
    its members checked (``ValidationError`` on ``panel``), an empty panel removes it. The judge job
    runs it with ``panel="project"``."""
    try:
        members = judge_panel_text(judge_panel_clean(panel))
    except ValueError as exc:
        raise ValidationError({"panel": f"panel: {exc}"}) from None
    options = dict(project.options or {})
    if members:
        options["judge_panel"] = members
    else:
        options.pop("judge_panel", None)
    project.options = options
    project.save(update_fields=["options"])
    return members
