"""The docs in ``docs/`` are what code and tests cite (``docs/algorithms.md#bradley-terry``):
every such citation, and every in-page link of the docs, must land on a heading.

Anchors are GitHub's heading slugs: lower case, punctuation other than ``-`` and ``_``
dropped, spaces turned into ``-``, a repeated heading suffixed ``-1``, ``-2``, ….
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCANNED = ("annotate", "api", "bench", "config", "curation", "docs", "templates", "tests")
SUFFIXES = {".py", ".md", ".html", ".txt"}
CITATION = re.compile(r"docs/([\w-]+\.md)#([\w-]+)")
LOCAL_LINK = re.compile(r"\]\(#([\w-]+)\)")
RELATIVE_LINK = re.compile(r"\]\((?:docs/)?([\w-]+\.md)#([\w-]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")


def slug(heading: str) -> str:
    text = re.sub(r"[`*_]{1,2}([^`*_]+)[`*_]{1,2}", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            base = slug(match.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def repo_files():
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in SUFFIXES and path.is_file() and ".venv" not in path.parts:
                yield path
    for name in ("README.md", "CONTRIBUTING.md"):
        if (ROOT / name).exists():
            yield ROOT / name


def test_slug_is_githubs():
    assert slug("Krippendorff alpha") == "krippendorff-alpha"
    assert slug("Bradley-Terry") == "bradley-terry"
    assert slug("Where each behaviour lives") == "where-each-behaviour-lives"
    assert slug("`ches` filter (LN-CHES)") == "ches-filter-ln-ches"


def test_the_docs_exist():
    assert (DOCS / "algorithms.md").is_file() and (DOCS / "architecture.md").is_file()


def test_every_citation_of_docs_lands_on_a_heading():
    known = {path.name: anchors(path) for path in DOCS.glob("*.md")}
    broken = []
    for path in repo_files():
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for doc, anchor in CITATION.findall(line):
                if anchor not in known.get(doc, set()):
                    broken.append(f"{path.relative_to(ROOT)}:{n}: docs/{doc}#{anchor}")
    assert not broken, "citations of missing doc anchors:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    "path", [*sorted(DOCS.glob("*.md")), ROOT / "README.md", ROOT / "CONTRIBUTING.md"], ids=lambda p: p.name
)
def test_links_inside_the_docs_resolve(path):
    if not path.exists():
        pytest.fail(f"{path.name} is missing")
    own = anchors(path)
    broken = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        broken += [f"{path.name}:{n}: #{a}" for a in LOCAL_LINK.findall(line) if a not in own]
        for doc, anchor in RELATIVE_LINK.findall(line):
            target = DOCS / doc if (DOCS / doc).exists() else ROOT / doc
            if not target.exists() or anchor not in anchors(target):
                broken.append(f"{path.name}:{n}: {doc}#{anchor}")
    assert not broken, "links to missing anchors:\n" + "\n".join(broken)
