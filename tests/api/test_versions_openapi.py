"""The OpenAPI document types compatibility and dependencies: the header, the
request flags, the response fields and the refusals' details."""

from __future__ import annotations

from django.urls import reverse


def test_openapi_types_compatibility_and_dependencies(db, client):
    doc = client.get(reverse("openapi-schema"), {"format": "json"}).json()
    schemas = doc["components"]["schemas"]
    paths = doc["paths"]
    for path, method in (
        ("/api/market/list", "get"),
        ("/api/market/install", "post"),
        ("/api/market/catalog", "get"),
        ("/api/market/catalog/{extension_id}", "get"),
    ):
        params = paths[path][method].get("parameters", [])
        header = [p for p in params if p["name"] == "X-Studio-Version"]
        assert header and header[0]["in"] == "header", path
    item = schemas["CatalogItem"]["properties"]
    assert item["compatible"]["type"] == "boolean"
    assert "compatible" not in schemas["CatalogItem"]["required"]
    assert item["dependencies"]["additionalProperties"] == {"type": "string"}
    assert set(schemas["CatalogVersion"]["properties"]) >= {
        "compatibility",
        "dependencies",
        "compatible",
    }
    assert schemas["InstallRequest"]["properties"]["with_dependencies"]["type"] == (
        "boolean"
    )
    assert schemas["UninstallRequest"]["properties"]["cascade"]["type"] == "boolean"
    assert "dependencies_installed" in schemas["InstallResponse"]["properties"]
    assert "dependents_removed" in schemas["UninstallResponse"]["properties"]

    conflict = paths["/api/market/install"]["post"]["responses"]["409"]
    ref = conflict["content"]["application/json"]["schema"]["$ref"]
    body = schemas[
        schemas[ref.rsplit("/", 1)[1]]["properties"]["error"]["$ref"].rsplit("/", 1)[1]
    ]
    titles = [d.get("title") for d in body["properties"]["details"]["anyOf"]]
    assert titles == [
        "IncompatibleDetails",
        "MissingDependencyDetails",
        "DependencyCycleDetails",
        "OtherDetails",
    ]
    uninstall = paths["/api/market/uninstall"]["post"]["responses"]["409"]
    assert uninstall["content"]["application/json"]["schema"]["$ref"].endswith(
        "/UninstallConflict"
    )
