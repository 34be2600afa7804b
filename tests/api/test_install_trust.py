"""``trust`` on install: ``unverified`` is the operator's choice to sandbox,
``verified`` a requirement the bundle must prove; nothing else is accepted."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from market import review
from market.models import InstalledExtension, LifecycleError, LifecycleEvent

# Approving as verified needs the catalogue key, made on purpose.
pytestmark = pytest.mark.usefixtures("catalog_key")


def install(api, **payload):
    return api.post(reverse("market-api:install"), payload, format="json")


def approve(result, trust_level):
    entry = review.catalog_entry_submit(bundle_path=result.path)
    return review.catalog_entry_approve(entry=entry, trust_level=trust_level)


def claim_verified(data):
    data["trust"] = {"level": "verified"}


def nothing_installed(market_root: Path) -> bool:
    extensions = market_root / "extensions"
    staging = market_root / "staging"
    return (
        InstalledExtension.objects.count() == 0
        and (not extensions.exists() or not any(extensions.iterdir()))
        and (not staging.exists() or not any(staging.iterdir()))
    )


def sidecar(market_root: Path, ext_id: str) -> dict:
    return json.loads(
        (market_root / "extensions" / ext_id / ".market.json").read_text()
    )


def test_verified_required_refuses_a_bundle_nobody_vouched_for(
    api, build_bundle, market_root
):
    result = build_bundle("hello_minimal")  # claims unverified, never reviewed
    response = install(api, package=str(result.path), trust="verified")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "trust_unproven"
    assert error["details"] == {
        "id": "hello.minimal",
        "requested": "verified",
        "claimed": "unverified",
        "sha256": result.sha256,
    }
    assert str(market_root) not in error["message"]
    assert nothing_installed(market_root)
    stored = LifecycleError.objects.get()
    assert (stored.action, stored.extension_id, stored.code) == (
        "install",
        "hello.minimal",
        "trust_unproven",
    )


def test_verified_required_refuses_an_unverified_catalogue_entry(
    api, build_bundle, market_root
):
    approve(build_bundle("hello_minimal"), "unverified")
    response = install(api, id="hello.minimal", trust="verified")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "trust_unproven"
    assert nothing_installed(market_root)


def test_verified_required_refuses_an_unproven_claim(api, build_bundle, market_root):
    result = build_bundle("hello_minimal", edit=claim_verified)
    response = install(api, package=str(result.path), trust="verified")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "trust_unproven"
    assert nothing_installed(market_root)


def test_verified_required_is_met_by_a_proven_bundle(api, build_bundle, market_root):
    approve(build_bundle("sample_toolkit"), "verified")
    response = install(api, id="sample.toolkit", trust="verified")
    assert response.status_code == 200, response.json()
    assert response.json()["installed"]["trust"] == "verified"
    trust = sidecar(market_root, "sample.toolkit")["trust"]
    assert trust["level"] == "verified"
    assert trust["proof"] == "catalog"
    assert trust["requested"] == "verified"


def test_unverified_sandboxes_a_verified_bundle(api, build_bundle, market_root):
    approve(build_bundle("hello_minimal"), "verified")
    response = install(api, id="hello.minimal", trust="unverified")
    assert response.status_code == 200, response.json()
    installed = response.json()["installed"]
    assert installed["trust"] == "unverified"
    assert installed["manifest_summary"]["trust"]["level"] == "unverified"
    trust = sidecar(market_root, "hello.minimal")["trust"]
    assert trust["level"] == "unverified"
    assert trust["requested"] == "unverified"
    assert "proof" not in trust
    assert InstalledExtension.objects.get().trust_level == "unverified"
    event = LifecycleEvent.objects.get(action="install")
    assert event.trust_level == "unverified"
    assert event.detail["trust_requested"] == "unverified"
    health = api.get(reverse("market-api:health")).json()
    assert health["trust_breakdown"] == {"unverified": 1, "verified": 0}


def test_unverified_installs_an_unproven_claim_sandboxed(
    api, build_bundle, market_root
):
    result = build_bundle("hello_minimal", edit=claim_verified)
    refused = install(api, package=str(result.path))
    assert refused.json()["error"]["code"] == "trust_unproven"
    response = install(api, package=str(result.path), trust="unverified")
    assert response.status_code == 200, response.json()
    assert response.json()["installed"]["trust"] == "unverified"
    assert sidecar(market_root, "hello.minimal")["trust"]["requested"] == "unverified"


def test_unverified_cannot_sandbox_global_routes(api, build_bundle, market_root):
    approve(build_bundle("sample_toolkit"), "verified")
    response = install(api, id="sample.toolkit", trust="unverified")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "manifest_invalid"
    codes = {p["code"] for p in error["details"]["problems"]}
    assert codes == {"route_not_allowed"}
    assert nothing_installed(market_root)


def test_without_trust_the_bundle_proves_its_level(api, build_bundle, market_root):
    result = build_bundle("hello_minimal")
    response = install(api, package=str(result.path))
    assert response.status_code == 200
    assert "requested" not in sidecar(market_root, "hello.minimal")["trust"]
    assert "trust_requested" not in LifecycleEvent.objects.get().detail


@pytest.mark.parametrize(
    "value", ["trusted", "", "Verified", " verified", None, 1, True, ["verified"], {}]
)
def test_any_other_trust_value_is_invalid(api, build_bundle, market_root, value):
    result = build_bundle("hello_minimal")
    response = install(api, package=str(result.path), trust=value)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert [p["path"] for p in error["details"]["problems"]] == ["trust"]
    assert nothing_installed(market_root)
    assert LifecycleError.objects.count() == 0


def test_trust_rides_along_with_an_upload(api, build_bundle, market_root):
    result = build_bundle("hello_minimal")
    with result.path.open("rb") as fh:
        response = api.post(
            reverse("market-api:install"),
            {"package": fh, "trust": "verified"},
            format="multipart",
        )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "trust_unproven"
    assert nothing_installed(market_root)


@pytest.mark.django_db(transaction=True)
def test_shell_install_takes_the_same_trust_option(build_bundle, market_root):
    result = build_bundle("hello_minimal")
    with pytest.raises(CommandError, match="trust_unproven"):
        call_command("market_install", str(result.path), "--trust", "verified")
    assert nothing_installed(market_root)
    out = StringIO()
    call_command(
        "market_install", str(result.path), "--trust", "unverified", stdout=out
    )
    assert "trust=unverified" in out.getvalue()
    assert sidecar(market_root, "hello.minimal")["trust"]["requested"] == "unverified"


def test_openapi_documents_trust(db, client):
    doc = client.get(reverse("openapi-schema"), {"format": "json"}).json()
    schemas = doc["components"]["schemas"]
    trust = schemas["InstallRequest"]["properties"]["trust"]
    ref = trust["allOf"][0]["$ref"] if "allOf" in trust else trust["$ref"]
    enum = schemas[ref.rsplit("/", 1)[1]]["enum"]
    assert enum == ["unverified", "verified"]
    assert "trust_unproven" in trust["description"]
