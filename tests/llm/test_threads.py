"""Torch threads of a model worker: its share of the cores unless DOCKET_TORCH_THREADS says otherwise
(curation.llm.threads; issue 18: default threads in several processes made one encode step 6x slower)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import torch

from curation.jobs.tasks import _record_concurrency
from curation.llm import runtime, threads


@pytest.fixture
def host(monkeypatch, settings):
    """8 cores, no override, no Celery worker recorded; restores torch's thread count afterwards."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    settings.DOCKET_TORCH_THREADS = 0
    settings.DOCKET_WORKER_PROCESSES = 0
    monkeypatch.setattr(threads, "_CELERY_CONCURRENCY", None)
    before = torch.get_num_threads()
    yield settings
    torch.set_num_threads(before)


def test_default_is_every_core_for_a_lone_process(host):
    assert threads.torch_threads() == 8


def test_default_is_the_share_of_a_celery_workers_processes(host):
    # the worker's pool size is recorded when it starts (celeryd_after_setup)
    _record_concurrency(sender="model@host", instance=SimpleNamespace(concurrency=3))
    assert threads.worker_processes() == 3
    assert threads.torch_threads() == 8 // 3
    _record_concurrency(sender="model@host", instance=SimpleNamespace(concurrency=16))
    assert threads.torch_threads() == 1  # never 0


def test_worker_processes_setting_counts_every_worker_on_the_host(host):
    _record_concurrency(sender="model@host", instance=SimpleNamespace(concurrency=1))
    host.DOCKET_WORKER_PROCESSES = 4  # e.g. docker compose --scale worker-model=4 on one machine
    assert threads.torch_threads() == 2


def test_docket_torch_threads_overrides_and_is_applied(host):
    host.DOCKET_WORKER_PROCESSES = 4
    host.DOCKET_TORCH_THREADS = 3
    assert threads.torch_threads() == 3
    assert runtime.configure_threads() == 3 and torch.get_num_threads() == 3
    host.DOCKET_TORCH_THREADS = 0
    assert runtime.configure_threads() == 2 and torch.get_num_threads() == 2


def test_settings_read_the_environment(monkeypatch):
    from config.env import env_int

    monkeypatch.setenv("DOCKET_TORCH_THREADS", "2")
    assert env_int("DOCKET_TORCH_THREADS", 0, minimum=0) == 2
    from config import settings as config_settings

    assert hasattr(config_settings, "DOCKET_TORCH_THREADS") and hasattr(config_settings, "DOCKET_WORKER_PROCESSES")


def test_the_job_thread_gets_the_threads_not_only_the_loading_thread(host, monkeypatch):
    """torch's thread count is per thread: load_model_step loads in another thread, so it must set the
    count in the job's own thread too (else the forward passes run on torch's default)."""
    from types import SimpleNamespace

    torch.set_num_threads(2)
    seen = []
    monkeypatch.setattr(runtime, "_MODELS", {})
    monkeypatch.setattr(runtime, "get_model", lambda name=None: SimpleNamespace(name="m", device="cpu"))
    host.DOCKET_TORCH_THREADS = 3
    progress = SimpleNamespace(message=seen.append, log=seen.append, tick=seen.append)
    runtime.load_model_step(progress, None)
    assert torch.get_num_threads() == 3
