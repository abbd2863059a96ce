"""BackupManager settings, read from the environment (see README)."""

from __future__ import annotations

import os
import re
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from apps.common.crypto import generate_key
from apps.common.env import (
    env_bool,
    env_int,
    env_list,
    env_secret,
    env_str,
    private_dir,
    private_file,
    read_or_create_secret_file,
    read_secret_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# The app's own files (SQLite metadata, generated keys, static files): a 0700 folder.
DATA_DIR = private_dir(Path(env_str("BM_DATA_DIR", str(BASE_DIR / "var"))).expanduser().resolve())

DEBUG = env_bool("DEBUG", False)
# bin/run and bin/manage set this: keys missing from the environment are generated once into
# BM_DATA_DIR (0600). Otherwise, with DEBUG off, they must exist (given, or generated earlier).
_GENERATE_KEYS = DEBUG or env_bool("BM_GENERATE_KEYS", False)


def _key(variable: str, file: Path, generate) -> str:
    value = env_secret(variable) or read_secret_file(file)
    if value:
        return value
    if not _GENERATE_KEYS:
        raise ImproperlyConfigured(
            f"{variable} is not set. Set {variable} (or {variable}_FILE) when DEBUG is off, or start "
            f"once with bin/run or bin/manage, which generate it into {file}."
        )
    return read_or_create_secret_file(file, generate)


SECRET_KEY = _key("SECRET_KEY", DATA_DIR / "secret_key", lambda: secrets.token_urlsafe(50))
BM_ENCRYPTION_KEYS = [
    k.strip() for k in _key("BM_ENCRYPTION_KEYS", DATA_DIR / "encryption.key", generate_key).split(",")
]
BM_ENCRYPTION_KEYS = [k for k in BM_ENCRYPTION_KEYS if k]

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

BM_ALLOWED_ROOTS = [
    str(Path(p).expanduser()) for p in env_list("BM_ALLOWED_ROOTS", [str(DATA_DIR / "backups")], sep=":")
]
for _root in BM_ALLOWED_ROOTS:
    if not os.path.isabs(_root):
        raise ImproperlyConfigured(f"BM_ALLOWED_ROOTS: {_root!r} is not an absolute path")
# SQLite files may only be registered (backed up, restored into) under these folders:
# anything else would let any group owner read or overwrite any SQLite file of this host.
BM_SQLITE_ROOTS = [
    str(Path(p).expanduser()) for p in env_list("BM_SQLITE_ROOTS", [str(DATA_DIR / "sqlite")], sep=":")
]
for _root in BM_SQLITE_ROOTS:
    if not os.path.isabs(_root):
        raise ImproperlyConfigured(f"BM_SQLITE_ROOTS: {_root!r} is not an absolute path")
# After the first account (the superuser), sign-up is closed unless this is true; invites still work.
BM_ALLOW_REGISTRATION = env_bool("BM_ALLOW_REGISTRATION", False)
# Addresses of reverse proxies whose X-Forwarded-For is believed (failed-login locks key on the
# client address). Empty: REMOTE_ADDR only, so clients cannot pick their address.
BM_TRUSTED_PROXIES = env_list("BM_TRUSTED_PROXIES", [])
# Wrong passwords for one username from one address before sign-in is locked for a while.
BM_LOGIN_FAILURE_LIMIT = env_int("BM_LOGIN_FAILURE_LIMIT", 5, minimum=1)
BM_LOGIN_LOCK_MINUTES = env_int("BM_LOGIN_LOCK_MINUTES", 15, minimum=1)
# Every user must turn on two-factor sign-in (users without it are sent to its set-up page).
BM_REQUIRE_2FA = env_bool("BM_REQUIRE_2FA", False)
BM_WORKER_CONCURRENCY = env_int("BM_WORKER_CONCURRENCY", 2, minimum=1, maximum=64)
BM_CONNECTION_TIMEOUT = env_int("BM_CONNECTION_TIMEOUT", 5, minimum=1, maximum=300)
# Connection tests per user (owners only): "<n>/<second|minute|hour|day>", e.g. "20/min".
BM_CONNECTION_TEST_RATE = env_str("BM_CONNECTION_TEST_RATE", "20/min")
if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", BM_CONNECTION_TEST_RATE):
    raise ImproperlyConfigured(
        f"BM_CONNECTION_TEST_RATE: {BM_CONNECTION_TEST_RATE!r} is not like 20/min (a count per s, min, h or day)"
    )
BM_BACKUP_TIMEOUT = env_int("BM_BACKUP_TIMEOUT", 6 * 3600, minimum=1)
BM_WORKER_GRACE_SECONDS = env_int("BM_WORKER_GRACE_SECONDS", 60, minimum=0)
# The worker's CPU priority (nice, 0-19; its dump tools inherit it): pages stay quick while it dumps.
BM_WORKER_NICE = env_int("BM_WORKER_NICE", 10, minimum=0, maximum=19)
BM_HEARTBEAT_STALE_SECONDS = env_int("BM_HEARTBEAT_STALE_SECONDS", 60, minimum=5)
# /health fails when no worker has beaten for this long (0: derived from the above).
BM_SCHEDULER_STALE_SECONDS = env_int("BM_SCHEDULER_STALE_SECONDS", 0, minimum=0)
# Links in notifications point here.
BM_BASE_URL = env_str("BM_BASE_URL", "http://127.0.0.1:8000")
# GET /metrics wants `Authorization: Bearer <this>`; unset: only a signed-in superuser may read it.
BM_METRICS_TOKEN = env_secret("BM_METRICS_TOKEN")
# Webhooks may reach loopback and private networks only when this is true (apps/common/outbound.py);
# cloud metadata addresses stay refused either way.
BM_WEBHOOK_ALLOW_PRIVATE = env_bool("BM_WEBHOOK_ALLOW_PRIVATE", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_crontab",
    "apps.common",
    "apps.accounts",
    "apps.groups",
    "apps.keys",
    "apps.databases",
    "apps.destinations",
    "apps.schedules",
    # Before backups: its run_finished receiver (notifications) must run before
    # retention's, which may delete the earlier backups a "recovered" event looks at.
    "apps.notifications",
    "apps.backups",
    # Records sign-ins, changes and runs (signals, the lifecycle's run_finished); nothing imports it.
    "apps.audit",
    # /metrics reads every app above; nothing imports it.
    "apps.metrics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The request's user and address for the audit log's receivers.
    "apps.audit.middleware.AuditMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.accounts.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a locked-out sign-in (flagged by the axes backend) into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

# The axes backend first: it refuses a locked (username, address) before passwords are checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed sign-ins (pages, API, admin) are counted in the database, so all processes share them.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = BM_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=BM_LOGIN_LOCK_MINUTES)
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "apps.accounts.throttling.client_ip"
AXES_LOCKOUT_CALLABLE = "apps.accounts.throttling.lockout_response"
AXES_VERBOSE = False

ROOT_URLCONF = "backupmanager.urls"

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

WSGI_APPLICATION = "backupmanager.wsgi.application"
ASGI_APPLICATION = "backupmanager.asgi.application"

_db_url = env_secret("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'metadata.sqlite3'}"
try:
    DATABASES = {"default": dj_database_url.parse(_db_url, conn_max_age=60)}
except Exception as exc:  # dj_database_url raises plain exceptions on unknown schemes
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})
    # Several processes (web + worker) share one file: wait for locks, use WAL.
    DATABASES["default"]["OPTIONS"].update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # The metadata file (and so its -wal/-shm, which SQLite creates with its mode) is 0600.
    _sqlite_file = Path(DATABASES["default"]["NAME"])
    if _sqlite_file.parent == DATA_DIR:
        private_file(_sqlite_file)
    else:
        _sqlite_file.parent.mkdir(parents=True, exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = private_dir(DATA_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False
# collectstatic's hashed names never change content: browsers keep them a year (whitenoise's
# immutable cache headers); other files (not hashed) get WHITENOISE_MAX_AGE.
WHITENOISE_MAX_AGE = 3600

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "accounts:login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.JWTAuthentication",
        "apps.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.common.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.common.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("BM_ACCESS_TOKEN_MINUTES", 30, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("BM_REFRESH_TOKEN_DAYS", 7, minimum=1)),
    "AUTH_HEADER_TYPES": ("Bearer",),
    # A refresh gives a new refresh token and blacklists the used one (token_blacklist app).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "TOKEN_REFRESH_SERIALIZER": "apps.accounts.api.serializers.RefreshSerializer",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "BackupManager API",
    "DESCRIPTION": "Register databases, schedule backups, verify, download and restore them.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The enum hook is drf-spectacular's default; ours documents the error answers (apps/common/openapi.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.common.openapi.document_errors",
    ],
    "ENUM_NAME_OVERRIDES": {
        "BackupStatusEnum": "apps.backups.models.Backup.Status",
        "CopyStatusEnum": "apps.backups.models.BackupCopy.Status",
        "CopyCheckEnum": "apps.backups.models.BackupCopy.Check",
        "RestoreStatusEnum": "apps.backups.models.Restore.Status",
        "RoleEnum": "apps.accounts.models.Membership.Role",
    },
}

# In the metadata database (its table is made by apps/common's migration): throttles count the
# same in every gunicorn process and on every host, not once per process.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "bm_cache"}}

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "backupmanager@localhost")

# Production hardening, on whenever DEBUG is off (see `manage.py check --deploy`).
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("BM_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = env_bool("BM_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("BM_SECURE_COOKIES", True)
    SECURE_HSTS_SECONDS = env_int("BM_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_REFERRER_POLICY = "same-origin"
    SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Every page's scripts and styles are files under static/: no inline script, no style=""
# (tests/common/test_csp.py walks the pages). Only the API reference pages, drf-spectacular's own
# templates, add 'unsafe-inline' for themselves (backupmanager/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
CSRF_FAILURE_VIEW = "apps.common.errors.csrf_failure"
# Behind a reverse proxy (deploy/nginx.conf): trust its X-Forwarded-Proto and X-Forwarded-Host.
# Only when set: without a proxy that overwrites them, clients could forge these headers.
if env_bool("BM_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

BM_LOG_FORMAT = env_str("BM_LOG_FORMAT", "plain").strip().lower()
if BM_LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"BM_LOG_FORMAT must be plain or json, not {BM_LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "apps.common.logformat.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": BM_LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("BM_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

CRONJOBS = [
    ("* * * * *", "django.core.management.call_command", ["runscheduler"], {"once": True}),
]
CRONTAB_COMMAND_PREFIX = env_str("BM_CRONTAB_PREFIX", "")
