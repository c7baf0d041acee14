"""Crawl every page a user can reach, in a real browser, and collect what went wrong.

Reusable by any browser test (the first-hour test crawls as every demo role;
a Content-Security-Policy change can run the same crawl as its check):

    from tests.e2e.crawl import crawl

    report = crawl(context, base_url, seeds=["/"])
    report.assert_clean()

From the seeds, every same-origin ``<a href>`` of every page is opened with
``page.goto`` (fragments dropped, query strings kept: a filtered or paged
list is another page), and every ``hx-get`` URL is fetched with the user's
session (htmx fragments are not pages of their own). Collected as problems:

* a page or fragment answering 5xx, or 4xx (a link to a page its user may not
  open is a broken link too);
* any request the page makes (static files, htmx swaps, polls) answering 5xx,
  or 4xx for a same-origin resource;
* every ``console.error`` and uncaught exception, with the page it happened on;
* every ``securitypolicyviolation`` event (an init script in every frame
  reports them), whether or not a policy is enforced or report-only, except
  the exact (page, directive, blocked URL) triples of ``KNOWN_CSP_BLOCKS``.

Requests to other hosts are blocked at once (the machines running the tests
have no internet, and a page of ours must not need one); they are listed in
``report.external`` apart from the problems, with the page that made them.
Console errors about those blocked requests themselves are listed there too;
a same-origin error caused by one is excused only on a page listed, with the
dependency that will remove the need, in ``KNOWN_EXTERNAL``.

Links that log out, or that lead out of the site, are not followed;
``skip`` (a predicate on the path) leaves out more. Downloads are fetched
for their status only. ``max_pages`` bounds a crawl: reaching it is itself a
problem, never a silent cut.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin, urlsplit

from playwright.sync_api import BrowserContext, Error, Page

CSP_LISTENER = """
(() => {
  document.addEventListener("securitypolicyviolation", (event) => {
    const report = {
      document: event.documentURI, directive: event.effectiveDirective || event.violatedDirective,
      blocked: event.blockedURI, source: event.sourceFile, line: event.lineNumber, sample: event.sample,
      disposition: event.disposition,
    };
    if (window.__docketCspViolation) window.__docketCspViolation(JSON.stringify(report));
  });
})();
"""

# Pages whose own scripts fail only because a request to another host was blocked, each with the dependency
# that will make the page self-contained. Their uncaught exceptions are listed in ``report.external`` instead
# of failing the crawl (console errors from same-origin resources still fail it), and an entry whose page no
# longer asks another host for anything is itself reported, so it cannot outlive its reason. Empty: since
# drf-spectacular-sidecar serves Swagger UI and Redoc from our static files, no page needs another host.
KNOWN_EXTERNAL: dict[str, str] = {}

# Content-Security-Policy violations that are the policy doing its job on a third-party bundle with no switch
# to turn the request off: (page path, directive, blocked URL) -> why. Each is matched exactly (the event and the
# browser's console line about it), listed in ``report.csp_excused``, and reported as "stale" when the page no
# longer causes it.
KNOWN_CSP_BLOCKS: dict[tuple[str, str, str], str] = {
    # Redoc's bundle (drf-spectacular-sidecar) always renders a "by Redocly" logo from its CDN; api/docs.py's
    # policy for the docs pages (img-src 'self' data:) blocks it on purpose, and the image hides itself.
    ("/api/redoc/", "img-src", "https://cdn.redoc.ly/redoc/logo-mini.svg"): "Redoc's hard-coded CDN logo",
}

SETTLE_MS = 3_000  # after "load": htmx fragments triggered on load, swaps, first polls


@dataclass
class Problem:
    page: str
    kind: str  # "status", "resource", "console", "exception", "csp", "limit", "stale"
    detail: str

    def __str__(self) -> str:
        return f"{self.kind:9} {self.page}: {self.detail}"


@dataclass
class CrawlReport:
    who: str
    visited: dict[str, int] = field(default_factory=dict)  # path (with query) -> status of the page
    fragments: dict[str, int] = field(default_factory=dict)  # hx-get path -> status
    problems: list[Problem] = field(default_factory=list)
    external: list[str] = field(default_factory=list)  # "page -> blocked URL" (other hosts are never reached)
    csp: list[dict] = field(default_factory=list)
    csp_excused: list[str] = field(default_factory=list)  # "page: directive blocked (why)", see KNOWN_CSP_BLOCKS
    seconds: float = 0.0

    def assert_clean(self) -> None:
        assert not self.problems, (
            f"crawl as {self.who}: {len(self.problems)} problem(s) on {len(self.visited)} pages\n"
            + "\n".join(map(str, self.problems))
            + ("\nexternal requests (blocked): " + ", ".join(self.external) if self.external else "")
        )

    def paths(self) -> set[str]:
        """The visited pages' paths, query strings dropped."""
        return {urlsplit(url).path for url in self.visited}


def _same_origin(url: str, origin: str) -> bool:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" == origin


def _default_skip(path: str) -> bool:
    return "logout" in path or path.startswith("/static/")


def crawl(
    context: BrowserContext,
    base_url: str,
    *,
    who: str = "",
    seeds: tuple[str, ...] | list[str] = ("/",),
    skip: Callable[[str], bool] | None = None,
    max_pages: int = 400,
    timeout_ms: int = 30_000,
) -> CrawlReport:
    """Crawl from ``seeds`` (paths) as the user logged in to ``context``; see the module docstring."""
    started = time.monotonic()
    split = urlsplit(base_url)
    origin = f"{split.scheme}://{split.netloc}"
    report = CrawlReport(who=who)
    current = {"page": ""}

    def blocked(route) -> None:
        report.external.append(f"{current['page']} -> {route.request.url}")
        route.abort("blockedbyclient")

    def on_csp(source, payload: str) -> None:
        violation = json.loads(payload)
        document = violation.get("document") or ""
        where = document[len(origin) :] if _same_origin(document, origin) else current["page"]  # late events too
        violation["page"] = where
        report.csp.append(violation)
        known = _known_csp_block(where, violation.get("directive", ""), violation.get("blocked", ""))
        if known:
            report.csp_excused.append(f"{where}: {violation['directive']} {violation['blocked']} ({known})")
        else:
            report.problems.append(Problem(where, "csp", json.dumps(violation, sort_keys=True)))

    context.route(lambda url: not _same_origin(url, origin) and urlsplit(url).scheme in {"http", "https"}, blocked)
    context.expose_binding("__docketCspViolation", on_csp)
    context.add_init_script(CSP_LISTENER)

    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    _watch(page, report, origin, current)

    queue: deque[str] = deque()
    seen: set[str] = set()
    fragments: set[str] = set()

    def enqueue(url: str, into: deque | None = None) -> None:
        url = urldefrag(urljoin(origin + "/", url))[0]
        if not _same_origin(url, origin):
            return
        path = url[len(origin) :] or "/"
        if _default_skip(path) or (skip is not None and skip(path)) or path in seen:
            return
        seen.add(path)
        queue.append(path)

    for seed in seeds:
        enqueue(seed)
    while queue:
        path = queue.popleft()
        if len(report.visited) >= max_pages:
            report.problems.append(Problem(path, "limit", f"more than {max_pages} pages: raise max_pages"))
            break
        current["page"] = path
        external_before = len(report.external)
        status = _open(page, origin + path, report, context)
        known = KNOWN_EXTERNAL.get(path.split("?")[0])
        if known and len(report.external) == external_before:
            report.problems.append(
                Problem(path, "stale", f"KNOWN_EXTERNAL excuses it ({known}) but it asked no other host")
            )

        report.visited[path] = status
        if status >= 400:
            report.problems.append(Problem(path, "status", f"the page answered {status}"))
        if not _is_html(page, path):
            continue
        try:
            hrefs, hx_gets = page.evaluate(
                "() => [Array.from(document.querySelectorAll('a[href]'), a => a.href),"
                " Array.from(document.querySelectorAll('[hx-get]'), e => e.getAttribute('hx-get'))]"
            )
        except Error as error:  # the page navigated away while we read it (a meta refresh, a redirect by script)
            report.problems.append(Problem(path, "exception", f"could not read its links: {error.message}"))
            continue
        for href in hrefs:
            enqueue(href)
        for target in hx_gets:
            url = urldefrag(urljoin(origin + path, target))[0]
            if _same_origin(url, origin) and url not in fragments:
                fragments.add(url)
                response = context.request.get(url, headers={"HX-Request": "true"}, max_redirects=0)
                report.fragments[url[len(origin) :]] = response.status
                if response.status >= 400:
                    report.problems.append(Problem(path, "status", f"fragment {target} answered {response.status}"))
    page.close()
    for (page_path, directive, blocked), why in KNOWN_CSP_BLOCKS.items():
        if report.visited.get(page_path, 500) < 400 and not any(
            v["page"].split("?")[0] == page_path and v.get("directive") == directive and v.get("blocked") == blocked
            for v in report.csp
        ):
            report.problems.append(Problem(page_path, "stale", f"KNOWN_CSP_BLOCKS excuses {blocked} ({why}), not seen"))
    report.seconds = time.monotonic() - started
    return report


def _watch(page: Page, report: CrawlReport, origin: str, current: dict) -> None:
    def on_console(message) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        if where and not _same_origin(where, origin):
            report.external.append(f"{current['page']} -> console: {message.text} ({where})")
        elif "ERR_BLOCKED_BY_CLIENT" in message.text:  # our own block of another host, listed in external
            report.external.append(f"{current['page']} -> console: {message.text}")
        elif "Content Security Policy" in message.text and any(
            _known_csp_block(current["page"], directive, blocked)
            for (_page, directive, blocked) in KNOWN_CSP_BLOCKS
            if f"'{blocked}'" in message.text and f'"{directive} ' in message.text
        ):
            pass  # the browser's line about an excused violation, which the event already recorded
        else:
            report.problems.append(Problem(current["page"], "console", f"{message.text} ({where})"))

    def on_page_error(error) -> None:
        known = KNOWN_EXTERNAL.get(current["page"].split("?")[0])
        if known:
            report.external.append(f"{current['page']} -> exception ({known}): {error}")
        else:
            report.problems.append(Problem(current["page"], "exception", str(error)))

    def on_response(response) -> None:
        url = response.url
        failed = response.status >= 500 or (response.status >= 400 and _same_origin(url, origin))
        if failed and response.request.resource_type != "document":  # a page's own status is checked apart
            report.problems.append(Problem(current["page"], "resource", f"{url} answered {response.status}"))

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.on("response", on_response)


def _known_csp_block(page: str, directive: str, blocked: str) -> str | None:
    return KNOWN_CSP_BLOCKS.get((page.split("?")[0], directive, blocked))


def _open(page: Page, url: str, report: CrawlReport, context: BrowserContext) -> int:
    """Open ``url``; its status (a download is fetched for its status instead of opened)."""
    try:
        response = page.goto(url, wait_until="load")
    except Error as error:
        if "Download is starting" in error.message or "net::ERR_ABORTED" in error.message:
            return context.request.get(url).status
        raise
    with contextlib.suppress(Error):  # let htmx's load-triggered fragments and swaps run (polls never go idle)
        page.wait_for_load_state("networkidle", timeout=SETTLE_MS)
    return response.status if response is not None else 0


def _is_html(page: Page, path: str) -> bool:
    try:
        return bool(page.evaluate("() => document.contentType === 'text/html'"))
    except Error:
        return False
