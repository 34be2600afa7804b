"""Where this server differs from the FastAPI reference server on purpose.

Each test asserts the refusal or shape a client written against the reference meets
here instead, and has its line in docs/api.md, section "Coming from the reference
server". The expectations that hold as the reference has them are in
``test_reference_expectations.py``.
"""

from __future__ import annotations

from market import review
from market.models import LifecycleError
from market.packaging import build_package
from tests.conformance.reference import (
    DEMO_MANIFEST,
    SAMPLE_MANIFEST,
    global_route,
    nothing_installed,
    reference_bundle,
    refusal,
    source_tree,
)
from tests.conftest import write_config


def test_diff_changes_need_a_token(anonymous, sample, market_root):
    for path, payload in (
        ("install", {"package": str(sample)}),
        ("uninstall", {"id": "sample.toolkit"}),
    ):
        status, body = anonymous.post(path, payload)
        refusal(status, body, 401, "not_authenticated")
    assert nothing_installed(market_root)
    assert LifecycleError.objects.count() == 0
    # Reads stay public (MARKET_PUBLIC_READS, on by default).
    assert anonymous.get("installed")[0] == 200
    assert anonymous.get("catalog")[0] == 200


def test_diff_paths_only_inside_the_package_dirs(studio, tmp_path, market_root):
    outside = reference_bundle(tmp_path / "anywhere", SAMPLE_MANIFEST)
    for field in ("package", "package_path"):
        status, body = studio.post("install", {field: str(outside)})
        error = refusal(status, body, 403, "path_not_allowed")
        assert str(outside) not in error["message"]
        status, body = studio.post("install", {field: "sample.toolkit-1.2.3.cvnext"})
        refusal(status, body, 403, "path_not_allowed")
    assert nothing_installed(market_root)


def test_diff_claimed_verified_needs_proof(studio, package_dir, market_root):
    manifest = {**SAMPLE_MANIFEST, "trust": {"level": "verified"}}
    bundle = reference_bundle(package_dir, manifest)
    status, body = studio.post("install", {"package": str(bundle)})
    refusal(status, body, 422, "trust_unproven")
    assert nothing_installed(market_root)


def test_diff_trust_verified_is_a_requirement(studio, sample, market_root):
    # The reference installs it as verified because the request says so.
    status, body = studio.post("install", {"package": str(sample), "trust": "verified"})
    error = refusal(status, body, 422, "trust_unproven")
    assert error["details"]["requested"] == "verified"
    assert nothing_installed(market_root)
    status, body = studio.post("install", {"package": str(sample), "trust": "VERIFIED"})
    refusal(status, body, 400, "invalid_request")


def test_diff_global_routes_need_the_api_global_permission(
    studio, package_dir, market_root
):
    manifest = {
        **DEMO_MANIFEST,
        "routes": [global_route("/api/modder/tools")],
        "trust": {"level": "verified"},
    }
    bundle = reference_bundle(package_dir, manifest)
    status, body = studio.post("install", {"package": str(bundle)})
    error = refusal(status, body, 422, "manifest_invalid")
    assert error["details"]["problems"][0]["code"] == "missing_permission"
    assert nothing_installed(market_root)


def test_diff_changes_need_the_uploads_flag(studio, settings, sample, market_root):
    write_config(settings, {"enable_marketplace": True})
    status, body = studio.post("install", {"package": str(sample)})
    error = refusal(status, body, 403, "feature_disabled")
    assert error["details"] == {"flag": "enable_extension_market_uploads"}
    assert studio.get("installed")[0] == 200
    assert nothing_installed(market_root)


def test_diff_uninstall_of_an_unknown_id_is_404(studio):
    status, body = studio.post("uninstall", {"id": "not.installed"})
    refusal(status, body, 404, "not_installed")


def test_diff_differing_aliases_are_refused(studio, sample, market_root):
    # The reference takes the first non-empty one; here two values are ambiguous.
    status, body = studio.post(
        "install", {"package": str(sample), "package_path": str(sample) + ".old"}
    )
    refusal(status, body, 400, "invalid_request")
    status, body = studio.post(
        "uninstall", {"id": "sample.toolkit", "plugin_id": "other.toolkit"}
    )
    refusal(status, body, 400, "invalid_request")
    assert nothing_installed(market_root)


def test_diff_installed_item_shape(studio, sample):
    assert studio.post("install", {"package": str(sample)})[0] == 200
    [item] = studio.get("installed")[1]["items"]
    # trust is the level; the reference's sidecar fields are under "sidecar".
    assert item["trust"] == "unverified"
    assert item["sidecar"]["trust"]["level"] == "unverified"
    assert item["sidecar"]["package"]["name"] == sample.name
    assert item["path"] == "extensions/sample.toolkit"  # relative to MARKET_ROOT
    # Reference-packed bundles carry no content record: unverified, with a warning.
    assert "content_record_missing" in {w["code"] for w in item["warnings"]}


def test_diff_catalog_item_shape(studio, tmp_path):
    built = build_package(source_tree(tmp_path / "src", SAMPLE_MANIFEST), tmp_path)
    entry = review.catalog_entry_submit(bundle_path=built.path)
    review.catalog_entry_approve(entry=entry, trust_level="unverified")
    [item] = studio.get("catalog")[1]["items"]
    assert [p["scope"] for p in item["permissions"]] == ["assets.read"]
    assert item["manifest_summary"]["authors"] == []
    assert {"next", "previous"} <= set(studio.get("catalog")[1])  # keyset: no count


def test_diff_health_shape(studio):
    body = studio.get("health")[1]
    assert set(body) == {"ok", "counts", "trust_breakdown", "last_error"}
    assert set(body["counts"]) == {
        "catalog",
        "installed",
        "errors",
        "yanked",
        "blocked",
    }
    assert body["trust_breakdown"] == {"unverified": 0, "verified": 0}
