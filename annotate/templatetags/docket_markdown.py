"""Template filters for untrusted text: markdown rendered on the server, then sanitised.

``{{ text|markdown }}`` is the only way model output (and guidelines) reach a
page as HTML. Markdown is GitHub's dialect (CommonMark plus tables,
strikethrough and bare-URL links), the one chat models write, rendered by
GitHub's own C library (cmark-gfm, through ``cmarkgfm``): about twenty times
faster than a pure-Python renderer, which matters on a page rendered for every
item an annotator sees. Two layers keep a ``<script>`` in a response from
ever running:

1. Raw HTML in the source is *escaped*, not passed through: before parsing,
   every ``<`` that does not open an autolink (``<https://…>``,
   ``<name@host>``) becomes a placeholder character that markdown gives no
   meaning to, and after rendering the placeholder becomes ``&lt;``. So
   ``<img onerror=…>`` written by a model shows up as the text the model
   wrote (in code spans and blocks too, exactly as the renderer would escape
   it). Annotators judging a response should see what it said, and nothing
   can be hidden from them by markup.
2. The HTML markdown produced is cleaned by nh3 with an allow-list of tags,
   attributes and URL schemes (``http``, ``https``, ``mailto``; no
   ``javascript:``); links get ``rel="noopener noreferrer"`` and open in a new
   tab so an annotator never loses their item.

3. Images never reach the page as images: a markdown image becomes a link
   to its URL labelled "image: <alt text>" (inside a link, just that label),
   so a response cannot make an annotator's browser fetch a tracking pixel
   from another host, and nothing the sanitiser lets through is ever blocked
   by the Content-Security-Policy (``img-src 'self' data:``).

Every response also carries the site's Content-Security-Policy (django-csp's
middleware, ``CONTENT_SECURITY_POLICY`` in config/settings.py: scripts and
styles from this origin only), so even a sanitiser bug would not run inline
script.
"""

from __future__ import annotations

import functools
import re

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options
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
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
}
URL_SCHEMES = {"http", "https", "mailto"}
EXTENSIONS = ["table", "strikethrough", "autolink"]

# A noncharacter (reserved by Unicode for a program's internal use) stands in
# for every "<" that does not open an autolink (CommonMark's URI and e-mail
# autolink forms), so no HTML reaches the parser.
_PLACEHOLDER = "\ufdd0"
_PLACEHOLDER_IN_URL = "%EF%B7%90"
_RAW_LT = re.compile(
    r"<(?!(?:[A-Za-z][A-Za-z0-9.+-]{1,31}:[^<>\x00-\x20]*"
    r"|[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)>)"
)
# Raw HTML never reaches cmark (above), so its "unsafe" mode only means that
# links keep their URLs for nh3 to judge, instead of cmark blanking some.
_OPTIONS = Options.CMARK_OPT_UNSAFE


def _to_html(text: str, hard_breaks: bool) -> str:
    """cmark-gfm's HTML for ``text``, raw HTML escaped (not yet sanitised)."""
    # Model text: a single newline is a line break (as chat UIs show it).
    # Documents (guidelines) are often hard-wrapped: a newline is a space.
    options = _OPTIONS | (Options.CMARK_OPT_HARDBREAKS if hard_breaks else 0)
    source = _RAW_LT.sub(_PLACEHOLDER, text.replace(_PLACEHOLDER, "\ufffd"))
    html = cmarkgfm.markdown_to_html_with_extensions(source, options=options, extensions=EXTENSIONS)
    # In text and attributes the placeholder arrives as itself, in URLs percent-encoded.
    return html.replace(_PLACEHOLDER, "&lt;").replace(_PLACEHOLDER_IN_URL, "%3C")


# cmark-gfm's own HTML (raw HTML never reaches it): links open with ``<a href="…"``, images are exactly
# ``<img src="…" alt="…" />`` or with `` title="…"``, attribute values already escaped.
_LINK_OR_IMAGE = re.compile(r'(<a href="[^"]*"[^>]*>)|(</a>)|<img src="([^"]*)" alt="([^"]*)"(?: title="([^"]*)")? />')


def _images_to_links(html: str) -> str:
    """Every ``<img>`` in cmark's output as a link to its URL, labelled with its alt text (inside a link: the label)."""
    depth = 0

    def replace(match: re.Match) -> str:
        nonlocal depth
        if match.group(1):
            depth += 1
            return match.group(1)
        if match.group(2):
            depth = max(depth - 1, 0)
            return match.group(2)
        src, alt, title = match.group(3), match.group(4), match.group(5)
        label = f"image: {alt}" if alt.strip() else "image"
        if depth:
            return label
        return f'<a href="{src}" title="{title or src}">{label}</a>'

    return _LINK_OR_IMAGE.sub(replace, html)


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


@functools.lru_cache(maxsize=4096)
def _render_cached(text: str, hard_breaks: bool) -> str:
    # The same responses are rendered for every annotator who sees them: a
    # pure function of the text, so cache it per process.
    return sanitize_html(_images_to_links(_to_html(text, hard_breaks)))


@register.filter(name="markdown")
def markdown_filter(text):
    """``{{ response.text|markdown }}``: untrusted markdown to safe HTML."""
    return mark_safe(render_markdown(text))  # noqa: S308 - sanitised by nh3 above


@register.filter(name="markdown_doc")
def markdown_doc_filter(text):
    """``{{ project.guidelines|markdown_doc }}``: like ``markdown`` but single
    newlines join lines (hard-wrapped documents), as CommonMark does."""
    return mark_safe(render_markdown(text, hard_breaks=False))  # noqa: S308 - sanitised by nh3 above
