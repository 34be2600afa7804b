"""Extension manifests (format 1.1): parsing, validation, normalisation and digests.

A raw ``manifest.json`` is checked against the JSON Schema in
``market/schemas/manifest-1.1.schema.json`` and by the semantic rules in
``market.manifest_rules``; every problem is collected and raised together as one
``ManifestError``. The normalised manifest is what the packager writes into a bundle,
what ``manifest_sha256`` digests and what the catalogue stores.

Pure module: no Django. The packager, the install service and the admin share it.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785
from jsonschema import Draft202012Validator

from market import sandbox
from market.errors import (
    ManifestError,
    ManifestMissingError,
    Problem,
    SignatureMismatchError,
    SignatureUnsupportedError,
)
from market.manifest_rules import (
    DEFAULT_MANIFEST_VERSION,
    HTTP_METHODS,
    ID_PATTERN,
    KNOWN_PERMISSION_SCOPES,
    SUPPORTED_MANIFEST_VERSIONS,
    TRUST_LEVELS,
    Normaliser,
    finish_problems,
    json_value_problems,
    schema_problems,
)

__all__ = [
    "DEFAULT_MANIFEST_VERSION",
    "HTTP_METHODS",
    "ID_PATTERN",
    "KNOWN_PERMISSION_SCOPES",
    "MANIFEST_FILENAMES",
    "SCHEMA_ID",
    "SUPPORTED_MANIFEST_VERSIONS",
    "TRUST_LEVELS",
    "Manifest",
    "canonical_json",
    "capabilities",
    "content_record",
    "load_schema",
    "manifest_json_bytes",
    "manifest_sha256",
    "manifest_summary",
    "normalise_manifest",
    "parse_manifest_bytes",
    "parse_signature",
    "permissions_glossary",
    "read_manifest_dir",
    "verify_digest_signature",
]

MANIFEST_FILENAMES = ("manifest.json", "extension.json")
SCHEMA_ID = "https://comfyvn.dev/schemas/manifest-1.1.schema.json"
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "manifest-1.1.schema.json"
# Keys a digest cannot cover: they are computed from it.
_UNDIGESTED_TRUST_KEYS = ("signature", "signature_type")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class Manifest:
    """A valid, normalised manifest. ``data`` is shared: copy it before changing it."""

    data: dict[str, Any]
    warnings: tuple[Problem, ...] = ()
    source_name: str = "manifest.json"

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def version(self) -> str:
        return str(self.data["version"])

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def trust_level(self) -> str:
        return str(self.data.get("trust", {}).get("level", "unverified"))

    def digest(self) -> str:
        return manifest_sha256(self.data)


# --- reading ----------------------------------------------------------------------


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which duplicate wins, so a reviewer could see one value
    # and the Studio use another: refuse them.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_manifest_bytes(raw: bytes, *, source_name: str = "manifest.json") -> dict:
    """Decode manifest bytes (UTF-8, optional BOM) into a dict, or ManifestError."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            [Problem("", "invalid_encoding", f"{source_name} is not UTF-8: {exc}")]
        ) from exc
    try:
        value = json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as exc:
        message = f"{source_name} is not valid JSON: {exc.msg} (line {exc.lineno}, "
        message += f"column {exc.colno})"
        raise ManifestError([Problem("", "invalid_json", message)]) from exc
    except (ValueError, RecursionError) as exc:
        raise ManifestError(
            [Problem("", "invalid_json", f"{source_name} is not valid JSON: {exc}")]
        ) from exc
    if not isinstance(value, dict):
        raise ManifestError(
            [Problem("", "not_an_object", f"{source_name} must hold a JSON object")]
        )
    return value


def read_manifest_dir(src: Path) -> tuple[dict, str]:
    """The raw manifest of a source tree and the file name it came from."""
    src = Path(src)
    for name in MANIFEST_FILENAMES:
        path = src / name
        if path.is_file():
            try:
                raw = path.read_bytes()
            except OSError as exc:
                raise ManifestMissingError(
                    f"{path}: cannot read the manifest: {exc.strerror or exc}"
                ) from exc
            return parse_manifest_bytes(raw, source_name=name), name
    raise ManifestMissingError(
        f"{src} has no {' or '.join(MANIFEST_FILENAMES)}",
        details={"path": str(src)},
    )


# --- validation and normalisation -------------------------------------------------


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(_schema())


def load_schema() -> dict[str, Any]:
    """The manifest JSON Schema (a fresh copy: callers may change it)."""
    return copy.deepcopy(_schema())


def normalise_manifest(
    raw: dict,
    *,
    source_name: str = "manifest.json",
    trust_level: str | None = None,
    allowlist: sandbox.Allowlist | None = None,
) -> Manifest:
    """Validate ``raw`` and return it normalised, or raise ManifestError with every
    problem found (schema, semantic rules and the sandbox's route allowlist).

    ``trust_level`` overrides ``trust.level`` (the packager's ``--trust``).
    """
    value_problems = json_value_problems(raw)
    if not isinstance(raw, dict):
        raise ManifestError(
            [Problem("", "not_an_object", "the manifest must be a JSON object")]
        )
    schema_found = schema_problems(_validator(), raw)
    if value_problems:
        # Values that no JSON library round-trips: stop before copying them.
        raise ManifestError(finish_problems([*value_problems, *schema_found]))

    normaliser = Normaliser(raw, trust_level)
    data = normaliser.run()
    # Semantic problems first: on the same (path, code) their message is clearer.
    problems = finish_problems([*normaliser.problems, *schema_found])
    if not any(p.path.split("[")[0].split(".")[0] in _SANDBOX_INPUTS for p in problems):
        problems = finish_problems(
            [
                *problems,
                *sandbox.check_routes(
                    data["id"],
                    data["routes"],
                    data["trust"]["level"],
                    allowlist or sandbox.default_allowlist(),
                ),
            ]
        )
    if problems:
        raise ManifestError(problems)

    warnings = list(normaliser.warnings)
    if source_name == "extension.json":
        warnings.insert(
            0,
            Problem(
                "",
                "legacy_filename",
                "extension.json is the legacy name; rename it to manifest.json",
            ),
        )
    return Manifest(data=data, warnings=tuple(warnings), source_name=source_name)


# The sandbox needs a valid id, routes and trust level to say anything useful.
_SANDBOX_INPUTS = frozenset({"", "id", "routes", "trust"})


# --- digests and signatures -------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON: the same bytes in every language."""
    return rfc8785.dumps(value)


def manifest_sha256(data: dict) -> str:
    """Hex SHA-256 of the canonical manifest, without the fields derived from it."""
    digestible = dict(data)
    trust = digestible.get("trust")
    if isinstance(trust, dict):
        digestible["trust"] = {
            k: v for k, v in trust.items() if k not in _UNDIGESTED_TRUST_KEYS
        }
    return hashlib.sha256(canonical_json(digestible)).hexdigest()


def content_record(entries: Iterable[tuple[str, str, int]]) -> dict[str, Any]:
    """The ``content`` block for a bundle's files: ``(path, sha256 hex, size)`` each."""
    rows = sorted([str(path), str(sha), int(size)] for path, sha, size in entries)
    return {
        "sha256": hashlib.sha256(canonical_json(rows)).hexdigest(),
        "files": len(rows),
        "bytes": sum(row[2] for row in rows),
    }


def _b64decode(text: str) -> bytes | None:
    # Standard and URL-safe alphabets, padding optional.
    normalised = text.replace("-", "+").replace("_", "/")
    normalised += "=" * (-len(normalised) % 4)
    try:
        return base64.b64decode(normalised, validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_signature(value: str) -> tuple[str, bytes]:
    """``(algorithm, raw bytes)`` of a ``trust.signature``.

    ``sha256:<hex>``, 64 hex digits or base64 of 32 bytes -> ``("sha256", 32 bytes)``;
    ``ed25519:<base64>`` -> ``("ed25519", 64 bytes)``; anything else raises
    SignatureUnsupportedError.
    """
    if not isinstance(value, str) or not value.strip():
        raise SignatureUnsupportedError("the signature is empty or not a string")
    text = value.strip()
    algorithm, sep, payload = text.partition(":")
    algorithm = algorithm.lower()
    if sep:
        if algorithm == "sha256" and _HEX64.fullmatch(payload):
            return "sha256", bytes.fromhex(payload)
        if algorithm == "ed25519":
            raw = _b64decode(payload)
            if raw is not None and len(raw) == 64:
                return "ed25519", raw
            raise SignatureUnsupportedError(
                "an ed25519 signature must be base64 of 64 bytes",
                details={"algorithm": "ed25519"},
            )
        if algorithm == "sha256":
            raise SignatureUnsupportedError(
                "a sha256 signature must be 64 hex digits after 'sha256:'",
                details={"algorithm": "sha256"},
            )
        raise SignatureUnsupportedError(
            f"unsupported signature algorithm {algorithm[:32]!r}; "
            "use sha256 or ed25519",
            details={"algorithm": algorithm[:32]},
        )
    if _HEX64.fullmatch(text):
        return "sha256", bytes.fromhex(text)
    raw = _b64decode(text)
    if raw is not None and len(raw) == 32:
        return "sha256", raw
    raise SignatureUnsupportedError(
        "unrecognised signature: expected sha256:<hex>, 64 hex digits, base64 of "
        "32 bytes or ed25519:<base64>"
    )


def verify_digest_signature(manifest: Manifest) -> Manifest:
    """Check a sha256 ``trust.signature`` against ``manifest_sha256``.

    On a match the returned manifest has ``trust.signature_type = "sha256"``. An
    Ed25519 signature is only recorded as ``signature_type = "ed25519"``: whether a
    trusted key made it is for the install service, which holds the keys. Unsigned
    manifests come back unchanged.
    """
    trust = manifest.data.get("trust") or {}
    signature = trust.get("signature")
    if not signature:
        return manifest
    algorithm, raw = parse_signature(signature)
    if algorithm == "sha256":
        expected = manifest.digest()
        if not hmac.compare_digest(raw, bytes.fromhex(expected)):
            raise SignatureMismatchError(
                "trust.signature does not match the manifest digest",
                details={"expected": expected, "actual": raw.hex()},
            )
    if trust.get("signature_type") == algorithm:
        return manifest
    data = copy.deepcopy(manifest.data)
    data["trust"]["signature_type"] = algorithm
    return dataclasses.replace(manifest, data=data)


def manifest_json_bytes(data: dict) -> bytes:
    """The manifest as written into a bundle: stable, readable, UTF-8."""
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


# --- views of a normalised manifest -----------------------------------------------


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def capabilities(data: dict) -> dict[str, Any]:
    """What a manifest asks for, in the shape the API and the review diff use."""
    ui = data.get("ui")
    ui = ui if isinstance(ui, dict) else {}
    diagnostics = data.get("diagnostics")
    return {
        "permissions": [p.get("scope") for p in _dicts(data.get("permissions"))],
        "routes": [
            {
                "path": r.get("path"),
                "methods": list(r.get("methods", ["GET"])),
                "expose": r.get("expose", "extension"),
            }
            for r in _dicts(data.get("routes"))
        ],
        "events": [e.get("topic") for e in _dicts(data.get("events"))],
        "ui_panels": [p.get("slot") for p in _dicts(ui.get("panels"))],
        "hooks": list(data.get("hooks") or []),
        "diagnostics": copy.deepcopy(diagnostics)
        if isinstance(diagnostics, dict)
        else {"log_topics": [], "metrics": [], "traces": []},
    }


def manifest_summary(data: dict) -> dict[str, Any]:
    """The catalogue card of a manifest."""
    authors = list(data.get("authors") or [])
    return {
        "id": data.get("id"),
        "name": data.get("name"),
        "version": data.get("version"),
        "summary": data.get("summary", ""),
        "authors": authors,
        "primary_author": authors[0] if authors else None,
        "trust": copy.deepcopy(data.get("trust") or {"level": "unverified"}),
        "capabilities": capabilities(data),
    }


def referenced_files(data: dict) -> list[tuple[str, str]]:
    """Files a manifest says the bundle contains: ``[(problem path, bundle path)]``.

    UI panel pages and icons always name files; a route or event ``entry`` names one
    when it is a path to a ``.py`` file (``pkg/module.py``), not a dotted module name.
    """
    found: list[tuple[str, str]] = []
    ui = data.get("ui")
    panels = _dicts(ui.get("panels")) if isinstance(ui, dict) else []
    for i, panel in enumerate(panels):
        for key in ("path", "icon"):
            if isinstance(panel.get(key), str):
                found.append((f"ui.panels[{i}].{key}", panel[key]))
    for kind in ("routes", "events"):
        for i, item in enumerate(_dicts(data.get(kind))):
            entry = item.get("entry")
            if isinstance(entry, str) and entry.endswith(".py") and ":" not in entry:
                found.append((f"{kind}[{i}].entry", entry))
    return found


def missing_file_problems(data: dict, present: Iterable[str]) -> list[Problem]:
    """``missing_file`` problems for referenced files absent from ``present``."""
    have = set(present)
    return [
        Problem(at, "missing_file", f"{path!r} is not in the bundle")
        for at, path in referenced_files(data)
        if path not in have
    ]


def permissions_glossary() -> list[dict[str, str]]:
    """The permission registry, in registry order."""
    return [
        {"scope": scope, "description": description}
        for scope, description in KNOWN_PERMISSION_SCOPES.items()
    ]
