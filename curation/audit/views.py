"""Audit dashboards under ``/p/<slug>/curate/audit/``: overview, disagreement
(with drill-down and the exclude / resolve / request-more actions),
annotators, CHES and discretion.

Every page draws what the latest audit run stored (``Audit.summary`` and its
``ItemAudit`` / ``AnnotatorAudit`` rows) and computes nothing beyond counts,
so it opens fast on a large project; plots are server-rendered SVG
(``curation.plots``). Curators and owners only: everyone else gets 404
(``project_for_curator``). Actions are POSTs with the CSRF token; an htmx
request gets the changed fragment back, a plain form post a redirect.
"""

from __future__ import annotations

from datetime import date
from itertools import accumulate

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from annotate.models import Annotator, Kind, PairwiseChoice, ThumbChoice
from annotate.selectors import item_get_for_curator, project_for_curator
from annotate.views import with_csp
from curation import plots
from curation.audit import dashboards as dash
from curation.audit import selectors as stored
from curation.audit.pipeline import annotations_per_day
from curation.audit.services import audit_create
from curation.ches.services import encode_create
from curation.items import services
from curation.jobs.selectors import jobs_recent
from curation.projects.views import _labels, _ranking_text, item_annotation_rows

ROWS_PER_PAGE = 50
TOP_PAIRS = 10
KIND_LABELS = dict(Kind.choices)


# ------------------------------------------------------------------ forms


class DisagreementFilterForm(forms.Form):
    kind = forms.ChoiceField(choices=[("", "any kind"), *Kind.choices], required=False)
    flag = forms.CharField(max_length=40, required=False)
    sort = forms.ChoiceField(choices=[(k, v[0]) for k, v in dash.SORTS.items()], required=False)


class ChesCutForm(forms.Form):
    mode = forms.ChoiceField(
        choices=[("keep", "keep the lowest share"), ("value", "drop above a value")], initial="keep", required=False
    )
    keep = forms.FloatField(
        min_value=0, max_value=100, initial=15, required=False, label="Keep the lowest (%)", help_text="Paper: 5–15 %."
    )
    value = forms.FloatField(required=False, label="Drop pairs with LN-CHES above")


class ResolveForm(forms.Form):
    verdict = forms.CharField(max_length=500, required=False)
    note = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class MoreForm(forms.Form):
    extra = forms.IntegerField(min_value=1, max_value=20, initial=1)


# ------------------------------------------------------------------ helpers


def _audit_context(request, project, section: str) -> dict:
    audit = stored.audit_latest(project=project)
    return {
        "project": project,
        "audit": audit,
        "summary": (audit.summary or {}) if audit else {},
        "freshness": dash.audit_freshness(project=project, audit=audit),
        "section": "audit",
        "audit_section": section,
    }


def _svg(markup: str) -> str:
    # plots.* escape every label themselves; the result is markup we built.
    return mark_safe(markup)  # noqa: S308


def _num(value):
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


# ------------------------------------------------------------------ overview


@login_required
@require_GET
@with_csp
def overview(request, slug):
    project = project_for_curator(request.user, slug)
    context = _audit_context(request, project, "overview")
    summary = context["summary"]
    alpha_rows = []
    for key, entry in (summary.get("alpha") or {}).items():
        entry = entry or {}
        kind = key.split("_")[0]
        label = KIND_LABELS.get(kind, key) + (" (strength)" if key.endswith("_strength") else "")
        alpha_rows.append(
            {
                "key": key,
                "label": label,
                "alpha": _num(entry.get("alpha")),
                "low": _num(entry.get("low")),
                "high": _num(entry.get("high")),
                "level": entry.get("level", ""),
                "n_units": entry.get("n_units"),
                "reason": entry.get("reason", ""),
            }
        )
    if alpha_rows:
        lows = [r["low"] for r in alpha_rows if r["low"] is not None] + [
            r["alpha"] for r in alpha_rows if r["alpha"] is not None
        ]
        context["alpha_plot"] = _svg(
            plots.bar_chart(
                [
                    plots.Bar(r["label"], r["alpha"], r["low"], r["high"], note=f"{r['level']}, n = {r['n_units']}")
                    for r in alpha_rows
                ],
                title="Krippendorff's α per kind with 95% bootstrap interval",
                value_label="α (1 = perfect agreement, 0 = chance)",
                domain=(min([0.0, *lows]), 1.0),
                reference=0.667,
                reference_label="α = 0.667 (tentative conclusions)",
            )
        )
    context["alpha_rows"] = alpha_rows
    per_day = annotations_per_day(project=project)  # a grouped count, the same the audit stores
    if per_day["days"]:
        days = [date.fromisoformat(day) for day in per_day["days"]]
        series = [
            plots.Series(KIND_LABELS.get(k, k), list(zip(days, accumulate(counts), strict=True)))
            for k, counts in per_day["by_kind"].items()
        ]
        context["progress_plot"] = _svg(
            plots.line_chart(series, title="Annotations over time (cumulative, per kind)", y_label="annotations")
        )
    context["consensus"] = [
        {"kind": KIND_LABELS.get(k, k), **(v or {})} for k, v in (summary.get("consensus") or {}).items()
    ]
    context["history"] = stored.audits_recent(project=project, limit=10)
    context["jobs"] = [j for j in jobs_recent(project=project, limit=20) if j.kind in ("audit", "encode")][:5]
    return render(request, "curation/audit/overview.html", context)


def _launch(request, slug, create):
    """Run audit / Encode responses: the kind's create service checks everything before queueing."""
    project = project_for_curator(request.user, slug)
    try:
        job = create(project=project, user=request.user, params={})
    except ValidationError as error:
        for problem in error.messages:
            messages.error(request, problem)
        return redirect("audit:overview", slug=project.slug)
    return redirect("jobs:detail", slug=project.slug, job_uuid=job.uuid)


@login_required
@require_POST
@with_csp
def run_audit(request, slug):
    return _launch(request, slug, audit_create)


@login_required
@require_POST
@with_csp
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
@with_csp
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
        rows = dash.item_audits(audit=audit, **filters)
        page = Paginator(rows, ROWS_PER_PAGE).get_page(request.GET.get("page"))
        context["page"] = page
        context["flags"] = dash.item_audit_flags(audit=audit)
        context["sort_links"] = [(key, label, _page_query(request, sort=key)) for key, (label, _) in dash.SORTS.items()]
        context["page_query"] = _page_query(request)
    context.update({"form": form, "filters": filters})
    return render(request, "curation/audit/disagreement.html", context, status=status)


def _drill_context(request, item) -> dict:
    project = item.project
    audit = stored.audit_latest(project=project)
    ia = stored.audit_item_for(audit=audit, item=item) if audit is not None else None
    responses, label_of, rows = item_annotation_rows(item)
    resolution = item.resolution or None
    resolved_text = ""
    if resolution:
        if isinstance(resolution, str):  # the audit also reads a bare choice string
            resolution = {"choice": resolution}
        if resolution.get("ranking"):
            resolved_text = _ranking_text(resolution["ranking"], label_of)
        else:
            resolved_text = str(resolution.get("choice", ""))
    consensus_text = ""
    if ia is not None:
        consensus = ia.consensus or {}
        if consensus.get("order"):
            consensus_text = _ranking_text(consensus["order"], label_of)
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
@with_csp
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
@with_csp
def item_exclude(request, slug, item_uuid):
    def act(item):
        value = request.POST.get("excluded")
        if value not in ("0", "1"):
            raise ValidationError("excluded: choose exclude or include")
        services.item_set_excluded(item=item, excluded=value == "1", user=request.user)
        return "Item excluded." if item.excluded else "Item included again."

    return _item_action(request, slug, item_uuid, act)


def _parse_ranking(text: str, item) -> list[list[str]]:
    """'B > A = C' (the item's response labels) as groups of response uuids."""
    links = list(item.links.select_related("response").order_by("position"))
    uuid_of = {label: str(link.response.uuid) for label, link in zip(_labels(len(links)), links, strict=True)}
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
@with_csp
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
@with_csp
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
            cut = dash.ches_cut(audit=audit, value=data["value"])
        else:
            keep = data.get("keep")
            cut = dash.ches_cut(audit=audit, keep_quantile=(15 if keep is None else keep) / 100)
    return form, cut


def _ches_histogram(summary: dict, audit, marker):
    stored = (summary.get("ches") or {}).get("histogram") or {}
    edges, counts = stored.get("edges"), stored.get("counts")
    kwargs = {
        "title": "Length-normalised CHES of the scored pairs",
        "x_label": "LN-CHES (higher = more likely to displace)",
    }
    if marker is not None:
        kwargs.update(marker=marker, marker_label=f"drop above {plots._fmt(marker)}")
    if edges and counts and len(edges) == len(counts) + 1:
        return _svg(plots.histogram(edges=edges, counts=counts, **kwargs))
    values = dash.ches_values(audit=audit)
    return _svg(plots.histogram(values, bins=30, **kwargs)) if values else ""


@login_required
@require_GET
@with_csp
def ches(request, slug):
    project = project_for_curator(request.user, slug)
    context = _audit_context(request, project, "ches")
    audit = context["audit"]
    form, cut = _ches_cut(request, audit)
    context.update({"form": form, "cut": cut, "ches": context["summary"].get("ches") or {}})
    if audit is not None:
        context["histogram"] = _ches_histogram(context["summary"], audit, cut.threshold if cut else None)
        context["top"] = list(dash.ches_top_pairs(audit=audit, limit=TOP_PAIRS))
    if request.htmx:
        return render(request, "curation/audit/ches.html#cut", context)
    return render(request, "curation/audit/ches.html", context)


# ------------------------------------------------------------------ annotators


@login_required
@require_GET
@with_csp
def annotators(request, slug):
    project = project_for_curator(request.user, slug)
    context = _audit_context(request, project, "annotators")
    audit = context["audit"]
    if audit is not None:
        rows = list(stored.audit_annotators(audit=audit))
        context["rows"] = rows

        def bars(field, note=""):
            return [
                plots.Bar(
                    f"{r.annotator.name}",
                    _num(getattr(r, field)),
                    note=f"{r.annotator.get_type_display()}, {r.n_annotations} annotations{note}",
                    css="flagged" if r.outlier else ("judge" if r.annotator.type != Annotator.Type.HUMAN else ""),
                )
                for r in rows
            ]

        if rows:
            summary_annotators = context["summary"].get("annotators") or {}
            context["agreement_plot"] = _svg(
                plots.bar_chart(
                    bars("agreement"),
                    title="Agreement with the consensus per annotator (outliers in red)",
                    value_label="share of judgments equal to the consensus",
                    domain=(0.0, 1.0),
                    reference=_num(summary_annotators.get("agreement_mean")),
                    reference_label="mean agreement",
                )
            )
            context["probe_plot"] = _svg(
                plots.bar_chart(
                    bars("probe_consistency"),
                    title="Probe consistency per annotator",
                    value_label="share of repeated / swapped probes judged the same",
                    domain=(0.0, 1.0),
                )
            )
            context["speed_plot"] = _svg(
                plots.bar_chart(
                    bars("median_seconds"),
                    title="Median seconds per judgment",
                    value_label="seconds",
                    reference=_num(summary_annotators.get("median_seconds")),
                    reference_label="project median",
                )
            )
    return render(request, "curation/audit/annotators.html", context)


# ------------------------------------------------------------------ discretion

GROUP_LABELS = {"human": "Humans", "judge": "Algorithmic judges", "consensus": "Consensus"}


def _at(values, index: int):
    return values[index] if isinstance(values, list) and index < len(values) else None


def _discretion(summary: dict, audit) -> dict:
    data = summary.get("discretion") or {}
    principles = [p.get("name", str(p.get("id"))) for p in data.get("principles") or []]
    out: dict = {"principles": principles, "source": data.get("source", "")}
    categories = data.get("categories") or {}
    assessed = categories.get("assessed") or sum(
        categories.get(k) or 0 for k in ("consensus", "conflict", "indifference")
    )
    out["categories"] = [
        {
            "name": name,
            "n": categories.get(name) or 0,
            "share": (categories.get(name) or 0) / assessed if assessed else None,
        }
        for name in ("consensus", "conflict", "indifference")
    ]
    out["assessed"] = assessed
    if assessed:
        out["categories_plot"] = _svg(
            plots.bar_chart(
                [plots.Bar(c["name"], c["share"], note=f"{c['n']} items", css=c["name"]) for c in out["categories"]],
                title="Share of items per principle-agreement category",
                value_label="share of items with principle verdicts",
                domain=(0.0, 1.0),
            )
        )
    groups = []
    for key, group in (data.get("groups") or {}).items():
        group = group or {}
        da = group.get("arbitrariness") or {}
        priority = group.get("priority") or {}
        ranking = []
        for index, name in enumerate(principles):
            values = {field: _at(priority.get(field), index) for field in ("elo", "rank", "status", "low", "high")}
            ranking.append(
                {
                    "name": name,
                    "elo": _num(values["elo"]),
                    "rank": values["rank"],
                    "status": values["status"] or "",
                    "low": _num(values["low"]),
                    "high": _num(values["high"]),
                }
            )
        ranking.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["name"]))
        entry = {
            "key": key,
            "label": GROUP_LABELS.get(key, key),
            "n_rows": group.get("n_rows"),
            "da": {k: _num(da.get(k)) for k in ("estimate", "mean", "sd", "low", "high")} | {"n_ok": da.get("n_ok")},
            "ranking": ranking,
        }
        supremacy = group.get("supremacy") or []
        if len(principles) >= 2 and len(supremacy) == len(principles):
            entry["heat"] = _svg(
                plots.heat_map(
                    [[_num(v) for v in row] for row in supremacy],
                    principles,
                    principles,
                    counts=group.get("conflicts"),
                    title=f"Principle supremacy ({GROUP_LABELS.get(key, key)}): share of conflicts where the row principle wins",
                )
            )
        fitted = [r for r in ranking if r["elo"] is not None]
        if fitted:
            entry["priority_plot"] = _svg(
                plots.bar_chart(
                    [plots.Bar(r["name"], r["elo"], r["low"], r["high"], note=f"rank {r['rank']}") for r in fitted],
                    title=f"Principle priority ({GROUP_LABELS.get(key, key)}): Bradley–Terry score with bootstrap interval",
                    value_label="priority score (higher wins conflicts)",
                )
            )
        groups.append(entry)
    out["groups"] = groups
    da_bars = [
        plots.Bar(
            g["label"], g["da"]["estimate"], g["da"]["low"], g["da"]["high"], note=f"{g['da']['n_ok']} consensus items"
        )
        for g in groups
    ]
    per_annotator = []
    if audit is not None:
        for row in stored.audit_annotators(audit=audit).exclude(arbitrariness__isnull=True):
            boot = ((row.details or {}).get("discretion") or {}).get("arbitrariness") or {}
            per_annotator.append(
                {
                    "row": row,
                    "low": _num(boot.get("low")),
                    "high": _num(boot.get("high")),
                    "dd": _num(((row.details or {}).get("discretion") or {}).get("discrepancy_vs_human")),
                }
            )
            da_bars.append(
                plots.Bar(
                    row.annotator.name,
                    row.arbitrariness,
                    _num(boot.get("low")),
                    _num(boot.get("high")),
                    note=row.annotator.get_type_display(),
                    css="judge" if row.annotator.type != Annotator.Type.HUMAN else "",
                )
            )
    out["per_annotator"] = per_annotator
    if da_bars:
        out["da_plot"] = _svg(
            plots.bar_chart(
                da_bars,
                title="Discretion arbitrariness: share of principle-consensus items decided against the principles",
                value_label="arbitrariness (0 = always follows unanimous principles)",
                domain=(0.0, 1.0),
            )
        )
    discrepancy = data.get("discrepancy") or {}
    out["human_vs_judge"] = _num(discrepancy.get("human_vs_judge"))
    return out


@login_required
@require_GET
@with_csp
def discretion(request, slug):
    project = project_for_curator(request.user, slug)
    context = _audit_context(request, project, "discretion")
    context["d"] = _discretion(context["summary"], context["audit"])
    return render(request, "curation/audit/discretion.html", context)
