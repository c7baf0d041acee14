"""Settings from the environment: production settings pass ``check --deploy``,
and bad values stop start-up with an error that names the variable.

Each case runs ``manage.py`` in a subprocess with a clean environment (no
DJANGO_*, DOCKET_*, DATABASE_* or REDIS_URL from the caller), so the settings
module is imported afresh exactly as a deployment would import it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
CHECK = ["manage.py", "check", "--deploy", "--fail-level", "WARNING"]
PREFIXES = ("DJANGO_", "DOCKET_", "DATABASE_", "REDIS_", "CELERY_")


def run(tmp_path, args, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    clean["DJANGO_SETTINGS_MODULE"] = "config.settings"
    clean["DOCKET_DATA_DIR"] = str(tmp_path / "var")
    clean.update(env)
    return subprocess.run([sys.executable, *args], cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=120)


def production(**extra):
    env = {
        "DJANGO_DEBUG": "False",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "docket.example.org,www.docket.example.org",
    }
    env.update(extra)
    return env


def test_check_deploy_passes_with_production_settings(tmp_path):
    result = run(tmp_path, CHECK, **production())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_passes_on_postgres_and_redis(tmp_path):
    env = production(
        DATABASE_URL="postgres://docket@db.internal:5432/docket", REDIS_URL="redis://cache.internal:6379/0"
    )
    result = run(tmp_path, CHECK, **env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_catches_an_insecure_switch(tmp_path):
    """The check really runs: turning the HTTPS redirect off is a deploy warning, and fails."""
    result = run(tmp_path, CHECK, **production(DJANGO_SECURE_SSL_REDIRECT="false"))
    assert result.returncode != 0
    assert "security.W008" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        pytest.param({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG", id="debug-maybe"),
        pytest.param(
            {"DJANGO_DEBUG": "False", "DJANGO_ALLOWED_HOSTS": "docket.example.org"}, "DJANGO_SECRET_KEY", id="no-secret"
        ),
        pytest.param(production(DJANGO_SECRET_KEY="too-short"), "DJANGO_SECRET_KEY", id="short-secret"),
        pytest.param(
            production(DJANGO_SECRET_KEY="django-insecure-docket-development-key-do-not-use-in-production"),
            "DJANGO_SECRET_KEY",
            id="development-secret",
        ),
        pytest.param({"REDIS_URL": "http://x"}, "REDIS_URL", id="redis-http"),
        pytest.param({"DATABASE_CONN_MAX_AGE": "abc"}, "DATABASE_CONN_MAX_AGE", id="conn-max-age-abc"),
        pytest.param({"DATABASE_CONN_MAX_AGE": "-5"}, "DATABASE_CONN_MAX_AGE", id="conn-max-age-negative"),
        pytest.param({"DATABASE_URL": "not a url"}, "DATABASE_URL", id="database-url"),
        pytest.param(production(DJANGO_ALLOWED_HOSTS="*"), "DJANGO_ALLOWED_HOSTS", id="hosts-star"),
        pytest.param(
            production(DJANGO_ALLOWED_HOSTS="docket.example.org,*"), "DJANGO_ALLOWED_HOSTS", id="hosts-star-2"
        ),
        pytest.param(
            production(DJANGO_ALLOWED_HOSTS="a.example.org,,b"), "DJANGO_ALLOWED_HOSTS", id="hosts-empty-entry"
        ),
        pytest.param(
            {"DJANGO_DEBUG": "False", "DJANGO_SECRET_KEY": secrets.token_urlsafe(64)},
            "DJANGO_ALLOWED_HOSTS",
            id="hosts-missing",
        ),
        pytest.param(production(DJANGO_HSTS_SECONDS="a year"), "DJANGO_HSTS_SECONDS", id="hsts-not-int"),
        pytest.param({"DOCKET_LLM_BACKEND": "magic"}, "DOCKET_LLM_BACKEND", id="llm-backend"),
        pytest.param(
            {"DATABASE_PREPARED_STATEMENTS": "sometimes"}, "DATABASE_PREPARED_STATEMENTS", id="prepared-sometimes"
        ),
    ],
)
def test_bad_values_fail_loudly_naming_the_variable(tmp_path, env, variable):
    result = run(tmp_path, CHECK, **env)
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr
    # The last line is the error itself, and it names the variable.
    assert variable in result.stderr.strip().splitlines()[-1], result.stderr[-500:]


def test_star_host_is_fine_in_debug(tmp_path):
    """'*' is refused only in production; local development may use it."""
    result = run(tmp_path, ["manage.py", "check"], DJANGO_DEBUG="true", DJANGO_ALLOWED_HOSTS="*")
    assert result.returncode == 0, result.stderr


CELERY_PROBE = """
import django
django.setup()
from config.celery import app
print(app.conf.broker_url)
app.send_task("docket.settings_probe", args=[1])
"""


def test_without_redis_url_the_broker_is_the_embedded_redis(tmp_path):
    """No REDIS_URL: the task message goes to the embedded Redis under the data folder (a Unix socket, no port)."""
    probe = CELERY_PROBE + (
        "import redis; from django.conf import settings;print(redis.Redis.from_url(settings.REDIS_URL).llen('light'))"
    )
    result = run(tmp_path, ["-c", probe])
    assert result.returncode == 0, result.stderr
    broker, queued = result.stdout.split()
    socket = tmp_path / "var" / "run" / "redis.sock"
    assert broker == f"redis+socket://{socket}?virtual_host=2"  # database 2: tests keep apart from `make run`'s 0
    assert queued == "1"
    assert not (tmp_path / "var" / "postgres").exists()  # PostgreSQL starts at a first connection only
    assert not socket.exists()  # the last process out stopped Redis


@pytest.mark.parametrize("url", ["sqlite:///var/docket.sqlite3", "mysql://docket@db.internal/docket"])
def test_another_database_engine_is_refused(tmp_path, url):
    result = run(tmp_path, CHECK, DATABASE_URL=url)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last and "DATABASE_URL" in last and "PostgreSQL only" in last, last


def test_without_database_url_the_database_is_the_embedded_postgresql(tmp_path):
    result = run(tmp_path, ["-c", OPTIONS_PROBE.replace(".get('OPTIONS', {})", "")])
    assert result.returncode == 0, result.stderr
    assert "'ENGINE': 'config.db'" in result.stdout
    assert f"'HOST': '{tmp_path / 'var' / 'postgres'}'" in result.stdout and "'NAME': 'docket'" in result.stdout


def test_with_redis_url_the_broker_is_redis(tmp_path):
    probe = "import django; django.setup(); from config.celery import app; print(app.conf.broker_url)"
    result = run(tmp_path, ["-c", probe], REDIS_URL="redis://127.0.0.1:6379/3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "redis://127.0.0.1:6379/3"


OPTIONS_PROBE = "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default'].get('OPTIONS', {}))"


@pytest.mark.parametrize(("value", "prepared"), [(None, True), ("false", False)])
def test_prepared_statements_on_postgresql_unless_turned_off(tmp_path, value, prepared):
    """psycopg may prepare (the annotate loop's statements ask it to) unless DATABASE_PREPARED_STATEMENTS=false."""
    env = {"DATABASE_URL": "postgres://docket@db.internal:5432/docket"}
    if value is not None:
        env["DATABASE_PREPARED_STATEMENTS"] = value
    result = run(tmp_path, ["-c", OPTIONS_PROBE], **env)
    assert result.returncode == 0, result.stderr
    assert ("prepare_threshold" in result.stdout) is prepared, result.stdout


WSGI_PROBE = "import gc, config.wsgi; print(gc.get_freeze_count(), len(gc.get_objects()))"


def test_the_wsgi_app_freezes_what_it_loaded(tmp_path):
    """gunicorn workers: the ~150,000 objects loaded at start-up are out of the collector's sight."""
    result = run(tmp_path, ["-c", WSGI_PROBE], **production())
    assert result.returncode == 0, result.stderr
    frozen, tracked = map(int, result.stdout.split())
    assert frozen > 50_000 and tracked < 5_000, result.stdout
