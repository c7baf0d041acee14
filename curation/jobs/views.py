"""Job pages: the list, one job with a live progress bar, cancel; and the two
helpers every job's own pages use: :func:`launch_page` (a launch form that
creates its job through the kind's ``<kind>_create`` service) and
:func:`polled` (a page that polls its own progress partial).

The job page polls itself with htmx (``hx-get`` every second); an htmx
request gets only the ``progress`` partial, with HTTP 286 once the job has
ended so htmx stops polling. Without JavaScript the page refreshes itself
every few seconds until the job ends. Curators and owners only; everyone
else gets 404.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from annotate.selectors import project_for_curator
from curation.jobs.lifecycle import job_cancel
from curation.jobs.selectors import job_get_for_curator, job_shards_summary, jobs_recent
from curation.models import Job

JOBS_LISTED = 50


def polled(request, job: Job, template: str, context: dict, oob: tuple[str, ...] = ()):
    """The page, or for htmx its ``progress`` partial: HTTP 286 (stop polling) once the job has ended.

    ``oob``: further partials of the page sent along out of band (rendered
    with ``oob=True``; each puts ``hx-swap-oob`` on its root), so the parts
    of a page that depend on the job's results change together.
    """
    if not request.htmx:
        return render(request, template, context)
    response = render(request, f"{template}#progress", context)
    for name in oob:
        response.content += render_to_string(f"{template}#{name}", {**context, "oob": True}, request=request).encode()
    if job.ended:
        stop = HttpResponseStopPolling(response.content)
        stop["Content-Type"] = response["Content-Type"]
        return stop
    return response


def form_errors_add(form, error: ValidationError) -> None:
    """A service's ``ValidationError`` on the form: keyed errors on their field
    (or the form when it has no such field), plain ones on the form."""
    if hasattr(error, "error_dict"):
        for name, problems in error.message_dict.items():
            form.add_error(name if name in form.fields else None, problems)
    else:
        form.add_error(None, error.messages)


def launch_page(
    request,
    project,
    *,
    form_class,
    create: Callable[..., Job],
    template: str,
    initial: dict,
    context: dict,
    success: Callable[[Job], str],
):
    """A job's launch page. GET shows the form; POST parses it and calls the
    kind's ``create(project=, user=, params=)`` service, which checks every
    parameter before anything is queued: a ``ValidationError`` goes back to
    the form (422), success redirects to ``success(job)``."""
    status = 200
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            params = {k: v for k, v in form.cleaned_data.items() if v not in (None, "", [])}
            try:
                with transaction.atomic():
                    job = create(project=project, user=request.user, params=params)
            except ValidationError as error:
                form_errors_add(form, error)
            else:
                return redirect(success(job))
        status = 422
    else:
        form = form_class(initial=initial)
    return render(request, template, {"project": project, "form": form, "section": "jobs", **context}, status=status)


@login_required
def job_list(request, slug):
    project = project_for_curator(request.user, slug)
    jobs = jobs_recent(project=project, limit=JOBS_LISTED)
    return render(request, "curation/jobs/list.html", {"project": project, "jobs": jobs, "section": "jobs"})


@login_required
def job_detail(request, slug, job_uuid):
    job = job_get_for_curator(request.user, slug, job_uuid)
    context = {"project": job.project, "job": job, "shards": job_shards_summary(job=job), "section": "jobs"}
    return polled(request, job, "curation/jobs/detail.html", context)


@login_required
@require_POST
def job_cancel_view(request, slug, job_uuid):
    job = job_cancel(job=job_get_for_curator(request.user, slug, job_uuid))
    if request.htmx:
        return job_detail(request, slug, job_uuid)
    messages.info(request, "Job cancelled." if job.ended else "Cancelling: the job stops after its current batch.")
    return redirect("jobs:detail", slug=slug, job_uuid=job.uuid)
