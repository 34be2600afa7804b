"""Feature flags from ``config/comfyvn.json`` (``COMFYVN_CONFIG`` overrides the path).

The file's ``features`` object holds booleans; anything but a real ``true`` is off.
``enable_extension_market`` is the legacy name of ``enable_marketplace`` and is honoured
only while ``enable_marketplace`` is absent. Reads are cached and reloaded when the
file's modification time or size changes; ``refresh_cache()`` forces a reload.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from market.conf import market_conf
from market.durable import atomic_write_bytes, ensure_dir
from market.errors import ConfigError

logger = logging.getLogger(__name__)

MARKETPLACE = "enable_marketplace"
LEGACY_MARKETPLACE = "enable_extension_market"
UPLOADS = "enable_extension_market_uploads"


@dataclass(frozen=True)
class FlagSpec:
    name: str
    description: str


FLAGS: tuple[FlagSpec, ...] = (
    FlagSpec(MARKETPLACE, "Primary gate: every /api/market/* route."),
    FlagSpec(
        LEGACY_MARKETPLACE, "Legacy alias of enable_marketplace (migration only)."
    ),
    FlagSpec(
        UPLOADS, "Allows install, uninstall and submissions. Keep off in production."
    ),
)


@dataclass(frozen=True)
class Flags:
    raw: dict[str, bool]

    @property
    def marketplace(self) -> bool:
        if MARKETPLACE in self.raw:
            return self.raw[MARKETPLACE]
        return self.raw.get(LEGACY_MARKETPLACE, False)

    @property
    def uploads(self) -> bool:
        return self.raw.get(UPLOADS, False)

    def as_dict(self) -> dict[str, bool]:
        return {spec.name: self.raw.get(spec.name, False) for spec in FLAGS}


_lock = threading.Lock()
_cache: dict[str, Any] = {"key": None, "flags": Flags({})}


def config_path() -> Path:
    return market_conf().config_file


def _file_key(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (str(path), st.st_mtime_ns, st.st_size)


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable config: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a JSON object")
    return data


def _parse_features(config: dict[str, Any]) -> Flags:
    features = config.get("features", {})
    if not isinstance(features, dict):
        return Flags({})
    # Only real booleans count: "true", 1 or null are not a decision to turn a gate on.
    return Flags({k: v for k, v in features.items() if isinstance(v, bool)})


def get_flags() -> Flags:
    try:
        path = config_path()
    except ConfigError:
        logger.exception("feature flags: COMFYVN_CONFIG is invalid; all flags off")
        return Flags({})
    key = _file_key(path)
    with _lock:
        if key is not None and key == _cache["key"]:
            return _cache["flags"]
        try:
            flags = _parse_features(_read_config(path))
        except ConfigError:
            # A broken file closes every gate rather than guessing; the error is logged.
            logger.exception("feature flags: cannot read %s; all flags off", path)
            flags = Flags({})
        _cache["key"] = key
        _cache["flags"] = flags
        return flags


def refresh_cache() -> Flags:
    with _lock:
        _cache["key"] = None
    return get_flags()


def write_flags(updates: dict[str, bool]) -> Flags:
    """Set flags in the config file; keep the rest of it.

    Atomic and durable (temp file, flush, rename, folder flush): a crash leaves the
    old file or the new one, never an empty one that would turn every flag off.
    """
    known = {spec.name for spec in FLAGS}
    unknown = sorted(set(updates) - known)
    if unknown:
        raise ConfigError(f"unknown feature flag(s): {', '.join(unknown)}")
    path = config_path()
    config = _read_config(path)
    features = config.get("features")
    if not isinstance(features, dict):
        features = {}
    features.update({k: bool(v) for k, v in updates.items()})
    config["features"] = features
    ensure_dir(path.parent)
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    try:
        mode = path.stat().st_mode & 0o777  # keep the operator's permissions
    except FileNotFoundError:
        mode = 0o644
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)
    return refresh_cache()
