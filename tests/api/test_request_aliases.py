"""Field names the reference server accepted: ``package_path``, ``extension_id``,
``plugin_id``. The same value under two names is fine; two different values are
``invalid_request`` naming both fields, and nothing happens."""

from __future__ import annotations

import pytest
from django.urls import reverse

from market.models import InstalledExtension, LifecycleError, LifecycleEvent


def install(api, **payload):
    return api.post(reverse("market-api:install"), payload, format="json")


def uninstall(api, **payload):
    return api.post(reverse("market-api:uninstall"), payload, format="json")


def assert_conflict(response, *fields):
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    problems = error["details"]["problems"]
    assert sorted(p["path"] for p in problems) == sorted(fields)
    for problem in problems:
        assert problem["code"] == "alias_conflict"
        for field in fields:
            assert f"'{field}'" in problem["message"]


def test_package_path_is_package(api, build_bundle, market_root):
    result = build_bundle("hello_minimal")
    response = install(api, package_path=str(result.path))
    assert response.status_code == 200, response.json()
    assert response.json()["installed"]["id"] == result.manifest.id
    assert response.json()["installed"]["source"] == "path"
    assert (market_root / "extensions" / result.manifest.id / ".market.json").exists()


def test_package_path_obeys_the_package_dirs(api, build_bundle, tmp_path):
    outside = tmp_path / "elsewhere.cvnext"
    outside.write_bytes(build_bundle("hello_minimal").path.read_bytes())
    response = install(api, package_path=str(outside))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "path_not_allowed"
    assert InstalledExtension.objects.count() == 0


def test_package_and_package_path_with_one_value(api, build_bundle):
    path = str(build_bundle("hello_minimal").path)
    response = install(api, package=path, package_path=path)
    assert response.status_code == 200, response.json()


def test_package_and_package_path_that_differ_are_refused(
    api, build_bundle, market_root
):
    one = build_bundle("hello_minimal")
    other = build_bundle("legacy_tools")
    response = install(api, package=str(one.path), package_path=str(other.path))
    assert_conflict(response, "package", "package_path")
    assert InstalledExtension.objects.count() == 0
    assert LifecycleError.objects.count() == 0  # refused before any lifecycle work
    assert not (market_root / "extensions").exists() or not any(
        (market_root / "extensions").iterdir()
    )


def test_package_path_is_still_one_source(api, build_bundle):
    path = str(build_bundle("hello_minimal").path)
    response = install(api, package_path=path, id="hello.minimal")
    assert response.status_code == 400
    [problem] = response.json()["error"]["details"]["problems"]
    assert problem["code"] == "invalid_source"
    with open(path, "rb") as fh:
        upload = api.post(
            reverse("market-api:install"),
            {"package": fh, "package_path": path},
            format="multipart",
        )
    assert upload.status_code == 400
    [problem] = upload.json()["error"]["details"]["problems"]
    assert problem["code"] == "invalid_source"
    assert InstalledExtension.objects.count() == 0


@pytest.mark.parametrize("alias", ["extension_id", "plugin_id"])
def test_uninstall_aliases_name_the_id(api, build_bundle, market_root, alias):
    result = build_bundle("hello_minimal")
    assert install(api, package=str(result.path)).status_code == 200
    response = uninstall(api, **{alias: result.manifest.id})
    assert response.status_code == 200, response.json()
    assert response.json() == {"ok": True, "id": result.manifest.id}
    assert not (market_root / "extensions" / result.manifest.id).exists()
    assert InstalledExtension.objects.count() == 0
    assert LifecycleEvent.objects.filter(action="uninstall").count() == 1


def test_uninstall_with_the_same_id_under_every_name(api, build_bundle):
    result = build_bundle("hello_minimal")
    assert install(api, package=str(result.path)).status_code == 200
    ext_id = result.manifest.id
    response = uninstall(api, id=ext_id, extension_id=ext_id, plugin_id=ext_id)
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize(
    "payload",
    [
        {"id": "hello.minimal", "extension_id": "legacy.tools"},
        {"id": "hello.minimal", "plugin_id": "legacy.tools"},
        {"extension_id": "hello.minimal", "plugin_id": "legacy.tools"},
        {"id": "hello.minimal", "extension_id": "hello.minimal", "plugin_id": "x.y.z"},
    ],
)
def test_uninstall_aliases_that_differ_are_refused(
    api, build_bundle, market_root, payload
):
    for sample in ("hello_minimal", "legacy_tools"):
        assert install(api, package=str(build_bundle(sample).path)).status_code == 200
    response = uninstall(api, **payload)
    assert_conflict(response, *payload)
    assert InstalledExtension.objects.count() == 2
    assert (market_root / "extensions" / "hello.minimal").is_dir()
    assert (market_root / "extensions" / "legacy.tools").is_dir()
    assert LifecycleError.objects.count() == 0


def test_uninstall_without_any_id_is_required(api):
    response = uninstall(api)
    assert response.status_code == 400
    assert response.json()["error"]["details"]["problems"] == [
        {"path": "id", "code": "required", "message": "This field is required."}
    ]
    hostile = uninstall(api, plugin_id="../etc")
    assert hostile.status_code == 400
    assert hostile.json()["error"]["code"] == "invalid_request"


def test_openapi_documents_the_aliases(db, client):
    doc = client.get(reverse("openapi-schema"), {"format": "json"}).json()
    schemas = doc["components"]["schemas"]
    install_fields = schemas["InstallRequest"]["properties"]
    assert "alias of 'package'" in install_fields["package_path"]["description"].lower()
    uninstall_fields = schemas["UninstallRequest"]["properties"]
    for alias in ("extension_id", "plugin_id"):
        assert "alias of 'id'" in uninstall_fields[alias]["description"].lower()
