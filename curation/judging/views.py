"""The judge page, ``/p/<slug>/curate/judge/``: a form whose parameters go to
``judge_create`` (curators and owners only; everyone else gets 404)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from annotate.models import Kind
from annotate.selectors import principles_in_use, project_for_curator, questions_in_use
from curation.jobs.selectors import jobs_recent
from curation.jobs.views import launch_page
from curation.judging.params import JUDGE_KINDS, JUDGE_VARIANTS, judge_panel_of
from curation.judging.services import judge_create


class JudgeForm(forms.Form):
    limit = forms.IntegerField(required=False, min_value=1, help_text="At most this many items.")
    kinds = forms.MultipleChoiceField(
        choices=[(k, Kind(k).label) for k in JUDGE_KINDS], widget=forms.CheckboxSelectMultiple
    )
    principles = forms.BooleanField(
        required=False, help_text="Also give an A / B / NA verdict per project principle (pairwise items)."
    )
    questions = forms.BooleanField(
        required=False,
        help_text="Also answer the project's custom questions (single choice, multi-label, rating) "
        "by next-token probabilities; a panel also stores its jury's answers.",
    )
    rating_rule = forms.ChoiceField(
        required=False,
        choices=[("expected", "Expected value of the digits"), ("argmax", "Most probable digit")],
        help_text="How a rating is read from the probabilities of the digits.",
    )
    panel = forms.CharField(
        required=False,
        max_length=2000,
        help_text=f"A panel of judges, each its own annotator: comma-separated prompt variants "
        f"({', '.join(JUDGE_VARIANTS)}), each optionally @ a local model (e.g. default,strict,charitable@/models/"
        f"other.gguf), or “project” for the project's saved panel. Empty: one judge.",
    )
    save_panel = forms.BooleanField(required=False, help_text="Save this panel as the project's judge panel.")


@login_required
@require_http_methods(["GET", "POST"])
def judge_launch(request, slug):
    project = project_for_curator(request.user, slug)
    return launch_page(
        request,
        project,
        form_class=JudgeForm,
        create=judge_create,
        template="curation/jobs/judge.html",
        initial={
            "kinds": [k for k in JUDGE_KINDS if k in (project.kinds or Kind.values)],
            "panel": ",".join(judge_panel_of(project)),
        },
        context={
            "recent": jobs_recent(project=project, limit=5),
            "principles": principles_in_use(project),
            "questions": questions_in_use(project),
        },  # fmt: skip
        success=lambda job: reverse("jobs:detail", kwargs={"slug": project.slug, "job_uuid": job.uuid}),
    )
