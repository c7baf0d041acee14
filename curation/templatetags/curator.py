"""Small formatting filters for the curator pages (``{% load curator %}``)."""

from __future__ import annotations

import json

from django import template

from curation.projects.activity import VERBS

register = template.Library()


@register.filter
def millis(value) -> str:
    """Milliseconds as a short duration: 61000 -> '1 min 1 s', 7500000 -> '2 h 5 min', None -> '—'."""
    if value is None or value == "":
        return "—"
    seconds = int(round(float(value) / 1000))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


@register.filter
def model_label(ref) -> str:
    """A model reference as its name (``/srv/models/Qwen2-7B`` -> ``Qwen2-7B``): no server path on a page."""
    from curation.llm.runtime import model_label as label

    return label(str(ref) if ref is not None else "")


@register.filter
def logged_value(value) -> str:
    """A value from the activity log, short: None -> '—', True -> 'yes', 0.10 -> '0.1', a list or mapping as compact JSON (cut at 300 characters)."""
    if value is None or value == "":
        return "—"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | dict):
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=True)
    else:
        text = str(value)
    return text if len(text) <= 300 else text[:299] + "…"


@register.filter
def activity_verb(verb: str) -> str:
    """An activity verb's label ('member.role' -> 'changed a role'); an unknown verb as it is."""
    return VERBS.get(verb, verb)


@register.filter
def dataset_removed(manifest) -> list[dict]:
    """The filters (and format drops) of a dataset's manifest that removed something: ``{name, removed, unit}``."""
    from curation.exports.presenters import manifest_removals

    return [r for r in manifest_removals(manifest or {}) if r["removed"]]


@register.filter
def dataset_bytes(files) -> int:
    """The total size of a dataset's data files (``Dataset.files``)."""
    return sum(int(f.get("bytes") or 0) for f in files or [])
