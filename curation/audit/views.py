"""Audit dashboards under ``/p/<slug>/curate/audit/``: overview, disagreement
(with drill-down and the exclude / resolve / request-more actions),
annotators, CHES, discretion and principle ambiguity.

Every page draws what the latest audit run stored (``Audit.summary`` and its
``ItemAudit`` / ``AnnotatorAudit`` rows) and computes nothing beyond counts,
so it opens fast on a large project; plots are server-rendered SVG
(``curation.plots``). Curators and owners only: everyone else gets 404
(``project_for_curator``). Actions are POSTs with the CSRF token; an htmx
request gets the changed fragment back, a plain form post a redirect.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from annotate.models import Annotator, Kind, PairwiseChoice, ThumbChoice
from annotate.selectors import item_get_for_curator, principles_in_use, project_for_curator
from curation.audit import presenters, selectors
from curation.audit.forms import AmbiguityForm, ChesCutForm, DisagreementFilterForm, MoreForm, ResolveForm
from curation.audit.selectors import annotations_per_day
from curation.audit.services import audit_create
from curation.ches.services import encode_create
from curation.consensus import VOTER_SOURCES
from curation.items import services
from curation.items.forms import ExcludeForm
from curation.items.presenters import item_annotation_rows, ranking_text, response_labels
from curation.jobs.selectors import jobs_recent
from curation.refinement.presenters import rejudgment_latest_rows

ROWS_PER_PAGE = 50
TOP_PAIRS = 10


# ------------------------------------------------------------------ helpers


def _audit_context(request, project, section: str) -> dict:
    audit = selectors.audit_latest(project=project)
    return {
        "project": project,
        "audit": audit,
        "summary": (audit.summary or {}) if audit else {},
        "freshness": selectors.audit_freshness(project=project, audit=audit),
        "section": "audit",
        "audit_section": section,
    }


# ------------------------------------------------------------------ overview


@login_required
@require_GET
def overview(request, slug):
    project = project_for_curator(request.user, slug)
    context = _audit_context(request, project, "overview")
    context.update(presenters.overview(context["summary"], annotations_per_day(project=project)))
    context["history"] = selectors.audits_recent(project=project, limit=10)
    context["jobs"] = [j for j in jobs_recent(project=project, limit=20) if j.kind in ("audit", "encode")][:5]
    return render(request, "curation/audit/overview.html", context)


def _launch(request, slug, create, params: dict | None = None):
    """Run audit / Encode responses: the kind's create service checks everything before queueing."""
    project = project_for_curator(request.user, slug)
    try:
        job = create(project=project, user=request.user, params=params or {})
    except ValidationError as error:
        for problem in error.messages:
            messages.error(request, problem)
        return redirect("audit:overview", slug=project.slug)
    return redirect("jobs:detail", slug=project.slug, job_uuid=job.uuid)


@login_required
@require_POST
def run_audit(request, slug):
    # People and imported labels vote; judges only when the curator ticks it (docs/algorithms.md#who-votes).
    judges_vote = request.POST.get("judges_vote") == "1"
    return _launch(request, slug, audit_create, {"voters": list(VOTER_SOURCES)} if judges_vote else None)


@login_required
@require_POST
def run_encode(request, slug):
    return _launch(request, slug, encode_create)


# ------------------------------------------------------------------ disagreement


def _page_query(request, **changes) -> str:
    """The current query string with ``changes`` applied and without the page number."""
    query = request.GET.copy()
    query.pop("page", None)
    for key, value in changes.items():
        query[key] = value
    return query.urlencode()


@login_required
@require_GET
def disagreement(request, slug):
    project = project_for_curator(request.user, slug)
    context = _audit_context(request, project, "disagreement")
    form = DisagreementFilterForm(request.GET or None)
    filters = {"kind": "", "flag": "", "sort": "disagreement"}
    status = 200
    if form.is_bound:
        if form.is_valid():
            filters = {k: form.cleaned_data[k] or filters[k] for k in filters}
        else:
            status = 400
    audit = context["audit"]
    if audit is not None:
        rows = selectors.item_audits(audit=audit, **filters)
        page = Paginator(rows, ROWS_PER_PAGE).get_page(request.GET.get("page"))
        context["page"] = page
        context["flags"] = selectors.item_audit_flags(audit=audit)
        context["sort_links"] = [
            (key, label, _page_query(request, sort=key)) for key, (label, _) in selectors.SORTS.items()
        ]
        context["page_query"] = _page_query(request)
    context.update({"form": form, "filters": filters})
    return render(request, "curation/audit/disagreement.html", context, status=status)


def _drill_context(request, item) -> dict:
    project = item.project
    audit = selectors.audit_latest(project=project)
    ia = selectors.audit_item_for(audit=audit, item=item) if audit is not None else None
    responses, label_of, rows = item_annotation_rows(item)
    resolution = item.resolution or None
    resolved_text = ""
    if resolution:
        if isinstance(resolution, str):  # the audit also reads a bare choice string
            resolution = {"choice": resolution}
        if resolution.get("ranking"):
            resolved_text = ranking_text(resolution["ranking"], label_of)
        else:
            resolved_text = str(resolution.get("choice", ""))
    consensus_text = ""
    if ia is not None:
        consensus = ia.consensus or {}
        if consensus.get("order"):
            consensus_text = ranking_text(consensus["order"], label_of)
        elif consensus.get("choice"):
            consensus_text = consensus["choice"]
    target = max(item.target_overlap, project.overlap)
    return {
        "project": project,
        "item": item,
        "ia": ia,
        "audit": audit,
        "responses": responses,
        "messages_list": item.prompt.messages,
        "rows": rows,
        "label_of": label_of,
        "resolution": resolution,
        "resolved_text": resolved_text,
        "consensus_text": consensus_text,
        "target": target,
        "ceiling": max(project.max_overlap, project.overlap),
        "verdict_choices": _verdict_choices(item),
        "annotator_types": Annotator.Type,
        "section": "audit",
        "audit_section": "disagreement",
    }


def _verdict_choices(item) -> list[tuple[str, str]]:
    if item.kind == Kind.PAIRWISE:
        return list(PairwiseChoice.choices)
    if item.kind == Kind.THUMB:
        return list(ThumbChoice.choices)
    return []


@login_required
@require_GET
def item_drill(request, slug, item_uuid):
    item = item_get_for_curator(request.user, slug, item_uuid)
    context = _drill_context(request, item)
    if request.htmx:
        # Loaded into the disagreement page: actions also refresh the item's row there.
        return render(request, "curation/audit/item.html#panel", {**context, "in_list": True})
    return render(request, "curation/audit/item.html", context)


def _after_action(request, item, *, error: ValidationError | None = None):
    """The response to an item action: the changed fragment for htmx, else a redirect."""
    if request.htmx:
        context = _drill_context(request, item)
        context["errors"] = error.messages if error else []
        context["next_url"] = request.POST.get("next", "")
        in_list = request.POST.get("in_list") == "1"
        status = 422 if error else 200
        if request.POST.get("part") == "row":
            if context["ia"] is None:
                raise Http404("Item not in the latest audit")
            return render(
                request, "curation/audit/disagreement.html#row", {**context, "r": context["ia"]}, status=status
            )
        context.update(in_list=in_list, oob_row=in_list)
        return render(request, "curation/audit/item.html#panel", context, status=status)
    if error:
        for problem in error.messages:
            messages.error(request, problem)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("audit:item", kwargs={"slug": item.project.slug, "item_uuid": item.uuid})
    return redirect(target)


def _item_action(request, slug, item_uuid, act):
    """Run ``act(item)`` (a service call returning the success message) on a
    curator's item; a ``ValidationError`` goes back to the form."""
    item = item_get_for_curator(request.user, slug, item_uuid)
    try:
        message = act(item)
    except ValidationError as error:
        return _after_action(request, item, error=error)
    if not request.htmx:
        messages.success(request, message)
    return _after_action(request, item)


@login_required
@require_POST
def item_exclude(request, slug, item_uuid):
    def act(item):
        form = ExcludeForm(request.POST)
        if not form.is_valid():
            raise ValidationError("excluded: choose exclude or include")
        services.item_set_excluded(item=item, excluded=form.cleaned_data["excluded"], user=request.user)
        return "Item excluded." if item.excluded else "Item included again."

    return _item_action(request, slug, item_uuid, act)


def _parse_ranking(text: str, item) -> list[list[str]]:
    """'B > A = C' (the item's response labels) as groups of response uuids."""
    links = list(item.links.select_related("response").order_by("position"))
    uuid_of = {label: str(link.response.uuid) for label, link in zip(response_labels(len(links)), links, strict=True)}
    groups = []
    for part in text.split(">"):
        group = [name.strip().upper() for name in part.split("=") if name.strip()]
        unknown = [name for name in group if name not in uuid_of]
        if unknown:
            raise ValidationError({"verdict": f"unknown response label(s): {', '.join(unknown)}"})
        groups.append([uuid_of[name] for name in group])
    return groups


@login_required
@require_POST
def item_resolve(request, slug, item_uuid):
    def act(item):
        form = ResolveForm(request.POST)
        if not form.is_valid():
            raise ValidationError("verdict: invalid input")
        verdict = form.cleaned_data["verdict"].strip()
        if request.POST.get("clear"):
            verdict = None
        elif item.kind == Kind.RANKING and verdict:
            verdict = _parse_ranking(verdict, item)
        elif not verdict:
            raise ValidationError({"verdict": "choose a verdict"})
        services.item_resolve(item=item, verdict=verdict, note=form.cleaned_data["note"], user=request.user)
        return "Resolution cleared." if item.resolution is None else "Item resolved."

    return _item_action(request, slug, item_uuid, act)


@login_required
@require_POST
def item_more(request, slug, item_uuid):
    def act(item):
        form = MoreForm(request.POST)
        if not form.is_valid():
            raise ValidationError("extra: ask for 1 to 20 more judgments")
        services.item_request_more(item=item, extra=form.cleaned_data["extra"], user=request.user)
        return f"The item now wants {item.target_overlap} judgments."

    return _item_action(request, slug, item_uuid, act)


# ------------------------------------------------------------------ CHES


def _ches_cut(request, audit):
    form = ChesCutForm(request.GET or None)
    cut = None
    if audit is not None:
        data = form.cleaned_data if form.is_bound and form.is_valid() else {"mode": "keep", "keep": 15, "value": None}
        if data.get("mode") == "value" and data.get("value") is not None:
            cut = selectors.ches_cut(audit=audit, value=data["value"])
        else:
            keep = data.get("keep")
            cut = selectors.ches_cut(audit=audit, keep_quantile=(15 if keep is None else keep) / 100)
    return form, cut


@login_required
@require_GET
def ches(request, slug):
    project = project_for_curator(request.user, slug)
    context = _audit_context(request, project, "ches")
    audit = context["audit"]
    form, cut = _ches_cut(request, audit)
    context.update({"form": form, "cut": cut, "ches": context["summary"].get("ches") or {}})
    if audit is not None:
        context["histogram"] = presenters.ches_histogram(context["summary"], audit, cut.threshold if cut else None)
        context["top"] = list(selectors.ches_top_pairs(audit=audit, limit=TOP_PAIRS))
    if request.htmx:
        return render(request, "curation/audit/ches.html#cut", context)
    return render(request, "curation/audit/ches.html", context)


# ------------------------------------------------------------------ annotators


@login_required
@require_GET
def annotators(request, slug):
    project = project_for_curator(request.user, slug)
    context = _audit_context(request, project, "annotators")
    audit = context["audit"]
    if audit is not None:
        rows = list(selectors.audit_annotators(audit=audit))
        context["rows"] = rows
        context.update(presenters.annotator_plots(rows, context["summary"]))
    return render(request, "curation/audit/annotators.html", context)


# ------------------------------------------------------------------ discretion


@login_required
@require_GET
def discretion(request, slug):
    project = project_for_curator(request.user, slug)
    context = _audit_context(request, project, "discretion")
    context["d"] = presenters.discretion(context["summary"], context["audit"])
    return render(request, "curation/audit/discretion.html", context)


# ------------------------------------------------------------------ principle ambiguity


@login_required
@require_GET
def ambiguity(request, slug):
    """Principles ranked from most to least ambiguous (docs/algorithms.md#principle-ambiguity)."""
    project = project_for_curator(request.user, slug)
    context = _audit_context(request, project, "ambiguity")
    form = AmbiguityForm(request.GET or None)
    group, status = "all", 200
    if form.is_bound:
        if form.is_valid():
            group = form.cleaned_data["group"] or "all"
        else:
            status = 400
    context.update(
        {
            "form": form,
            "a": presenters.ambiguity(context["summary"], group),
            "principles": principles_in_use(project),
            "rejudgments": rejudgment_latest_rows(project=project),
        }
    )
    return render(request, "curation/audit/ambiguity.html", context, status=status)


# ------------------------------------------------------------------ custom questions


@login_required
@require_GET
def questions(request, slug):
    """Agreement per custom question (docs/algorithms.md#question-agreement)."""
    project = project_for_curator(request.user, slug)
    context = _audit_context(request, project, "questions")
    context["q"] = presenters.questions_overview(context["summary"])
    return render(request, "curation/audit/questions.html", context)


@login_required
@require_GET
def question(request, slug, key):
    """One question: α, distribution, categories, annotators and the units that split most."""
    project = project_for_curator(request.user, slug)
    context = _audit_context(request, project, "questions")
    entries = (context["summary"].get("questions") or {}).get("entries") or []
    entry = next((e for e in entries if e.get("key") == key), None)
    if entry is None:
        raise Http404("No such question in the latest audit.")
    uuids = [a["annotator"] for a in entry.get("annotators") or []]
    names = {str(a.uuid): (a.name, a.get_type_display()) for a in Annotator.objects.filter(uuid__in=uuids)}
    context["q"] = presenters.question_detail(entry, names)
    return render(request, "curation/audit/question.html", context)
