"""Small display filters for the annotator pages."""

from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()


def _words(seconds: int) -> str:
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


@register.filter
def duration_ms(value) -> str:
    """12_345_678 -> '3 h 25 min'; 61_000 -> '1 min 1 s'; None -> '0 s'."""
    return _words(int((value or 0) // 1000))


@register.filter
def duration(value) -> str:
    """A timedelta (or seconds) in words: timedelta(minutes=15) -> '15 min'."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    return _words(int(value or 0))
