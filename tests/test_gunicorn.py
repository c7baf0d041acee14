"""What ships is what is benchmarked: one gunicorn configuration (config/gunicorn.conf.py)
for the Dockerfile, docker-compose.yml and the load bench, and its timeout cuts a long request."""

from __future__ import annotations

import json
import os
import runpy
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "gunicorn.conf.py"


def resolve(monkeypatch, **env) -> dict:
    for name in ("DOCKET_WEB_WORKERS", "DOCKET_WEB_TIMEOUT", "DOCKET_WEB_BIND", "DOCKET_WEB_ACCESS_LOG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONFIG))


def test_the_image_and_compose_run_the_config_file():
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = json.loads(next(line for line in dockerfile.splitlines() if line.startswith("CMD "))[4:])
    assert cmd == ["gunicorn", "--config", "config/gunicorn.conf.py"]
    web = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]
    assert web["command"] == cmd
    assert "gthread" not in dockerfile and "gthread" not in json.dumps(web)


def test_the_bench_serves_the_same_file(monkeypatch):
    sys.path.insert(0, str(ROOT))
    from bench import _common

    assert _common.GUNICORN_CONFIG == CONFIG
    started = {}

    class Stop(Exception):
        pass

    def popen(cmd, **kwargs):
        started["cmd"] = cmd
        raise Stop

    monkeypatch.setattr(_common.subprocess, "Popen", popen)
    with pytest.raises(Stop):
        _common.gunicorn_start(port=1, env={"DOCKET_DATA_DIR": "/tmp"})
    cmd = started["cmd"]
    assert cmd[cmd.index("-c") + 1] == str(CONFIG)
    # Nothing of the shipped configuration overridden unless asked.
    assert not {"-w", "-k", "--threads", "--workers", "--worker-class"} & set(cmd), shlex.join(cmd)
    assert _common.gunicorn_config()["worker_class"] == "sync"


def test_sync_workers_from_the_cores_and_the_proxy_timeout(monkeypatch):
    conf = resolve(monkeypatch)
    assert conf["worker_class"] == "sync" and conf["threads"] == 1
    assert conf["workers"] == 2 * len(os.sched_getaffinity(0)) + 1
    assert conf["timeout"] == conf["PROXY_TIMEOUT"] == 60
    assert conf["graceful_timeout"] == conf["timeout"]
    assert conf["wsgi_app"] == "config.wsgi:application"
    assert conf["accesslog"] == "-"
    conf = resolve(monkeypatch, DOCKET_WEB_WORKERS="3", DOCKET_WEB_TIMEOUT="30", DOCKET_WEB_ACCESS_LOG="")
    assert (conf["workers"], conf["timeout"], conf["accesslog"]) == (3, 30, None)


@pytest.mark.parametrize(("name", "value"), [("DOCKET_WEB_WORKERS", "many"), ("DOCKET_WEB_TIMEOUT", "0")])
def test_a_bad_value_stops_start_up_naming_the_variable(monkeypatch, name, value):
    with pytest.raises(SystemExit, match=name):
        resolve(monkeypatch, **{name: value})


SLOW_APP = """
import time
def application(environ, start_response):
    time.sleep(float(environ["QUERY_STRING"] or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done"]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_request_never_runs_longer_than_the_timeout(tmp_path):
    """The shipped configuration with a 2 s timeout: a 30 s request is cut at ~2 s, the worker replaced."""
    (tmp_path / "slow_app.py").write_text(SLOW_APP)
    port = free_port()
    env = {**os.environ, "DOCKET_WEB_TIMEOUT": "2", "DOCKET_WEB_WORKERS": "1", "PYTHONPATH": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "-b", f"127.0.0.1:{port}", "slow_app:application"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while True:
            try:
                assert urllib.request.urlopen(base, timeout=5).read() == b"done"
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        start = time.monotonic()
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(base + "?30", timeout=40).read()
        assert time.monotonic() - start < 8
        # A fresh worker answers afterwards.
        deadline = time.monotonic() + 20
        while True:
            try:
                assert urllib.request.urlopen(base, timeout=5).read() == b"done"
                break
            except OSError:
                assert time.monotonic() < deadline, "no worker came back"
                time.sleep(0.2)
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=30)
    assert b"WORKER TIMEOUT" in err, err.decode()[-2000:]
