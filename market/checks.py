"""System checks: a bad setting fails ``manage.py check`` and server start-up.

Each ``MARKET_*`` setting is parsed by the same function the code uses at run time
(``market/conf.py``), so the check and the request can never disagree. ``runserver``
runs these checks itself; ``comfyvn_site/wsgi.py`` runs them before gunicorn serves.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from market.conf import SETTINGS, MarketConf
from market.errors import ConfigError

TAG = "market"
# Django's own marker for a key that must never reach production.
INSECURE_KEY_PREFIX = "django-insecure-"
# What DRF's SimpleRateThrottle.parse_rate understands: "N/<s|m|h|d>...".
RATE = re.compile(r"[1-9][0-9]*/[smhd][a-z]*")
# The throttle scopes the API's views use, and the setting each comes from.
THROTTLE_SCOPES = {
    "market_install": "MARKET_INSTALL_THROTTLE",
    "market_submit": "MARKET_SUBMIT_THROTTLE",
}


@register(TAG)
def check_market_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    conf = MarketConf()  # fresh: parse what is configured now, not a cached value
    messages: list[CheckMessage] = []
    for spec in SETTINGS:
        try:
            getattr(conf, spec.attribute)
        except ConfigError as exc:
            messages.append(
                Error(
                    f"{spec.name} is invalid: {exc.message}",
                    hint=f"Expected {spec.hint}.",
                    id=spec.check_id,
                )
            )
    if not any(m.id == "market.E003" for m in messages):
        messages.extend(_missing_package_dirs(conf))
    if not any(m.id == "market.E002" for m in messages):
        messages.extend(_unreadable_flags(conf))
    if not any(m.id == "market.E008" for m in messages):
        messages.extend(_unreadable_signing_key(conf))
    messages.extend(_bad_throttle_rates())
    return messages


def _missing_package_dirs(conf: MarketConf) -> list[CheckMessage]:
    return [
        Warning(
            f"MARKET_PACKAGE_DIRS: the folder {path} does not exist",
            hint="Create it, or installs by server path from it are refused.",
            id="market.W003",
        )
        for path in conf.package_dirs
        if not path.is_dir()
    ]


def _unreadable_flags(conf: MarketConf) -> list[CheckMessage]:
    path = conf.config_file
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        problem = f"cannot be read as JSON ({type(exc).__name__})"
    else:
        if isinstance(data, dict) and isinstance(data.get("features", {}), dict):
            return []
        problem = 'is not a JSON object with a "features" object'
    return [
        Warning(
            f"COMFYVN_CONFIG: {path} {problem}; every feature flag reads as off",
            hint='Write {"features": {"enable_marketplace": true, ...}}.',
            id="market.W002",
        )
    ]


def _unreadable_signing_key(conf: MarketConf) -> list[CheckMessage]:
    from market import signing  # imports models' neighbours only when checking

    try:
        signing.load_signing_key()
        signing.retired_keys()
    except ConfigError as exc:
        return [
            Error(
                f"MARKET_SIGNING_KEY_FILE: {exc.message}",
                hint="Point it at an Ed25519 private key in PEM (PKCS#8), "
                "or at a path that does not exist yet and run "
                "`manage.py market_keys create`.",
                id="market.E008",
            )
        ]
    return []


def _bad_throttle_rates() -> list[CheckMessage]:
    rates = getattr(settings, "REST_FRAMEWORK", {}).get("DEFAULT_THROTTLE_RATES", {})
    messages: list[CheckMessage] = []
    for scope, rate in rates.items():
        if rate is not None and not RATE.fullmatch(str(rate)):
            variable = THROTTLE_SCOPES.get(scope, "DEFAULT_THROTTLE_RATES")
            messages.append(
                Error(
                    f"the throttle rate for {scope} is invalid: {rate!r}",
                    hint="Use N/sec, N/min, N/hour or N/day with N above 0 "
                    f"({variable}).",
                    id="market.E011",
                )
            )
    for scope, variable in THROTTLE_SCOPES.items():
        if scope not in rates:
            # DRF would fail every request of the view with ImproperlyConfigured.
            messages.append(
                Error(
                    f"the throttle rate for {scope} is missing",
                    hint=f"Set {variable}, or {scope} in DEFAULT_THROTTLE_RATES.",
                    id="market.E011",
                )
            )
    return messages


@register(Tags.security)
def check_secret_key(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Without DEBUG, the server refuses to run on the built-in development key."""
    if settings.DEBUG:
        return []
    try:
        key = str(settings.SECRET_KEY or "")
    except ImproperlyConfigured:  # Django refuses to hand out an empty key
        key = ""
    if key and not key.startswith(INSECURE_KEY_PREFIX):
        return []
    return [
        Error(
            "SECRET_KEY is not set: the built-in development key is in use while "
            "DEBUG is off",
            hint="Set SECRET_KEY in the environment or in .env to a long random "
            "value, e.g. the output of: python -c "
            "'import secrets; print(secrets.token_urlsafe(50))'",
            id="market.E010",
        )
    ]
