"""What a Studio client written against the FastAPI reference server sends and reads.

The reference tests' sample extension and manifests, bundles laid out as the
reference packager lays them out (its model's defaults filled in, no content record),
a plain JSON-over-HTTP client, and this server's one refusal shape. The tests are in
``test_reference_expectations.py`` and ``test_reference_differences.py``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from market.models import InstalledExtension

# The reference tests' sample extension, as its source tree declares it.
SAMPLE_MANIFEST: dict[str, Any] = {
    "id": "sample.toolkit",
    "name": "Sample Toolkit",
    "version": "1.2.3",
    "summary": "Sample toolkit for marketplace tests",
    "description": "Provides helper routes for tests",
    "permissions": [{"scope": "assets.read"}],
    "routes": [
        {
            "path": "/",
            "entry": "handlers.py",
            "callable": "handlers.endpoint",
            "methods": ["GET"],
        }
    ],
    "hooks": ["on_scene_enter"],
}
HANDLERS = b"def endpoint(payload, extension_id=None):\n    return {'ok': True}\n"

# The reference manifest tests' base manifest: no summary, only a description.
DEMO_MANIFEST: dict[str, Any] = {
    "id": "demo.extension",
    "name": "Demo Extension",
    "version": "1.0.0",
    "description": "Demo manifest for tests",
}


def global_route(path: str) -> dict[str, Any]:
    return {
        "path": path,
        "entry": "handlers.py",
        "callable": "handlers.endpoint",
        "expose": "global",
    }


def as_reference_packs_it(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest as the reference packager writes it into a bundle: its model's
    defaults filled in, no ``content`` record (the reference has none)."""
    packed: dict[str, Any] = {
        "manifest_version": "1.1",
        "authors": [],
        "categories": [],
        "keywords": [],
        "compatibility": {},
        "permissions": [],
        "routes": [],
        "events": [],
        "ui": {"panels": []},
        "hooks": [],
        "diagnostics": {"log_topics": [], "metrics": [], "traces": []},
        "trust": {"level": "unverified"},
        "provenance": {},
        **manifest,
    }
    packed["summary"] = manifest.get("summary") or manifest.get("description")
    packed["permissions"] = [
        {"optional": False, "default": False, **perm} for perm in packed["permissions"]
    ]
    packed["routes"] = [
        {"methods": ["GET"], "expose": "extension", "tags": [], **route}
        for route in packed["routes"]
    ]
    return packed


def reference_bundle(folder: Path, manifest: dict[str, Any]) -> Path:
    """A ``.cvnext`` laid out as the reference packager lays it out."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{manifest['id']}-{manifest['version']}.cvnext"
    body = json.dumps(as_reference_packs_it(manifest), indent=2, sort_keys=True) + "\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in (("manifest.json", body.encode()), ("handlers.py", HANDLERS)):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return path


def source_tree(folder: Path, manifest: dict[str, Any]) -> Path:
    """The extension's source folder, for this server's packager."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "handlers.py").write_bytes(HANDLERS)
    return folder


class Http:
    """A plain JSON-over-HTTP client, as a Studio build is."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base.rstrip("/") + "/api/market/"
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read())

    def get(self, path: str) -> tuple[int, Any]:
        return self.call("GET", path)

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        return self.call("POST", path, body)


def refusal(status: int, body: Any, expected_status: int, code: str) -> dict:
    """This server's one error shape (the reference answers ``{"detail": ...}``)."""
    assert status == expected_status, body
    assert body["ok"] is False
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    return body["error"]


def nothing_installed(market_root: Path) -> bool:
    extensions = market_root / "extensions"
    return InstalledExtension.objects.count() == 0 and (
        not extensions.exists() or not any(extensions.iterdir())
    )
