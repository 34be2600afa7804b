"""Who may call what: the auth matrix and the feature-flag gate on every endpoint."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import SERVER_ERROR, write_config

READS = [
    ("get", "market-api:list", None),
    ("get", "market-api:health", None),
    ("get", "market-api:keys", None),
    ("get", "market-api:manifest-schema", None),
    ("get", "market-api:catalog-list", None),
    ("get", "market-api:installed-list", None),
]
OPERATOR_READS = [
    ("get", "market-api:errors-list", "market.view_lifecycleerror"),
    ("get", "market-api:events-list", "market.view_lifecycleevent"),
]
WRITES = [
    ("post", "market-api:install", "market.install_extension"),
    ("post", "market-api:uninstall", "market.uninstall_extension"),
]
ALL = READS + OPERATOR_READS + WRITES


def _call(client, method, name):
    # A body that is well-formed but names nothing: authorised callers get a 4xx from
    # the service itself, which proves they got past the permission check.
    payload = {"id": "nothing.here"} if method == "post" else None
    return getattr(client, method)(reverse(name), payload, format="json")


@pytest.fixture
def users(make_user):
    return {
        "anonymous": None,
        "plain": make_user("plain"),
        "holder": make_user(
            "holder",
            "market.install_extension",
            "market.uninstall_extension",
            "market.view_lifecycleerror",
            "market.view_lifecycleevent",
        ),
        "staff": make_user("staffer", staff=True),
        "superuser": make_user("root", superuser=True),
    }


@pytest.mark.parametrize(("method", "name", "perm"), READS)
@pytest.mark.parametrize("who", ["anonymous", "plain", "holder", "staff", "superuser"])
def test_public_reads_answer_everyone(
    flags_on, token_client, users, who, method, name, perm
):
    response = _call(token_client(users[who]), method, name)
    assert response.status_code == 200


@pytest.mark.parametrize(("method", "name", "perm"), READS)
def test_reads_need_login_when_not_public(
    flags_on, settings, token_client, users, method, name, perm
):
    settings.MARKET_PUBLIC_READS = False
    anonymous = _call(token_client(None), method, name)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    assert _call(token_client(users["plain"]), method, name).status_code == 200


EXPECTED = {
    # who: (status for operator reads, status for writes)
    "anonymous": (401, 401),
    "plain": (403, 403),
    "staff": (403, 403),  # staff without the permission is still refused
    "holder": (200, None),
    "superuser": (200, None),
}


@pytest.mark.parametrize(("method", "name", "perm"), OPERATOR_READS + WRITES)
@pytest.mark.parametrize("who", list(EXPECTED))
def test_permissions_matrix(flags_on, token_client, users, who, method, name, perm):
    response = _call(token_client(users[who]), method, name)
    read_status, write_status = EXPECTED[who]
    expected = read_status if method == "get" else write_status
    body = response.json()
    if expected is None:
        # Authorised: the request reached the service, which refused the empty source.
        assert response.status_code in (400, 404), body
        assert body["error"]["code"] in (
            "invalid_request",
            "not_installed",
            "not_found",
        )
        return
    assert response.status_code == expected, body
    code = {401: "not_authenticated", 403: "permission_denied", 200: None}[expected]
    if code:
        assert body == {
            "ok": False,
            "error": {"code": code, "message": body["error"]["message"], "details": {}},
        }


def test_refusals_before_lifecycle_work_store_no_lifecycle_error(
    flags_on, token_client, users
):
    from market.models import LifecycleError

    _call(token_client(None), "post", "market-api:install")
    _call(token_client(users["plain"]), "post", "market-api:uninstall")
    assert LifecycleError.objects.count() == 0


@pytest.mark.parametrize(("method", "name", "perm"), ALL)
def test_every_endpoint_refused_when_marketplace_flag_off(
    settings, token_client, users, method, name, perm
):
    write_config(
        settings, {"enable_marketplace": False, "enable_extension_market_uploads": True}
    )
    response = _call(token_client(users["superuser"]), method, name)
    assert response.status_code == 403
    assert response.json() == {
        "ok": False,
        "error": {
            "code": "feature_disabled",
            "message": "the feature flag enable_marketplace is off",
            "details": {"flag": "enable_marketplace"},
        },
    }


@pytest.mark.parametrize(("method", "name", "perm"), WRITES)
def test_writes_refused_when_uploads_flag_off(
    settings, token_client, users, method, name, perm
):
    write_config(settings, {"enable_marketplace": True})
    response = _call(token_client(users["superuser"]), method, name)
    assert response.status_code == 403
    assert response.json()["error"]["details"] == {
        "flag": "enable_extension_market_uploads"
    }


@pytest.mark.parametrize(("method", "name", "perm"), READS)
def test_reads_need_only_the_marketplace_flag(
    settings, token_client, method, name, perm
):
    write_config(settings, {"enable_marketplace": True})
    assert _call(token_client(None), method, name).status_code == 200


def test_legacy_alias_only_when_primary_flag_absent(settings, token_client):
    client = token_client(None)
    write_config(settings, {"enable_extension_market": True})
    assert client.get(reverse("market-api:health")).status_code == 200
    write_config(
        settings, {"enable_extension_market": True, "enable_marketplace": False}
    )
    assert client.get(reverse("market-api:health")).status_code == 403


def test_flag_file_change_is_seen_without_restart(settings, token_client):
    import json
    import os
    from pathlib import Path

    client = token_client(None)
    write_config(settings, {"enable_marketplace": False})
    assert client.get(reverse("market-api:health")).status_code == 403
    path = Path(settings.COMFYVN_CONFIG)
    path.write_text(json.dumps({"features": {"enable_marketplace": True}}))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert client.get(reverse("market-api:health")).status_code == 200


def test_unknown_api_path_gets_the_json_error_payload(flags_on, client):
    response = client.get("/api/market/definitely-not-here")
    assert response.status_code == 404
    assert response.json()["ok"] is False
    assert response.json()["error"]["code"] == "not_found"


def test_session_auth_works_for_the_browser(flags_on, client, users):
    client.force_login(users["holder"])
    response = client.get(reverse("market-api:errors-list"))
    assert response.status_code == 200
    assert response.json()["items"] == []


def test_unexpected_failure_gets_the_json_error_payload(flags_on, client, monkeypatch):
    from market import selectors

    def boom():
        raise RuntimeError("database on fire")

    monkeypatch.setattr(selectors, "market_health", boom)
    client.raise_request_exception = False
    response = client.get(reverse("market-api:health"))
    assert response.status_code == 500
    assert response.json() == SERVER_ERROR
    assert "fire" not in response.content.decode()


def test_install_is_throttled(flags_on, settings, token_client, users):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"market_install": "2/min"},
    }
    from rest_framework.settings import api_settings
    from rest_framework.throttling import ScopedRateThrottle

    ScopedRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    try:
        client = token_client(users["holder"])
        codes = [
            _call(client, "post", "market-api:install").status_code for _ in range(3)
        ]
        assert codes[:2] == [404, 404]
        assert codes[2] == 429
        body = _call(client, "post", "market-api:install").json()
        assert body["error"]["code"] == "throttled"
        assert body["error"]["details"]["retry_after"] > 0
    finally:
        ScopedRateThrottle.THROTTLE_RATES = {"market_install": "1000/min"}


def test_refusals_are_logged(flags_on, token_client, users, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="market"):
        _call(token_client(users["plain"]), "post", "market-api:install")
    assert any(
        "event=market.refused reason=permission_denied" in r.getMessage()
        and "user=plain" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize(
    "path",
    [
        "/api/market/list",
        "/api/market/list/",
        "/api/market/catalog",
        "/api/market/catalog/",
        "/api/market/installed",
        "/api/market/health/",
    ],
)
def test_routes_answer_with_or_without_a_trailing_slash(db, flags_on, client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.json()["ok"] is True


def test_post_without_trailing_slash_is_not_redirected(flags_on, token_client, users):
    client = token_client(users["holder"])
    response = client.post("/api/market/submissions", {}, format="multipart")
    assert response.status_code != 301
    response = client.post("/api/market/uninstall/", {"id": "no.such"}, format="json")
    assert response.status_code == 404
