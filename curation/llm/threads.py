"""How many torch intra-op threads a model worker uses (no torch import here).

Several model worker processes on one host, each with torch's default of one
thread per core, oversubscribe the CPU: on a shared 2-core machine one
32-prompt encode step took 325 s wall with the default threads against 53 s
with one thread (issue 18). So a process takes **its share of the cores**:

    threads = max(1, cores // worker_processes)

* ``cores``: the CPUs this process may run on (``os.sched_getaffinity``).
* ``worker_processes``: ``DOCKET_WORKER_PROCESSES`` when set (the model
  worker processes on this host, all Celery workers together: e.g. 3 for
  ``docker compose up --scale worker-model=3`` on one machine); otherwise
  this Celery worker's concurrency (``-c``), recorded when it starts
  (:func:`record_worker_concurrency`, connected in ``curation.jobs.tasks``);
  otherwise 1 (a management command, a bench, ``--sync``).

``DOCKET_TORCH_THREADS`` (a positive integer) overrides the rule.
``runtime.configure_threads`` applies the figure before a model loads.
"""

from __future__ import annotations

import os

from .model import setting

_CELERY_CONCURRENCY: int | None = None


def record_worker_concurrency(concurrency: int | None) -> None:
    """Remember this Celery worker's process count (forked pool children inherit it)."""
    global _CELERY_CONCURRENCY
    _CELERY_CONCURRENCY = int(concurrency) if concurrency else None


def _positive(value) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def worker_processes() -> int:
    """Model worker processes sharing this host's cores (see the module docstring)."""
    return _positive(setting("DOCKET_WORKER_PROCESSES", "")) or _CELERY_CONCURRENCY or 1


def torch_threads() -> int:
    """``DOCKET_TORCH_THREADS``, else this process's share of the cores."""
    wanted = _positive(setting("DOCKET_TORCH_THREADS", ""))
    if wanted:
        return wanted
    return max(1, available_cores() // worker_processes())
