"""The spec's Debug & Verification Checklist, end to end over HTTP with a token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.urls import reverse

from market import review
from market.lifecycle import server_log_path

# Approving as verified needs the catalogue key, made on purpose.
pytestmark = pytest.mark.usefixtures("catalog_key")


def _approve_verified(result):
    """A reviewer approves the bundle as verified: the catalogue signs and re-packs it,
    and the signed bundle is what gets installed."""
    entry = review.catalog_entry_submit(bundle_path=result.path)
    entry = review.catalog_entry_approve(entry=entry, trust_level="verified")
    result.path.write_bytes(Path(entry.package.path).read_bytes())
    return entry


def test_checklist_package_install_list_health_uninstall(
    api, build_bundle, market_root
):
    # 1. package, capture both digests
    result = build_bundle("sample_toolkit")
    ext_id = result.manifest.id
    signed = _approve_verified(result)

    # 3. install by path and inspect the payload
    response = api.post(
        reverse("market-api:install"), {"package": str(result.path)}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["ok"] is True
    installed = body["installed"]
    assert installed["id"] == ext_id
    assert installed["version"] == result.manifest.version
    assert installed["trust"] == "verified"
    assert installed["sha256"] == signed.package_sha256
    assert installed["manifest_sha256"] == signed.manifest_sha256
    summary = installed["manifest_summary"]
    assert summary["id"] == ext_id
    assert summary["trust"]["level"] == "verified"
    declared = [p["scope"] for p in result.manifest.data["permissions"]]
    assert installed["capabilities"]["permissions"] == declared
    assert installed["diagnostics"] == result.manifest.data["diagnostics"]

    # sidecar on disk with trust metadata and digests
    folder = market_root / "extensions" / ext_id
    sidecar = json.loads((folder / ".market.json").read_text())
    assert sidecar["id"] == ext_id
    assert sidecar["version"] == result.manifest.version
    assert sidecar["trust"]["level"] == "verified"
    assert sidecar["package"] == {
        "name": result.path.name,
        "sha256": signed.package_sha256,
        "size": result.path.stat().st_size,
    }
    assert sidecar["manifest_sha256"] == signed.manifest_sha256
    assert sidecar["installed_by"] == "installer"
    assert sidecar["source"] == "path"
    assert (folder / "manifest.json").is_file()

    # 4. list: catalogue entry with permissions and hooks, installed with diagnostics
    listing = api.get(reverse("market-api:list")).json()
    assert listing["ok"] is True
    [entry] = [c for c in listing["catalog"] if c["id"] == ext_id]
    assert [p["scope"] for p in entry["permissions"]] == declared
    assert entry["hooks"] == result.manifest.data["hooks"]
    [inst] = listing["installed"]
    assert (
        inst["diagnostics"]["log_topics"]
        == result.manifest.data["diagnostics"]["log_topics"]
    )
    glossary = [p["scope"] for p in listing["permissions"]]
    assert set(declared) <= set(glossary)
    assert listing["trust_levels"] == ["unverified", "verified"]
    assert [s["slot"] for s in listing["ui_slots"]][:2] == ["sidebar", "inspector"]
    assert all(s["description"] for s in listing["ui_slots"])
    assert {h["name"] for h in listing["hooks"]} >= set(entry["hooks"])

    # 5. health
    health = api.get(reverse("market-api:health")).json()
    assert health["ok"] is True
    assert health["counts"]["installed"] == 1
    assert health["trust_breakdown"] == {"verified": 1, "unverified": 0}
    assert health["last_error"] is None

    # 6. uninstall
    response = api.post(reverse("market-api:uninstall"), {"id": ext_id}, format="json")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "id": ext_id}
    assert not folder.exists()
    log = server_log_path().read_text().splitlines()
    installs = [line for line in log if line.startswith("event=market.install ")]
    uninstalls = [line for line in log if line.startswith("event=market.uninstall ")]
    assert len(installs) == 1 and len(uninstalls) == 1
    assert f"extension_id={ext_id}" in installs[0]
    assert "trust=verified" in installs[0]
    assert f"sha256={signed.package_sha256}" in installs[0]
    assert "actor=installer" in installs[0]
    assert f"extension_id={ext_id}" in uninstalls[0]
    assert api.get(reverse("market-api:health")).json()["counts"]["installed"] == 0


def test_last_error_is_reported_then_cleared_by_a_success(api, build_bundle):
    result = build_bundle("hello_minimal")
    bad = api.post(
        reverse("market-api:uninstall"), {"id": "never.installed"}, format="json"
    )
    assert bad.status_code == 404
    assert bad.json()["error"]["code"] == "not_installed"
    last = api.get(reverse("market-api:health")).json()["last_error"]
    assert last["action"] == "uninstall"
    assert last["code"] == "not_installed"
    assert last["extension_id"] == "never.installed"
    assert last["message"]
    ok = api.post(
        reverse("market-api:install"), {"package": str(result.path)}, format="json"
    )
    assert ok.status_code == 200
    health = api.get(reverse("market-api:health")).json()
    assert health["last_error"] is None
    assert health["counts"]["errors"] == 1
