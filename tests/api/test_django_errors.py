"""Django's own refusals answer under /api/ with the one JSON error shape, DEBUG on
or off; outside /api/ they stay Django's pages. A 500 leaves a reference id for the
client and the traceback in the server log."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseNotAllowed
from django.test import Client, RequestFactory
from django.urls import reverse

from market.api import handlers
from market.lifecycle import server_log_path
from market.models import InstalledExtension
from tests.conftest import ANY_ERROR_ID, SERVER_ERROR


@pytest.fixture(params=[False, True], ids=["debug_off", "debug_on"])
def debug(request, settings) -> bool:
    settings.DEBUG = request.param
    return request.param


@pytest.fixture
def quiet_client(db) -> Client:
    client = Client()
    client.raise_request_exception = False
    return client


def is_json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"ok", "error"}
    assert body["ok"] is False
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body


def server_log_entries() -> list[str]:
    path = server_log_path()
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/api/market/nowhere", {}),
        ("/api/nowhere/", {}),
        ("/api", {}),
        ("/api/market/list/extra", {}),
        ("/api/market/nowhere", {"SCRIPT_NAME": "/prefix"}),
    ],
)
def test_unknown_url_under_api(debug, flags_on, quiet_client, path, extra):
    body = is_json_error(quiet_client.get(path, **extra), 404, "not_found")
    assert body["error"] == {
        "code": "not_found",
        "message": "no such resource",
        "details": {"path": path},
    }


def test_unknown_url_elsewhere_stays_a_page(debug, quiet_client):
    response = quiet_client.get("/nowhere")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def _boom(*args, **kwargs):
    raise RuntimeError("disk on fire at /srv/market/var/secret.db")


def test_uncaught_exception_in_a_view(debug, flags_on, quiet_client, monkeypatch):
    from market import selectors

    monkeypatch.setattr(selectors, "market_health", _boom)
    response = quiet_client.get(reverse("market-api:health"))
    body = is_json_error(response, 500, "server_error")
    assert body == SERVER_ERROR
    assert b"fire" not in response.content and b"Traceback" not in response.content
    error_id = body["error"]["details"]["error_id"]
    [line] = [entry for entry in server_log_entries() if error_id in entry]
    assert line.startswith("event=server.error ")
    assert "logger=django.request" in line
    assert "status=500" in line and "path=/api/market/health" in line
    assert "Traceback (most recent call last)" in line
    assert "RuntimeError: disk on fire at /srv/market/var/secret.db" in line


def test_uncaught_exception_in_middleware(debug, quiet_client, monkeypatch):
    from market import middleware

    # The gate's own view of the flags module, not the module (fixtures use it).
    monkeypatch.setattr(middleware, "flags", SimpleNamespace(get_flags=_boom))
    body = is_json_error(
        quiet_client.get(reverse("market-api:keys")), 500, "server_error"
    )
    assert body == SERVER_ERROR
    error_id = body["error"]["details"]["error_id"]
    assert any(
        error_id in line and "disk on fire" in line for line in server_log_entries()
    )


def test_each_500_gets_its_own_reference(flags_on, quiet_client, monkeypatch):
    from market import selectors

    monkeypatch.setattr(selectors, "market_health", _boom)
    ids = {
        quiet_client.get(reverse("market-api:health")).json()["error"]["details"][
            "error_id"
        ]
        for _ in range(3)
    }
    assert len(ids) == 3


def test_oversized_json_body(debug, settings, token_client, installer, flags_on):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"id": "a.b.c", "pad": "x" * 2000})
    response = token_client(installer).post(
        reverse("market-api:install"), body, content_type="application/json"
    )
    payload = is_json_error(response, 413, "request_too_large")
    assert payload["error"]["message"] == "the request body is too large"
    assert InstalledExtension.objects.count() == 0


def test_oversized_multipart_field(debug, settings, token_client, installer, flags_on):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = token_client(installer).post(
        reverse("market-api:install"), {"id": "x" * 5000}, format="multipart"
    )
    is_json_error(response, 413, "request_too_large")


def test_too_many_fields(debug, settings, token_client, installer, flags_on):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    form = "&".join(f"f{i}=1" for i in range(20))
    response = token_client(installer).post(
        reverse("market-api:install"),
        form,
        content_type="application/x-www-form-urlencoded",
    )
    body = is_json_error(response, 400, "invalid_request")
    assert body["error"]["message"] == "the request has too many fields"


def test_disallowed_host(debug, flags_on, quiet_client):
    response = quiet_client.get(reverse("market-api:health"), HTTP_HOST="evil.example")
    body = is_json_error(response, 400, "invalid_request")
    if not debug:  # DEBUG's technical page says why; the reshaped one only the status
        assert body["error"]["message"] == "the Host header is not allowed"
    assert b"evil.example" not in response.content
    page = quiet_client.get("/admin/login/", HTTP_HOST="evil.example")
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")


def test_csrf_refusal_of_a_session_post(debug, flags_on, make_user):
    user = make_user("holder", "market.install_extension")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(
        reverse("market-api:install"), {"id": "a.b.c"}, content_type="application/json"
    )
    body = is_json_error(response, 403, "permission_denied")
    assert "CSRF" in body["error"]["message"]
    admin = client.post("/admin/logout/")
    assert admin.status_code == 403
    assert admin["Content-Type"].startswith("text/html")


def test_csrf_failure_view(debug, db):
    factory = RequestFactory()
    api = handlers.csrf_failure(factory.post("/api/market/install"), "token missing")
    assert api.status_code == 403
    assert json.loads(api.content) == {
        "ok": False,
        "error": {
            "code": "permission_denied",
            "message": "the CSRF check failed",
            "details": {"reason": "token missing"},
        },
    }
    page = handlers.csrf_failure(factory.post("/admin/login/"), "token missing")
    assert page.status_code == 403
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("handler", "exception", "status", "code"),
    [
        (handlers.bad_request, None, 400, "invalid_request"),
        (handlers.permission_denied, PermissionDenied(), 403, "permission_denied"),
        (handlers.page_not_found, None, 404, "not_found"),
    ],
)
def test_handlers_under_api_and_elsewhere(db, handler, exception, status, code):
    factory = RequestFactory()
    api = handler(factory.get("/api/market/x"), exception)
    assert api.status_code == status
    assert json.loads(api.content)["error"]["code"] == code
    page = handler(factory.get("/admin/x"), exception)
    assert page.status_code == status
    assert page["Content-Type"].startswith("text/html")


def test_handler500(db):
    factory = RequestFactory()
    request = factory.get("/api/market/health")
    request.error_id = "0123456789abcdef"
    response = handlers.server_error(request)
    assert response.status_code == 500
    assert json.loads(response.content)["error"]["details"] == {
        "error_id": "0123456789abcdef"
    }
    page = handlers.server_error(factory.get("/admin/"))
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("original", "status", "code"),
    [
        (HttpResponse("<h1>Bad</h1>", status=400), 400, "invalid_request"),
        (HttpResponseNotAllowed(["GET"]), 405, "method_not_allowed"),
        (HttpResponse("<h1>oops</h1>", status=502), 502, "server_error"),
        (HttpResponse("big", status=413), 413, "request_too_large"),
        (HttpResponse("teapot", status=418), 418, "invalid_request"),
    ],
)
def test_the_middleware_reshapes_any_error_page_under_api(db, original, status, code):
    middleware = handlers.ApiErrorShapeMiddleware(lambda request: original)
    response = middleware(RequestFactory().get("/api/market/list"))
    body = is_json_error(response, status, code)
    if status == 405:
        assert response["Allow"] == "GET"
    if status >= 500:
        assert body["error"]["details"] == {"error_id": ANY_ERROR_ID}
    # Outside /api/, and for JSON or successful answers, nothing changes.
    assert middleware(RequestFactory().get("/admin/")) is original


def test_the_middleware_leaves_json_and_successes_alone(db):
    for original in (
        HttpResponse("{}", status=403, content_type="application/json"),
        HttpResponse("<p>fine</p>", status=200),
        HttpResponse(status=304),
    ):
        middleware = handlers.ApiErrorShapeMiddleware(lambda request, r=original: r)
        assert middleware(RequestFactory().get("/api/market/list")) is original


def test_the_error_id_is_a_reference_not_a_path(flags_on, quiet_client, monkeypatch):
    from market import selectors

    monkeypatch.setattr(selectors, "market_health", _boom)
    details = quiet_client.get(reverse("market-api:health")).json()["error"]["details"]
    assert re.fullmatch(r"[0-9a-f]{16}", details["error_id"])
    assert set(details) == {"error_id"}
