"""The marketplace's configuration: every ``MARKET_*`` setting, parsed in one place.

``comfyvn_site/settings.py`` reads the environment; this module turns those settings
into typed values. :func:`market_conf` returns one :class:`MarketConf` whose values are
parsed on first use and kept until a setting changes (Django's ``setting_changed``
signal, sent by ``override_settings`` and pytest-django's ``settings`` fixture). Code
reads its configuration from here, never from ``django.conf.settings`` directly.

Each value has one parser, which raises ``ConfigError`` for a bad value.
``market/checks.py`` runs the same parsers as system checks, so a bad value fails
``manage.py check`` and server start-up rather than a request.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import math
import os
import re
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from market import archive, sandbox
from market.errors import ConfigError

LOCK_TIMEOUT_MAX = 3600.0
SNAPSHOT_TTL_MIN = 60
SNAPSHOT_TTL_MAX = 366 * 24 * 3600


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its name, the ``MarketConf`` attribute it feeds, its check id."""

    name: str
    attribute: str
    check_id: str
    hint: str


# Check ids market.E0xx (errors) and market.W0xx (warnings) are stable: operators
# silence or search for them.
SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "MARKET_ROOT",
        "root",
        "market.E001",
        "an absolute folder path, e.g. /srv/market",
    ),
    SettingSpec(
        "COMFYVN_CONFIG",
        "config_file",
        "market.E002",
        "the absolute path of the feature-flag JSON file",
    ),
    SettingSpec(
        "MARKET_PACKAGE_DIRS",
        "package_dirs",
        "market.E003",
        "a comma-separated list of absolute folder paths",
    ),
    SettingSpec(
        "MARKET_ROUTE_ALLOWLIST",
        "route_allowlist",
        "market.E004",
        'JSON such as {"verified": ["/api/extra/"]}',
    ),
    SettingSpec(
        "MARKET_LOCK_TIMEOUT",
        "lock_timeout",
        "market.E005",
        f"seconds, a number above 0 and at most {LOCK_TIMEOUT_MAX:.0f}",
    ),
    SettingSpec("MARKET_PUBLIC_READS", "public_reads", "market.E006", "true or false"),
    SettingSpec(
        "MARKET_ARCHIVE_LIMITS",
        "archive_limits",
        "market.E007",
        "the MARKET_MAX_* variables: whole numbers above 0",
    ),
    SettingSpec(
        "MARKET_SIGNING_KEY_FILE",
        "signing_key_file",
        "market.E008",
        "the absolute path of the catalogue's Ed25519 PEM key",
    ),
    SettingSpec(
        "MARKET_CLIENT_IP_HEADER",
        "client_ip_header",
        "market.E012",
        "empty, or a request.META name such as HTTP_X_REAL_IP",
    ),
    SettingSpec(
        "MARKET_MAX_PENDING_SUBMISSIONS",
        "max_pending_submissions",
        "market.E013",
        "a whole number above 0",
    ),
    SettingSpec(
        "MARKET_TRUSTED_KEYS",
        "trusted_keys",
        "market.E009",
        'JSON {"key id": "base64 of a raw 32-byte Ed25519 public key"}',
    ),
    SettingSpec(
        "MARKET_UPSTREAM_URL",
        "upstream_url",
        "market.E014",
        "empty, or the http(s) base URL of the central marketplace",
    ),
    SettingSpec(
        "MARKET_UPSTREAM_KEYS",
        "upstream_keys",
        "market.E015",
        'JSON {"key id": "base64 of a raw 32-byte Ed25519 public key"}, at least '
        "one key when MARKET_UPSTREAM_URL is set",
    ),
    SettingSpec(
        "MARKET_UPSTREAM_SYNC_AFTER",
        "upstream_sync_after",
        "market.E016",
        "seconds, a whole number (0: list never starts a sync)",
    ),
    SettingSpec(
        "MARKET_UPSTREAM_LIMITS",
        "upstream_limits",
        "market.E017",
        "the MARKET_UPSTREAM_MAX_* and MARKET_UPSTREAM_TIMEOUT variables: "
        "numbers above 0",
    ),
    SettingSpec(
        "MARKET_SNAPSHOT_TTL",
        "snapshot_ttl",
        "market.E020",
        f"seconds, a whole number from {SNAPSHOT_TTL_MIN} to {SNAPSHOT_TTL_MAX}",
    ),
    SettingSpec(
        "MARKET_SNAPSHOT_ORIGIN",
        "snapshot_origin",
        "market.E021",
        "empty, or the http(s) URL studios reach this server at, e.g. "
        "https://market.example.org",
    ),
)


def parse_path(value: Any, name: str) -> Path:
    if not isinstance(value, str | Path):
        raise ConfigError(f"{name} must be a path, not {type(value).__name__}")
    if not str(value).strip():
        raise ConfigError(f"{name} must not be empty")
    path = Path(value)
    if not path.is_absolute():
        raise ConfigError(f"{name} must be an absolute path")
    return path


def parse_paths(value: Any, name: str) -> tuple[Path, ...]:
    if isinstance(value, str | Path) or not isinstance(value, list | tuple):
        raise ConfigError(f"{name} must be a list of paths")
    if not value:
        raise ConfigError(f"{name} must name at least one folder")
    return tuple(parse_path(item, f"{name}[{i}]") for i, item in enumerate(value))


def parse_allowlist(value: Any) -> sandbox.Allowlist:
    base = sandbox.default_allowlist()
    if value in ({}, None):
        return base
    return base.merged(sandbox.parse_allowlist(value))


def parse_lock_timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError("MARKET_LOCK_TIMEOUT must be a number of seconds")
    try:
        seconds = float(value)
    except ValueError as exc:
        raise ConfigError("MARKET_LOCK_TIMEOUT must be a number of seconds") from exc
    if not math.isfinite(seconds) or not 0 < seconds <= LOCK_TIMEOUT_MAX:
        raise ConfigError(
            f"MARKET_LOCK_TIMEOUT must be above 0 and at most {LOCK_TIMEOUT_MAX:.0f}"
        )
    return seconds


def parse_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false")
    return value


def parse_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a whole number above 0, not {value!r}")
    return value


def parse_archive_limits(value: Any) -> archive.ArchiveLimits:
    if not isinstance(value, Mapping):
        raise ConfigError("MARKET_ARCHIVE_LIMITS must be a mapping of limits")
    known = {f.name for f in fields(archive.ArchiveLimits)}
    unknown = sorted(str(k) for k in value if k not in known)
    if unknown:
        raise ConfigError(f"MARKET_ARCHIVE_LIMITS: unknown limit(s) {unknown}")
    for key, limit in value.items():
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int | float)
            or not math.isfinite(limit)
            or limit <= 0
        ):
            raise ConfigError(
                f"MARKET_ARCHIVE_LIMITS[{key!r}] must be a number above 0, "
                f"not {limit!r}"
            )
    return archive.ArchiveLimits(**dict(value))


def parse_meta_header(value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or not re.fullmatch(r"HTTP_[A-Z0-9_]+", value):
        raise ConfigError(
            "MARKET_CLIENT_IP_HEADER must be empty or a request header's META name, "
            "such as HTTP_X_REAL_IP"
        )
    return value


def parse_trusted_keys(
    value: Any, name: str = "MARKET_TRUSTED_KEYS"
) -> dict[str, Ed25519PublicKey]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a mapping of key id to key")
    keys: dict[str, Ed25519PublicKey] = {}
    for key_id, encoded in value.items():
        if not isinstance(key_id, str) or not key_id.strip():
            raise ConfigError(f"{name}: key ids must be non-empty text")
        try:
            raw = base64.b64decode(str(encoded), validate=True)
            keys[key_id] = Ed25519PublicKey.from_public_bytes(raw)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(
                f"{name}[{key_id!r}] is not the base64 of a raw "
                "32-byte Ed25519 public key"
            ) from exc
    return keys


def parse_snapshot_ttl(value: Any) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not SNAPSHOT_TTL_MIN <= value <= SNAPSHOT_TTL_MAX
    ):
        raise ConfigError(
            f"MARKET_SNAPSHOT_TTL must be a whole number of seconds from "
            f"{SNAPSHOT_TTL_MIN} to {SNAPSHOT_TTL_MAX}, not {value!r}"
        )
    return value


ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?")


def parse_origin(value: Any) -> str:
    """Empty (the request's scheme and host), or an http(s) URL without a query,
    fragment, credentials or trailing slash."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or not ORIGIN.fullmatch(value):
        raise ConfigError(
            "MARKET_SNAPSHOT_ORIGIN must be empty or an http(s) URL such as "
            "https://market.example.org"
        )
    return value.rstrip("/")


def parse_upstream_url(value: Any) -> str:
    """The central marketplace's base URL without a trailing slash; "" when unset."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise ConfigError("MARKET_UPSTREAM_URL must be a URL")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("MARKET_UPSTREAM_URL must be an http:// or https:// URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(
            "MARKET_UPSTREAM_URL must not carry a query, a fragment or credentials"
        )
    return value.strip().rstrip("/")


def parse_upstream_keys(value: Any, url: str) -> dict[str, Ed25519PublicKey]:
    keys = parse_trusted_keys(value, "MARKET_UPSTREAM_KEYS")
    if url and not keys:
        raise ConfigError(
            "MARKET_UPSTREAM_KEYS must pin at least one key of the central "
            "marketplace when MARKET_UPSTREAM_URL is set"
        )
    return keys


def parse_sync_after(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"MARKET_UPSTREAM_SYNC_AFTER must be a whole number of seconds, "
            f"not {value!r}"
        )
    return value


@dataclass(frozen=True)
class UpstreamLimits:
    """How much a sync and a bundle download may read, and how long they wait."""

    max_snapshot_bytes: int = 64 * 1024**2
    max_bundle_bytes: int = 256 * 1024**2
    timeout: float = 30.0
    # However slowly the bytes come, a download stops after this many seconds.
    deadline: float = 600.0
    attempts: int = 3


def parse_upstream_limits(value: Any) -> UpstreamLimits:
    if value in (None, {}):
        return UpstreamLimits()
    if not isinstance(value, Mapping):
        raise ConfigError("MARKET_UPSTREAM_LIMITS must be a mapping of limits")
    known = {f.name for f in fields(UpstreamLimits)}
    unknown = sorted(str(k) for k in value if k not in known)
    if unknown:
        raise ConfigError(f"MARKET_UPSTREAM_LIMITS: unknown limit(s) {unknown}")
    for key, limit in value.items():
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int | float)
            or not math.isfinite(limit)
            or limit <= 0
            or (key not in ("timeout", "deadline") and not isinstance(limit, int))
        ):
            raise ConfigError(
                f"MARKET_UPSTREAM_LIMITS[{key!r}] must be a number above 0, "
                f"not {limit!r}"
            )
    return UpstreamLimits(**dict(value))


def _storage_location() -> Any:
    try:
        storages: Any = settings.STORAGES
        return storages["default"].get("OPTIONS", {}).get("location")
    except (AttributeError, KeyError, TypeError):
        return None


def _setting(name: str) -> Any:
    try:
        return getattr(settings, name)
    except AttributeError:
        raise ConfigError(f"the setting {name} is missing") from None


class MarketConf:
    """Typed configuration; each value is parsed when first read."""

    @cached_property
    def root(self) -> Path:
        return parse_path(_setting("MARKET_ROOT"), "MARKET_ROOT")

    @cached_property
    def config_file(self) -> Path:
        return parse_path(_setting("COMFYVN_CONFIG"), "COMFYVN_CONFIG")

    @cached_property
    def package_dirs(self) -> tuple[Path, ...]:
        return parse_paths(_setting("MARKET_PACKAGE_DIRS"), "MARKET_PACKAGE_DIRS")

    @cached_property
    def route_allowlist(self) -> sandbox.Allowlist:
        """The sandbox's defaults with the setting's prefixes merged in."""
        return parse_allowlist(_setting("MARKET_ROUTE_ALLOWLIST"))

    @cached_property
    def lock_timeout(self) -> float:
        return parse_lock_timeout(_setting("MARKET_LOCK_TIMEOUT"))

    @cached_property
    def public_reads(self) -> bool:
        return parse_bool(_setting("MARKET_PUBLIC_READS"), "MARKET_PUBLIC_READS")

    @cached_property
    def max_pending_submissions(self) -> int:
        return parse_positive_int(
            _setting("MARKET_MAX_PENDING_SUBMISSIONS"), "MARKET_MAX_PENDING_SUBMISSIONS"
        )

    @cached_property
    def archive_limits(self) -> archive.ArchiveLimits:
        return parse_archive_limits(_setting("MARKET_ARCHIVE_LIMITS"))

    @cached_property
    def signing_key_file(self) -> Path:
        return parse_path(
            _setting("MARKET_SIGNING_KEY_FILE"), "MARKET_SIGNING_KEY_FILE"
        )

    @cached_property
    def client_ip_header(self) -> str:
        return parse_meta_header(getattr(settings, "MARKET_CLIENT_IP_HEADER", ""))

    @cached_property
    def trusted_keys(self) -> dict[str, Ed25519PublicKey]:
        return parse_trusted_keys(_setting("MARKET_TRUSTED_KEYS"))

    @cached_property
    def upstream_url(self) -> str:
        return parse_upstream_url(getattr(settings, "MARKET_UPSTREAM_URL", ""))

    @cached_property
    def upstream_keys(self) -> dict[str, Ed25519PublicKey]:
        try:
            url = self.upstream_url
        except ConfigError:
            url = ""
        return parse_upstream_keys(getattr(settings, "MARKET_UPSTREAM_KEYS", {}), url)

    @cached_property
    def upstream_sync_after(self) -> int:
        return parse_sync_after(getattr(settings, "MARKET_UPSTREAM_SYNC_AFTER", 3600))

    @cached_property
    def upstream_limits(self) -> UpstreamLimits:
        return parse_upstream_limits(getattr(settings, "MARKET_UPSTREAM_LIMITS", {}))

    @cached_property
    def snapshot_ttl(self) -> int:
        return parse_snapshot_ttl(_setting("MARKET_SNAPSHOT_TTL"))

    @cached_property
    def snapshot_origin(self) -> str:
        return parse_origin(getattr(settings, "MARKET_SNAPSHOT_ORIGIN", ""))

    @cached_property
    def redaction_roots(self) -> tuple[str, ...]:
        """The server's folders, whose paths never leave it (``market/redact.py``).

        Never raises: a broken setting must not stop an error from being reported.
        """
        candidates: list[Any] = [
            getattr(settings, "BASE_DIR", None),
            getattr(settings, "STATIC_ROOT", None),
            _storage_location(),
            tempfile.gettempdir(),
            sys.prefix,
            sys.base_prefix,
            sys.exec_prefix,
        ]
        for name in ("root", "package_dirs", "config_file", "signing_key_file"):
            try:
                value = getattr(self, name)
            except ConfigError:
                continue
            if name in ("config_file", "signing_key_file"):
                value = value.parent
            candidates.extend(value if isinstance(value, tuple) else [value])
        with contextlib.suppress(OSError, RuntimeError):  # no HOME, cwd deleted
            candidates.extend([Path.home(), os.getcwd()])
        roots: set[str] = set()
        for candidate in candidates:
            if candidate:
                roots.update({str(candidate), os.path.realpath(candidate)})
        return tuple(sorted(r for r in roots if len(r.rstrip("/\\")) > 1))

    # Folders under the root.
    @property
    def extensions_dir(self) -> Path:
        return self.root / "extensions"

    @property
    def staging_dir(self) -> Path:
        return self.root / "staging"

    @property
    def server_log(self) -> Path:
        return self.root / "logs" / "server.log"


_lock = threading.Lock()
_current: list[MarketConf] = []


def market_conf() -> MarketConf:
    """The configuration in force (parsed lazily, cached until a setting changes)."""
    with _lock:
        if not _current:
            _current.append(MarketConf())
        return _current[0]


def clear_cache() -> None:
    with _lock:
        _current.clear()


@receiver(setting_changed)
def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in {spec.name for spec in SETTINGS}:
        clear_cache()
