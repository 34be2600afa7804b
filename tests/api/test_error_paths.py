"""Real failures whose natural messages name server files: clients never see them.

Responses, ``health.last_error`` and ``errors/`` carry codes, messages and reference
ids; the server log keeps the paths and the tracebacks.
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from market import review
from market.lifecycle import server_log_path
from market.models import CatalogEntry, InstalledExtension, LifecycleError
from tests.conftest import ANY_ERROR_ID, SERVER_ERROR


@pytest.fixture
def server_paths(market_root, tmp_path, settings):
    """Strings that must never appear in anything a client reads."""
    return [str(market_root), str(tmp_path), str(settings.BASE_DIR), "/etc/passwd"]


def assert_no_server_path(text: str, server_paths: list[str]) -> None:
    for path in server_paths:
        assert path not in text, path


def install(api, **payload):
    return api.post(reverse("market-api:install"), payload, format="json")


def public_views(api) -> str:
    health = api.get(reverse("market-api:health")).content.decode()
    errors = api.get(reverse("market-api:errors-list")).content.decode()
    return health + errors


@pytest.fixture
def operator_api(api, installer):
    from django.contrib.auth.models import Permission

    installer.user_permissions.add(
        Permission.objects.get(codename="view_lifecycleerror")
    )
    return api


def test_a_path_outside_the_package_folders(
    operator_api, build_bundle, tmp_path, server_paths
):
    outside = tmp_path / "x.cvnext"
    outside.write_bytes(build_bundle("hello_minimal").path.read_bytes())
    for package in ("/etc/passwd", str(outside)):
        response = install(operator_api, package=package)
        assert response.status_code == 403
        assert response.json()["error"] == {
            "code": "path_not_allowed",
            "message": "package paths are accepted only inside the configured "
            "package folders",
            "details": {},
        }
    assert_no_server_path(public_views(operator_api), server_paths)


def test_a_missing_bundle_inside_the_package_folders(
    operator_api, package_dir, server_paths
):
    response = install(operator_api, package=str(package_dir / "nope-1.0.0.cvnext"))
    assert response.status_code == 404
    assert response.json()["error"]["message"] == (
        "there is no .cvnext bundle at the given package path"
    )
    assert_no_server_path(response.content.decode(), server_paths)
    assert_no_server_path(public_views(operator_api), server_paths)


def test_an_os_error_during_install(
    operator_api, build_bundle, market_root, server_paths
):
    """extensions/ is a file: mkdir fails with an OSError naming the folder."""
    result = build_bundle("hello_minimal")
    market_root.mkdir(parents=True, exist_ok=True)
    (market_root / "extensions").write_text("not a folder")
    operator_api.raise_request_exception = False
    response = install(operator_api, package=str(result.path))
    assert response.status_code == 500
    assert response.json() == SERVER_ERROR
    error_id = response.json()["error"]["details"]["error_id"]
    row = LifecycleError.objects.get()
    assert (row.code, row.message) == ("server_error", "internal error")
    assert row.detail["error_id"] == error_id
    health = operator_api.get(reverse("market-api:health")).json()
    assert health["last_error"]["message"] == "internal error"
    assert_no_server_path(public_views(operator_api), server_paths)
    assert InstalledExtension.objects.count() == 0
    # The operator's copy: the path and the traceback, under the same reference.
    log = server_log_path().read_text()
    assert str(market_root / "extensions") in log
    faults = [line for line in log.splitlines() if f"error_id={error_id}" in line]
    assert any("traceback=" in line for line in faults)


def test_a_broken_signing_key_during_approval(
    operator_api, settings, build_bundle, tmp_path, server_paths
):
    key = tmp_path / "keys" / "catalog.pem"
    key.parent.mkdir()
    key.write_text("not a key")
    settings.MARKET_SIGNING_KEY_FILE = key
    entry = review.catalog_entry_submit(bundle_path=build_bundle("hello_minimal").path)
    with pytest.raises(Exception) as info:
        review.catalog_entry_approve(entry=entry, trust_level="verified")
    assert str(key) in str(info.value)  # the admin, on the server, sees the cause
    row = LifecycleError.objects.get(action="approve")
    assert row.code == "config_invalid"
    assert row.detail == {"error_id": ANY_ERROR_ID}
    assert_no_server_path(public_views(operator_api), server_paths)
    assert CatalogEntry.objects.get().status == CatalogEntry.Status.PENDING


def test_rows_stored_before_redaction_are_redacted_when_read(
    operator_api, market_root, server_paths
):
    LifecycleError.objects.create(
        action="install",
        extension_id="a.b.c",
        code="corrupt_archive",
        message=f"cannot read bundle {market_root}/packages/a.cvnext: I/O error",
        detail={"path": f"{market_root}/packages/a.cvnext"},
    )
    health = operator_api.get(reverse("market-api:health")).json()
    assert health["last_error"]["message"] == (
        "cannot read bundle <server path>: I/O error"
    )
    item = operator_api.get(reverse("market-api:errors-list")).json()["items"][0]
    assert item["detail"] == {"path": "<server path>"}
    assert_no_server_path(public_views(operator_api), server_paths)


def test_an_unreadable_bundle_file(operator_api, package_dir, server_paths):
    """A folder where the bundle should be (tests/api/test_server_paths.py)."""
    (package_dir / "dir-1.0.0.cvnext").mkdir()
    response = install(operator_api, package=str(package_dir / "dir-1.0.0.cvnext"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unusable_path"
    assert_no_server_path(json.dumps(response.json()), server_paths)
    assert_no_server_path(public_views(operator_api), server_paths)
