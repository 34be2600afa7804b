"""Feature flags: file source, legacy alias, real booleans only, cache and refresh."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from market import flags
from market.errors import ConfigError
from tests.conftest import write_config


def test_defaults_are_all_off_without_a_config_file(settings):
    assert not Path(settings.COMFYVN_CONFIG).exists()
    current = flags.refresh_cache()
    assert current.marketplace is False
    assert current.uploads is False
    assert current.as_dict() == {
        "enable_marketplace": False,
        "enable_extension_market": False,
        "enable_extension_market_uploads": False,
    }


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        ({"enable_marketplace": True}, True),
        ({"enable_marketplace": False, "enable_extension_market": True}, False),
        ({"enable_extension_market": True}, True),
        ({"enable_extension_market": False}, False),
        ({"enable_marketplace": "true"}, False),
        ({"enable_marketplace": 1}, False),
        ({"enable_marketplace": None, "enable_extension_market": True}, True),
    ],
)
def test_marketplace_flag_and_legacy_alias(settings, features, expected):
    write_config(settings, features)
    assert flags.get_flags().marketplace is expected


def test_a_change_to_the_file_is_seen_without_refresh(settings):
    write_config(settings, {"enable_marketplace": False})
    assert flags.get_flags().marketplace is False
    path = Path(settings.COMFYVN_CONFIG)
    path.write_text(json.dumps({"features": {"enable_marketplace": True}}))
    stat = path.stat()
    # Same-second edits on coarse filesystems: move mtime forward explicitly.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert flags.get_flags().marketplace is True


def test_broken_file_closes_every_gate(settings):
    path = Path(settings.COMFYVN_CONFIG)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    current = flags.refresh_cache()
    assert current.marketplace is False and current.uploads is False


def test_write_flags_is_atomic_and_keeps_other_keys(settings):
    path = Path(settings.COMFYVN_CONFIG)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"theme": "dark", "features": {"other": True}}))
    current = flags.write_flags({"enable_marketplace": True})
    assert current.marketplace is True
    saved = json.loads(path.read_text())
    assert saved == {
        "theme": "dark",
        "features": {"other": True, "enable_marketplace": True},
    }
    assert [p.name for p in path.parent.iterdir()] == ["comfyvn.json"]


def test_write_flags_refuses_unknown_names(settings):
    with pytest.raises(ConfigError) as info:
        flags.write_flags({"enable_everything": True})
    assert info.value.code == "config_invalid"
    assert not Path(settings.COMFYVN_CONFIG).exists()
