"""The published contracts: OpenAPI document, docs page, manifest schema, keys."""

from __future__ import annotations

import base64
import json

from django.urls import reverse

from market import signing


def test_openapi_document_lists_every_market_endpoint(db, client):
    response = client.get(reverse("openapi-schema"), {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/market/list",
        "/api/market/install",
        "/api/market/uninstall",
        "/api/market/health",
        "/api/market/catalog/",
        "/api/market/installed/",
        "/api/market/errors/",
        "/api/market/events/",
    ):
        assert any(p.rstrip("/") == path.rstrip("/") for p in paths), path


def test_docs_page_uses_local_assets(db, client):
    response = client.get(reverse("openapi-docs"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr.net" not in html


def test_manifest_schema_is_published(flags_on, client):
    response = client.get(reverse("market-api:manifest-schema"))
    assert response.status_code == 200
    schema = response.json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("manifest-1.1.schema.json")


def test_keys_lists_the_catalogue_key(flags_on, client):
    assert client.get(reverse("market-api:keys")).json() == {"ok": True, "keys": []}
    signing.create_signing_key()
    key = signing.require_signing_key()
    [entry] = client.get(reverse("market-api:keys")).json()["keys"]
    assert entry["key_id"] == signing.key_id_for(key.public_key())
    assert entry["algorithm"] == "ed25519"
    assert len(base64.b64decode(entry["public_key"])) == 32


def test_openapi_documents_response_shapes_and_errors(db, client):
    doc = client.get(reverse("openapi-schema"), {"format": "json"}).json()
    install = doc["paths"]["/api/market/install"]["post"]["responses"]
    assert {"200", "401", "403", "409", "413", "422"} <= set(install)
    ok_ref = install["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ok_ref.endswith("/InstallResponse")
    schemas = doc["components"]["schemas"]
    assert set(schemas["Error"]["properties"]) == {"ok", "error"}
    assert {"catalog", "installed", "permissions", "hooks", "trust_levels"} <= set(
        schemas["ListResponse"]["properties"]
    )


def test_openapi_document_generates_without_warnings(db, tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.json"
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--format",
        "openapi-json",
        "--file",
        str(out),
    )
    doc = json.loads(out.read_text())
    catalog = doc["paths"]["/api/market/catalog"]["get"]
    assert {"search", "trust", "permission", "hook"} <= {
        p["name"] for p in catalog["parameters"]
    }
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method == "get":
                # Every read may be refused: flag off (403), reads not public (401).
                assert {"401", "403"} <= set(operation["responses"]), path
    actor = doc["components"]["schemas"]["LifecycleEvent"]["properties"]["actor"]
    assert actor["nullable"] is True


def test_openapi_marks_public_reads(db, client, settings):
    def security(path, method="get"):
        doc = client.get(reverse("openapi-schema"), {"format": "json"}).json()
        return doc["paths"][path][method]["security"]

    assert {} in security("/api/market/installed")
    assert {} in security("/api/market/catalog")
    assert {} not in security("/api/market/errors")
    assert {} not in security("/api/market/submissions")
    assert {} not in security("/api/market/install", "post")
    settings.MARKET_PUBLIC_READS = False
    assert {} not in security("/api/market/installed")
