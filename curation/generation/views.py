"""The generate page, ``/p/<slug>/curate/generate/``: a form whose parameters
go to ``generate_create`` (curators and owners only; everyone else gets 404)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from annotate.models import Kind
from annotate.selectors import project_for_curator
from curation.generation.params import MAX_NEW_TOKENS, MAX_PER_PROMPT, PAIR_RULES
from curation.generation.services import generate_create
from curation.jobs.selectors import jobs_recent
from curation.jobs.views import launch_page


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


@login_required
@require_http_methods(["GET", "POST"])
def generate_launch(request, slug):
    project = project_for_curator(request.user, slug)
    return launch_page(
        request,
        project,
        form_class=GenerateForm,
        create=generate_create,
        template="curation/jobs/generate.html",
        initial={"kinds": list(project.kinds or Kind.values)},
        context={"recent": jobs_recent(project=project, limit=5)},
        success=lambda job: reverse("jobs:detail", kwargs={"slug": project.slug, "job_uuid": job.uuid}),
    )
