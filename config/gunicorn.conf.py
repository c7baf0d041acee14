"""gunicorn's configuration: the one the Dockerfile, docker-compose.yml and the load bench run.

    gunicorn -c config/gunicorn.conf.py             # what the image runs
    gunicorn -c config/gunicorn.conf.py -b 127.0.0.1:8001   # command-line options override it

* **sync workers, 2 x cores + 1 of them** (``DOCKET_WEB_WORKERS`` to change):
  the annotate loop is CPU-bound Python; on the 2-core bench machine five
  single-threaded workers served as many submissions per second as 2 x 8
  gthread threads, with a lower paced p95, and every user alike (with
  gthread a client's keep-alive connection stays with the worker that
  accepted it and workers accept unevenly: some users waited 0.5-0.7 s at
  the p95). README "Running at scale" and ``bench/annotate_load.py`` have
  the figures.
* **timeout = the proxy's timeout** (``DOCKET_WEB_TIMEOUT``, default 60 s,
  nginx's ``proxy_read_timeout``): a sync worker busy with one request for
  longer is killed and replaced, so no request runs on after the proxy has
  given up on it (an upload of a million lines once held a worker for 222 s).
  Run behind a proxy that buffers request and response bodies (nginx does by
  default), so slow clients never hold a worker.
"""

from __future__ import annotations

import os
from pathlib import Path


def _int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} must be a whole number") from None
    if value < minimum:
        raise SystemExit(f"{name}={value} must be at least {minimum}")
    return value


def cores() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# The proxy's upstream read timeout (nginx proxy_read_timeout: 60 s by default).
PROXY_TIMEOUT = 60

wsgi_app = "config.wsgi:application"
bind = os.environ.get("DOCKET_WEB_BIND", "0.0.0.0:8000")
worker_class = "sync"
threads = 1
workers = _int("DOCKET_WEB_WORKERS", 2 * cores() + 1, minimum=1)
timeout = _int("DOCKET_WEB_TIMEOUT", PROXY_TIMEOUT, minimum=1)
# Workers finishing their request on a restart or SIGTERM: no longer than a request may run.
graceful_timeout = timeout
backlog = 2048
accesslog = os.environ.get("DOCKET_WEB_ACCESS_LOG", "-") or None
# The workers' heartbeat files on a tmpfs where there is one (in Docker /tmp
# may be an overlay, whose stalls would look like a hung worker).
_SHM = Path("/dev/shm")  # noqa: S108 - gunicorn's own heartbeat files, as its documentation advises for Docker
worker_tmp_dir = str(_SHM) if _SHM.is_dir() else None
# No control socket (gunicorn 27's runtime interface, one path per user by
# default): two servers on one machine (the bench, the tests) would share it.
control_socket_disable = True
