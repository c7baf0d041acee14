"""The crawler finds what it is meant to find: a site with one of each fault,
served by a plain HTTP server (no Django), crawled in Chromium."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.crawl import crawl

pytestmark = [pytest.mark.browser]

PAGES = {
    "/": (
        200,
        {},
        '<a href="/ok#top">ok</a> <a href="/ok">again</a> <a href="/broken">500</a> <a href="/csp">csp</a>'
        ' <a href="/console">console</a> <a href="/throws">throws</a> <a href="/external">ext</a>'
        ' <a href="/logout/">out</a> <a href="https://example.org/">away</a> <a href="/gone">404</a>'
        ' <a href="/api/docs/">docs</a> <div hx-get="/fragment-500"></div>',
    ),
    "/ok": (200, {}, "<p>fine</p><img src='/missing.png'>"),
    "/broken": (500, {}, "<p>server error</p>"),
    "/csp": (200, {"Content-Security-Policy": "script-src 'self'"}, "<script>document.title = 'inline';</script>"),
    "/console": (200, {}, "<script>console.error('boom from the page')</script>"),
    "/throws": (200, {}, "<script>undefinedFunction()</script>"),
    "/external": (200, {}, "<img src='https://cdn.example.org/pixel.png'>"),
    "/fragment-500": (500, {}, "oops"),
    "/api/docs/": (200, {}, "<p>self-contained now: its KNOWN_EXTERNAL entry is stale</p>"),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        status, headers, body = PAGES.get(self.path, (404, {}, "not found"))
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>".encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_crawler_reports_each_kind_of_fault(browser, site, monkeypatch):
    from tests.e2e import crawl as crawl_module

    # an excuse for a page that no longer needs it (the real list is empty)
    monkeypatch.setitem(crawl_module.KNOWN_EXTERNAL, "/api/docs/", "a CDN until some-sidecar")
    context = browser.new_context()
    try:
        report = crawl(context, site, who="tester")
    finally:
        context.close()
    assert set(report.visited) == {
        "/", "/ok", "/broken", "/csp", "/console", "/throws", "/external", "/gone", "/api/docs/"
    }  # fmt: skip
    by_kind = {}
    for problem in report.problems:
        by_kind.setdefault(problem.kind, []).append(problem)
    assert {p.page for p in by_kind["status"]} == {"/broken", "/gone", "/"}  # "/" holds the broken fragment
    assert [p.page for p in by_kind["csp"]] == ["/csp"]
    assert "script-src" in by_kind["csp"][0].detail
    assert any(p.page == "/console" and "boom from the page" in p.detail for p in by_kind["console"])
    assert [p.page for p in by_kind["exception"]] == ["/throws"]
    assert any(p.page == "/ok" and "/missing.png answered 404" in p.detail for p in by_kind["resource"])
    assert any("cdn.example.org/pixel.png" in line and line.startswith("/external") for line in report.external)
    assert not any(p.page == "/external" for p in report.problems)  # a blocked other host is listed apart
    assert [p.page for p in by_kind["stale"]] == ["/api/docs/"]  # an excuse that no longer applies is reported
    with pytest.raises(AssertionError, match="problem"):
        report.assert_clean()


def test_reaching_the_page_limit_is_a_problem(browser, site):
    context = browser.new_context()
    try:
        report = crawl(context, site, max_pages=2)
    finally:
        context.close()
    assert len(report.visited) == 2  # and every other link of "/" left unvisited, reported:
    assert [p.kind for p in report.problems if p.kind == "limit"] == ["limit"]
