"""Small formatting filters for the curator pages (``{% load curator %}``)."""

from __future__ import annotations

from django import template

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
