"""Settings for comfyvn-market, read from the environment through django-environ.

Embedded default: SQLite and every runtime folder under ``var/`` in the project, so
a new user needs no server. Production: ``DATABASE_URL=postgres://...``, ``SECRET_KEY``,
``DEBUG=false``, ``ALLOWED_HOSTS`` and gunicorn (``gunicorn comfyvn_site.wsgi``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str(
    "SECRET_KEY",
    # Development only: with DEBUG off, the system check market.E010 refuses to run
    # on it (manage.py check, runserver and the WSGI application all stop).
    default="django-insecure-comfyvn-market-development-key",
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- where things live --------------------------------------------------------------
MARKET_ROOT = Path(env.str("MARKET_ROOT", default=str(BASE_DIR / "var"))).resolve()
COMFYVN_CONFIG = Path(
    env.str("COMFYVN_CONFIG", default=str(BASE_DIR / "config" / "comfyvn.json"))
).resolve()
# Server-side bundle paths accepted by install; anything else is path_not_allowed.
MARKET_PACKAGE_DIRS = [
    Path(p).resolve()
    for p in env.list("MARKET_PACKAGE_DIRS", default=[str(MARKET_ROOT / "packages")])
]
# Extra global-route prefixes per trust level, merged into the sandbox defaults.
MARKET_ROUTE_ALLOWLIST = env.json("MARKET_ROUTE_ALLOWLIST", default={})
# Seconds an install/uninstall waits for another one of the same id before it is
# refused with install_in_progress (409).
MARKET_LOCK_TIMEOUT = env.float("MARKET_LOCK_TIMEOUT", default=30.0)
# Reads (list, catalog, health, ...) may be public; writes always need permissions.
MARKET_PUBLIC_READS = env.bool("MARKET_PUBLIC_READS", default=True)
# Submissions one user may have waiting for review at once (429 too_many_pending).
MARKET_MAX_PENDING_SUBMISSIONS = env.int("MARKET_MAX_PENDING_SUBMISSIONS", default=10)
MARKET_ARCHIVE_LIMITS = {
    "max_package_bytes": env.int("MARKET_MAX_PACKAGE_BYTES", default=256 * 1024**2),
    "max_entries": env.int("MARKET_MAX_ENTRIES", default=5000),
    "max_file_bytes": env.int("MARKET_MAX_FILE_BYTES", default=128 * 1024**2),
    "max_total_bytes": env.int("MARKET_MAX_TOTAL_BYTES", default=512 * 1024**2),
    "max_ratio": env.int("MARKET_MAX_RATIO", default=200),
}
# Ed25519 catalogue signing key (PEM, PKCS#8) used when a reviewer approves as verified.
MARKET_SIGNING_KEY_FILE = Path(
    env.str(
        "MARKET_SIGNING_KEY_FILE", default=str(MARKET_ROOT / "keys" / "catalog.pem")
    )
)
# Extra trusted public keys: {key_id: base64 raw 32-byte Ed25519 public key}.
MARKET_TRUSTED_KEYS = env.json("MARKET_TRUSTED_KEYS", default={})
# Studio role: the central marketplace this server syncs its catalogue from (empty:
# none), the central catalogue keys it pins, and how old a sync may get before
# ``list`` starts another in the background (seconds; 0: never).
MARKET_UPSTREAM_URL = env.str("MARKET_UPSTREAM_URL", default="")
MARKET_UPSTREAM_KEYS = env.json("MARKET_UPSTREAM_KEYS", default={})
MARKET_UPSTREAM_SYNC_AFTER = env.int("MARKET_UPSTREAM_SYNC_AFTER", default=3600)
MARKET_UPSTREAM_LIMITS = {
    "max_snapshot_bytes": env.int(
        "MARKET_UPSTREAM_MAX_SNAPSHOT_BYTES", default=64 * 1024**2
    ),
    "max_bundle_bytes": env.int(
        "MARKET_UPSTREAM_MAX_BUNDLE_BYTES", default=256 * 1024**2
    ),
    "timeout": env.float("MARKET_UPSTREAM_TIMEOUT", default=30.0),
}
# The signed catalogue snapshot studios sync from: how long a snapshot stays valid
# (seconds; a studio refuses it afterwards), and the origin it names (empty: the
# scheme and host the request came to).
MARKET_SNAPSHOT_TTL = env.int("MARKET_SNAPSHOT_TTL", default=7 * 24 * 3600)
MARKET_SNAPSHOT_ORIGIN = env.str("MARKET_SNAPSHOT_ORIGIN", default="")

# --- Django ---------------------------------------------------------------------
INSTALLED_APPS = [
    "market.admin_site.MarketAdminConfig",  # django.contrib.admin, the market's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "market",
]

MIDDLEWARE = [
    # Outermost, so it sees every response: errors under /api/ keep the JSON shape.
    "market.api.handlers.ApiErrorShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # gzip for the API's JSON reads only (no secrets in those bodies: see the module).
    "market.compression.ApiGZipMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "market.middleware.FeatureFlagMiddleware",
    "market.middleware.QueryTextMiddleware",
    # Last, as django-axes requires: turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "comfyvn_site.urls"
CSRF_FAILURE_VIEW = "market.api.handlers.csrf_failure"
WSGI_APPLICATION = "comfyvn_site.wsgi.application"

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

DATABASES = {
    "default": env.db(
        "DATABASE_URL", default=f"sqlite:///{MARKET_ROOT / 'db.sqlite3'}"
    ),
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for a writer instead of failing at once with "database is locked".
    # The embedded default needs no set-up step: the database's folder is created here.
    _sqlite_name = str(DATABASES["default"].get("NAME", ""))
    if _sqlite_name and _sqlite_name != ":memory:":
        Path(_sqlite_name).parent.mkdir(parents=True, exist_ok=True)
    _sqlite_options = DATABASES["default"].setdefault("OPTIONS", {})
    _sqlite_options.setdefault("timeout", 20)
    # Take the write lock when a transaction starts, so two installs serialise instead
    # of one failing with "database is locked" when it upgrades a read lock.
    _sqlite_options.setdefault("transaction_mode", "IMMEDIATE")
else:
    # Persistent connections: a new PostgreSQL connection costs more than a whole
    # catalogue read. Each worker thread keeps its connection for DB_CONN_MAX_AGE
    # seconds (0 closes it after every request, as Django does by default) and checks
    # it before reuse, so a restarted database costs one failed ping, not a 500.
    # ``?conn_max_age=`` / ``?conn_health_checks=`` in DATABASE_URL take precedence.
    DATABASES["default"].setdefault(
        "CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=600)
    )
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = str(
        DATABASES["default"].get("CONN_HEALTH_CHECKS", True)
    ).lower() not in ("false", "0", "no", "off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
# Several deployments (or test runs) may share one Redis: each keeps to its own keys.
CACHES["default"].setdefault("KEY_PREFIX", env.str("CACHE_KEY_PREFIX", default=""))

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username and address before any password check.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# --- admin login throttling (django-axes; market/auth.py) ----------------------------
# Failed logins count per username and client address, in the database (shared by
# every worker and host). A locked pair is refused, with a page that says so, until
# the cool-off ends (0 minutes: until an operator runs axes_reset_username).
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "market.auth.lockout_response"
AXES_CLIENT_IP_CALLABLE = "market.auth.client_ip"
# The request header a trusted proxy sets to the client's address (HTTP_X_REAL_IP for
# nginx's "proxy_set_header X-Real-IP $remote_addr"); empty: REMOTE_ADDR.
MARKET_CLIENT_IP_HEADER = env.str("MARKET_CLIENT_IP_HEADER", default="")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = MARKET_ROOT / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    # Catalogue bundles go through the storage API: a local folder by default, an
    # S3-compatible bucket when django-storages is configured in its place.
    "default": {
        "BACKEND": "market.storage.DurableFileSystemStorage",
        "OPTIONS": {"location": str(MARKET_ROOT / "catalog")},
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024**2
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024**2

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["market.api.permissions.MarketReadPermission"],
    "DEFAULT_PAGINATION_CLASS": "market.api.pagination.MarketPagination",
    # DRF's own JSON and form parsers would read a body of any size.
    "DEFAULT_PARSER_CLASSES": [
        "market.api.parsers.BoundedJSONParser",
        "market.api.parsers.BoundedFormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "market.api.exceptions.market_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "market.api.openapi.MarketAutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "market_install": env.str("MARKET_INSTALL_THROTTLE", default="30/min"),
        "market_submit": env.str("MARKET_SUBMIT_THROTTLE", default="10/min"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ComfyVN Marketplace API",
    "DESCRIPTION": "List, install, uninstall and review ComfyVN extensions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "market.api.openapi.strip_optional_slash",
    ],
    # Swagger UI served from our own static files: the docs page works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two fields are called "source": where a catalogue entry comes from, and where
    # an installed bundle came from.
    "ENUM_NAME_OVERRIDES": {
        "CatalogSourceEnum": ["local", "upstream"],
        "InstallSourceEnum": ["upload", "catalog", "path"],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        # <MARKET_ROOT>/logs/server.log: errors with their traceback and the
        # error_id their client was given, beside the lifecycle lines.
        "server_log": {"class": "market.serverlog.ServerLogHandler", "level": "ERROR"},
    },
    "loggers": {
        "market": {
            "handlers": ["console", "server_log"],
            "level": env.str("LOG_LEVEL", "INFO"),
        },
        # Uncaught exceptions of views and middleware (500s); records still reach
        # Django's own handlers too.
        "django.request": {"handlers": ["server_log"], "level": "WARNING"},
    },
}

# --- HTTPS and cookies --------------------------------------------------------------
# Production defaults whenever DEBUG is off; each can be changed through the
# environment. Behind a TLS-terminating proxy, set SECURE_PROXY_SSL_HEADER to the
# header the proxy sets (e.g. HTTP_X_FORWARDED_PROTO,https) so Django knows the client
# used HTTPS; the proxy must always set it and never pass a client's own through.
_production = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_production)
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured(
        "SECURE_PROXY_SSL_HEADER must be HEADER,value such as "
        "HTTP_X_FORWARDED_PROTO,https"
    )
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if _proxy_ssl_header else None
SECURE_HSTS_SECONDS = env.int(
    "SECURE_HSTS_SECONDS", default=31_536_000 if _production else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_production
)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_production)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_production)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
if _production:
    X_FRAME_OPTIONS = "DENY"
