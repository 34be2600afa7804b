"""Hostile request bodies: every POST endpoint refuses them with a 4xx, never a 500."""

from __future__ import annotations

import json

import pytest

from market.api.parsers import MAX_JSON_DEPTH, check_json_value
from market.models import CatalogEntry, InstalledExtension, LifecycleError
from tests.api.test_flag_gate import WRITE_ROUTES

# JSON bodies: every POST route parses them, but submissions (uploads only).
JSON_ROUTES = [
    path
    for method, path in WRITE_ROUTES
    if method == "post" and not path.endswith("submissions")
]
# Routes that take no body at all (DELETE): it is never read.
BODILESS_ROUTES = [(method, path) for method, path in WRITE_ROUTES if method != "post"]


@pytest.fixture
def admin_api(flags_on, make_user, token_client):
    return token_client(make_user("root", superuser=True))


def nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


def deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_every_write_route_is_covered():
    assert sorted(JSON_ROUTES) == [
        "/api/market/catalog/hello.world/1.0.0/yank",
        "/api/market/install",
        "/api/market/maintainers",
        "/api/market/restore",
        "/api/market/rollback",
        "/api/market/transfers",
        "/api/market/uninstall",
    ]
    assert len(JSON_ROUTES) + len(BODILESS_ROUTES) + 1 == len(WRITE_ROUTES)


@pytest.mark.parametrize(("method", "path"), BODILESS_ROUTES)
def test_a_deep_body_where_none_is_read_is_ignored(admin_api, method, path):
    response = getattr(admin_api, method)(
        path, nested(100_000), content_type="application/json"
    )
    assert 400 <= response.status_code < 500
    assert response.json()["ok"] is False


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize(
    "body",
    [
        nested(100_000),
        deep_object(100_000),
        '{"id": ' + nested(100_000) + "}",
        '{"package": ' + deep_object(5_000) + "}",
        nested(MAX_JSON_DEPTH + 1),
    ],
    ids=["list_100k", "object_100k", "field_100k", "field_5k", "just_over"],
)
def test_json_nested_too_deep_is_a_400(admin_api, path, body):
    response = admin_api.post(path, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": {
            "code": "invalid_request",
            "message": f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels",
            "details": {},
        },
    }
    assert InstalledExtension.objects.count() == 0
    assert LifecycleError.objects.count() == 0


def test_json_nested_to_the_limit_reaches_validation(admin_api):
    body = json.dumps({"id": json.loads(nested(MAX_JSON_DEPTH - 1))})
    response = admin_api.post(
        "/api/market/uninstall", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"]["problems"][0]["path"] == "id"


def test_deep_json_to_submissions_is_refused_by_its_media_type(admin_api):
    """submissions/ takes uploads only: it never parses a JSON body at all."""
    response = admin_api.post(
        "/api/market/submissions", nested(100_000), content_type="application/json"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert CatalogEntry.objects.count() == 0


def test_depth_check_is_iterative():
    value: list = []
    for _ in range(200_000):  # far past the interpreter's recursion limit
        value = [value]
    with pytest.raises(Exception, match="nested deeper"):
        check_json_value(value)
    check_json_value([[{"a": [1]}]], limit=4)


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize(
    "body",
    [
        '{"package": "/x/a\\ud800.cvnext"}',
        '{"id": "\\udfff"}',
        '{"trust": "\\ud83d"}',
        '{"\\ud800": 1}',
        '["\\ud800"]',
    ],
    ids=["package", "id", "trust", "key", "list"],
)
def test_json_string_that_is_not_unicode_is_a_400(admin_api, path, body):
    """A lone surrogate parses, but no response could echo it back."""
    response = admin_api.post(path, body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"].endswith("is not valid Unicode")
    assert InstalledExtension.objects.count() == 0
