"""Presenters of the audit dashboards: what an audit stored
(``Audit.summary``, laid out in ``curation.audit.summary``, and its rows)
shaped into the rows, figures and server-rendered SVG plots
(``curation.plots``) the templates show. No queries beyond the ones the
views hand in, except the discretion page's annotator rows and the CHES
histogram's fallback to stored values.
"""

from __future__ import annotations

from datetime import date
from itertools import accumulate

from django.utils.safestring import mark_safe

from annotate.models import Annotator, Kind
from curation import plots
from curation.audit import selectors

KIND_LABELS = dict(Kind.choices)


def _svg(markup: str) -> str:
    # plots.* escape every label themselves; the result is markup we built.
    return mark_safe(markup)  # noqa: S308


def _num(value):
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def overview(summary: dict, per_day: dict) -> dict:
    """The overview's α table and plot, annotations-over-time plot (from
    ``per_day``, the live grouped count) and consensus table."""
    out: dict = {}
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
        out["alpha_plot"] = _svg(
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
    out["alpha_rows"] = alpha_rows
    if per_day["days"]:
        days = [date.fromisoformat(day) for day in per_day["days"]]
        series = [
            plots.Series(KIND_LABELS.get(k, k), list(zip(days, accumulate(counts), strict=True)))
            for k, counts in per_day["by_kind"].items()
        ]
        out["progress_plot"] = _svg(
            plots.line_chart(series, title="Annotations over time (cumulative, per kind)", y_label="annotations")
        )
    out["consensus"] = [
        {"kind": KIND_LABELS.get(k, k), **(v or {})} for k, v in (summary.get("consensus") or {}).items()
    ]
    return out


def annotator_plots(rows: list, summary: dict) -> dict:
    """The annotators page's three bar charts (agreement, probe consistency,
    speed) of the audit's annotator rows; outliers red, judges apart."""
    out: dict = {}

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
        summary_annotators = summary.get("annotators") or {}
        out["agreement_plot"] = _svg(
            plots.bar_chart(
                bars("agreement"),
                title="Agreement with the consensus per annotator (outliers in red)",
                value_label="share of judgments equal to the consensus",
                domain=(0.0, 1.0),
                reference=_num(summary_annotators.get("agreement_mean")),
                reference_label="mean agreement",
            )
        )
        out["probe_plot"] = _svg(
            plots.bar_chart(
                bars("probe_consistency"),
                title="Probe consistency per annotator",
                value_label="share of repeated / swapped probes judged the same",
                domain=(0.0, 1.0),
            )
        )
        out["speed_plot"] = _svg(
            plots.bar_chart(
                bars("median_seconds"),
                title="Median seconds per judgment",
                value_label="seconds",
                reference=_num(summary_annotators.get("median_seconds")),
                reference_label="project median",
            )
        )
    return out


def ches_histogram(summary: dict, audit, marker) -> str:
    """The CHES page's histogram of LN-CHES (stored bins, else the stored values) with the cut's marker."""
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
    values = selectors.ches_values(audit=audit)
    return _svg(plots.histogram(values, bins=30, **kwargs)) if values else ""


GROUP_LABELS = {"human": "Humans", "judge": "Algorithmic judges", "consensus": "Consensus"}


def _at(values, index: int):
    return values[index] if isinstance(values, list) and index < len(values) else None


def discretion(summary: dict, audit) -> dict:
    """The discretion page: categories and their plot, per group (humans,
    judges, consensus) arbitrariness, priority ranking, supremacy heat map and
    priority plot, per-annotator arbitrariness and the human-vs-judge discrepancy."""
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
        for row in selectors.audit_annotators(audit=audit).exclude(arbitrariness__isnull=True):
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


AMBIGUITY_GROUPS = {"all": "Everyone", "human": "Humans", "judge": "Algorithmic judges"}


def _ambiguity_key(row: dict) -> tuple:
    """Most ambiguous first: lowest α; undefined α last (no pairs, or one value only), more splits first."""
    return (row["alpha"] is None, row["alpha"] if row["alpha"] is not None else 0.0, -(row["split_share"] or 0.0))


def ambiguity(summary: dict, group: str) -> dict:
    """The Ambiguity page: per kind of item, the principles ranked from the
    lowest α (most ambiguous) for ``group`` with their intervals (a bar chart),
    the other groups' α beside them, and per principle the items whose
    interpreters split most (docs/algorithms.md#principle-ambiguity)."""
    data = summary.get("ambiguity") or {}
    names = {p.get("id"): p.get("name", str(p.get("id"))) for p in data.get("principles") or []}
    entries = data.get("entries") or []
    by_key = {(e.get("principle"), e.get("kind"), e.get("group")): e for e in entries}
    kinds: dict[str, list[dict]] = {}
    for entry in entries:
        if entry.get("group") != group:
            continue
        principle, kind = entry.get("principle"), entry.get("kind")
        others = {
            g: _num((by_key.get((principle, kind, g)) or {}).get("alpha")) for g in AMBIGUITY_GROUPS if g != group
        }
        kinds.setdefault(kind, []).append(
            {
                "principle": principle,
                "name": names.get(principle, str(principle)),
                "alpha": _num(entry.get("alpha")),
                "low": _num(entry.get("low")),
                "high": _num(entry.get("high")),
                "split_share": _num(entry.get("split_share")),
                "n_items": entry.get("n_items") or 0,
                "n_verdicts": entry.get("n_verdicts") or 0,
                "n_interpreters": entry.get("n_interpreters") or 0,
                "reason": entry.get("reason", ""),
                "others": [(AMBIGUITY_GROUPS[g], value) for g, value in others.items()],
                "top_split": [
                    {
                        "item": split.get("item"),
                        "spread": _num(split.get("spread")),
                        "verdicts": ", ".join(f"{v} × {n}" for v, n in (split.get("verdicts") or {}).items()),
                    }
                    for split in entry.get("top_split") or []
                ],
            }
        )
    sections = []
    for kind in sorted(kinds, key=lambda k: (-sum(r["n_items"] for r in kinds[k]), k)):
        ranked = sorted(kinds[kind], key=_ambiguity_key)
        for rank, row in enumerate(ranked, start=1):
            row["rank"] = rank
        label = KIND_LABELS.get(kind, kind)
        lows = [v for r in ranked for v in (r["low"], r["alpha"]) if v is not None]
        plot = ""
        if any(r["alpha"] is not None for r in ranked):
            plot = _svg(
                plots.bar_chart(
                    [
                        plots.Bar(
                            r["name"],
                            r["alpha"],
                            r["low"],
                            r["high"],
                            note=f"split on {_share(r['split_share'])} of {r['n_items']} items"
                            + (f"; {r['reason']}" if r["reason"] else ""),
                        )
                        for r in ranked
                    ],
                    title=f"{label} items: principles from most to least ambiguous "
                    f"({AMBIGUITY_GROUPS[group].lower()}), Krippendorff's α with 95% bootstrap interval",
                    value_label="α of the principle's verdicts (1 = interpreters agree, 0 = chance)",
                    domain=(min([0.0, *lows]), 1.0),
                    reference=0.667,
                    reference_label="α = 0.667 (tentative conclusions)",
                )
            )
        sections.append({"kind": kind, "label": label, "rows": ranked, "plot": plot})
    return {
        "sections": sections,
        "groups": list(AMBIGUITY_GROUPS.items()),
        "group": group,
        "group_label": AMBIGUITY_GROUPS[group],
        "stored": "ambiguity" in summary,
        "has_principles": bool(names),
        "n_boot": data.get("n_boot"),
    }


def _share(value) -> str:
    return "—" if value is None else f"{value:.0%}"


# ------------------------------------------------------------------ custom questions

QUESTION_TYPES = {"single_choice": "Single choice", "multi_label": "Multi-label", "rating": "Rating",
                  "text": "Free text"}  # fmt: skip
ALPHA_LEVELS = {"nominal": "nominal", "interval": "interval", "ordinal": "ordinal", "masi": "MASI",
                "jaccard": "Jaccard"}  # fmt: skip


def _alpha_row(entry: dict | None) -> dict:
    entry = entry or {}
    return {
        "alpha": _num(entry.get("alpha")),
        "low": _num(entry.get("low")),
        "high": _num(entry.get("high")),
        "level": ALPHA_LEVELS.get(entry.get("level", ""), entry.get("level", "")),
        "n_units": entry.get("n_units"),
        "reason": entry.get("reason", ""),
    }


def questions_overview(summary: dict) -> dict:
    """The questions page: one row per question (headline α with its interval) and their bar chart."""
    stored = summary.get("questions")
    rows = []
    for e in (stored or {}).get("entries") or []:
        rows.append({"key": e["key"], "label": e.get("label", e["key"]), "type": QUESTION_TYPES.get(e["type"], e["type"]),
                     "target": e.get("target"), "retired": e.get("retired"), "n_answers": e.get("n_answers", 0),
                     "n_annotators": e.get("n_annotators", 0), "outliers": e.get("outliers", 0),
                     "text": e["type"] == "text", **_alpha_row(e.get("alpha"))})  # fmt: skip
    plot = ""
    measured = [r for r in rows if not r["text"]]
    if any(r["alpha"] is not None for r in measured):
        lows = [v for r in measured for v in (r["low"], r["alpha"]) if v is not None]
        plot = _svg(
            plots.bar_chart(
                [
                    plots.Bar(r["key"], r["alpha"], r["low"], r["high"], note=f"{r['level']}, n = {r['n_units']}")
                    for r in measured
                ],  # fmt: skip
                title="Krippendorff's α per question with 95% bootstrap interval",
                value_label="α (1 = annotators agree, 0 = chance)",
                domain=(min([0.0, *lows]), 1.0),
                reference=0.667,
                reference_label="α = 0.667 (tentative conclusions)",
            )
        )
    return {"rows": rows, "plot": plot, "stored": stored is not None}


def question_detail(entry: dict, names: dict[str, tuple[str, str]]) -> dict:
    """One question's page: α table, distribution and category plots, annotators (``names``:
    annotator uuid -> (name, type label)) and the units that split most."""
    labels = entry.get("labels") or {}
    alphas = [("alpha", _alpha_row(entry.get("alpha")))]
    for key in ("alpha_ordinal", "alpha_jaccard"):
        if key in entry:
            alphas.append((key, _alpha_row(entry[key])))
    out: dict = {"entry": entry, "type": QUESTION_TYPES.get(entry["type"], entry["type"]),
                 "alphas": [a for _, a in alphas]}  # fmt: skip
    distribution = entry.get("distribution") or {}
    total = entry.get("n_votes") or 0
    if distribution:
        bars = [plots.Bar(labels.get(k, k), v, note=f"{v} of {total} answers") for k, v in distribution.items()]
        if entry["type"] == "multi_label":
            bars.append(plots.Bar("(none)", entry.get("distribution_none", 0), note="answers with no label"))
        out["distribution_plot"] = _svg(
            plots.bar_chart(bars, title="Answers (voters only)",
                            value_label="answers" + (" carrying the label" if entry["type"] == "multi_label" else ""))
        )  # fmt: skip
    categories = entry.get("categories") or []
    out["categories"] = categories
    if categories:
        out["rate_plot"] = _svg(
            plots.bar_chart(
                [
                    plots.Bar(c["label"], _num(c["rate"]), note=f"{c['n_labelled']} of {c['n_answers']}")
                    for c in categories
                ],
                title="Label rate per category",
                value_label="share of the answers that carry the category",
                domain=(0.0, 1.0),
            )
        )
        lows = [c["alpha"] for c in categories if c["alpha"] is not None]
        out["category_alpha_plot"] = _svg(
            plots.bar_chart(
                [plots.Bar(c["label"], _num(c["alpha"]), note="yes/no, nominal") for c in categories],
                title="Krippendorff's α per category (yes/no)",
                value_label="α of 'carries the category' (1 = agree, 0 = chance)",
                domain=(min([0.0, *lows]), 1.0),
                reference=0.667,
                reference_label="α = 0.667",
            )
        )
    annotators = []
    for a in entry.get("annotators") or []:
        name, kind = names.get(a["annotator"], (a["annotator"][:8], a.get("type", "")))
        annotators.append({**a, "name": name, "kind": kind})
    out["annotators"] = annotators
    if annotators:
        out["annotator_plot"] = _svg(
            plots.bar_chart(
                [
                    plots.Bar(
                        a["name"],
                        _num(a["agreement"]),
                        note=f"{a['n']} compared",
                        css="flagged" if a["outlier"] else ("judge" if a.get("type") != "human" else ""),
                    )
                    for a in annotators
                ],  # fmt: skip
                title="Agreement with the question's consensus per annotator (outliers in red)",
                value_label="1 − mean distance to the consensus",
                domain=(0.0, 1.0),
            )
        )
    out["top_split"] = [
        {**s, "answers_text": ", ".join(f"{labels.get(k, k)} × {n}" for k, n in (s.get("answers") or {}).items()),
         "consensus_text": _consensus_text(s.get("consensus"), entry["type"], labels)}
        for s in entry.get("top_split") or []
    ]  # fmt: skip
    return out


def _consensus_text(value, qtype: str, labels: dict) -> str:
    if value is None:
        return "—"
    if qtype == "multi_label":
        return ", ".join(labels.get(v, v) for v in value) or "(none)"
    if qtype == "rating":
        return f"{value:.2f}"
    return labels.get(value, value)
