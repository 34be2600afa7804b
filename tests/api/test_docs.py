"""The published contracts: OpenAPI document, docs page, manifest schema, keys."""

from __future__ import annotations

import base64

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
    key = signing.load_signing_key(create=True)
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
