"""A stand-in central marketplace over real HTTP on 127.0.0.1: it serves snapshot
documents this test signs (RFC 8785 + Ed25519), bundles, and the key chain, and
can be told to misbehave (wrong bytes, endless bodies, errors, going away)."""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from market import archive, packaging, signing
from market.manifest import manifest_json_bytes

Body = bytes | Iterable[bytes]
Route = Callable[[], tuple[int, dict[str, str], Body]]


def public_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(raw).decode()


def iso(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )


class FakeCentral:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        central = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                central.requests.append(self.path)
                route = central.routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                status, headers, body = route()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if isinstance(body, bytes) and "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if isinstance(body, bytes):
                        self.wfile.write(body)
                    else:
                        for chunk in body:
                            self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def serve(self, path: str, body: Body, status: int = 200, **headers: str) -> None:
        self.routes[path] = lambda: (status, dict(headers), body)

    def serve_snapshot(
        self, document: dict[str, Any], since: int | None = None
    ) -> None:
        path = "/api/market/snapshot" + ("" if since is None else f"?since={since}")
        self.serve(
            path, json.dumps(document).encode(), **{"Content-Type": "application/json"}
        )


def signed_document(snapshot: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    signature = key.sign(rfc8785.dumps(snapshot))
    return {
        "ok": True,
        "snapshot": snapshot,
        "signature": base64.b64encode(signature).decode(),
    }


def snapshot(
    key: Ed25519PrivateKey,
    entries: list[dict[str, Any]],
    *,
    revision: int = 5,
    since: int | None = None,
    expires_in: timedelta = timedelta(days=7),
    issued: datetime | None = None,
) -> dict[str, Any]:
    issued = issued or datetime.now(UTC)
    return {
        "format": 1,
        "origin": "http://central.test",
        "revision": revision,
        "since": since,
        "issued_at": iso(issued),
        "expires_at": iso(issued + expires_in),
        "key_id": signing.key_id_for(key.public_key()),
        "entries": entries,
        "removed": [],
    }


def signed_bundle(
    unsigned: Path, key: Ed25519PrivateKey, out_dir: Path
) -> packaging.PackageResult:
    """``unsigned`` re-packed with a catalogue signature by ``key``, as a central
    approval as verified does."""
    key_id = signing.key_id_for(key.public_key())
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        info = archive.extract_bundle(unsigned, tree)
        data = {k: v for k, v in info.manifest.data.items() if k != "content"}
        trust = {
            k: v
            for k, v in (data.get("trust") or {}).items()
            if k not in ("signature", "signature_type")
        }
        trust.update(
            level="verified", signed_by=key_id, verified_at=iso(datetime.now(UTC))
        )
        data["trust"] = trust
        (tree / "manifest.json").write_bytes(manifest_json_bytes(data))
        first = packaging.build_package(
            tree, Path(tmp) / "unsigned", force=True, include_hidden=True
        )
        _, signature = signing.sign_digest(first.manifest_sha256, key)
        data["trust"] = {**trust, "signature": signature}
        (tree / "manifest.json").write_bytes(manifest_json_bytes(data))
        return packaging.build_package(tree, out_dir, force=True, include_hidden=True)


def entry_for(
    bundle: Path,
    *,
    state: str = "approved",
    reason: str | None = None,
) -> dict[str, Any]:
    """The snapshot entry of a bundle, as the central server lists it."""
    with tempfile.TemporaryDirectory() as tmp:
        info = archive.extract_bundle(bundle, Path(tmp) / "x")
    manifest = info.manifest.data
    verified = info.manifest.trust_level == "verified"
    now = iso(datetime.now(UTC))
    return {
        "id": info.manifest.id,
        "version": info.manifest.version,
        "name": manifest.get("name", ""),
        "summary": manifest.get("summary", ""),
        "authors": manifest.get("authors", []),
        "trust": "verified" if verified else "unverified",
        "state": state,
        "reason": reason,
        "state_at": None if state == "approved" else now,
        "manifest": manifest,
        "manifest_sha256": info.manifest.digest(),
        "package_sha256": info.sha256,
        "package_size": info.size,
        "signature": manifest["trust"]["signature"] if verified else None,
        "approved_at": now,
    }


def copy_to(path: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(path, folder / path.name))
