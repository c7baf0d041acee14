"""Load test of the annotator flow over HTTP: gunicorn + PostgreSQL, N simulated annotators.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/docket REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/annotate_load.py [--quick] [--users 50] [--seconds 30] [--runs 3]

What it does:

1. builds a fresh bench project (items of all four kinds, overlap 3, bulk
   inserts) and ``--users`` annotators with real passwords;
2. serves the app with gunicorn on a free port of 127.0.0.1, configured by
   ``config/gunicorn.conf.py`` (what the Dockerfile and docker-compose.yml
   run: sync workers, 2 x cores + 1; ``--workers``, ``--threads`` and
   ``--worker-class`` override it to compare others), with production
   settings (``DJANGO_DEBUG=False``, plain HTTP allowed), so DEBUG overhead
   is not measured;
3. each simulated annotator logs in through the login form (GET for the CSRF
   cookie, POST the credentials), then loops the htmx flow a browser runs:
   GET ``/p/<slug>/annotate/`` once (in a ramp-up before the first
   phase's clock starts, as people open the page at their own moments
   before reading; the item stays on their screen from one phase to the
   next), then POST the answer to the item's submit URL with
   ``HX-Request: true``; the response is the next item's partial, so each
   further item costs one request (``--no-htmx`` instead
   posts a plain form, expects a 303 and GETs the page again);
4. each run has two phases of ``--seconds``:

   * **capacity**: the users submit as fast as they can (a closed loop with
     no think time): the most submissions per second the machine serves;
   * **paced**: the users offer ``--rate`` submissions/s between them (default
     150, the target), each submitting at the events of their own Poisson
     process (as people reading items do: irregular, sometimes bunched): the
     latency annotators see at that load. A submission that falls due while
     its user still waits for the previous reply goes as soon as that reply
     comes, and its latency counts from when it was due, so a slow server
     cannot hide the queue it causes (no coordinated omission).

   Why two phases: in the closed loop, latency is only queueing (by Little's
   law the mean is ``users / throughput``: 50 users served at 150/s wait
   333 ms on average whatever the server does), so "p95 under 150 ms at
   150/s" can only be measured at an offered load of 150/s;
5. after each phase, checks the database: every submission that got a 2xx/3xx
   is stored exactly once (counted by idempotency key), none is lost, no
   (item, annotator) pair twice, no item beyond its overlap, and
   ``slots_taken`` equals live leases + annotations on every item;
6. prints per-phase figures, the medians over ``--runs``, and a final line
   ``RESULT submissions_per_s=… p95_ms=… p95_pooled_ms=… p95_runs_ms=…
   offered_per_s=… achieved_per_s=… p95_from_sending_ms=…
   closed_loop_p95_ms=… next_p95_ms=… lost=… duplicated=… over_overlap=…
   errors=…``, where ``submissions_per_s`` is the capacity phase's rate
   (median over the runs) and ``p95_ms`` the median over the runs of the
   paced phase's p95 of the submit request (which, in the htmx flow, also
   leases and renders the next item: the latency an annotator waits for),
   counted from when each submission was due; ``p95_pooled_ms`` is the p95
   of every paced submission of every run taken together, and
   ``p95_runs_ms`` each run's p95 (comma-separated);
   ``p95_from_sending_ms`` counts from when it went out instead,
   ``closed_loop_p95_ms`` is the capacity phase's p95, all queueing, and
   ``next_p95_ms`` the p95 of the page loads (GETs of the annotate page; in
   the htmx flow one per user, each at a random moment of a ``--ramp`` of
   5 s before the first phase; ``--ramp 0`` opens them all at once, a
   stampede no real team makes).

   In earlier versions of this bench the page loads ran inside each
   phase's clock: fifty full pages at the same instant put the first
   submissions of the paced phase up to ~3 s behind, and that start-up
   backlog, not the steady state, made its p95. Where PostgreSQL runs with
   autovacuum off, the bench analyzes the loop's tables itself, when and as
   autovacuum would with its default settings (see ``Autoanalyze``).

Issue target on the 2-core machine: >= 150 submissions/s, p95 < 150 ms,
0 lost, 0 duplicated. The bench project and its users are deleted at the end.
"""

from __future__ import annotations

import argparse
import faulthandler
import http.client
import json
import os
import random
import re
import signal
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    LOOP_TABLES,
    ROOT,
    bench_cleanup,
    bench_project_create,
    bench_users_create,
    collectstatic,
    django_setup,
    free_port,
    gunicorn_config,
    gunicorn_start,
    gunicorn_stop,
    machine_cpu,
    median,
    percentile,
    postgres_backends_cpu,
    process_tree_cpu,
    production_env,
    require_postgresql,
)

PASSWORD = "bench-annotator-passphrase-7"  # noqa: S105
# --questions: three custom questions on the bench project (issue 20's load figure).
HAZARD_LABELS = ["violent_crimes", "self_harm", "privacy", "hate", "fraud"]
QUESTIONS_ON = False
# The target: 150 submissions/s with a p95 under 150 ms.
TARGET_RATE = 150.0

ITEM_TAG = re.compile(r"<[a-z]+\b[^>]*\bid=\"item\"[^>]*>", re.S)
ATTR = re.compile(r"([a-zA-Z_:-]+)=\"([^\"]*)\"")
RESPONSE_UUID = re.compile(r"data-response=\"([0-9a-f-]{36})\"")
KEY_INPUT = re.compile(r"<input\b[^>]*\bname=\"idempotency_key\"[^>]*>", re.S)
SUBMIT_FORM = re.compile(r"<form\b[^>]*\bid=\"submit-form\"[^>]*>", re.S)


@dataclass
class Page:
    assignment: str
    kind: str
    responses: list[str]
    key: str
    action: str


def parse_item(html: str, slug: str) -> Page | None:
    """The item partial's contract: ``id="item"`` with data-assignment/data-kind, responses, a key."""
    tag = ITEM_TAG.search(html)
    if tag is None:
        return None
    attrs = dict(ATTR.findall(tag.group(0)))
    key_tag = KEY_INPUT.search(html, tag.end())
    if key_tag is None or "data-assignment" not in attrs:
        raise ValueError("item partial without data-assignment or idempotency_key input")
    key = dict(ATTR.findall(key_tag.group(0)))["value"]
    form = SUBMIT_FORM.search(html, tag.end())
    action = dict(ATTR.findall(form.group(0))).get("action") if form else None
    assignment = attrs["data-assignment"]
    return Page(
        assignment=assignment,
        kind=attrs.get("data-kind", ""),
        responses=list(dict.fromkeys(RESPONSE_UUID.findall(html, tag.end()))),
        key=key,
        action=action or f"/p/{slug}/annotate/{assignment}/submit/",
    )


def bench_questions_create(project) -> None:
    """A multi-label question about each response, a required 1-5 rating and an optional note."""
    from curation.projects.questions import question_add

    question_add(project=project, user=None, spec={"key": "hazard", "type": "multi_label", "target": "response",
                                                   "label": "Hazards", "options": HAZARD_LABELS})  # fmt: skip
    question_add(project=project, user=None, spec={"key": "helpful", "type": "rating", "label": "Helpful?",
                                                   "scale": 5, "required": True})  # fmt: skip
    question_add(project=project, user=None, spec={"key": "note", "type": "text", "label": "Note"})


def answer(page: Page, rng: random.Random) -> dict[str, str]:
    data = {"idempotency_key": page.key, "time_spent_ms": str(rng.randint(2000, 40000)), "rationale": ""}
    if page.kind == "pairwise":
        data["choice"] = rng.choice(["left", "right", "tie", "both_bad"])
    elif page.kind == "thumb":
        data["choice"] = rng.choice(["up", "down"])
    elif page.kind == "ranking":
        order = page.responses[:]
        rng.shuffle(order)
        groups = [[order[0], order[1]], *[[r] for r in order[2:]]] if rng.random() < 0.2 else [[r] for r in order]
        data["ranking"] = json.dumps(groups)
    elif page.kind == "judgment":
        data["critique"] = "Accurate but terse; the code sample needs a comment."
    if rng.random() < 0.3:
        data["rationale"] = "Clearer and more complete."
    if QUESTIONS_ON:
        # --questions: the three questions of bench_questions_create, answered as a person would.
        data["q_helpful"] = str(rng.randint(1, 5))
        for n in range(1, len(page.responses) + 1):
            if rng.random() < 0.3:
                data[f"q_hazard__{n}"] = rng.sample(HAZARD_LABELS, rng.randint(1, 2))
        if rng.random() < 0.2:
            data["q_note"] = "Check the second paragraph."
    return data


@dataclass
class Stats:
    next_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    # Paced phase: from when the request went out (submit_ms counts from when it was due).
    sent_ms: list[float] = field(default_factory=list)
    ok_keys: list[str] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    ran_out: int = 0


class Http:
    """A keep-alive HTTP/1.1 client with a cookie jar, on ``http.client``.

    The load generator shares the 2 cores with the server and PostgreSQL, so
    it should cost as little as it can: ``requests`` took ~2 ms of CPU per
    submission (sessions, adapters, cookie policy), this about a quarter of
    that. One connection per simulated annotator, like a browser tab (with
    sync gunicorn workers, closed after each response and opened again).
    """

    def __init__(self, base: str, timeout: float = 30):
        url = urllib.parse.urlsplit(base)
        self.host, self.port, self.timeout = url.hostname, url.port, timeout
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, data: dict | None = None, headers: dict | None = None):
        """``(status, body text)``; the connection is reopened once if the server closed it."""
        body = urllib.parse.urlencode(data, doseq=True) if data is not None else None
        sent = dict(headers or {})
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=sent)
                response = self.conn.getresponse()
                text = response.read().decode()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        for header in response.msg.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, text


class Annotator:
    def __init__(self, base: str, slug: str, username: str, seed: int, htmx: bool):
        self.base, self.slug, self.username, self.htmx = base, slug, username, htmx
        # Paced phase: this user's submissions are due at the events of a Poisson
        # process of this rate (an annotator reading); 0 = as fast as they can.
        self.rate = 0.0
        self.http = Http(base)
        self.rng = random.Random(seed)
        self.page: Page | None = None  # the item on screen, carried from one phase to the next
        self.open_at = 0.0  # when, in the ramp-up, this user opens the page

    def login(self) -> None:
        path = "/accounts/login/"
        status, _text = self.http.request("GET", path)
        if status != 200:
            raise RuntimeError(f"login page for {self.username}: HTTP {status}")
        status, _text = self.http.request(
            "POST",
            path,
            data={
                "username": self.username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": self.http.cookies["csrftoken"],
            },
            headers={"Referer": self.base + path},
        )
        if status != 302:
            raise RuntimeError(f"login of {self.username} failed: HTTP {status}")

    def get_item(self, stats: Stats) -> Page | None:
        start = time.perf_counter()
        status, text = self.http.request("GET", f"/p/{self.slug}/annotate/")
        stats.next_ms.append((time.perf_counter() - start) * 1000)
        if status != 200:
            stats.errors[f"GET {status}"] += 1
            return None
        return parse_item(text, self.slug)

    def run(self, stats: Stats, barrier: threading.Barrier, seconds: float, opens_from: float = 0.0) -> None:
        # The user opens the annotate page before the clock starts, as a person
        # opens it before they start reading, at their own moment of the
        # ramp-up (``open_at`` seconds after ``opens_from``): the page loads
        # count in the next-item figures, but they do not queue the phase's
        # first submissions. A page the user still holds from the previous
        # phase is kept (its lease is still theirs); taken off the user until
        # the phase ends, so a user who runs out or stops on an error never
        # carries a page already submitted into the next phase.
        page, self.page = self.page, None
        try:
            if page is None:
                time.sleep(max(0.0, opens_from + self.open_at - time.perf_counter()))
                page = self.get_item(stats)
        except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
            stats.errors[type(exc).__name__] += 1
        barrier.wait()
        deadline = time.perf_counter() + seconds
        due = time.perf_counter()
        while True:
            if self.rate:
                # Open loop: the next submission is due at the next event of this
                # user's Poisson process, whether or not the server kept up; a late
                # one goes at once, and its latency counts from when it was due
                # (no coordinated omission: a slow reply cannot hide the wait it causes).
                due += self.rng.expovariate(self.rate)
                if due >= deadline:
                    break
                time.sleep(max(0.0, due - time.perf_counter()))
            elif time.perf_counter() >= deadline:
                break
            try:
                if page is None:
                    page = self.get_item(stats)
                    if page is None:
                        stats.ran_out += 1
                        return
                data = answer(page, self.rng)
                headers = {"X-CSRFToken": self.http.cookies["csrftoken"], "Referer": self.base + "/"}
                if self.htmx:
                    headers["HX-Request"] = "true"
                sent = time.perf_counter()
                start = min(sent, due) if self.rate else sent
                status, text = self.http.request("POST", page.action, data=data, headers=headers)
                stats.submit_ms.append((time.perf_counter() - start) * 1000)
                stats.sent_ms.append((time.perf_counter() - sent) * 1000)
                if not 200 <= status < 400:
                    stats.errors[f"POST {status}"] += 1
                    page = None
                    continue
                following = parse_item(text, self.slug) if self.htmx and status == 200 else None
                if following is not None and following.assignment == page.assignment:
                    # The same item came back: the form was re-rendered with errors.
                    stats.errors["POST re-rendered with errors"] += 1
                    page = None
                    continue
                stats.ok_keys.append(page.key)
                page = following
            except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
                stats.errors[type(exc).__name__] += 1
                page = None
        self.page = page


def check_database(project, ok_keys: list[str]) -> dict[str, int]:
    """Lost, duplicated and over-assigned submissions, read from PostgreSQL."""
    from django.db.models import Count, F, Q, Value
    from django.db.models.functions import Greatest

    from annotate.models import Annotation, Assignment, Item

    annotations = Annotation.objects.filter(item__project=project)
    stored = Counter(str(k) for k in annotations.values_list("idempotency_key", flat=True))
    pairs = Counter(annotations.values_list("item_id", "annotator_id"))
    ok = Counter(ok_keys)
    items = Item.objects.filter(project=project).annotate(
        n=Count("annotations", distinct=True),
        leased=Count("assignments", filter=Q(assignments__status=Assignment.Status.LEASED), distinct=True),
        limit=Greatest(F("target_overlap"), Value(project.overlap)),
    )
    return {
        "lost": sum(1 for k in ok if stored[k] == 0),
        "duplicated": sum(c - 1 for c in stored.values() if c > 1)
        + sum(c - 1 for c in pairs.values() if c > 1)
        + sum(c - 1 for c in ok.values() if c > 1),
        "over_overlap": items.filter(n__gt=F("limit")).count(),
        "slots_out_of_step": items.exclude(slots_taken=F("leased") + F("n")).count(),
        "stored_unacknowledged": sum(1 for k in stored if k not in ok),
    }


def cpu_snapshot(server_pid: int, database: str) -> tuple:
    """(server, this client, PostgreSQL backends of our database, whole machine busy, stolen) CPU seconds so far."""
    times = os.times()
    busy, _total, stolen = machine_cpu()
    return process_tree_cpu(server_pid), times.user + times.system, postgres_backends_cpu(database), busy, stolen


def cpu_used(before, after) -> tuple[float, float, float, float, float]:
    """CPU seconds spent between two snapshots; backends that exited meanwhile are not counted (an undercount)."""
    pg = sum(cpu - before[2].get(pid, 0.0) for pid, cpu in after[2].items())
    return after[0] - before[0], after[1] - before[1], pg, after[3] - before[3], after[4] - before[4]


class Autoanalyze(threading.Thread):
    """Stands in for autovacuum's ANALYZE where the server runs with ``autovacuum = off``, at its cadence.

    The claim's ``NOT EXISTS`` probe of the annotator's assignments is an
    index lookup only while the planner knows the assignments table is not
    tiny. With autovacuum off (as on the development machines) the table's
    statistics stay those of whenever it was last analyzed, possibly empty;
    the planner then probes it with a sequential scan per candidate item,
    and as the bench fills it each claim read the whole table: PostgreSQL
    spent 5.8 ms per submission instead of 1.9 and the paced p95 reached
    seconds. A production server has autovacuum on (docker-compose.yml keeps
    PostgreSQL's defaults); this thread does what its launcher does with the
    server's settings (by default: every ``autovacuum_naptime`` = 60 s, a
    table is analyzed once more than ``autovacuum_analyze_threshold`` = 50
    rows plus ``autovacuum_analyze_scale_factor`` = 10 % of it changed since
    its last analyze), no more often, on its own connection, its CPU counted
    like the rest. (The bench project's bulk load ends with ``VACUUM
    (ANALYZE)``: what autovacuum does within a minute of an import, before
    people start annotating.)
    """

    def __init__(self):
        super().__init__(daemon=True)
        self.stopped = threading.Event()
        self.analyzed: Counter = Counter()
        from django.db import connection

        with connection.cursor() as cursor:
            settings = {}
            for name in ("autovacuum_naptime", "autovacuum_analyze_threshold", "autovacuum_analyze_scale_factor"):
                cursor.execute("SELECT setting FROM pg_settings WHERE name = %s", [name])
                settings[name] = float(cursor.fetchone()[0])
        self.naptime = settings["autovacuum_naptime"]  # seconds
        self.threshold = settings["autovacuum_analyze_threshold"]
        self.scale_factor = settings["autovacuum_analyze_scale_factor"]

    def due(self, cursor) -> list[str]:
        """The loop's tables autovacuum would analyze now (``relation_needs_vacanalyze``'s rule)."""
        cursor.execute(
            "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
            "WHERE s.relname = ANY(%s) AND s.n_mod_since_analyze > %s + %s * GREATEST(c.reltuples, 0)",
            [list(LOOP_TABLES), self.threshold, self.scale_factor],
        )
        return sorted(row[0] for row in cursor.fetchall())

    def run(self) -> None:
        from django.db import connection

        try:
            while not self.stopped.wait(self.naptime):
                with connection.cursor() as cursor:
                    for table in self.due(cursor):
                        cursor.execute(f"ANALYZE {table}")
                        self.analyzed[table] += 1
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def autovacuum_on() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        return cursor.fetchone()[0] == "on"


def one_run(annotators: list[Annotator], seconds: float) -> tuple[Stats, float]:
    stats = [Stats() for _ in annotators]
    barrier = threading.Barrier(len(annotators) + 1)
    opens_from = time.perf_counter()
    threads = [
        threading.Thread(target=a.run, args=(s, barrier, seconds, opens_from), daemon=True)
        for a, s in zip(annotators, stats)
    ]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    total = Stats()
    for s in stats:
        total.next_ms += s.next_ms
        total.submit_ms += s.submit_ms
        total.sent_ms += s.sent_ms
        total.ok_keys += s.ok_keys
        total.errors.update(s.errors)
        total.ran_out += s.ran_out
    return total, elapsed


PHASES = ("capacity", "paced")


def phase_row(stats: Stats, elapsed: float, cpu: tuple[float, float, float, float, float], checks: dict) -> dict:
    server_cpu, client_cpu, pg_cpu, busy, stolen = cpu
    n = max(len(stats.ok_keys), 1)
    return {
        "submissions_per_s": len(stats.ok_keys) / elapsed,
        "submissions": len(stats.ok_keys),
        "next_p50": percentile(stats.next_ms, 50),
        "next_p95": percentile(stats.next_ms, 95),
        "next_p99": percentile(stats.next_ms, 99),
        "submit_p50": percentile(stats.submit_ms, 50),
        "submit_p95": percentile(stats.submit_ms, 95),
        "submit_p99": percentile(stats.submit_ms, 99),
        "sent_p95": percentile(stats.sent_ms, 95),  # the server's part, without the wait to send
        "errors": sum(stats.errors.values()),
        "cpu_ms_server": server_cpu / n * 1000,
        "cpu_ms_client": client_cpu / n * 1000,
        "cpu_ms_postgres": pg_cpu / n * 1000,
        "cpu_ms_rest": (busy - server_cpu - client_cpu - pg_cpu) / n * 1000,
        "machine_busy": busy / elapsed,
        "stolen": stolen / elapsed,
        **checks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 s phases, 20 users, 1 run (under a minute)")
    parser.add_argument("--users", type=int, help="simulated annotators (default 50; quick 20)")
    parser.add_argument("--seconds", type=float, help="length of each phase of a run (default 30; quick 10)")
    parser.add_argument("--runs", type=int, help="runs; medians are reported (default 3; quick 1)")
    parser.add_argument("--items", type=int, help="items in the bench project (default 20000; quick 4000)")
    # By default the server runs config/gunicorn.conf.py, the configuration the
    # Dockerfile and docker-compose.yml ship (sync workers, 2 x cores + 1 of
    # them: five on the 2-core target machine). Single-threaded workers gave as
    # many submissions per second as 2 x 8 threads, and lower latency when
    # paced (threads of one process queue for its GIL each time they come back
    # from Redis or PostgreSQL). Sync workers: each request comes on a new
    # connection and goes to whichever worker is free, as behind a proxy. With
    # gthread each client's keep-alive connection stays with the worker that
    # accepted it, and workers accept unevenly: in a capacity phase users got
    # 68 to 182 submissions served each (sync: 121 to 123), and when paced the
    # worst users' p95 was 495-713 ms (sync: under 200 ms). These three options
    # override the shipped configuration, to compare others.
    parser.add_argument("--workers", type=int, help="gunicorn worker processes (default: the shipped configuration's)")
    parser.add_argument(
        "--threads", type=int, help="gunicorn threads per worker (default: the shipped configuration's)"
    )
    parser.add_argument("--worker-class", help="gunicorn worker class, sync or gthread (default: the shipped one's)")
    parser.add_argument(
        "--rate",
        type=float,
        default=TARGET_RATE,
        help=f"offered load of the paced phase, submissions/s over all users (default {TARGET_RATE:g}, the target); "
        "0 skips the phase",
    )
    parser.add_argument("--no-capacity", action="store_true", help="skip the capacity (closed loop) phase")
    parser.add_argument(
        "--ramp",
        type=float,
        default=5.0,
        help="seconds over which the users open the annotate page, each at a random moment, before the first "
        "phase (default 5; 0: all at once, a stampede)",
    )
    parser.add_argument("--no-htmx", action="store_true", help="plain form posts: 303, then GET the next item")
    parser.add_argument("--keep", action="store_true", help="keep the bench project and users")
    parser.add_argument(
        "--questions",
        action="store_true",
        help="three custom questions on the project (multi-label per response, a required rating, a note), answered",
    )
    args = parser.parse_args()
    users = args.users or (20 if args.quick else 50)
    seconds = args.seconds or (10 if args.quick else 30)
    runs = args.runs or (1 if args.quick else 3)
    n_items = args.items or (4000 if args.quick else 20000)
    phases = [p for p in PHASES if not (p == "capacity" and args.no_capacity) and not (p == "paced" and not args.rate)]
    if not phases:
        sys.exit("nothing to run: --no-capacity and --rate 0")

    require_postgresql()
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl+C so the server is stopped and the data deleted.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid> prints where every thread is
    django_setup()
    data_dir = ROOT / "var" / "bench"
    env = production_env(data_dir)
    collectstatic(env)

    t0 = time.perf_counter()
    project = bench_project_create(n_items=n_items, overlap=3)
    if args.questions:
        global QUESTIONS_ON
        QUESTIONS_ON = True
        bench_questions_create(project)
    accounts = bench_users_create(project=project, n=users, password=PASSWORD)
    print(f"bench project {project.slug}: {n_items} items, {users} annotators ({time.perf_counter() - t0:.1f} s)")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    per_phase: dict[str, list[dict]] = {p: [] for p in phases}
    server = autoanalyze = None
    from django.db import connection

    database = connection.settings_dict["NAME"]
    try:
        server = gunicorn_start(
            workers=args.workers, threads=args.threads, port=port, env=env, worker_class=args.worker_class
        )
        shipped = gunicorn_config()
        served = {
            "workers": args.workers or shipped["workers"],
            "worker_class": args.worker_class or shipped["worker_class"],
            "threads": args.threads or shipped["threads"],
        }
        overridden = [k for k in served if served[k] != shipped[k]]
        print(
            f"gunicorn -c config/gunicorn.conf.py: -w {served['workers']} -k {served['worker_class']} --threads "
            f"{served['threads']} --timeout {shipped['timeout']} on {base}"
            + (
                f" (overriding the shipped {', '.join(f'{k}={shipped[k]}' for k in overridden)})"
                if overridden
                else " (the shipped configuration)"
            )
        )
        annotators = [
            Annotator(base, project.slug, u.username, seed=i, htmx=not args.no_htmx) for i, u in enumerate(accounts)
        ]
        t0 = time.perf_counter()
        ramp = random.Random(len(annotators))
        for a in annotators:  # serial: logins hash a password (slow by design), not what we measure
            a.login()
            a.open_at = ramp.uniform(0, args.ramp)
        print(f"{users} logins in {time.perf_counter() - t0:.1f} s")
        all_keys: list[str] = []
        page_loads: list[float] = []  # every GET of the annotate page, over all phases
        # Every submission's latency of each phase kind over all runs (from when due, when paced): the pooled p95.
        pooled: dict[str, list[float]] = {p: [] for p in phases}
        pooled_sent: list[float] = []
        if not autovacuum_on():
            autoanalyze = Autoanalyze()
            print(
                "PostgreSQL runs with autovacuum off: the bench analyzes the loop's tables as autovacuum would "
                f"(every {autoanalyze.naptime:g} s, those with over {autoanalyze.threshold:g} + "
                f"{autoanalyze.scale_factor:g} x rows changed)"
            )
            autoanalyze.start()
        for run in range(1, runs + 1):
            for phase in phases:
                for a in annotators:
                    a.rate = args.rate / users if phase == "paced" else 0.0
                before = cpu_snapshot(server.pid, database)
                stats, elapsed = one_run(annotators, seconds)
                cpu = cpu_used(before, cpu_snapshot(server.pid, database))
                all_keys += stats.ok_keys
                page_loads += stats.next_ms
                pooled[phase] += stats.submit_ms
                if phase == "paced":
                    pooled_sent += stats.sent_ms
                row = phase_row(stats, elapsed, cpu, check_database(project, all_keys))
                per_phase[phase].append(row)
                label = "capacity (as fast as they can)" if phase == "capacity" else f"paced at {args.rate:g}/s offered"
                next_item = (
                    f"next-item page loads p50/p95/p99 {row['next_p50']:.0f}/{row['next_p95']:.0f}/"
                    f"{row['next_p99']:.0f} ms (n={len(stats.next_ms)})"
                    if stats.next_ms
                    else "no page loads (each user kept the item on screen)"
                )
                print(
                    f"run {run}, {label}: {row['submissions']} submissions in {elapsed:.1f} s = "
                    f"{row['submissions_per_s']:.1f}/s; {next_item}; submit p50/p95/p99 "
                    f"{row['submit_p50']:.0f}/{row['submit_p95']:.0f}/{row['submit_p99']:.0f} ms (p95 from sending {row['sent_p95']:.0f} ms); errors "
                    f"{dict(stats.errors) or 0}; lost {row['lost']}, duplicated {row['duplicated']}, over overlap "
                    f"{row['over_overlap']}, slots out of step {row['slots_out_of_step']}, stored unacknowledged "
                    f"{row['stored_unacknowledged']}; annotators who ran out of items {stats.ran_out}"
                )
                print(
                    f"  CPU per submission: gunicorn {row['cpu_ms_server']:.1f} ms, load client "
                    f"{row['cpu_ms_client']:.1f} ms, PostgreSQL {row['cpu_ms_postgres']:.1f} ms, everything else on "
                    f"the machine (other users included) {row['cpu_ms_rest']:.1f} ms; machine busy "
                    f"{row['machine_busy']:.2f} of {os.cpu_count()} cores (of which stolen by the host "
                    f"{row['stolen']:.2f})"
                )
    finally:
        if autoanalyze is not None:
            autoanalyze.stop()
        if server is not None:
            gunicorn_stop(server)
        if not args.keep:
            bench_cleanup(project=project, users=accounts)

    med = {phase: {k: median([r[k] for r in rows]) for k in rows[0]} for phase, rows in per_phase.items()}
    for phase, m in med.items():
        print(
            f"median of {runs} run(s), {phase}: {m['submissions_per_s']:.1f} submissions/s; submit p50/p95/p99 "
            f"{m['submit_p50']:.0f}/{m['submit_p95']:.0f}/{m['submit_p99']:.0f} ms; errors {m['errors']:.0f}"
        )
    runs_p95 = [f"{r['submit_p95']:.0f}" for r in per_phase.get("paced", [])]
    if "paced" in per_phase:
        print(
            f"paced, pooled over the {runs} run(s) (n={len(pooled['paced'])}): submit p50/p95/p99 "
            f"{percentile(pooled['paced'], 50):.0f}/{percentile(pooled['paced'], 95):.0f}/"
            f"{percentile(pooled['paced'], 99):.0f} ms (p95 from sending {percentile(pooled_sent, 95):.0f} ms); "
            f"per run p95 {', '.join(runs_p95)} ms"
        )
    if autoanalyze is not None:
        print(f"ANALYZE as autovacuum would: {dict(autoanalyze.analyzed) or 'none due'}")
    print(
        f"next-item page loads over all phases (n={len(page_loads)}): p50/p95/p99 {percentile(page_loads, 50):.0f}/"
        f"{percentile(page_loads, 95):.0f}/{percentile(page_loads, 99):.0f} ms"
    )
    # lost/duplicated are cumulative over the runs (the checks cover every phase so far): report the last.
    last = per_phase[phases[-1]][-1]
    errors = sum(r["errors"] for rows in per_phase.values() for r in rows)
    figures = []
    if "capacity" in med:
        figures.append(f"submissions_per_s={med['capacity']['submissions_per_s']:.1f}")
    if "paced" in med:
        # p95_ms: the submit request's p95 (in the htmx flow it also leases and renders the next item) at the offered load.
        # p95_ms: the median of the runs' p95s; p95_pooled_ms: the p95 of every paced submission of every run;
        # p95_runs_ms: each run's.
        figures += [
            f"p95_ms={med['paced']['submit_p95']:.0f}",
            f"p95_pooled_ms={percentile(pooled['paced'], 95):.0f}",
            f"p95_runs_ms={','.join(runs_p95)}",
            f"offered_per_s={args.rate:g}",
            f"achieved_per_s={med['paced']['submissions_per_s']:.1f}",
        ]
        figures.append(f"p95_from_sending_ms={med['paced']['sent_p95']:.0f}")
    if "capacity" in med:
        figures.append(f"closed_loop_p95_ms={med['capacity']['submit_p95']:.0f}")
    figures.append(f"next_p95_ms={percentile(page_loads, 95):.0f}")
    print(
        f"RESULT {' '.join(figures)} lost={last['lost']} duplicated={last['duplicated']} "
        f"over_overlap={last['over_overlap']} errors={errors}"
    )


if __name__ == "__main__":
    main()
