"""Item pages: the browser with filters, one item with every annotation, exclude / include.

Curators and owners only (``annotate.selectors.project_for_curator`` /
``item_get_for_curator``): everyone else gets 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotate.models import Annotator, Assignment
from annotate.selectors import item_get_for_curator, project_for_curator
from curation.items import services
from curation.items.forms import ExcludeForm, ItemFilterForm
from curation.items.presenters import item_annotation_rows
from curation.items.selectors import annotators_of_project, items_for_curator

ITEMS_PER_PAGE = 50


@login_required
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


@login_required
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
