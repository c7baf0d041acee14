"""Template filters for untrusted text: markdown rendered on the server, then sanitised.

``{{ text|markdown }}`` is the only way model output (and guidelines) reach a
page as HTML. Two layers keep a ``<script>`` in a response from ever running:

1. Raw HTML in the source is *escaped*, not passed through: python-markdown's
   ``html_block`` preprocessor and ``html`` inline pattern are removed, so
   ``<img onerror=…>`` written by a model shows up as the text the model
   wrote. Annotators judging a response should see what it said, and nothing
   can be hidden from them by markup.
2. The HTML markdown produced is cleaned by nh3 with an allow-list of tags,
   attributes and URL schemes (``http``, ``https``, ``mailto``; no
   ``javascript:``); links get ``rel="noopener noreferrer"`` and open in a new
   tab so an annotator never loses their item.

Pages also send ``Content-Security-Policy: script-src 'self'`` (see
``annotate.views``), so even a sanitiser bug would not run inline script.
"""

from __future__ import annotations

import functools
import threading

import markdown as md
import nh3
from django import template
from django.utils.safestring import mark_safe

register = template.Library()

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "div",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "code": {"class"},  # language-xxx from fenced code
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
}
URL_SCHEMES = {"http", "https", "mailto"}
EXTENSIONS = ["fenced_code", "tables", "sane_lists"]


def _renderer(*, hard_breaks: bool = True) -> md.Markdown:
    # Model text: a single newline is a line break (as chat UIs show it).
    # Documents (guidelines) are often hard-wrapped: a newline is a space.
    extensions = EXTENSIONS + (["nl2br"] if hard_breaks else [])
    renderer = md.Markdown(extensions=extensions, output_format="html")
    # Escape raw HTML instead of passing it through (see the module docstring).
    renderer.preprocessors.deregister("html_block")
    renderer.inlinePatterns.deregister("html")
    return renderer


def sanitize_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        strip_comments=True,
    )


def render_markdown(text: str | None, *, hard_breaks: bool = True) -> str:
    """Markdown to sanitised HTML (a plain ``str``; callers mark it safe)."""
    if not text:
        return ""
    return _render_cached(str(text), hard_breaks)


_local = threading.local()


def _thread_renderer(hard_breaks: bool) -> md.Markdown:
    """This thread's renderer (building one, with its extensions, costs twice a render): reset and reused."""
    renderers = _local.__dict__.setdefault("renderers", {})
    renderer = renderers.get(hard_breaks)
    if renderer is None:
        renderer = renderers[hard_breaks] = _renderer(hard_breaks=hard_breaks)
    return renderer.reset()


@functools.lru_cache(maxsize=4096)
def _render_cached(text: str, hard_breaks: bool) -> str:
    # The same responses are rendered for every annotator who sees them: a
    # pure function of the text, so cache it per process.
    return sanitize_html(_thread_renderer(hard_breaks).convert(text))


@register.filter(name="markdown")
def markdown_filter(text):
    """``{{ response.text|markdown }}``: untrusted markdown to safe HTML."""
    return mark_safe(render_markdown(text))  # noqa: S308 - sanitised by nh3 above


@register.filter(name="markdown_doc")
def markdown_doc_filter(text):
    """``{{ project.guidelines|markdown_doc }}``: like ``markdown`` but single
    newlines join lines (hard-wrapped documents), as CommonMark does."""
    return mark_safe(render_markdown(text, hard_breaks=False))  # noqa: S308 - sanitised by nh3 above
