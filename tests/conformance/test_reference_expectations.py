"""Contract test: a Studio client written against the FastAPI reference server.

The reference server (the ComfyVN tool project: ``comfyvn/server/modules/market_api.py``
and ``comfyvn/server/routes/market.py``) is pinned down by its own tests,
``tests/test_market_api.py``, ``tests/test_market_service.py`` and
``tests/test_market_manifest.py``. This module restates what those tests and that
router expect (the same sample extension and manifests, the same calls, the same
reads) against this server, over real HTTP: pytest-django's live server and
``urllib``, not Django's test client. Every expectation here holds as the reference
client has it.

Where this server differs on purpose, ``test_reference_differences.py`` asserts the
documented refusal or shape instead; each of those has its line in docs/api.md,
section "Coming from the reference server". Keep the three in step.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from market import review
from market.errors import ManifestError
from market.models import InstalledExtension
from market.packaging import build_package
from tests.conformance.reference import (
    DEMO_MANIFEST,
    HANDLERS,
    SAMPLE_MANIFEST,
    global_route,
    nothing_installed,
    reference_bundle,
    refusal,
    source_tree,
)
from tests.conftest import write_config

# --- tests/test_market_api.py: install, list installed, uninstall, list again -----

# Approving as verified needs the catalogue key, made on purpose.
pytestmark = pytest.mark.usefixtures("catalog_key")


def test_ref_install_list_uninstall_list(studio, sample, market_root):
    status, body = studio.post("install", {"package": str(sample)})
    assert status == 200, body
    assert body["ok"] is True
    assert body["installed"]["id"] == "sample.toolkit"

    status, body = studio.get("installed")
    assert status == 200
    assert any(item["id"] == "sample.toolkit" for item in body["items"])

    status, body = studio.post("uninstall", {"id": "sample.toolkit"})
    assert status == 200
    assert body == {"ok": True, "id": "sample.toolkit"}

    status, body = studio.get("installed")
    assert status == 200
    assert body["items"] == []
    assert not (market_root / "extensions" / "sample.toolkit").exists()


# --- tests/test_market_service.py, restated over HTTP -----------------------------


def test_ref_install_is_unverified_on_disk_and_listed(studio, sample, market_root):
    status, body = studio.post("install", {"package": str(sample)})
    assert status == 200, body
    installed = body["installed"]
    assert installed["id"] == "sample.toolkit"
    assert installed["trust"] == "unverified"
    folder = market_root / installed["path"]
    assert folder == market_root / "extensions" / "sample.toolkit"
    assert (folder / "handlers.py").read_bytes() == HANDLERS
    items = studio.get("installed")[1]["items"]
    assert [item["id"] for item in items] == ["sample.toolkit"]


def test_ref_installing_the_same_bundle_again_is_refused(studio, sample):
    assert studio.post("install", {"package": str(sample)})[0] == 200
    status, body = studio.post("install", {"package": str(sample)})
    # The reference raises too (422 with a detail string): here 409 already_installed.
    refusal(status, body, 409, "already_installed")
    assert InstalledExtension.objects.count() == 1


def test_ref_uninstall_removes_the_folder_and_the_listing(studio, sample, market_root):
    assert studio.post("install", {"package": str(sample)})[0] == 200
    assert studio.post("uninstall", {"id": "sample.toolkit"})[0] == 200
    assert not (market_root / "extensions" / "sample.toolkit").exists()
    assert studio.get("installed")[1]["items"] == []


def test_ref_unverified_global_routes_are_refused(
    studio, package_dir, market_root, tmp_path
):
    manifest = {
        "id": "global.extension",
        "name": "Global Extension",
        "version": "0.1.0",
        "summary": "Attempts to expose global routes",
        "routes": [global_route("/api/system/ping")],
    }
    # The packager refuses to build it ...
    with pytest.raises(ManifestError):
        build_package(source_tree(tmp_path / "src", manifest), tmp_path / "out")
    # ... and a bundle made some other way is refused at install, even with the
    # api.global permission this server's manifests need for a global route.
    for extra in ({}, {"permissions": [{"scope": "api.global"}]}):
        bundle = reference_bundle(package_dir / "g", {**manifest, **extra})
        status, body = studio.post("install", {"package": str(bundle)})
        error = refusal(status, body, 422, "manifest_invalid")
        paths = {p["path"] for p in error["details"]["problems"]}
        assert paths & {"routes[0].path", "routes[0].expose"}
        assert nothing_installed(market_root)


# --- tests/test_market_manifest.py, restated as installs over HTTP -----------------


def test_ref_summary_falls_back_to_description(studio, package_dir):
    bundle = reference_bundle(package_dir, DEMO_MANIFEST)
    status, body = studio.post("install", {"package": str(bundle)})
    assert status == 200, body
    summary = body["installed"]["manifest_summary"]["summary"]
    assert summary == "Demo manifest for tests"


def test_ref_unverified_bundle_may_not_expose_a_private_global_route(
    studio, package_dir, market_root
):
    manifest = {**DEMO_MANIFEST, "routes": [global_route("/api/private")]}
    bundle = reference_bundle(package_dir, manifest)
    status, body = studio.post("install", {"package": str(bundle)})
    refusal(status, body, 422, "manifest_invalid")
    assert nothing_installed(market_root)


def test_ref_verified_bundle_may_expose_an_allowlisted_global_route(
    studio, package_dir, tmp_path, market_root
):
    # As the reference has it, plus what this server requires (test_diff_* below):
    # the api.global permission, and trust proven by the catalogue's approval.
    manifest = {
        **DEMO_MANIFEST,
        "permissions": ["api.global"],
        "routes": [global_route("/api/modder/tools")],
        "trust": {"level": "verified"},
    }
    built = build_package(source_tree(tmp_path / "src", manifest), tmp_path / "out")
    entry = review.catalog_entry_submit(bundle_path=built.path)
    entry = review.catalog_entry_approve(entry=entry, trust_level="verified")
    bundle = package_dir / built.path.name
    bundle.write_bytes(Path(entry.package.path).read_bytes())
    status, body = studio.post("install", {"package": str(bundle)})
    assert status == 200, body
    installed = body["installed"]
    assert installed["trust"] == "verified"
    [route] = installed["capabilities"]["routes"]
    assert (route["path"], route["expose"]) == ("/api/modder/tools", "global")


def test_ref_unknown_permission_is_refused(studio, package_dir, market_root):
    manifest = {**DEMO_MANIFEST, "permissions": [{"scope": "does.not.exist"}]}
    bundle = reference_bundle(package_dir, manifest)
    status, body = studio.post("install", {"package": str(bundle)})
    error = refusal(status, body, 422, "manifest_invalid")
    assert {"path": "permissions[0].scope", "code": "unknown_permission"}.items() <= (
        error["details"]["problems"][0].items()
    )
    assert nothing_installed(market_root)


# --- the reference router: what its clients send and read --------------------------


def test_ref_catalog_answers_ok_and_items(studio, tmp_path):
    built = build_package(source_tree(tmp_path / "src", SAMPLE_MANIFEST), tmp_path)
    entry = review.catalog_entry_submit(bundle_path=built.path)
    review.catalog_entry_approve(entry=entry, trust_level="unverified")
    status, body = studio.get("catalog")
    assert status == 200
    assert body["ok"] is True
    [item] = body["items"]
    assert {
        key: item[key] for key in ("id", "name", "version", "summary", "trust", "hooks")
    } == {
        "id": "sample.toolkit",
        "name": "Sample Toolkit",
        "version": "1.2.3",
        "summary": "Sample toolkit for marketplace tests",
        "trust": "unverified",
        "hooks": ["on_scene_enter"],
    }


def test_ref_list_answers_the_snapshot_keys(studio, sample):
    assert studio.post("install", {"package": str(sample)})[0] == 200
    status, body = studio.get("list")
    assert status == 200
    assert {
        "ok",
        "catalog",
        "installed",
        "hooks",
        "permissions",
        "trust_levels",
    } <= set(body)
    assert [item["id"] for item in body["installed"]] == ["sample.toolkit"]
    assert body["trust_levels"] == ["unverified", "verified"]
    assert {"scope": "assets.read"}.items() <= body["permissions"][0].items()


def test_ref_install_takes_package_path(studio, sample):
    status, body = studio.post("install", {"package_path": str(sample)})
    assert status == 200, body
    assert body["installed"]["id"] == "sample.toolkit"


@pytest.mark.parametrize("field", ["id", "extension_id", "plugin_id"])
def test_ref_uninstall_takes_every_id_field(studio, sample, market_root, field):
    assert studio.post("install", {"package": str(sample)})[0] == 200
    status, body = studio.post("uninstall", {field: "sample.toolkit"})
    assert status == 200, body
    assert body == {"ok": True, "id": "sample.toolkit"}
    assert nothing_installed(market_root)


def test_ref_trust_unverified_installs_sandboxed(studio, package_dir, market_root):
    bundle = reference_bundle(
        package_dir, {**SAMPLE_MANIFEST, "trust": {"level": "verified"}}
    )
    status, body = studio.post(
        "install", {"package": str(bundle), "trust": "unverified"}
    )
    assert status == 200, body
    assert body["installed"]["trust"] == "unverified"
    assert body["installed"]["sidecar"]["trust"]["requested"] == "unverified"


def test_ref_flag_off_is_403(studio, settings, sample):
    write_config(settings, {"enable_marketplace": False})
    for status, body in (
        studio.get("installed"),
        studio.get("catalog"),
        studio.post("install", {"package": str(sample)}),
    ):
        refusal(status, body, 403, "feature_disabled")


def test_ref_health_reports_trust_and_last_error(studio, sample):
    studio.post("uninstall", {"id": "not.installed"})
    status, body = studio.get("health")
    assert status == 200
    assert body["ok"] is True
    assert body["last_error"]["action"] == "uninstall"
    assert studio.post("install", {"package": str(sample)})[0] == 200
    body = studio.get("health")[1]
    assert body["trust_breakdown"]["unverified"] == 1
    assert body["last_error"] is None
