"""Time to first page: a fresh clone, ``make run``, until ``/`` answers.

Clones the repository's committed HEAD into a temporary folder and runs
``make run`` there with nothing configured (no DATABASE_URL / REDIS_URL: the
embedded PostgreSQL and Redis, initialised from nothing), polling ``/`` until
it answers (a redirect to the login page counts); then Ctrl+C, and a second
``make run`` in the same clone (virtualenv, cluster and demo already there).

    python bench/first_page.py            # the fresh clone builds its own .venv (pip: minutes)
    python bench/first_page.py --quick    # reuses this checkout's .venv: clone, initdb, migrate, seed, serve

Prints when each step's line appeared in ``make run``'s output (set-up,
serving) and ends with ``RESULT first_page_s=… warm_first_page_s=… …``.
The figures include pip's wheel cache as it is on the machine (warm on a
development machine; a first install ever downloads torch, ~200 MB).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = ("DJANGO_", "DOCKET_", "DATABASE_", "REDIS_", "CELERY_", "PYTEST_")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(url, timeout=2)
        return True
    except urllib.error.HTTPError:
        return True  # 302 to the login page: the server answered
    except OSError:
        return False


def run_once(clone: Path, make_args: list[str], log: Path, timeout: float) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES) and not k.startswith("MAKE")}
    port = _free_port()
    marks = {"Setting up": "setup_start_s", "Docket on http": "serving_s"}
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}", *make_args],
            cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    times: dict = {}
    try:
        while True:
            elapsed = time.monotonic() - started
            text = log.read_text(errors="replace")
            for needle, key in marks.items():
                if needle in text and key not in times:
                    times[key] = round(elapsed, 1)
            if _answers(f"http://127.0.0.1:{port}/"):
                times["first_page_s"] = round(time.monotonic() - started, 1)
                return times
            if proc.poll() is not None:
                sys.exit(f"make run exited ({proc.returncode}):\n{text[-3000:]}")
            if elapsed > timeout:
                sys.exit(f"/ did not answer within {timeout:.0f} s:\n{text[-3000:]}")
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl+C
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="reuse this checkout's .venv (no pip install)")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    if dirty.strip():
        print("note: uncommitted changes are not part of the clone", flush=True)
    with tempfile.TemporaryDirectory(prefix="docket-first-page-") as tmp:
        clone = Path(tmp) / "docket"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        make_args: list[str] = []
        if args.quick:
            venv = ROOT / ".venv"
            if not (venv / ".installed").exists():
                sys.exit("--quick needs this checkout's .venv (run `make install` first)")
            # this .venv, taken as installed (make's --old-file: its stamp is never remade)
            make_args = [f"VENV={venv}", "-o", str(venv / ".installed")]
        cold = run_once(clone, make_args, Path(tmp) / "cold.log", args.timeout)
        print(f"fresh clone: {cold}", flush=True)
        warm = run_once(clone, make_args, Path(tmp) / "warm.log", args.timeout)
        print(f"second make run: {warm}", flush=True)
        subprocess.run([sys.executable, "-m", "config.embedded", "stop", "--quiet"], cwd=clone, check=False,
                       env={**os.environ, "DOCKET_DATA_DIR": str(clone / "var")})  # fmt: skip
    print(
        f"RESULT first_page_s={cold['first_page_s']} serving_line_s={cold.get('serving_s')} "
        f"warm_first_page_s={warm['first_page_s']} venv={'reused' if args.quick else 'fresh'}"
    )


if __name__ == "__main__":
    main()
