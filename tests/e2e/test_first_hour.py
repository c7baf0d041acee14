"""A new user's first hour, exactly as the README tells it, in Chromium.

``make run`` on an empty data folder (no DATABASE_URL, no REDIS_URL: the
embedded PostgreSQL and Redis, a fresh cluster) migrates, seeds the demo and
serves it with a real Celery worker. Then, through the pages:

1. both demo annotators log in and judge one item of each kind, the same
   items, disagreeing on the pairwise and thumb items (so the dashboards
   have something to show) and agreeing on the ranking (so the exports have
   rows);
2. the curator encodes the responses and runs the audit from the audit
   page's buttons and waits on each job's page until the worker is done;
3. every demo role (owner, curator, both annotators, researcher) crawls
   every page reachable from ``/`` (the nav links the API root, which links
   ``/api/docs/``): no 5xx or broken link, no console error, no uncaught
   exception, no Content-Security-Policy violation (tests/e2e/crawl.py);
4. the researcher exports DPO and KTO through the API, downloads the files
   and loads both with ``datasets``;
5. Ctrl+C stops ``make run``, and with it the embedded servers.

Chromium is Debian's (tests/browser/conftest.py); the model is the default
one, converted once into the shared model cache.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.conf import settings
from playwright.sync_api import Browser, Page, expect

from tests.e2e.crawl import crawl
from tests.test_embedded import private_data_dir

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.worker, pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "docket-demo"
ROLES = ["owner", "curator", "annotator1", "annotator2", "researcher"]
KINDS = ["pairwise", "thumb", "ranking", "judgment"]
PREFIXES = ("DJANGO_", "DOCKET_", "DATABASE_", "REDIS_", "CELERY_")
SWAP_MS = 20_000


@dataclass
class Docket:
    url: str
    data: Path
    log: Path
    proc: subprocess.Popen

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def docket():
    """``make run`` with nothing configured but an empty data folder (and the shared model cache)."""
    data = private_data_dir("docket-first-hour-")
    assert not (data / "postgres").exists()
    log = data.parent / "make-run.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    env.update(DOCKET_DATA_DIR=str(data), DOCKET_MODEL_CACHE=str(settings.DOCKET_MODEL_CACHE), PYTHONUNBUFFERED="1")
    port = _free_port()
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        # Ctrl+C as in a terminal, even when pytest itself runs with SIGINT ignored (started with `&` or
        # nohup): a shell cannot trap a signal ignored when it started, so make run's trap would never run
        preexec_fn=_default_sigint,
    )  # fmt: skip
    server = Docket(url=f"http://127.0.0.1:{port}", data=data, log=log, proc=proc)
    deadline = time.monotonic() + 300
    while True:
        if proc.poll() is not None:
            pytest.fail(f"make run exited ({proc.returncode}):\n{server.log_tail()}")
        try:
            if requests.get(f"{server.url}/accounts/login/", timeout=5).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"make run did not answer within 300 s:\n{server.log_tail()}")
        time.sleep(0.5)
    try:
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl+C in the terminal
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        from config import embedded

        embedded.stop(data)  # a no-op after a clean Ctrl+C; after a failure, what make run left
        shutil.rmtree(data.parent, ignore_errors=True)


def _log_in(browser: Browser, docket: Docket, username: str):
    context = browser.new_context(base_url=docket.url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("h1")).to_have_text("My projects")
    return context, page


def _item(page: Page, kind: str) -> None:
    page.wait_for_selector(f'#item[data-kind="{kind}"]:not(.htmx-added):not(.htmx-settling)', timeout=SWAP_MS)


def _submitted(page: Page, assignment: str) -> None:
    expect(page.locator("#item")).not_to_have_attribute("data-assignment", assignment, timeout=SWAP_MS)


def _annotate(page: Page, who: str, first_choices: dict) -> dict:
    """One item of each kind through the project page's per-kind links; returns what was chosen."""
    choices = {}
    for kind in KINDS:
        page.goto("/")
        page.get_by_role("link", name="Guidelines").click()
        page.locator(f'a[href$="?kind={kind}"]').click()
        _item(page, kind)
        assignment = page.locator("#item").get_attribute("data-assignment")
        on_screen = page.locator("#item [data-response]").evaluate_all("els => els.map(e => e.dataset.response)")
        if kind == "pairwise":  # annotator1 takes the left one, annotator2 the other response
            other = first_choices.get("pairwise")
            pick = 0 if other is None else (1 if on_screen[0] == other else 0)
            page.keyboard.press(str(pick + 1))
            choices[kind] = on_screen[pick]
        elif kind == "thumb":  # up, then down
            page.keyboard.press("ArrowDown" if first_choices else "ArrowUp")
        elif kind == "ranking":  # both rank by response id: the same order whatever the screen shows
            ordered = sorted(on_screen)
            for position, response in enumerate(on_screen, start=1):
                page.keyboard.press(str(position))
                page.keyboard.press(str(ordered.index(response) + 1))
        else:  # c takes the keyboard into the critique box (a page never focuses a text box by itself)
            page.keyboard.press("c")
            expect(page.locator("#id_critique")).to_be_focused()
            page.keyboard.type(f"{who}: the answer skips the reasoning.")
            page.fill("#id_corrected_response", "A corrected answer that shows its reasoning step by step.")
        page.keyboard.press("Control+Enter")
        _submitted(page, assignment)
        expect(page.locator("#item .error")).to_have_count(0)
    return choices


def _run_job(page: Page, button: str, docket: Docket) -> None:
    """Press a button of the audit page, land on the job's page, wait there until the worker is done."""
    page.goto("/p/demo/curate/audit/")
    page.get_by_role("button", name=button).click()
    expect(page).to_have_url(_job_url_pattern())
    status = page.locator("#job-status")
    deadline = time.monotonic() + 600
    while status.get_attribute("data-status") not in {"succeeded", "failed", "cancelled"}:
        assert time.monotonic() < deadline, (
            f"{button}: still {status.get_attribute('data-status')}\n{docket.log_tail()}"
        )
        page.wait_for_timeout(500)
    assert status.get_attribute("data-status") == "succeeded", page.locator("main").inner_text()[:3000]


def _job_url_pattern():
    return re.compile(r"/p/demo/curate/jobs/[0-9a-f-]{36}/$")


def _export(api: requests.Session, docket: Docket, fmt: str, into: Path):
    import datasets

    created = api.post(f"{docket.url}/api/v1/projects/demo/exports/", json={"format": fmt, "options": {}})
    assert created.status_code == 202, created.text
    job_url = created.json()["job"]
    deadline = time.monotonic() + 300
    while (job := api.get(job_url).json())["status"] not in {"succeeded", "failed", "cancelled"}:
        assert time.monotonic() < deadline, f"{fmt} export still {job['status']}\n{docket.log_tail()}"
        time.sleep(0.5)
    assert job["status"] == "succeeded", job
    paths = {}
    for name, url in job["dataset"]["files"].items():
        if name.endswith(".jsonl"):
            split = name.split("/")[-1].split("-")[0]
            paths[split] = str(into / f"{fmt}-{split}.jsonl")
            response = api.get(url)
            assert response.status_code == 200
            Path(paths[split]).write_bytes(response.content)
    assert "train" in paths, job["dataset"]["files"]
    return datasets.load_dataset("json", data_files=paths)


def test_the_first_hour(docket: Docket, browser: Browser, tmp_path):
    # 1. Two annotators, one item of each kind each, disagreeing on the pairwise and thumb items.
    first = None
    for who in ("annotator1", "annotator2"):
        context, page = _log_in(browser, docket, who)
        try:
            chosen = _annotate(page, who, first or {})
            first = first or chosen
        finally:
            context.close()

    # 2. The curator encodes and audits from the pages, waiting on each job's page (a real worker runs them).
    context, page = _log_in(browser, docket, "curator")
    try:
        _run_job(page, "Encode responses (for CHES)", docket)
        _run_job(page, "Run audit", docket)
        page.goto("/p/demo/curate/audit/disagreement/")
        expect(page.locator("main")).to_contain_text(re.compile("pairwise", re.IGNORECASE))
    finally:
        context.close()

    # 3. Every page every role can reach from "/": no server error, console error or CSP violation.
    reports = {}
    for who in ROLES:
        context = browser.new_context(base_url=docket.url)
        _log_in_context(context, who)
        try:
            reports[who] = crawl(context, docket.url, who=who, seeds=["/"])
        finally:
            context.close()
    for report in reports.values():
        report.assert_clean()
    curated = reports["curator"].paths()
    for path in [
        "/p/demo/curate/", "/p/demo/curate/items/", "/p/demo/curate/jobs/", "/p/demo/curate/members/",
        "/p/demo/curate/import/", "/p/demo/curate/synthesize/", "/p/demo/curate/audit/",
        "/p/demo/curate/audit/disagreement/", "/p/demo/curate/audit/annotators/", "/p/demo/curate/audit/ches/",
        "/p/demo/curate/audit/discretion/", "/p/demo/curate/audit/ambiguity/", "/api/v1/", "/api/docs/",
    ]:  # fmt: skip
        assert path in curated, f"the curator's crawl never reached {path}: {sorted(curated)}"
    assert any(p.startswith("/p/demo/curate/items/") and p.count("/") == 6 for p in curated)  # an item's page
    assert any(p.startswith("/p/demo/curate/jobs/") and p.count("/") == 6 for p in curated)  # a job's page
    for who in ("annotator1", "annotator2", "researcher"):
        assert "/api/docs/" in reports[who].paths() and not any("/curate/" in p for p in reports[who].paths())

    # 4. The researcher's datasets, through the API, loaded with `datasets`.
    api = requests.Session()
    token = api.post(f"{docket.url}/api/v1/auth/token/", json={"username": "researcher", "password": PASSWORD})
    assert token.status_code == 201, token.text
    api.headers["Authorization"] = f"Token {token.json()['token']}"
    dpo = _export(api, docket, "dpo", tmp_path)
    kto = _export(api, docket, "kto", tmp_path)
    assert {"prompt", "chosen", "rejected"} <= set(dpo["train"].column_names) and dpo["train"].num_rows > 0
    assert {"prompt", "completion", "label"} <= set(kto["train"].column_names) and kto["train"].num_rows > 0

    # 5. Ctrl+C: make run ends, and the last of its processes stops the embedded servers.
    from config import embedded

    os.killpg(docket.proc.pid, signal.SIGINT)
    docket.proc.wait(timeout=120)
    state = embedded.status(docket.data)
    assert (state["postgres"], state["redis"], state["users"]) == ("stopped", "stopped", []), docket.log_tail()
    assert not (docket.data / "postgres" / "postmaster.pid").exists()


def _log_in_context(context, username: str) -> None:
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("h1")).to_have_text("My projects")
    page.close()
