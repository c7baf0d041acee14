"""The refine page of a principle, reached from the Ambiguity dashboard
(``/p/<slug>/curate/audit/ambiguity/principles/<id>/``): rewrite the principle
(owners: ``principle_update``, a new version), request a re-judgment sample
(curators and owners: ``rejudgment_create``), and read each sample's old vs new
comparison (``rejudgment_compare``, recomputed on request as human verdicts come in)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from annotate.models import CURATE_ROLES, Principle, Rejudgment, Role
from annotate.selectors import project_get_for_user
from curation.judging.params import judge_panel_of
from curation.projects.forms import PrincipleForm, guidance_initial
from curation.projects.services import principle_update
from curation.refinement import services
from curation.refinement.compare import rejudgment_compare
from curation.refinement.presenters import rejudgment_rows


class RejudgeForm(forms.Form):
    size = forms.IntegerField(min_value=1, max_value=services.SIZE_MAX, initial=services.SIZE_DEFAULT, label="Items")
    overlap = forms.IntegerField(
        min_value=0,
        max_value=services.OVERLAP_MAX,
        initial=0,
        label="Annotators per item",
        help_text="Sent through the normal queue (0: not to annotators; otherwise at least the project's overlap).",
    )
    panel = forms.CharField(
        required=False,
        max_length=4000,
        label="Judge panel",
        help_text="Members as variant or variant@model, comma-separated, or “project” for the saved panel; empty: no judges.",
    )
    old_version = forms.IntegerField(required=False, min_value=1, label="Compare with version")


ACTIONS = ("rewrite", "rejudge", "compare")


@login_required
@require_http_methods(["GET", "POST"])
def refine(request, slug, principle_id):
    project, role = project_get_for_user(request.user, slug, CURATE_ROLES)
    principle = Principle.objects.select_related("current_version").filter(project=project, pk=principle_id).first()
    if principle is None:
        raise Http404("No such principle")
    is_owner = role == Role.OWNER
    errors: dict[str, list[str]] = {}
    status = 200
    rejudge_form = RejudgeForm(initial={"panel": "project" if judge_panel_of(project) else ""})
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "rewrite" and not is_owner:
            raise PermissionDenied("Only owners change principles.")
        try:
            if action == "rewrite":
                form = PrincipleForm(request.POST)
                if not form.is_valid():
                    raise ValidationError({f: list(p) for f, p in form.errors.items()})
                data = form.cleaned_data
                principle_update(
                    principle=principle,
                    name=data["name"],
                    description=data["description"],
                    guidance=data["guidance"],
                    user=request.user,
                )
                messages.success(request, f"Saved {principle.name} as version {principle.current_version.number}.")
            elif action == "rejudge":
                rejudge_form = RejudgeForm(request.POST)
                if not rejudge_form.is_valid():
                    raise ValidationError({f: list(p) for f, p in rejudge_form.errors.items()})
                data = rejudge_form.cleaned_data
                made = services.rejudgment_create(
                    project=project,
                    principle=principle,
                    user=request.user,
                    size=data["size"],
                    overlap=data["overlap"],
                    panel=data["panel"],
                    old_version=data["old_version"],
                )
                messages.success(request, f"Asked again about {made.copies.count()} item(s).")
            elif action == "compare":
                rejudgment = Rejudgment.objects.filter(principle=principle, uuid=request.POST.get("rejudgment")).first()
                if rejudgment is None:
                    raise ValidationError({"rejudgment": "no such re-judgment sample of this principle"})
                rejudgment_compare(rejudgment=rejudgment)
                messages.success(request, "Comparison updated.")
            else:
                raise ValidationError({"action": "unknown action"})
            return redirect("refinement:refine", slug=project.slug, principle_id=principle.pk)
        except ValidationError as error:
            errors = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
            status = 400
    principle.guidance_text = guidance_initial(principle.guidance)
    context = {
        "project": project,
        "role": role,
        "is_owner": is_owner,
        "principle": principle,
        "versions": list(principle.versions.order_by("-number")),
        "rejudge_form": rejudge_form,
        "rejudgments": rejudgment_rows(principle=principle),
        "errors": errors,
        "section": "audit",
    }
    return render(request, "curation/refine.html", context, status=status)
