"""The feature-flag gate decides on the route Django resolves, whatever the spelling.

Every request variant below either reaches a marketplace view (and then the gate
applies to it exactly as to the canonical path) or reaches no view at all. A spy on
DRF's dispatch proves which: with the flags off, no marketplace view may run.
"""

from __future__ import annotations

import io
import sys

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.urls import get_script_prefix, set_script_prefix
from rest_framework.views import APIView

from market.models import CatalogEntry, InstalledExtension
from tests.conftest import write_config

# (method, canonical path): every route of the marketplace API.
READ_ROUTES = [
    ("get", "/api/market/list"),
    ("get", "/api/market/health"),
    ("get", "/api/market/keys"),
    ("get", "/api/market/manifest-schema"),
    ("get", "/api/market/catalog"),
    ("get", "/api/market/catalog/hello.world"),
    ("get", "/api/market/installed"),
    ("get", "/api/market/installed/hello.world"),
    ("get", "/api/market/errors"),
    ("get", "/api/market/errors/1"),
    ("get", "/api/market/events"),
    ("get", "/api/market/events/1"),
    ("get", "/api/market/submissions"),
    ("get", "/api/market/submissions/1"),
    ("get", "/api/market/maintainers/hello.world"),
    ("get", "/api/market/updates"),
    ("get", "/api/market/lock"),
    ("get", "/api/market/snapshot"),
    ("get", "/api/market/snapshot/keys"),
    ("get", "/api/market/catalog/hello.world/1.0.0/bundle"),
]
WRITE_ROUTES = [
    ("post", "/api/market/install"),
    ("post", "/api/market/uninstall"),
    ("post", "/api/market/submissions"),
    ("post", "/api/market/maintainers"),
    ("delete", "/api/market/maintainers/hello.world/someone"),
    ("post", "/api/market/transfers"),
    ("post", "/api/market/rollback"),
    ("post", "/api/market/restore"),
    ("post", "/api/market/catalog/hello.world/1.0.0/yank"),
]
ALL_ROUTES = READ_ROUTES + WRITE_ROUTES


def _upper_last(path: str) -> str:
    head, last = path.rsplit("/", 1)
    return f"{head}/{last.upper()}"


# name -> (path transform, extra WSGI environ)
VARIANTS = {
    "canonical": (lambda p: p, {}),
    "trailing_slash": (lambda p: p + "/", {}),
    "script_name": (lambda p: p, {"SCRIPT_NAME": "/prefix"}),
    "script_name_slash": (lambda p: p + "/", {"SCRIPT_NAME": "/a/b"}),
    "script_name_api": (lambda p: p, {"SCRIPT_NAME": "/api/market"}),
    "percent_last": (lambda p: p[:-1] + "%" + format(ord(p[-1]), "02X"), {}),
    "percent_segment": (lambda p: p.replace("/market/", "/%6Darket/"), {}),
    "percent_slash": (lambda p: p.replace("/market/", "/market%2F"), {}),
    "double_slash_inner": (lambda p: p.replace("/market/", "/market//"), {}),
    # A bare "//api/..." would be read as a host by the test client's URL parser.
    "double_slash_lead": (lambda p: "http://testserver/" + p, {}),
    "double_slash_api": (lambda p: p.replace("/api/", "/api//"), {}),
    "double_slash_trail": (lambda p: p + "//", {}),
    "upper_case": (str.upper, {}),
    "upper_last": (_upper_last, {}),
    "title_segment": (lambda p: p.replace("/market/", "/Market/"), {}),
    "dot_segment": (lambda p: p.replace("/market/", "/market/./"), {}),
    "dotdot_segment": (lambda p: p.replace("/market/", "/market/x/../"), {}),
}
# Variants that name the same route: with the flags on, they must reach the view.
REACHES_VIEW = {
    "canonical",
    "trailing_slash",
    "script_name",
    "script_name_slash",
    "script_name_api",
    "percent_last",
    "percent_segment",
    "percent_slash",
}


@pytest.fixture
def dispatched(monkeypatch) -> list[str]:
    """Names of the marketplace views whose ``dispatch`` ran."""
    seen: list[str] = []
    original = APIView.dispatch

    def spy(self, request, *args, **kwargs):
        if type(self).__module__.startswith("market."):
            seen.append(type(self).__name__)
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(APIView, "dispatch", spy)
    return seen


@pytest.fixture
def root(make_user, token_client):
    return token_client(make_user("root", superuser=True))


def _send(client, method: str, path: str, environ: dict):
    body = {"id": "hello.world"} if method == "post" else None
    return getattr(client, method)(path, body, format="json", **environ)


def _assert_refused_or_unrouted(response, flag: str) -> None:
    if response.status_code == 403:
        assert response.json() == {
            "ok": False,
            "error": {
                "code": "feature_disabled",
                "message": f"the feature flag {flag} is off",
                "details": {"flag": flag},
            },
        }
    else:
        assert response.status_code == 404, response.content


@pytest.mark.parametrize(("method", "path"), ALL_ROUTES)
def test_flags_off_no_spelling_reaches_a_marketplace_view(
    settings, root, dispatched, method, path
):
    write_config(settings, {})
    for variant, (transform, environ) in VARIANTS.items():
        response = _send(root, method, transform(path), environ)
        _assert_refused_or_unrouted(response, "enable_marketplace")
        assert dispatched == [], variant
        if variant in REACHES_VIEW:
            assert response.status_code == 403, variant


@pytest.mark.parametrize(("method", "path"), WRITE_ROUTES)
def test_uploads_off_no_spelling_reaches_a_write(
    settings, root, dispatched, method, path
):
    write_config(settings, {"enable_marketplace": True})
    for variant, (transform, environ) in VARIANTS.items():
        response = _send(root, method, transform(path), environ)
        _assert_refused_or_unrouted(response, "enable_extension_market_uploads")
        assert dispatched == [], variant
        if variant in REACHES_VIEW:
            assert response.status_code == 403, variant


@pytest.mark.parametrize(("method", "path"), ALL_ROUTES)
def test_flags_on_the_same_spellings_reach_the_view(
    flags_on, root, dispatched, method, path
):
    """The control: these variants are real routes, so the gate above had work."""
    for variant in sorted(REACHES_VIEW):
        transform, environ = VARIANTS[variant]
        dispatched.clear()
        _send(root, method, transform(path), environ)
        assert len(dispatched) == 1, variant


@pytest.mark.parametrize(("method", "path"), READ_ROUTES)
def test_reads_need_only_the_marketplace_flag_in_every_spelling(
    settings, root, dispatched, catalog_key, method, path
):
    # With the catalogue key made, the snapshot answers 200 (without: 409).
    write_config(settings, {"enable_marketplace": True})
    for variant in sorted(REACHES_VIEW):
        transform, environ = VARIANTS[variant]
        dispatched.clear()
        response = _send(root, method, transform(path), environ)
        assert response.status_code in (200, 404), (variant, response.content)
        assert len(dispatched) == 1, variant


@pytest.mark.parametrize(
    ("features", "flag"),
    [
        ({}, "enable_marketplace"),
        ({"enable_marketplace": True}, "enable_extension_market_uploads"),
    ],
)
@pytest.mark.parametrize("script_name", ["", "/prefix", "/api/market"])
def test_a_real_bundle_is_neither_installed_nor_submitted_with_flags_off(
    settings, root, build_bundle, market_root, features, flag, script_name
):
    write_config(settings, features)
    result = build_bundle("hello_minimal")
    for path in ("/api/market/install", "/api/market/submissions/"):
        with result.path.open("rb") as fh:
            response = root.post(
                path, {"package": fh}, format="multipart", SCRIPT_NAME=script_name
            )
        assert response.status_code == 403
        assert response.json()["error"]["details"] == {"flag": flag}
    assert InstalledExtension.objects.count() == 0
    assert CatalogEntry.objects.count() == 0
    assert not (market_root / "extensions").exists()


def test_with_a_script_name_and_flags_on_the_bundle_installs(
    flags_on, root, build_bundle, market_root
):
    """The control of the test above: the prefixed request is a working install."""
    result = build_bundle("hello_minimal")
    with result.path.open("rb") as fh:
        response = root.post(
            "/api/market/install",
            {"package": fh},
            format="multipart",
            SCRIPT_NAME="/prefix",
        )
    assert response.status_code == 200, response.json()
    assert InstalledExtension.objects.get().extension_id == result.manifest.id


def _wsgi(method: str, script_name: str, path_info: str, body: bytes = b"") -> tuple:
    """One request through Django's real WSGI handler, as a server would send it."""
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    status: list[str] = []
    # As Django's test client does: keep the test's database connection open. The
    # handler also sets the thread's script prefix, which reverse() reads later.
    prefix = get_script_prefix()
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        chunks = WSGIHandler()(
            environ, lambda s, headers, exc_info=None: status.append(s)
        )
        body = b"".join(chunks)
        chunks.close()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
        set_script_prefix(prefix)
    return status[0], body


@pytest.mark.parametrize(
    ("method", "path_info"),
    [
        ("GET", "/api/market/health"),
        ("POST", "/api/market/install"),
        ("POST", "/api/market/uninstall/"),
        ("POST", "/api/market/submissions"),
    ],
)
@pytest.mark.parametrize("script_name", ["/prefix", "/x/y", "/api/market"])
def test_wsgi_environ_with_script_name_is_gated(
    settings, db, dispatched, method, path_info, script_name
):
    write_config(settings, {})
    status, body = _wsgi(method, script_name, path_info, b'{"id": "hello.world"}')
    assert status.startswith("403 ")
    assert b'"feature_disabled"' in body
    assert dispatched == []
    write_config(settings, {"enable_marketplace": True})
    status, _ = _wsgi("GET", script_name, "/api/market/health")
    assert status.startswith("200 ")


def test_the_route_lists_above_cover_every_marketplace_route():
    """A new route under the API's namespace must join the lists, and the gate tests."""
    from django.urls import URLResolver, get_resolver, resolve

    def names(patterns) -> set[str]:
        found: set[str] = set()
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                found |= names(pattern.url_patterns)
            elif pattern.name:
                found.add(pattern.name)
        return found

    [api] = [
        p
        for p in get_resolver().url_patterns
        if isinstance(p, URLResolver) and p.namespace == "market-api"
    ]
    covered = {resolve(path).url_name for _, path in ALL_ROUTES}
    assert names(api.url_patterns) == covered
