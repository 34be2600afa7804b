"""The configuration is parsed once and forgotten when a setting changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from market.conf import market_conf
from market.errors import ConfigError


def test_values_are_typed(settings, market_root):
    conf = market_conf()
    assert conf.root == market_root
    assert conf.extensions_dir == market_root / "extensions"
    assert conf.server_log == market_root / "logs" / "server.log"
    assert conf.package_dirs == (market_root / "packages",)
    assert isinstance(conf.lock_timeout, float)
    assert conf.archive_limits.max_package_bytes > 0
    assert conf.max_pending_submissions == 10


def test_the_pending_cap_is_parsed_once_and_follows_the_setting(settings):
    settings.MARKET_MAX_PENDING_SUBMISSIONS = 3
    assert market_conf().max_pending_submissions == 3
    settings.MARKET_MAX_PENDING_SUBMISSIONS = "3"
    with pytest.raises(ConfigError, match="MARKET_MAX_PENDING_SUBMISSIONS"):
        market_conf().max_pending_submissions  # noqa: B018


def test_the_cache_is_cleared_when_a_setting_changes(settings):
    first = market_conf()
    assert market_conf() is first
    settings.MARKET_LOCK_TIMEOUT = 4
    assert market_conf() is not first
    assert market_conf().lock_timeout == 4.0


def test_an_unrelated_setting_keeps_the_cache(settings):
    first = market_conf()
    settings.LANGUAGE_CODE = "de"
    assert market_conf() is first


def test_a_bad_value_fails_only_its_own_reader(settings, market_root):
    settings.MARKET_TRUSTED_KEYS = {"k": "x"}
    conf = market_conf()
    with pytest.raises(ConfigError) as info:
        _ = conf.trusted_keys
    assert info.value.code == "config_invalid"
    assert "MARKET_TRUSTED_KEYS" in info.value.message
    assert conf.root == Path(market_root)
