"""Test settings: the real settings with fast hashing and throwaway runtime folders.

Tests point ``MARKET_ROOT`` and ``COMFYVN_CONFIG`` at a temporary folder per test
(``tests/conftest.py``); this module only makes the defaults harmless.
"""

import tempfile
from pathlib import Path

from comfyvn_site.settings import *  # noqa: F403
from comfyvn_site.settings import REST_FRAMEWORK

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# DEBUG is off in tests, as in production: a real key, and plain http for the client.
SECRET_KEY = "test-settings-only-" + "x" * 40
SECURE_SSL_REDIRECT = False
# Login throttling counts in the database on every login; the tests that exercise it
# turn it on (tests/test_admin_login.py).
AXES_ENABLED = False
_TMP = Path(tempfile.mkdtemp(prefix="comfyvn-market-test-"))
MARKET_ROOT = _TMP / "var"
COMFYVN_CONFIG = _TMP / "config" / "comfyvn.json"
MARKET_PACKAGE_DIRS = [MARKET_ROOT / "packages"]
MARKET_PACKAGE_DIRS[0].mkdir(parents=True, exist_ok=True)
MARKET_SIGNING_KEY_FILE = MARKET_ROOT / "keys" / "catalog.pem"
STORAGES = {
    "default": {
        "BACKEND": "market.storage.DurableFileSystemStorage",
        "OPTIONS": {"location": str(MARKET_ROOT / "catalog")},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        "market_install": "1000/min",
        "market_submit": "1000/min",
    },
}
STATIC_ROOT = _TMP / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared-cache memory: concurrent tests need SQLite's real file locks
    # (which wait for the busy timeout) instead of failing at once with "table locked".
    DATABASES["default"]["TEST"] = {"NAME": str(_TMP / "test-db.sqlite3")}  # noqa: F405
