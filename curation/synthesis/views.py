"""Synthesis pages: the launch form and one synthesis job's review page.

``/p/<slug>/curate/synthesize/`` launches a 'synthesize' job through
``synthesize_create`` (form fields as
``curation.synthesis.params.SynthesisParams``) and lists the project's
recent synthesis jobs. ``…/synthesize/<job uuid>/`` shows the job's progress
(htmx polls its ``progress`` partial every second; HTTP 286 once the job has
ended), the count per filter, histograms of instruction lengths and
min-neighbour distances, and the accepted and rejected instructions (with
reason; filter by ``?reason=``) page by page. Curators and owners only;
everyone else gets 404.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.db.models.functions import Length
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from annotate.models import Kind
from annotate.selectors import project_for_curator
from curation.jobs.selectors import job_get_for_curator, jobs_recent
from curation.jobs.views import launch_page, polled
from curation.models import Job, JobKind, SynthesizedInstruction
from curation.plots import histogram
from curation.synthesis.filters import QUALITY_LEVELS, REASONS
from curation.synthesis.params import MAX_N, MAX_NEW_TOKENS, MAX_RESPONSES, RESPONSE_MODES, SynthesisParams
from curation.synthesis.services import synthesize_create

PER_PAGE = 50
DEFAULTS = SynthesisParams()


class SynthesizeForm(forms.Form):
    n = forms.IntegerField(label="Instructions to sample (N)", min_value=1, max_value=MAX_N, initial=DEFAULTS.n)
    temperature = forms.FloatField(min_value=0, max_value=5, initial=DEFAULTS.temperature)
    top_p = forms.FloatField(min_value=0.01, max_value=1, initial=DEFAULTS.top_p)
    max_new_tokens = forms.IntegerField(min_value=1, max_value=MAX_NEW_TOKENS, initial=DEFAULTS.max_new_tokens)
    seed = forms.IntegerField(min_value=0, initial=DEFAULTS.seed)
    system_prompts = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional, one per line; 'WEIGHT | text' weights a line (e.g. '3 | You are a math tutor.').",
    )
    languages = forms.CharField(
        required=False, initial="en", help_text="Accepted languages, comma-separated ISO codes; empty accepts any."
    )
    near_duplicate_distance = forms.FloatField(
        min_value=0,
        max_value=4,
        initial=DEFAULTS.near_duplicate_distance,
        help_text="Reject when the squared distance of unit embeddings to an earlier one is below this; 0 is off.",
    )
    tags = forms.BooleanField(
        required=False, initial=True, help_text="Tag input quality, difficulty and category with the model."
    )
    min_input_quality = forms.ChoiceField(
        required=False, choices=[("", "keep all")] + [(q, q) for q in QUALITY_LEVELS], initial=""
    )
    responses = forms.IntegerField(
        label="Responses per instruction (K)",
        min_value=0,
        max_value=MAX_RESPONSES,
        initial=0,
        help_text="0: instructions only.",
    )
    response_mode = forms.ChoiceField(
        choices=[(m, m) for m in RESPONSE_MODES],
        initial="items",
        help_text="items: build items for annotators; dpo: the model judges and keeps best vs worst pairs.",
    )
    kinds = forms.MultipleChoiceField(
        required=False, choices=Kind.choices, widget=forms.CheckboxSelectMultiple, help_text="Items to build (items)."
    )


@login_required
@require_http_methods(["GET", "POST"])
def synthesize_launch(request, slug):
    project = project_for_curator(request.user, slug)
    return launch_page(
        request,
        project,
        form_class=SynthesizeForm,
        create=synthesize_create,
        template="curation/synthesis/launch.html",
        initial={"kinds": list(project.kinds or Kind.values)},
        context={"jobs": jobs_recent(project=project, limit=10, kinds=[JobKind.SYNTHESIZE])},
        success=lambda job: reverse("synthesis:review", kwargs={"slug": project.slug, "job_uuid": job.uuid}),
    )


def _counts(job: Job) -> list[tuple[str, int]]:
    by_reason = dict(
        SynthesizedInstruction.objects.filter(job=job, accepted=False)
        .values_list("reason")
        .annotate(n=Count("id"))
        .values_list("reason", "n")
    )
    return [(reason, by_reason.get(reason, 0)) for reason in REASONS]


def _plots(job: Job, threshold: float | None) -> dict:
    rows = (
        SynthesizedInstruction.objects.filter(job=job)
        .annotate(length=Length("text"))
        .values_list("accepted", "length", "min_distance")
    )
    accepted_lengths = [length for accepted, length, _d in rows if accepted]
    rejected_lengths = [length for accepted, length, _d in rows if not accepted]
    distances = [d for _a, _t, d in rows if d is not None]
    hi = max([*accepted_lengths, *rejected_lengths, 1])
    return {
        "lengths_accepted": histogram(
            accepted_lengths, bins=20, lo=0, hi=hi, title="Accepted instruction lengths", x_label="characters"
        ),
        "lengths_rejected": histogram(
            rejected_lengths, bins=20, lo=0, hi=hi, title="Rejected instruction lengths", x_label="characters"
        ),
        "distances": histogram(
            distances,
            bins=20,
            lo=0,
            hi=max([*distances, threshold or 0, 0.5]),
            title="Min-neighbour distances (embedded instructions)",
            x_label="squared distance of unit embeddings",
            marker=threshold or None,
            marker_label="near-duplicate threshold",
        ),
        "n_distances": len(distances),
    }


@login_required
def synthesize_review(request, slug, job_uuid):
    job = job_get_for_curator(request.user, slug, job_uuid, kind=JobKind.SYNTHESIZE)
    counts = _counts(job)
    accepted_count = SynthesizedInstruction.objects.filter(job=job, accepted=True).count()
    context = {
        "project": job.project,
        "job": job,
        "section": "jobs",
        "counts": counts,
        "accepted_count": accepted_count,
        "rejected_count": sum(n for _r, n in counts),
    }
    reason = request.GET.get("reason", "")
    if reason and reason not in REASONS:
        reason = ""
    rejected = SynthesizedInstruction.objects.filter(job=job, accepted=False).order_by("index")
    if reason:
        rejected = rejected.filter(reason=reason)
    accepted = SynthesizedInstruction.objects.filter(job=job, accepted=True).select_related("prompt").order_by("index")
    threshold = (job.params or {}).get("near_duplicate_distance", DEFAULTS.near_duplicate_distance)
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        threshold = None
    context.update(
        reason=reason,
        accepted_page=Paginator(accepted, PER_PAGE).get_page(request.GET.get("accepted_page")),
        rejected_page=Paginator(rejected, PER_PAGE).get_page(request.GET.get("rejected_page")),
        plots=_plots(job, threshold),
        threshold=threshold,
    )
    # Polled (htmx): the counts, the histograms and the lists come in one
    # response, read together, the results out of band: no part of the page
    # is ahead of another.
    return polled(request, job, "curation/synthesis/review.html", context, oob=("results",))
