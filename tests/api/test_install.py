"""Install sources, upgrades, reinstall/downgrade rules, trust proof and uninstall."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from market import review
from market.models import InstalledExtension, LifecycleError, LifecycleEvent

# Approving as verified needs the catalogue key, made on purpose.
pytestmark = pytest.mark.usefixtures("catalog_key")


def install(api, **payload):
    return api.post(reverse("market-api:install"), payload, format="json")


def bump(version):
    def edit(data):
        data["version"] = version

    return edit


def test_install_from_upload(api, build_bundle, market_root):
    result = build_bundle("hello_minimal")
    with result.path.open("rb") as fh:
        response = api.post(
            reverse("market-api:install"), {"package": fh}, format="multipart"
        )
    assert response.status_code == 200, response.json()
    installed = response.json()["installed"]
    assert installed["sha256"] == result.sha256
    assert installed["trust"] == "unverified"
    sidecar = json.loads(
        (market_root / "extensions" / result.manifest.id / ".market.json").read_text()
    )
    assert sidecar["source"] == "upload"
    assert sidecar["package"]["name"] == result.path.name
    # the spooled upload is gone: only the installed folder remains
    assert [p.name for p in (market_root / "staging").iterdir()] == []


def test_install_from_catalogue_reference(api, build_bundle):
    result = build_bundle("hello_minimal")
    entry = review.catalog_entry_submit(bundle_path=result.path)
    review.catalog_entry_approve(entry=entry, trust_level="unverified")
    response = install(api, id=result.manifest.id)
    assert response.status_code == 200, response.json()
    row = InstalledExtension.objects.get()
    assert row.source == "catalog"
    assert row.catalog_entry_id == entry.pk


def test_catalogue_reference_to_unknown_or_pending_entry_is_not_found(
    api, build_bundle
):
    result = build_bundle("hello_minimal")
    review.catalog_entry_submit(bundle_path=result.path)  # pending, not listed
    response = install(api, id=result.manifest.id)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert install(api, id="no.such.thing").status_code == 404


def test_path_outside_package_dirs_is_refused(api, build_bundle, tmp_path):
    result = build_bundle("hello_minimal")
    outside = tmp_path / "elsewhere.cvnext"
    outside.write_bytes(result.path.read_bytes())
    for path in (
        str(outside),
        "/etc/passwd",
        "relative/x.cvnext",
        str(result.path.parent / ".." / ".." / "elsewhere.cvnext"),
    ):
        response = install(api, package=path)
        assert response.status_code in (403, 404), path
        assert response.json()["error"]["code"] in ("path_not_allowed", "not_found")
    assert InstalledExtension.objects.count() == 0


def test_symlink_inside_package_dir_pointing_outside_is_refused(
    api, build_bundle, tmp_path
):
    result = build_bundle("hello_minimal")
    outside = tmp_path / "outside.cvnext"
    outside.write_bytes(result.path.read_bytes())
    link = result.path.parent / "link.cvnext"
    link.symlink_to(outside)
    response = install(api, package=str(link))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "path_not_allowed"


def test_request_must_name_exactly_one_source(api):
    response = install(api)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    response = install(api, package="/x.cvnext", id="hello.minimal")
    assert response.status_code == 400


def test_same_version_again_conflicts_unless_reinstall(api, build_bundle):
    result = build_bundle("hello_minimal")
    assert install(api, package=str(result.path)).status_code == 200
    again = install(api, package=str(result.path))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_installed"
    forced = install(api, package=str(result.path), reinstall=True)
    assert forced.status_code == 200
    kinds = [e.detail["kind"] for e in LifecycleEvent.objects.order_by("id")]
    assert kinds == ["install", "reinstall"]


def test_upgrade_replaces_and_downgrade_needs_permission(
    api, build_bundle, market_root
):
    old = build_bundle("hello_minimal")
    new = build_bundle("hello_minimal", edit=bump("9.0.0"))
    assert install(api, package=str(old.path)).status_code == 200
    up = install(api, package=str(new.path))
    assert up.status_code == 200
    assert up.json()["installed"]["version"] == "9.0.0"
    folder = market_root / "extensions" / old.manifest.id
    assert json.loads((folder / ".market.json").read_text())["version"] == "9.0.0"
    down = install(api, package=str(old.path))
    assert down.status_code == 409
    assert down.json()["error"]["code"] == "downgrade_refused"
    assert json.loads((folder / ".market.json").read_text())["version"] == "9.0.0"
    ok = install(api, package=str(old.path), allow_downgrade=True)
    assert ok.status_code == 200
    assert InstalledExtension.objects.get().version == old.manifest.version
    # no trash left behind after the swaps
    assert list((market_root / "staging").iterdir()) == []


def test_claimed_verified_without_proof_is_refused(api, build_bundle, market_root):
    result = build_bundle("sample_toolkit")  # claims verified; never approved
    response = install(api, package=str(result.path))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "trust_unproven"
    assert not (market_root / "extensions" / result.manifest.id).exists()
    assert InstalledExtension.objects.count() == 0
    assert LifecycleError.objects.get().code == "trust_unproven"


def test_approved_unverified_is_not_promoted(api, build_bundle):
    result = build_bundle("hello_minimal")
    entry = review.catalog_entry_submit(bundle_path=result.path)
    review.catalog_entry_approve(entry=entry, trust_level="unverified")
    response = install(api, package=str(result.path))
    assert response.json()["installed"]["trust"] == "unverified"


def _signed_bundle(build_bundle, key=None):
    """Build sample.toolkit signed by ``key`` (default: the catalogue key)."""
    from market import signing

    key = key or signing.require_signing_key()
    key_id = signing.key_id_for(key.public_key())

    def claim(data):
        data["trust"] = {"level": "verified", "signed_by": key_id}

    unsigned = build_bundle("sample_toolkit", edit=claim)
    _, signature = signing.sign_digest(unsigned.manifest_sha256, key)

    def signed(data):
        data["trust"] = {
            "level": "verified",
            "signed_by": key_id,
            "signature": signature,
        }

    result = build_bundle("sample_toolkit", edit=signed)
    assert result.manifest_sha256 == unsigned.manifest_sha256
    return result


def test_ed25519_signature_from_trusted_key_proves_verified(api, build_bundle):
    result = _signed_bundle(build_bundle)
    assert result.manifest.data["trust"]["signature_type"] == "ed25519"
    response = install(api, package=str(result.path))
    assert response.status_code == 200, response.json()
    assert response.json()["installed"]["trust"] == "verified"
    assert response.json()["installed"]["manifest_sha256"] == result.manifest_sha256


def test_ed25519_signature_from_unknown_key_is_refused(api, build_bundle):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    result = _signed_bundle(build_bundle, key=Ed25519PrivateKey.generate())
    response = install(api, package=str(result.path))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "trust_unproven"


@pytest.mark.parametrize(
    "bad_id", ["../x", "/etc", "..", "a/../../b", "", "ÄÖÜ", "x" * 300]
)
def test_uninstall_of_hostile_ids_deletes_nothing(
    api, build_bundle, market_root, bad_id
):
    result = build_bundle("hello_minimal")
    assert install(api, package=str(result.path)).status_code == 200
    before = sorted(p.relative_to(market_root) for p in market_root.rglob("*"))
    response = api.post(reverse("market-api:uninstall"), {"id": bad_id}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    after = sorted(p.relative_to(market_root) for p in market_root.rglob("*"))
    assert [p for p in after if "logs" not in p.parts] == [
        p for p in before if "logs" not in p.parts
    ]
    assert InstalledExtension.objects.count() == 1


def test_uninstall_of_folder_not_installed_by_marketplace_deletes_nothing(
    api, market_root
):
    folder = market_root / "extensions" / "hand.made"
    folder.mkdir(parents=True)
    (folder / "keep.txt").write_text("mine")
    response = api.post(
        reverse("market-api:uninstall"), {"id": "hand.made"}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_installed"
    assert (folder / "keep.txt").read_text() == "mine"


def test_install_over_unmanaged_folder_is_refused(api, build_bundle, market_root):
    result = build_bundle("hello_minimal")
    folder = market_root / "extensions" / result.manifest.id
    folder.mkdir(parents=True)
    (folder / "keep.txt").write_text("mine")
    response = install(api, package=str(result.path))
    assert response.status_code == 409
    assert (folder / "keep.txt").read_text() == "mine"
    assert InstalledExtension.objects.count() == 0


def test_bundle_without_content_record_installs_unverified_with_a_warning(
    api, package_dir, market_root
):
    from tests.bundles import good_entries, write_zip

    old = write_zip(package_dir / "old.cvnext", good_entries(content=False))
    response = install(api, package=str(old))
    assert response.status_code == 200, response.json()
    installed = response.json()["installed"]
    assert installed["trust"] == "unverified"
    codes = [w["code"] for w in installed["warnings"]]
    assert "content_record_missing" in codes
    sidecar = json.loads(
        (market_root / "extensions" / installed["id"] / ".market.json").read_text()
    )
    assert [w["code"] for w in sidecar["warnings"]] == codes


def test_verified_claim_without_content_record_is_unproven(api, package_dir):
    from tests.bundles import good_entries, write_zip

    old = write_zip(
        package_dir / "old.cvnext",
        good_entries(content=False, trust={"level": "verified"}),
    )
    response = install(api, package=str(old))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "trust_unproven"


def test_catalog_detail_lists_approved_versions(api, build_bundle):
    for version in ("0.1.0", "0.2.0"):
        result = build_bundle("hello_minimal", edit=bump(version))
        entry = review.catalog_entry_submit(bundle_path=result.path)
        review.catalog_entry_approve(entry=entry, trust_level="unverified")
    pending = build_bundle("hello_minimal", edit=bump("0.3.0"))
    review.catalog_entry_submit(bundle_path=pending.path)
    url = reverse("market-api:catalog-detail", args=["hello.minimal"])
    body = api.get(url).json()
    assert body["ok"] is True
    assert body["entry"]["version"] == "0.2.0"
    assert sorted(v["version"] for v in body["entry"]["versions"]) == ["0.1.0", "0.2.0"]
    missing = api.get(reverse("market-api:catalog-detail", args=["no.such.ext"]))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    # an older version can still be installed by reference
    old = install(api, id="hello.minimal", version="0.1.0")
    assert old.json()["installed"]["version"] == "0.1.0"


@pytest.mark.parametrize("body", ["[null, null]", '"text"', "42", "null", "{bad json"])
def test_install_body_that_is_not_an_object_is_a_clear_400(api, body):
    response = api.post(
        reverse("market-api:install"), body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert response.json()["error"]["code"] in ("invalid_request",)


@pytest.mark.parametrize("body", ["[1]", '"x"', '{"id": 5}', '{"id": null}', "{}"])
def test_uninstall_body_that_is_not_an_id_is_a_clear_400(api, body):
    response = api.post(
        reverse("market-api:uninstall"), body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_catalogue_on_remote_storage_installs_and_leaves_no_temp_copy(
    api, build_bundle, settings, market_root
):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "tests.remote_storage.RemoteLikeStorage",
            "OPTIONS": {"location": str(market_root / "remote")},
        },
    }
    result = build_bundle("sample_toolkit")
    entry = review.catalog_entry_submit(bundle_path=result.path)
    review.catalog_entry_approve(entry=entry, trust_level="verified")
    response = install(api, id="sample.toolkit")
    assert response.status_code == 200, response.json()
    assert response.json()["installed"]["trust"] == "verified"
    assert list((market_root / "staging").iterdir()) == []


def test_anonymous_readers_do_not_see_who_installed(api, build_bundle, token_client):
    result = build_bundle("hello_minimal")
    assert install(api, package=str(result.path)).status_code == 200
    anonymous = token_client(None)
    for body in (
        anonymous.get(reverse("market-api:list")).json()["installed"][0],
        anonymous.get(reverse("market-api:installed-list")).json()["items"][0],
    ):
        assert "installed_by" not in body["sidecar"]
    mine = api.get(reverse("market-api:list")).json()["installed"][0]
    assert mine["sidecar"]["installed_by"] == "installer"


def test_operators_filter_errors_and_events(api, build_bundle, make_user, token_client):
    operator = make_user(
        "operator", "market.view_lifecycleerror", "market.view_lifecycleevent"
    )
    result = build_bundle("hello_minimal")
    install(api, package=str(result.path))
    api.post(reverse("market-api:uninstall"), {"id": "other.ext"}, format="json")
    client = token_client(operator)
    events = client.get(reverse("market-api:events-list"), {"action": "install"}).json()
    assert [e["extension_id"] for e in events["items"]] == ["hello.minimal"]
    errors = client.get(
        reverse("market-api:errors-list"), {"extension_id": "other.ext"}
    ).json()
    assert [(e["action"], e["code"]) for e in errors["items"]] == [
        ("uninstall", "not_installed")
    ]
    none = client.get(reverse("market-api:errors-list"), {"extension_id": "x.y.z"})
    assert none.json()["count"] == 0


def test_broken_server_setting_is_a_generic_500_and_logged(api, settings, caplog):
    from tests.conftest import SERVER_ERROR

    settings.MARKET_TRUSTED_KEYS = {"cvn-bad": "not base64 at all!"}
    api.raise_request_exception = False
    with caplog.at_level("ERROR", logger="market"):
        response = api.get(reverse("market-api:keys"))
    assert response.status_code == 500
    assert response.json() == SERVER_ERROR
    assert any("MARKET_TRUSTED_KEYS" in r.getMessage() for r in caplog.records)


def test_installed_extensions_say_when_the_catalogue_has_an_upgrade(
    api, build_bundle, django_assert_max_num_queries
):
    old = build_bundle("hello_minimal")
    assert install(api, package=str(old.path)).status_code == 200
    listing = api.get(reverse("market-api:list")).json()
    assert listing["installed"][0]["update_available"] is None
    for version in ("0.1.0", "0.3.0"):
        entry = review.catalog_entry_submit(
            bundle_path=build_bundle("hello_minimal", edit=bump(version)).path
        )
        review.catalog_entry_approve(entry=entry, trust_level="unverified")
    listing = api.get(reverse("market-api:list")).json()
    assert listing["installed"][0]["update_available"] == "0.3.0"
    with django_assert_max_num_queries(8):
        page = api.get(reverse("market-api:installed-list")).json()
    assert page["items"][0]["update_available"] == "0.3.0"
    upgraded = install(api, id="hello.minimal").json()["installed"]
    assert upgraded["version"] == "0.3.0"
    assert upgraded["update_available"] is None
