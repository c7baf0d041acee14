"""Curator pages: projects with progress, members and roles, import upload,
item browser and item detail with every annotation.

Every view is ``login_required`` and looks its project up through
``annotate.selectors.project_for_curator`` (or ``project_get_for_user``), so
anyone who is not an owner or curator of the project gets 404. Only owners
change members; a curator posting to the members page gets 403 (they can see
the project, so 404 would hide nothing).
"""

from __future__ import annotations

import string

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, Value, When
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from annotate.models import CURATE_ROLES, Annotator, Assignment, Kind, Membership, PairwiseChoice, Role, ThumbChoice
from annotate.selectors import item_get_for_curator, project_for_curator, project_get_for_user
from annotate.views import with_csp
from curation.items import services
from curation.jobs.selectors import jobs_recent
from curation.projects.forms import (
    ExcludeForm,
    ImportForm,
    ItemFilterForm,
    MemberAddForm,
    MemberRemoveForm,
    MemberRoleForm,
)
from curation.projects.selectors import (
    annotator_stats,
    annotators_of_project,
    item_annotations,
    items_for_curator,
    progress_by_kind,
    projects_for_curator,
    recent_imports,
)

ITEMS_PER_PAGE = 50
MAX_ERRORS_SHOWN = 100


@login_required
@with_csp
def projects(request):
    mine = list(projects_for_curator(request.user))
    progress = progress_by_kind(projects=mine)
    rows = [{"project": p, "kinds": progress[p.pk]} for p in mine]
    return render(request, "curation/projects.html", {"rows": rows})


@login_required
@with_csp
def overview(request, slug):
    project, role = project_get_for_user(request.user, slug, CURATE_ROLES)
    kinds = progress_by_kind(projects=[project])[project.pk]
    context = {
        "project": project,
        "role": role,
        "kinds": kinds,
        "total": kinds["all"],
        "annotators": annotator_stats(project=project),
        "imports": recent_imports(project=project),
        "recent_jobs": jobs_recent(project=project, limit=10),
        "section": "overview",
    }
    return render(request, "curation/overview.html", context)


@login_required
@require_http_methods(["GET", "POST"])
@with_csp
def members(request, slug):
    project, role = project_get_for_user(request.user, slug, CURATE_ROLES)
    is_owner = role == Role.OWNER
    add_form = MemberAddForm()
    status = 200
    if request.method == "POST":
        if not is_owner:
            raise PermissionDenied("Only owners change members.")
        action = request.POST.get("action")
        form_class = {"add": MemberAddForm, "role": MemberRoleForm, "remove": MemberRemoveForm}.get(action)
        if form_class is None:
            messages.error(request, "Unknown action.")
            return redirect("curation:members", slug=project.slug)
        form = form_class(request.POST)
        try:
            if not form.is_valid():
                raise ValidationError({field: list(problems) for field, problems in form.errors.items()})
            data = form.cleaned_data
            if action == "add":
                services.membership_add(project=project, username=data["username"], role=data["role"], by=request.user)
                messages.success(request, f"Added {data['username']} as {data['role']}.")
            elif action == "role":
                services.membership_set_role(
                    project=project, username=data["username"], role=data["role"], by=request.user
                )
                messages.success(request, f"{data['username']} is now {data['role']}.")
            else:
                services.membership_remove(project=project, username=data["username"], by=request.user)
                messages.success(request, f"Removed {data['username']}.")
            if data["username"] == request.user.get_username() and project.role_of(request.user) not in CURATE_ROLES:
                return redirect("home")  # I stepped down or left: this page is no longer mine.
            return redirect("curation:members", slug=project.slug)
        except ValidationError as error:
            status = 400
            if action == "add":
                add_form = MemberAddForm(request.POST)
            for field, problems in error.message_dict.items():
                for problem in problems:
                    messages.error(request, f"{field}: {problem}")
    role_rank = Case(*(When(role=value, then=Value(rank)) for rank, value in enumerate(Role.values)))
    memberships = (
        Membership.objects.filter(project=project).select_related("user").order_by(role_rank, "user__username")
    )
    context = {
        "project": project,
        "role": role,
        "is_owner": is_owner,
        "memberships": memberships,
        "roles": Role.choices,
        "add_form": add_form,
        "section": "members",
    }
    return render(request, "curation/members.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@with_csp
def import_items(request, slug):
    project = project_for_curator(request.user, slug)
    # Imported here so the curator pages load even while the importer is
    # being worked on; the service is the one the management command uses.
    from annotate.services.importing import ImportFailed, items_import

    report = None
    errors: list = []
    error_count = 0
    status = 200
    form = ImportForm()
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                report = items_import(
                    project=project,
                    fileobj=upload,
                    source_name=form.cleaned_data["source_name"] or upload.name,
                    user=request.user,
                )
            except ImportFailed as failure:
                status = 400
                found = list(getattr(failure, "errors", None) or [])
                error_count = max(getattr(failure, "error_count", 0) or 0, len(found))
                errors = [
                    {"line": line, "field": field, "message": message}
                    for line, field, message in found[:MAX_ERRORS_SHOWN]
                ]
                if not errors:
                    errors = [{"line": None, "field": "", "message": str(failure)}]
                    error_count = 1
            else:
                form = ImportForm()
        else:
            status = 400
    context = {
        "project": project,
        "form": form,
        "report": report,
        "errors": errors,
        "error_count": error_count,
        "errors_hidden": max(0, error_count - len(errors)),
        "section": "import",
    }
    return render(request, "curation/import.html", context, status=status)


@login_required
@with_csp
def items(request, slug):
    project = project_for_curator(request.user, slug)
    annotators = list(annotators_of_project(project=project))
    form = ItemFilterForm(request.GET or None, annotators=annotators)
    filters = {"kind": "", "state": "", "annotator_uuid": "", "query": ""}
    status = 200
    if form.is_bound:
        if form.is_valid():
            data = form.cleaned_data
            filters = {
                "kind": data["kind"],
                "state": data["status"],
                "annotator_uuid": data["annotator"],
                "query": data["q"],
            }
        else:
            status = 400
    queryset = items_for_curator(project=project, **filters)
    page = Paginator(queryset, ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"project": project, "form": form, "page": page, "filters": filters, "section": "items"}
    return render(request, "curation/items.html", context, status=status)


def _labels(count: int) -> list[str]:
    letters = string.ascii_uppercase
    return [letters[i] if i < len(letters) else f"R{i + 1}" for i in range(count)]


def _choice_text(annotation) -> str:
    if annotation.kind == Kind.PAIRWISE:
        return PairwiseChoice(annotation.choice).label if annotation.choice in PairwiseChoice.values else "?"
    if annotation.kind == Kind.THUMB:
        return ThumbChoice(annotation.choice).label if annotation.choice in ThumbChoice.values else "?"
    return ""


def _ranking_text(ranking, label_of: dict[str, str]) -> str:
    if not ranking:
        return ""
    return " > ".join(" = ".join(label_of.get(str(r), "?") for r in group) for group in ranking)


def item_annotation_rows(item) -> tuple[list[dict], dict[str, str], list[dict]]:
    """The item's responses labelled A, B, … (``[{label, response}]``), the label of each response
    uuid, and one display row per annotation (choice, ranking and display order in those labels,
    principle verdicts); shared by the item page and the audit drill-down."""
    links = list(item.links.select_related("response").order_by("position"))
    labels = _labels(len(links))
    responses = [{"label": label, "response": link.response} for label, link in zip(labels, links, strict=True)]
    label_of = {str(link.response.uuid): label for label, link in zip(labels, links, strict=True)}
    rows = [
        {
            "annotation": annotation,
            "choice": _choice_text(annotation),
            "ranking": _ranking_text(annotation.ranking, label_of),
            "shown": ", ".join(label_of.get(str(u), "?") for u in annotation.display_order or []),
            "verdicts": [(v.principle.name, v.get_verdict_display()) for v in annotation.verdicts.all()],
        }
        for annotation in item_annotations(item=item)
    ]
    return responses, label_of, rows


@login_required
@with_csp
def item_detail(request, slug, item_uuid):
    item = item_get_for_curator(request.user, slug, item_uuid)
    project = item.project
    responses, label_of, rows = item_annotation_rows(item)
    assignments = (
        Assignment.objects.filter(item=item)
        .exclude(status=Assignment.Status.SUBMITTED)
        .select_related("annotator")
        .order_by("leased_at")
    )
    context = {
        "project": project,
        "item": item,
        "messages_list": item.prompt.messages,
        "responses": responses,
        "rows": rows,
        "assignments": assignments,
        "target": max(item.target_overlap, project.overlap),
        "annotator_types": Annotator.Type,
        "section": "items",
    }
    return render(request, "curation/item_detail.html", context)


@login_required
@require_POST
@with_csp
def item_exclude(request, slug, item_uuid):
    item = item_get_for_curator(request.user, slug, item_uuid)
    form = ExcludeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "excluded: choose exclude or include")
    else:
        excluded = form.cleaned_data["excluded"]
        services.item_set_excluded(item=item, excluded=excluded, user=request.user)
        messages.success(request, "Item excluded." if excluded else "Item included again.")
    return redirect(reverse("curation:item", kwargs={"slug": slug, "item_uuid": item.uuid}))
