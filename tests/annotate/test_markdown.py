"""The ``markdown`` filter: untrusted model text in, safe HTML out."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.template import Context, Template

from annotate.templatetags.docket_markdown import render_markdown


class Elements(HTMLParser):
    """Every start tag and its attributes, as a browser would parse them."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def tags(self) -> set[str]:
        return {tag for tag, _ in self.elements}


def assert_inert(html: str) -> None:
    parsed = Elements(html)
    assert not parsed.tags() & {"script", "style", "iframe", "object", "embed", "form", "input", "svg", "math"}
    for tag, attrs in parsed.elements:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name not in {"style", "srcdoc", "formaction"}, (tag, name)
            if name in {"href", "src"}:
                # As a browser reads a URL: tabs and newlines dropped, leading controls and spaces stripped.
                url = re.sub(r"[\t\n\r]", "", value or "").lstrip("".join(map(chr, range(33))))
                scheme = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*):", url)
                assert scheme is None or scheme.group(1).lower() in {"http", "https", "mailto"}, (tag, name, value)


@pytest.mark.parametrize(
    "source",
    [
        "<script>window.__pwned=1</script>",
        "before <script>alert(1)</script> after",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        '<img src=x onerror="window.__pwned=1">',
        "<img src=x onerror=alert(1)//",
        '<a href="javascript:alert(1)">click</a>',
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](  javascript:alert(1))",
        "![x](javascript:alert(1))",
        '<iframe src="https://evil.example"></iframe>',
        "<style>body{display:none}</style>",
        '<div style="position:fixed" onclick="x()">hi</div>',
        '<svg onload="alert(1)"></svg>',
        "<details open ontoggle=alert(1)>",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<a href='vbscript:msgbox(1)'>x</a>",
        "<<script>script>alert(1)<</script>/script>",
    ],
)
def test_dangerous_markup_is_inert(source):
    html = render_markdown(source)
    assert_inert(html)
    assert "<script" not in html.lower()


def test_raw_html_is_shown_as_text_not_dropped():
    # Annotators see what the model wrote: the tag is escaped, not hidden.
    html = render_markdown('Try <img src=x onerror="window.__pwned=1"> here')
    assert "&lt;img src=x onerror=" in html
    assert "Try" in html and "here" in html
    assert Elements(html).tags() == {"p"}


def test_javascript_link_loses_its_href_but_keeps_text():
    html = render_markdown("[click me](javascript:alert(1)) and [safe](https://example.org/a?b=1)")
    links = [attrs for tag, attrs in Elements(html).elements if tag == "a"]
    assert "href" not in links[0]
    assert links[1]["href"] == "https://example.org/a?b=1"
    assert "click me" in html


def test_links_get_noopener_noreferrer():
    html = render_markdown("<https://example.org> and [x](http://example.com)")
    links = [attrs for tag, attrs in Elements(html).elements if tag == "a"]
    assert len(links) == 2
    for attrs in links:
        assert set(attrs["rel"].split()) == {"noopener", "noreferrer"}
        assert attrs["target"] == "_blank"


def test_fenced_code_block_is_preserved_verbatim():
    source = '```python\nif a < b and c > d:\n    print("<script>x</script>")\n```'
    html = render_markdown(source)
    assert '<pre><code class="language-python">' in html
    assert 'if a &lt; b and c &gt; d:\n    print("&lt;script&gt;x&lt;/script&gt;")\n</code></pre>' in html
    assert_inert(html)


def test_indented_code_and_inline_code():
    html = render_markdown("Use `rm -rf /tmp/x` carefully:\n\n    for i in range(3):\n        pass\n")
    assert "<code>rm -rf /tmp/x</code>" in html
    assert "<pre><code>for i in range(3):\n    pass\n</code></pre>" in html


def test_markdown_basics_survive_sanitising():
    html = render_markdown("# Title\n\n**bold** *it*\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n> quote")
    tags = Elements(html).tags()
    assert {"h1", "strong", "em", "ul", "li", "table", "th", "td", "blockquote"} <= tags


def test_single_newlines_are_kept_as_line_breaks():
    assert "line one<br>\nline two" in render_markdown("line one\nline two")


def test_empty_and_none():
    assert render_markdown("") == ""
    assert render_markdown(None) == ""


def test_template_filter_marks_output_safe_and_sanitised():
    out = Template("{% load docket_markdown %}{{ text|markdown }}").render(
        Context({"text": "**hi** <script>alert(1)</script>"})
    )
    assert "<strong>hi</strong>" in out
    assert "<script>" not in out
    assert "&lt;script&gt;" in out  # escaped once, not double-escaped by autoescape
    assert "&amp;lt;" not in out


def test_documents_join_hard_wrapped_lines():
    from annotate.templatetags.docket_markdown import markdown_doc_filter

    html = str(markdown_doc_filter("a hard-wrapped\nparagraph <script>x</script>"))
    assert "<br" not in html
    assert "a hard-wrapped\nparagraph &lt;script&gt;" in html


def test_nothing_carries_from_one_text_to_the_next():
    """A link reference defined in one text does not resolve in the next."""
    defined = render_markdown("See [the docs][d].\n\n[d]: https://example.org/one")
    assert 'href="https://example.org/one"' in defined
    later = render_markdown("See [the docs][d] again.")
    assert "href" not in later and "[the docs][d]" in later


def test_html_blocks_and_comments_are_shown_as_text():
    html = render_markdown('<div onclick="x()">\nhello\n</div>\n\n<!-- hidden -->')
    assert "&lt;div onclick=" in html and "hello" in html and "&lt;/div&gt;" in html
    assert "&lt;!-- hidden --&gt;" in html
    assert Elements(html).tags() <= {"p", "br"}


def test_autolinks_stay_links_and_lone_angle_brackets_stay_text():
    html = render_markdown("mail <someone@example.org>, see <https://example.org/x>; 1 < 2 and a<b>c")
    hrefs = [attrs["href"] for tag, attrs in Elements(html).elements if tag == "a"]
    assert hrefs == ["mailto:someone@example.org", "https://example.org/x"]
    assert "1 &lt; 2 and a&lt;b&gt;c" in html


def test_the_placeholder_character_in_the_source_is_not_turned_into_markup():
    html = render_markdown("odd \ufdd0b> char")
    assert "&lt;" not in html and "\ufdd0" not in html
    assert "\ufffdb&gt; char" in html


def test_github_flavoured_markdown_as_models_write_it():
    html = render_markdown(
        "Steps:\n1. one\n   - nested with two spaces\n2. two\n\n~~old~~ new, see https://example.org/docs\n\n"
        "| left | right |\n|:-----|------:|\n| a | b |"
    )
    parsed = Elements(html)
    assert {"ol", "ul", "del", "table"} <= parsed.tags()
    hrefs = [attrs["href"] for tag, attrs in parsed.elements if tag == "a"]
    assert hrefs == ["https://example.org/docs"]
    aligns = [attrs.get("align") for tag, attrs in parsed.elements if tag in {"th", "td"}]
    assert aligns == ["left", "right", "left", "right"]


def test_random_markup_soup_is_always_inert():
    """Seeded fuzz: fragments of markdown and hostile HTML in random order never yield live markup."""
    import random

    pieces = [
        "<script>", "</script>", "<img src=x onerror=alert(1)>", "<", ">", "`", "```", "\n", "\n\n", "    ",
        "[a](", "javascript:alert(1)", ")", "![i](", "<https://e.org>", "<a href='javascript:x'>", "</a>",
        "*", "_", "| a |", "|---|", "> ", "- ", "1. ", "<!--", "-->", "&lt;", "\\", "<svg onload=x>",
        "<style>", "<iframe src=//e.org>", "data:text/html,x", "~~", "http://e.org", "\ufdd0",
    ]  # fmt: skip
    rng = random.Random(20261123)
    for _ in range(400):
        source = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))
        html = render_markdown(source)
        assert_inert(html)
        assert "<script" not in html.lower(), source
        assert "\ufdd0" not in html and "%EF%B7%90" not in html, source
