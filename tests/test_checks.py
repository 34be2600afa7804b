"""System checks for the marketplace settings and the production secret key."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from market.checks import check_market_settings, check_secret_key

GOOD_KEY = base64.b64encode(
    Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
).decode()


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def test_the_test_settings_pass_every_check(settings, market_root):
    (market_root / "packages").mkdir(parents=True)
    assert check_market_settings() == []
    assert check_secret_key() == []


@pytest.mark.parametrize(
    ("setting", "value", "check_id"),
    [
        ("MARKET_ROOT", "relative/var", "market.E001"),
        ("MARKET_ROOT", 42, "market.E001"),
        ("COMFYVN_CONFIG", "", "market.E002"),
        ("MARKET_PACKAGE_DIRS", "/srv/packages", "market.E003"),
        ("MARKET_PACKAGE_DIRS", [], "market.E003"),
        ("MARKET_PACKAGE_DIRS", ["packages"], "market.E003"),
        ("MARKET_ROUTE_ALLOWLIST", ["/api/x/"], "market.E004"),
        ("MARKET_ROUTE_ALLOWLIST", {"root": ["/api/x/"]}, "market.E004"),
        ("MARKET_ROUTE_ALLOWLIST", {"verified": "/api/x/"}, "market.E004"),
        ("MARKET_ROUTE_ALLOWLIST", {"verified": ["api/x"]}, "market.E004"),
        ("MARKET_ROUTE_ALLOWLIST", {"unverified": ["/api/public/"]}, "market.E004"),
        ("MARKET_LOCK_TIMEOUT", 0, "market.E005"),
        ("MARKET_LOCK_TIMEOUT", -1, "market.E005"),
        ("MARKET_LOCK_TIMEOUT", float("nan"), "market.E005"),
        ("MARKET_LOCK_TIMEOUT", "soon", "market.E005"),
        ("MARKET_LOCK_TIMEOUT", 86400, "market.E005"),
        ("MARKET_PUBLIC_READS", "yes", "market.E006"),
        ("MARKET_ARCHIVE_LIMITS", {"max_entries": 0}, "market.E007"),
        ("MARKET_ARCHIVE_LIMITS", {"max_entries": -5}, "market.E007"),
        ("MARKET_ARCHIVE_LIMITS", {"max_entries": True}, "market.E007"),
        ("MARKET_ARCHIVE_LIMITS", {"max_entries": "many"}, "market.E007"),
        ("MARKET_ARCHIVE_LIMITS", {"max_everything": 1}, "market.E007"),
        ("MARKET_ARCHIVE_LIMITS", [1, 2], "market.E007"),
        ("MARKET_SIGNING_KEY_FILE", "keys/catalog.pem", "market.E008"),
        ("MARKET_TRUSTED_KEYS", {"k": "not base64!"}, "market.E009"),
        ("MARKET_TRUSTED_KEYS", {"k": base64.b64encode(b"32").decode()}, "market.E009"),
        ("MARKET_TRUSTED_KEYS", {"": GOOD_KEY}, "market.E009"),
        ("MARKET_TRUSTED_KEYS", ["k"], "market.E009"),
        ("MARKET_CLIENT_IP_HEADER", "X-Real-IP", "market.E012"),
        ("MARKET_CLIENT_IP_HEADER", "REMOTE_ADDR ", "market.E012"),
        ("MARKET_CLIENT_IP_HEADER", 7, "market.E012"),
        ("MARKET_MAX_PENDING_SUBMISSIONS", 0, "market.E013"),
        ("MARKET_MAX_PENDING_SUBMISSIONS", -3, "market.E013"),
        ("MARKET_MAX_PENDING_SUBMISSIONS", "10", "market.E013"),
        ("MARKET_MAX_PENDING_SUBMISSIONS", 2.5, "market.E013"),
        ("MARKET_MAX_PENDING_SUBMISSIONS", True, "market.E013"),
        ("MARKET_MAX_PENDING_SUBMISSIONS", None, "market.E013"),
        ("MARKET_SNAPSHOT_TTL", 0, "market.E020"),
        ("MARKET_SNAPSHOT_TTL", 59, "market.E020"),
        ("MARKET_SNAPSHOT_TTL", "604800", "market.E020"),
        ("MARKET_SNAPSHOT_TTL", 400 * 24 * 3600, "market.E020"),
        ("MARKET_SNAPSHOT_TTL", True, "market.E020"),
        ("MARKET_SNAPSHOT_ORIGIN", "market.example.org", "market.E021"),
        ("MARKET_SNAPSHOT_ORIGIN", "ftp://market.example.org", "market.E021"),
        ("MARKET_SNAPSHOT_ORIGIN", "https://u:p@market.example.org", "market.E021"),
        ("MARKET_SNAPSHOT_ORIGIN", "https://market.example.org/?x=1", "market.E021"),
        ("MARKET_SNAPSHOT_ORIGIN", 7, "market.E021"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_setting(
    settings, market_root, setting, value, check_id
):
    (market_root / "packages").mkdir(parents=True)
    setattr(settings, setting, value)
    messages = check_market_settings()
    assert ids(messages) == [check_id]
    assert messages[0].msg.startswith(f"{setting} is invalid: ")
    assert messages[0].hint


def test_good_values_of_the_structured_settings_pass(settings, market_root):
    (market_root / "packages").mkdir(parents=True)
    settings.MARKET_ROUTE_ALLOWLIST = {"verified": ["/api/extra/"]}
    settings.MARKET_TRUSTED_KEYS = {"partner": GOOD_KEY}
    settings.MARKET_ARCHIVE_LIMITS = {"max_entries": 10, "max_ratio": 12.5}
    settings.MARKET_LOCK_TIMEOUT = "2.5"
    assert check_market_settings() == []


def test_every_problem_is_reported_at_once(settings, market_root):
    settings.MARKET_LOCK_TIMEOUT = 0
    settings.MARKET_PUBLIC_READS = None
    settings.MARKET_TRUSTED_KEYS = {"k": "x"}
    assert sorted(ids(check_market_settings())) == [
        "market.E005",
        "market.E006",
        "market.E009",
        "market.W003",
    ]


def test_a_missing_package_folder_is_a_warning(settings, market_root, tmp_path):
    settings.MARKET_PACKAGE_DIRS = [market_root / "packages", tmp_path / "other"]
    (tmp_path / "other").mkdir()
    messages = check_market_settings()
    assert ids(messages) == ["market.W003"]
    assert not messages[0].is_serious()
    assert str(market_root / "packages") in messages[0].msg


@pytest.mark.parametrize("content", ["{not json", "[]", '{"features": [1]}'])
def test_an_unreadable_flag_file_is_a_warning(settings, package_dir, content):
    from pathlib import Path

    path = Path(settings.COMFYVN_CONFIG)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    messages = check_market_settings()
    assert ids(messages) == ["market.W002"]
    assert "every feature flag reads as off" in messages[0].msg


def test_an_unreadable_signing_key_is_an_error(settings, package_dir, tmp_path):
    key = tmp_path / "catalog.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    settings.MARKET_SIGNING_KEY_FILE = key
    assert ids(check_market_settings()) == ["market.E008"]


@pytest.mark.parametrize("rate", ["lots", "0/min", "10/fortnight", "10", "/min"])
@pytest.mark.parametrize(
    ("scope", "variable"),
    [
        ("market_install", "MARKET_INSTALL_THROTTLE"),
        ("market_submit", "MARKET_SUBMIT_THROTTLE"),
    ],
)
def test_a_bad_throttle_rate_is_an_error(settings, package_dir, rate, scope, variable):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            scope: rate,
        },
    }
    messages = check_market_settings()
    assert ids(messages) == ["market.E011"]
    assert scope in messages[0].msg
    assert variable in messages[0].hint


@pytest.mark.parametrize("scope", ["market_install", "market_submit"])
def test_a_missing_throttle_rate_is_an_error(settings, package_dir, scope):
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
    del rates[scope]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": rates,
    }
    messages = check_market_settings()
    assert ids(messages) == ["market.E011"]
    assert messages[0].msg == f"the throttle rate for {scope} is missing"


@pytest.mark.parametrize(
    ("debug", "key", "expected"),
    [
        (False, "django-insecure-comfyvn-market-development-key", ["market.E010"]),
        (False, "django-insecure-anything", ["market.E010"]),
        (False, "", ["market.E010"]),
        (False, "a-real-key-" + "z" * 50, []),
        (True, "django-insecure-comfyvn-market-development-key", []),
    ],
)
def test_the_development_key_is_refused_without_debug(settings, debug, key, expected):
    settings.DEBUG = debug
    settings.SECRET_KEY = key
    assert ids(check_secret_key()) == expected


def test_the_checks_are_registered(settings):
    from django.core import checks

    settings.DEBUG = False
    settings.SECRET_KEY = "django-insecure-x"
    settings.MARKET_LOCK_TIMEOUT = 0
    found = ids(checks.run_checks())
    assert "market.E010" in found
    assert "market.E005" in found
