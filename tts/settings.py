"""TTS settings, read from the environment (12-factor).

DATABASE_URL is required and must name PostgreSQL, the one SQL dialect the code speaks. With nothing else set this
is the *embedded profile* that ``./scripts/run`` starts: PostgreSQL from the pip-installed pgserver package (the run
script starts it and sets DATABASE_URL), the kombu filesystem transport (a real worker process, but messages are lost
if a worker is killed: for demos only), the in-memory channel layer and console email. Pointing CELERY_BROKER_URL and
REDIS_URL at RabbitMQ and Redis selects the real stack. See .env.example.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from corsheaders.defaults import default_headers
from django.core.exceptions import ImproperlyConfigured
from kombu.transport import TRANSPORT_ALIASES

from tts_common import contracts

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
# Embedded-profile state (the run script's PostgreSQL data, filesystem broker folders).
VAR_DIR = Path(env.str("TTS_VAR_DIR", default=str(BASE_DIR / "var")))

# Off unless asked for: Django's debug pages list every route and show settings and tracebacks to anyone.
DEBUG = env.bool("DEBUG", default=False)

# Secrets have no default: ./scripts/run writes random ones to an untracked .env once; elsewhere set your own. Values
# that were ever committed to this repository, or look like its placeholders, are refused in every mode: anyone can
# read them, so anyone could sign sessions or tokens (a JWT with is_admin) that the server would accept.
MIN_SECRET_LENGTH = 32
_COMMITTED_SECRETS = frozenset(
    {
        "dev-insecure-secret-do-not-use-in-production",
        "dev-insecure-secret-do-not-use-in-production-jwt",
        "a-long-random-shared-secret",
        "a-long-random-key-for-prometheus",
        "an-ams-api-key",
        "a-bms-client-secret",
    }
)
_PLACEHOLDER_MARKERS = ("change-me", "changeme", "dev-insecure", "do-not-use")
_NEW_SECRET_HINT = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def _refuse_known_secret(name: str, value: str) -> str:
    if value in _COMMITTED_SECRETS or any(marker in value.lower() for marker in _PLACEHOLDER_MARKERS):
        raise ImproperlyConfigured(
            f"{name} is a placeholder or a value once committed to the TTS repository, which anyone can read: "
            f"set a random one ({_NEW_SECRET_HINT})."
        )
    return value


def _required_secret(name: str) -> str:
    value: str = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set. ./scripts/run writes random secrets to .env; otherwise set it in the environment or "
            f".env to a random value of at least {MIN_SECRET_LENGTH} characters ({_NEW_SECRET_HINT})."
        )
    _refuse_known_secret(name, value)
    if len(value) < MIN_SECRET_LENGTH:
        raise ImproperlyConfigured(
            f"{name} is {len(value)} characters long: use a random value of at least {MIN_SECRET_LENGTH} "
            f"({_NEW_SECRET_HINT})."
        )
    return value


def _optional_secret(name: str) -> str:
    """A secret whose absence switches its feature off; a placeholder would switch it on for anyone."""
    return _refuse_known_secret(name, env.str(name, default=""))


SECRET_KEY = _required_secret("SECRET_KEY")
JWT_SIGNING_KEY = _required_secret("JWT_SIGNING_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "corsheaders",
    "tts_common",
    "auth_service",
    "workflow_api",
    "notification_service",
    "messaging_service",
    "ticket_service",
    "web",
    # The project package: commands that span the services (generate_history).
    "tts",
]

MIDDLEWARE = [
    "tts_common.base.logging.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before anything that may answer, so that every answer (a refused body included) carries the CORS headers.
    "corsheaders.middleware.CorsMiddleware",
    "tts_common.http.security.ApiHardeningMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# --- HTTP hardening -------------------------------------------------------------------------------------------
# Served over HTTPS (directly or behind a TLS-terminating proxy): session and CSRF cookies go over HTTPS only, and
# HSTS is sent. Its own setting, not DEBUG's: off by default, so the embedded demo works over http://127.0.0.1.
# HSTS is sent on HTTPS requests only; behind a TLS-terminating proxy set TRUST_X_FORWARDED_PROTO so Django knows.
HTTPS = env.bool("HTTPS", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Bodies over this are refused with 413 before they are read (tts_common.http.security).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY_BYTES", default=1024 * 1024)
# Browser origins allowed to call the API from another site, e.g. https://helpdesk.example.com; none by default.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_HEADERS = (*default_headers, "x-request-id", "x-hdts-signature", "x-hdts-signed-at")
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After"]
# Bearer key of internal endpoints (/metrics); unset, they answer no one.
SERVICE_API_KEY = _optional_secret("SERVICE_API_KEY")

ROOT_URLCONF = "tts.urls"
ASGI_APPLICATION = "tts.asgi.application"
AUTH_USER_MODEL = "auth_service.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -------------------------------------------------------------------------------------------------
# No default: the run script owns the embedded server's life (starts it, sets this, stops it), so every process
# that reads these settings (web, workers, beat, manage.py) connects to a server and none starts one of its own.
if not env.str("DATABASE_URL", default=""):
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. ./scripts/run starts an embedded PostgreSQL and sets it (for another shell: "
        "export DATABASE_URL=$(.venv/bin/python scripts/embedded_postgres.py url) while it runs); otherwise set it, "
        "e.g. postgres://postgres@127.0.0.1:5432/tts."
    )
DATABASES = {"default": env.db("DATABASE_URL")}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        f"DATABASE_URL names {DATABASES['default']['ENGINE']}: TTS runs on PostgreSQL only (postgres://...)."
    )
# Django's backend, retrying refused connections for up to a second (tts_common/postgresql/base.py).
DATABASES["default"]["ENGINE"] = "tts_common.postgresql"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# PostgreSQL's default random_page_cost (4) prices an index probe as a spinning disk's seek; on SSDs (and a cached
# database) it is near a sequential read, and at 4 the planner reads a whole large table rather than probe it a few
# thousand times (an agent's task list). Set DB_RANDOM_PAGE_COST=4 for spinning disks.
_options = DATABASES["default"].setdefault("OPTIONS", {})
_page_cost = env.float("DB_RANDOM_PAGE_COST", default=1.1)
_options["options"] = f"{_options.get('options', '')} -c random_page_cost={_page_cost}".strip()
# No JIT compilation: it pays off on long analytical scans, but at 1,000,000 tasks the planner's high cost estimates
# for list pages and 90-day reports had it compile for 40-300 ms plans that then ran in a few ms.
_options["options"] += " -c jit=off"
# No parallel workers for a statement: on 2 cores serving many requests at once, a plan split over 3 processes only
# adds their start-up (~30 ms) and the CPU they take from the other requests. At 1,000,000 tasks the busiest agent's
# search page took 44 ms in parallel (its visible tasks sorted by workers) and 15 ms without (their index order
# merged); the five reports, with the machine loaded, were as fast or faster without.
_options["options"] += " -c max_parallel_workers_per_gather=0"
# A web request's statements are cancelled past this (the API answers 503 with Retry-After); 0: never. Workers and
# commands have none: only the ASGI entry point applies it (tts_common.base.database.configure_web_connections).
DB_STATEMENT_TIMEOUT_MS = env.int("DB_STATEMENT_TIMEOUT_MS", default=5000)
# The web server's processes and connections (tts_common.http.web_server, tts_common.base.database): WEB_WORKERS processes,
# each with a pool of at most DB_POOL_MAX_SIZE connections and as many requests running at once; a request waits at
# most WEB_QUEUE_TIMEOUT_SECONDS for its turn, then answers 503 with Retry-After; with its turn, at most
# DB_POOL_TIMEOUT_SECONDS for a connection (one is normally free: longer means the database is unreachable, or
# WebSockets hold the connections), then 503 too. Sizing rule (README, Processes):
# WEB_WORKERS × DB_POOL_MAX_SIZE + worker processes + a few for commands < PostgreSQL's max_connections.
WEB_WORKERS = env.int("WEB_WORKERS", default=1)
DB_POOL_MIN_SIZE = env.int("DB_POOL_MIN_SIZE", default=2)
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=8)
# 200 clients at once queue for 200 / (answers per second): at 20/s the last one waits 10 s.
WEB_QUEUE_TIMEOUT_SECONDS = env.float("WEB_QUEUE_TIMEOUT_SECONDS", default=30)
# Short: while the database is down the pool retries in the background and every request would wait this long
# (a direct connection was refused at once), health checks included. 1 s: the budget for a lost connection (#15).
DB_POOL_TIMEOUT_SECONDS = env.float("DB_POOL_TIMEOUT_SECONDS", default=1)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (login throttling, auth lookups) -------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# tts_common.base.cache.RedisCache: Django's, with one Redis connection pool per process (Django's opened one per request
# under ASGI).
CACHES = {
    "default": (
        {"BACKEND": "tts_common.base.cache.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "tts"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Channels -------------------------------------------------------------------------------------------------
CHANNEL_LAYERS = {
    "default": (
        {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s timeout, as long as channels-redis blocks waiting for a message, so
                # an idle receive loop died and closed its WebSockets (django/channels_redis#422); 15 s still
                # bounds a hung Redis.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="tts"),
            },
        }
        if REDIS_URL
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
}

# --- Celery ---------------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
EMBEDDED_BROKER = CELERY_BROKER_URL.startswith("filesystem://")
if EMBEDDED_BROKER:
    # kombu's filesystem transport, writing each message whole before it can be read (tts_common.messaging.embedded_broker):
    # every process that loads these settings (web, workers, beat, produce_tickets) publishes through it.
    TRANSPORT_ALIASES["filesystem"] = "tts_common.messaging.embedded_broker:Transport"
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("queue", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # kombu's defaults are relative to the working directory; the worker and the web must share one folder.
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "polling_interval": 0.1,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_QUEUES = contracts.task_queues()
CELERY_TASK_ROUTES = contracts.task_routes()
CELERY_TASK_DEFAULT_QUEUE = contracts.ROLE_SYNC.queue
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = True
# Celery's Django fixup closes the database connection before and after every task unless this is set (one new
# PostgreSQL backend per batch cost ~10 % of an intake worker). Connections live CONN_MAX_AGE instead, checked at each
# task's start as Django does per request (tts/celery.py); this only recycles them every 10,000 tasks.
CELERY_DB_REUSE_MAX = 10_000
# Batch consumers can only batch what is prefetched: the window (multiplier × processes) must exceed flush_every.
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_PREFETCH_MULTIPLIER", default=128)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_TIMEZONE = "UTC"
# Scheduled jobs, sent by exactly one `celery -A tts beat` (`manage.py runall` starts it) to their service's queue
# (contracts.py). All are idempotent and safe to overlap; a tick no worker took within its interval expires (the next one
# does the same work). Interval jobs keep no state worth persisting, hence the in-memory scheduler (no beat file).
SLA_SCAN_INTERVAL_SECONDS = env.float("SLA_SCAN_INTERVAL_SECONDS", default=60)
DEAD_LETTER_DRAIN_INTERVAL_SECONDS = env.float("DEAD_LETTER_DRAIN_INTERVAL_SECONDS", default=15)
# Admins get at most one grouped notice of new dead letters per this many seconds (tests shorten it).
DEAD_LETTER_NOTICE_INTERVAL_SECONDS = env.float("DEAD_LETTER_NOTICE_INTERVAL_SECONDS", default=60)
EMAIL_SWEEP_INTERVAL_SECONDS = env.float("EMAIL_SWEEP_INTERVAL_SECONDS", default=60)
EXTERNAL_RETRY_INTERVAL_SECONDS = env.float("EXTERNAL_RETRY_INTERVAL_SECONDS", default=60)
REPORTS_FOLD_INTERVAL_SECONDS = env.float("REPORTS_FOLD_INTERVAL_SECONDS", default=60)
OUTBOX_RELAY_INTERVAL_SECONDS = env.float("OUTBOX_RELAY_INTERVAL_SECONDS", default=5)
# Scheduled emails (unread delays, ends of quiet hours) go out at most this late; digests are checked as often.
EMAIL_DUE_INTERVAL_SECONDS = env.float("EMAIL_DUE_INTERVAL_SECONDS", default=15)
EMAIL_DIGEST_INTERVAL_SECONDS = env.float("EMAIL_DIGEST_INTERVAL_SECONDS", default=60)
# Queue consumers retry a failed message after base × 2^n s (DESIGN §2: 2^n; tests shorten it). Tickets 3 times, then
# the dead-letter queue; notifications 5 times (tts_common.messaging.worker and each consumer's max_retries).
CONSUMER_RETRY_BASE_SECONDS = env.float("CONSUMER_RETRY_BASE_SECONDS", default=1.0)
CELERY_BEAT_SCHEDULER = "celery.beat:Scheduler"
CELERY_BEAT_SCHEDULE = {
    name: {"task": route.task, "schedule": interval, "options": {"expires": interval}}
    for name, route, interval in (
        ("sla-scan", contracts.SLA_SCAN, SLA_SCAN_INTERVAL_SECONDS),
        ("dead-letter-drain", contracts.DEAD_LETTER_DRAIN, DEAD_LETTER_DRAIN_INTERVAL_SECONDS),
        ("external-retry", contracts.EXTERNAL_RETRY_SCAN, EXTERNAL_RETRY_INTERVAL_SECONDS),
        ("reports-fold", contracts.REPORTS_FOLD, REPORTS_FOLD_INTERVAL_SECONDS),
        ("outbox-relay", contracts.OUTBOX_RELAY, OUTBOX_RELAY_INTERVAL_SECONDS),
        ("email-sweep", contracts.EMAIL_SWEEP, EMAIL_SWEEP_INTERVAL_SECONDS),
        ("email-due", contracts.EMAIL_DUE, EMAIL_DUE_INTERVAL_SECONDS),
        ("email-digests", contracts.EMAIL_DIGESTS, EMAIL_DIGEST_INTERVAL_SECONDS),
    )
}

# --- Auth / JWT -----------------------------------------------------------------------------------------------
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=1)),
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "ALGORITHM": "HS256",
    "USER_ID_CLAIM": "user_id",
    "TOKEN_USER_CLASS": "tts_common.http.auth.TokenUser",
    "UPDATE_LAST_LOGIN": False,
    # Each refresh answers a new refresh token and revokes the one it used (token_blacklist), so a stolen refresh
    # token works once at most and logout can revoke a session.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}
TTS_SYSTEM = "TTS"
# How stale a service's view of an account's active flag may be: a deactivated user's unexpired access token is
# refused by every service at most this long after the deactivation (tts_common.base.accounts).
ACCOUNT_STATE_MAX_AGE_SECONDS = env.float("ACCOUNT_STATE_MAX_AGE_SECONDS", default=30)
# Login throttling (auth_service.tokens): LIMIT failures lock that (account, client address) pair out for the WINDOW;
# ADDRESS_LIMIT failures over any accounts lock the address out; from LIMIT failures on an account (from anywhere) on,
# its attempts are spaced 1, 2, 4, ... up to BACKOFF_MAX seconds apart. The client address is REMOTE_ADDR, or
# X-Forwarded-For as REST_FRAMEWORK's NUM_PROXIES says.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=900)
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=20)
LOGIN_BACKOFF_MAX_SECONDS = env.int("LOGIN_BACKOFF_MAX_SECONDS", default=60)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- REST framework -------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tts_common.http.auth.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "tts_common.http.api.Pagination",
    "DEFAULT_PARSER_CLASSES": [
        "tts_common.http.api.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "tts_common.http.schema.AutoSchema",
    "EXCEPTION_HANDLER": "tts_common.http.api.exception_handler",
    "DEFAULT_METADATA_CLASS": "tts_common.http.api.Metadata",
    "UNAUTHENTICATED_USER": None,
    # Counted in the default cache: Redis on the real stack, so the limits hold across replicas.
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle", "tts_common.http.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON_RATE", default="100/min"),
        "user": env.str("THROTTLE_USER_RATE", default="1000/min"),
    },
    # How many trusted proxies sit in front (also read by login throttling, auth_service.tokens.client_address):
    # 0, clients are told apart by REMOTE_ADDR and X-Forwarded-For is ignored (a client could pick its address with
    # it); N, by the X-Forwarded-For entry the outermost of N proxies added. Run uvicorn with --no-proxy-headers (as
    # runall does), or it rewrites REMOTE_ADDR from X-Forwarded-For sent by loopback peers.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TTS — Ticket Tracking System API",
    "DESCRIPTION": "Ticket workflow engine: auth, workflows and tasks, notifications, comments, HDTS intake.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/schema/ and /api/docs/ answer a bearer token or a session of /admin/ (tts/urls.py), no one else.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets that share a field name get distinct component names.
    "ENUM_NAME_OVERRIDES": {
        "DeadLetterStatusEnum": "workflow_api.models.DeadLetter.Status",
        "IntegrationErrorStatusEnum": "workflow_api.models.IntegrationError.Status",
        "AvailabilityStatusEnum": "workflow_api.models.AgentAvailability.Status",
        "NoEligiblePolicyEnum": "workflow_api.models.NoEligiblePolicy",
        "NotificationTypeEnum": "tts_common.contracts.messages.NOTIFICATION_TYPES",
        "EmailModeEnum": "notification_service.models.EmailMode",
        "TaskPauseReasonEnum": "workflow_api.models.TaskPause.Reason",
        "ReasonEnum": "workflow_api.models.Assignment.Reason",
    },
}

# --- Email ----------------------------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="tts@localhost")

# --- Cross-service HTTP -----------------------------------------------------------------------------------------
AUTH_SERVICE_URL = env.str("AUTH_SERVICE_URL", default="http://127.0.0.1:8000")
# How often the web UI asks whether it runs degraded (the auth service not answering, users served from the cache),
# and how stale the answer may be before the auth service is probed again; tests shorten it.
DEGRADED_STATUS_INTERVAL_SECONDS = env.float("DEGRADED_STATUS_INTERVAL_SECONDS", default=30)

# --- AMS and BMS (workflow_api.services.integrations; DESIGN §2) ------------------------------------------------
# Unset URLs: steps with that external action wait in pending_external_approval for an admin.
AMS_URL = env.str("AMS_URL", default="")
AMS_API_KEY = _optional_secret("AMS_API_KEY")
AMS_TIMEOUT_SECONDS = env.float("AMS_TIMEOUT_SECONDS", default=30)
BMS_URL = env.str("BMS_URL", default="")
BMS_TOKEN_URL = env.str("BMS_TOKEN_URL", default="")  # OAuth2 client-credentials token endpoint
BMS_CLIENT_ID = env.str("BMS_CLIENT_ID", default="")
BMS_CLIENT_SECRET = _optional_secret("BMS_CLIENT_SECRET")
BMS_TIMEOUT_SECONDS = env.float("BMS_TIMEOUT_SECONDS", default=30)
BMS_RETRY_DELAY_SECONDS = env.float("BMS_RETRY_DELAY_SECONDS", default=5)
# The currency of a budget check whose ticket names none (ISO 4217).
BMS_DEFAULT_CURRENCY = env.str("BMS_DEFAULT_CURRENCY", default="PHP")
# One breaker per integration in each worker process: open after this many failed calls in a row, for this long.
CIRCUIT_FAILURE_THRESHOLD = env.int("CIRCUIT_FAILURE_THRESHOLD", default=5)
CIRCUIT_RECOVERY_SECONDS = env.float("CIRCUIT_RECOVERY_SECONDS", default=60)

# --- Notifications --------------------------------------------------------------------------------------------
# Email retry n waits base × 2^n s with jitter (DESIGN §2); tests shorten it.
NOTIFICATION_EMAIL_RETRY_BASE_SECONDS = env.float("NOTIFICATION_EMAIL_RETRY_BASE_SECONDS", default=1.0)
# The length of a minute in users' "email me if still unread after N minutes"; tests shorten it.
NOTIFICATION_MINUTE_SECONDS = env.float("NOTIFICATION_MINUTE_SECONDS", default=60.0)

# --- HDTS -----------------------------------------------------------------------------------------------------
HDTS_SIGNING_SECRET = _optional_secret("HDTS_SIGNING_SECRET")
# HDTS priority -> internal priority, merged over the default map of DESIGN §3, e.g. {"low": "low"}.
HDTS_PRIORITY_MAP = env.json("HDTS_PRIORITY_MAP", default={})
# The queue the deployed HDTS's worker consumes (its celery.sh: ticket_tasks2, ...): its tickets' statuses in its own
# values and their owners are sent there (contracts.HDTS_STATUS_OF). Unset: nothing is sent to the deployed HDTS. A
# queue one of our workers consumes is refused at startup (that worker would take the messages).
try:
    HDTS_STATUS_QUEUE = contracts.hdts_status_queue(env.str("HDTS_STATUS_QUEUE", default="").strip())
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from exc

# --- i18n, static ---------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Logging: one JSON object per line ------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "tts_common.base.logging.ContextFilter"}},
    "formatters": {"json": {"()": "tts_common.base.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING"},
    },
}
