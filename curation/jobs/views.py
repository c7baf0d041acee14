"""Job pages: the list, one job with a live progress bar, cancel, and the
launch forms for candidate generation and the algorithmic judge.

The job page polls itself with htmx (``hx-get`` every second); an htmx
request gets only the ``progress`` partial, with HTTP 286 once the job has
ended so htmx stops polling. Without JavaScript the page refreshes itself
every few seconds until the job ends. Curators and owners only; everyone
else gets 404.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from annotate.models import Kind
from annotate.selectors import project_for_curator
from annotate.views import with_csp
from curation.generation.runner import MAX_NEW_TOKENS, MAX_PER_PROMPT, PAIR_RULES, generation_params_clean
from curation.jobs.lifecycle import job_cancel, job_create, jobs_recent
from curation.judging.runner import JUDGE_KINDS, judge_params_clean
from curation.models import Job

JOBS_LISTED = 50


def _job_for_curator(user, slug: str, job_uuid) -> Job:
    project = project_for_curator(user, slug)
    job = Job.objects.filter(project=project, uuid=job_uuid).select_related("project", "created_by").first()
    if job is None:
        raise Http404("No such job")
    return job


@login_required
@with_csp
def job_list(request, slug):
    project = project_for_curator(request.user, slug)
    jobs = jobs_recent(project=project, limit=JOBS_LISTED)
    return render(request, "curation/jobs/list.html", {"project": project, "jobs": jobs, "section": "jobs"})


@login_required
@with_csp
def job_detail(request, slug, job_uuid):
    job = _job_for_curator(request.user, slug, job_uuid)
    context = {"project": job.project, "job": job, "section": "jobs"}
    if request.htmx:
        response = render(request, "curation/jobs/detail.html#progress", context)
        if job.ended:
            stop = HttpResponseStopPolling(response.content)
            stop["Content-Type"] = response["Content-Type"]
            return stop
        return response
    return render(request, "curation/jobs/detail.html", context)


@login_required
@with_csp
@require_POST
def job_cancel_view(request, slug, job_uuid):
    job = job_cancel(job=_job_for_curator(request.user, slug, job_uuid))
    if request.htmx:
        return job_detail(request, slug, job_uuid)
    messages.info(request, "Job cancelled." if job.ended else "Cancelling: the job stops after its current batch.")
    return redirect("jobs:detail", slug=slug, job_uuid=job.uuid)


# ------------------------------------------------------------- launch forms


class GenerateForm(forms.Form):
    limit = forms.IntegerField(
        required=False, min_value=1, help_text="At most this many prompts (those without candidates yet)."
    )
    per_prompt = forms.IntegerField(label="Responses per prompt (K)", min_value=1, max_value=MAX_PER_PROMPT, initial=2)
    max_new_tokens = forms.IntegerField(min_value=1, max_value=MAX_NEW_TOKENS, initial=128)
    temperature = forms.FloatField(min_value=0, max_value=5, initial=0.8, help_text="0 is greedy.")
    top_p = forms.FloatField(min_value=0.01, max_value=1, initial=0.95)
    seed = forms.IntegerField(min_value=0, initial=0)
    kinds = forms.MultipleChoiceField(
        choices=Kind.choices, widget=forms.CheckboxSelectMultiple, help_text="Items to build from the responses."
    )
    pair_rule = forms.ChoiceField(
        choices=[(r, r) for r in PAIR_RULES],
        initial="adjacent",
        help_text="adjacent: (r0, r1), (r2, r3), …; all: every pair.",
    )


class JudgeForm(forms.Form):
    limit = forms.IntegerField(required=False, min_value=1, help_text="At most this many items.")
    kinds = forms.MultipleChoiceField(
        choices=[(k, Kind(k).label) for k in JUDGE_KINDS], widget=forms.CheckboxSelectMultiple
    )
    principles = forms.BooleanField(
        required=False, help_text="Also give an A / B / NA verdict per project principle (pairwise items)."
    )


def _launch(request, project, *, kind: str, form_class, clean, template: str, initial: dict):
    status = 200
    if request.method == "POST":
        form = form_class(request.POST)
        if form.is_valid():
            params = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
            try:
                clean(project=project, data=params)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                with transaction.atomic():
                    job = job_create(project=project, kind=kind, params=params, user=request.user)
                return redirect("jobs:detail", slug=project.slug, job_uuid=job.uuid)
        status = 422
    else:
        form = form_class(initial=initial)
    context = {"project": project, "form": form, "section": "jobs", "recent": jobs_recent(project=project, limit=5)}
    return render(request, template, context, status=status)


@login_required
@with_csp
@require_http_methods(["GET", "POST"])
def generate_launch(request, slug):
    project = project_for_curator(request.user, slug)
    return _launch(
        request,
        project,
        kind="generate",
        form_class=GenerateForm,
        clean=generation_params_clean,
        template="curation/jobs/generate.html",
        initial={"kinds": list(project.kinds or Kind.values)},
    )


@login_required
@with_csp
@require_http_methods(["GET", "POST"])
def judge_launch(request, slug):
    project = project_for_curator(request.user, slug)
    return _launch(
        request,
        project,
        kind="judge",
        form_class=JudgeForm,
        clean=judge_params_clean,
        template="curation/jobs/judge.html",
        initial={"kinds": [k for k in JUDGE_KINDS if k in (project.kinds or Kind.values)]},
    )
