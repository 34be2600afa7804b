"""Manifest parsing, validation, normalisation, digests and signatures.

Pure tests: no database and no Django settings (they run with ``-p no:django``).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from market import sandbox
from market.characters import HIDDEN_CATEGORIES
from market.errors import (
    ManifestError,
    ManifestMissingError,
    SignatureMismatchError,
    SignatureUnsupportedError,
)
from market.hooks_catalog import HOOK_NAMES
from market.manifest import (
    DEFAULT_MANIFEST_VERSION,
    HTTP_METHODS,
    ID_PATTERN,
    KNOWN_PERMISSION_SCOPES,
    MANIFEST_FILENAMES,
    SUPPORTED_MANIFEST_VERSIONS,
    TRUST_LEVELS,
    Manifest,
    canonical_json,
    capabilities,
    content_record,
    load_schema,
    manifest_json_bytes,
    manifest_sha256,
    manifest_summary,
    normalise_manifest,
    parse_manifest_bytes,
    parse_signature,
    permissions_glossary,
    read_manifest_dir,
    registry,
    verify_digest_signature,
)
from market.manifest.normalise_base import fold_strings

SPEC_SCOPES = [
    ("assets.read", "List/query asset registry metadata."),
    ("assets.write", "Register or update asset metadata & sidecars."),
    ("assets.events", "Subscribe to asset registry hook events."),
    ("assets.debug", "Access asset debug metrics/traces/thumbnails."),
    ("hooks.emit", "Emit modder hook events via the internal bus."),
    ("hooks.listen", "Subscribe to modder hook events from the bus."),
    (
        "extensions.lifecycle",
        "Listen for extension install/uninstall lifecycle updates.",
    ),
    ("ui.panels", "Register Studio UI panels."),
    ("api.global", "Expose HTTP routes outside the extension namespace."),
    ("diagnostics.read", "Access debug tooling endpoints exposed by the extension."),
    ("sandbox.fs.limited", "Request write access to additional filesystem roots."),
]


@pytest.fixture(autouse=True)
def market_root():
    """Pure tests: replace the suite's settings-based runtime folder fixture."""
    return None


def minimal(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": "sample.toolkit",
        "name": "Sample Toolkit",
        "version": "1.2.3",
        "summary": "Tools for samples.",
    }
    raw.update(changes)
    return raw


def problems_of(raw: Any, **options: Any) -> list[tuple[str, str]]:
    with pytest.raises(ManifestError) as info:
        normalise_manifest(raw, **options)
    assert info.value.code == "manifest_invalid"
    assert info.value.details == {
        "problems": [p.as_dict() for p in info.value.problems],
        "problem_count": len(info.value.problems),
    }
    return [(p.path, p.code) for p in info.value.problems]


def jcs_sha256(data: dict) -> str:
    """An independent digest: drop the signature fields, RFC 8785, SHA-256."""
    clone = json.loads(json.dumps(data))
    clone.get("trust", {}).pop("signature", None)
    clone.get("trust", {}).pop("signature_type", None)
    return hashlib.sha256(rfc8785.dumps(clone)).hexdigest()


# --- registries and constants -----------------------------------------------------


def test_constants():
    assert MANIFEST_FILENAMES == ("manifest.json", "extension.json")
    assert SUPPORTED_MANIFEST_VERSIONS == ("1.0", "1.1")
    assert DEFAULT_MANIFEST_VERSION == "1.1"
    assert TRUST_LEVELS == ("unverified", "verified")
    assert {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"} == HTTP_METHODS
    assert ID_PATTERN == "^[a-z][a-z0-9_.-]{2,63}$"


def test_permission_registry_is_the_spec_in_spec_order():
    assert list(KNOWN_PERMISSION_SCOPES.items()) == SPEC_SCOPES
    assert permissions_glossary() == [
        {"scope": s, "description": d} for s, d in SPEC_SCOPES
    ]


# --- reading ----------------------------------------------------------------------


def test_parse_manifest_bytes_accepts_utf8_with_or_without_bom():
    raw = json.dumps(minimal(name="Café")).encode()
    assert parse_manifest_bytes(raw)["name"] == "Café"
    assert parse_manifest_bytes(b"\xef\xbb\xbf" + raw)["name"] == "Café"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"", "invalid_json"),
        (b'{"a": 1, "a": 2}', "invalid_json"),
        (b'{"a": NaN}', "invalid_json"),
        (b'{"a": Infinity}', "invalid_json"),
        (b'{"name": "caf\xe9"}', "invalid_encoding"),
        (b"[]", "not_an_object"),
        (b'"text"', "not_an_object"),
        (b"null", "not_an_object"),
    ],
)
def test_parse_manifest_bytes_errors(raw: bytes, code: str):
    with pytest.raises(ManifestError) as info:
        parse_manifest_bytes(raw, source_name="extension.json")
    assert [(p.path, p.code) for p in info.value.problems] == [("", code)]
    assert "extension.json" in info.value.problems[0].message


def test_read_manifest_dir_prefers_manifest_json(tmp_path: Path):
    (tmp_path / "extension.json").write_text(json.dumps(minimal(name="Legacy")))
    assert read_manifest_dir(tmp_path) == (minimal(name="Legacy"), "extension.json")
    (tmp_path / "manifest.json").write_text(json.dumps(minimal()))
    assert read_manifest_dir(tmp_path) == (minimal(), "manifest.json")


def test_read_manifest_dir_missing(tmp_path: Path):
    with pytest.raises(ManifestMissingError) as info:
        read_manifest_dir(tmp_path)
    assert info.value.code == "manifest_missing"
    (tmp_path / "manifest.json").mkdir()  # a folder is not a manifest
    with pytest.raises(ManifestMissingError):
        read_manifest_dir(tmp_path)
    with pytest.raises(ManifestMissingError):
        read_manifest_dir(tmp_path / "nowhere")


def test_read_manifest_dir_reports_bad_json(tmp_path: Path):
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(ManifestError) as info:
        read_manifest_dir(tmp_path)
    assert info.value.problems[0].code == "invalid_json"


# --- identity ---------------------------------------------------------------------


def test_minimal_manifest_gets_every_default():
    manifest = normalise_manifest(minimal())
    assert manifest.data == {
        "manifest_version": "1.1",
        "id": "sample.toolkit",
        "name": "Sample Toolkit",
        "version": "1.2.3",
        "authors": [],
        "summary": "Tools for samples.",
        "permissions": [],
        "routes": [],
        "events": [],
        "ui": {"panels": []},
        "hooks": [],
        "diagnostics": {"log_topics": [], "metrics": [], "traces": []},
        "trust": {"level": "unverified"},
    }
    assert manifest.warnings == ()
    assert manifest.source_name == "manifest.json"
    assert (manifest.id, manifest.version, manifest.name) == (
        "sample.toolkit",
        "1.2.3",
        "Sample Toolkit",
    )
    assert manifest.trust_level == "unverified"


def test_normalise_does_not_change_its_input():
    raw = minimal(author=" Ada ", permissions=["assets.read"], routes=[{"path": "x"}])
    before = copy.deepcopy(raw)
    normalise_manifest(raw)
    assert raw == before


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_manifest_version_kept(version: str):
    data = normalise_manifest(minimal(manifest_version=version)).data
    assert data["manifest_version"] == version


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2.0", "unsupported_manifest_version"),
        ("1", "unsupported_manifest_version"),
        (1.1, "invalid_type"),
    ],
)
def test_manifest_version_refused(value: Any, code: str):
    assert problems_of(minimal(manifest_version=value)) == [("manifest_version", code)]


@pytest.mark.parametrize(
    "ext_id", ["abc", "sample.toolkit", "a-b_c.d", "x" + "0" * 63, "ab9"]
)
def test_valid_ids(ext_id: str):
    assert normalise_manifest(minimal(id=ext_id)).id == ext_id


@pytest.mark.parametrize(
    "ext_id",
    ["ab", "Abc", "1abc", "_abc", "x" * 65, "abc\n", "ab/c", "../x", "ab c", "abç", ""],
)
def test_invalid_ids(ext_id: str):
    assert problems_of(minimal(id=ext_id)) == [("id", "invalid_id")]


@pytest.mark.parametrize("field", ["id", "name", "version"])
def test_required_fields(field: str):
    raw = minimal()
    del raw[field]
    assert problems_of(raw) == [(field, "missing_field")]


@pytest.mark.parametrize("field", ["id", "name", "version", "summary"])
def test_identity_fields_must_be_strings(field: str):
    assert problems_of(minimal(**{field: 12})) == [(field, "invalid_type")]


def test_name_is_stripped_and_must_not_be_blank():
    assert normalise_manifest(minimal(name="  Toolkit \n")).name == "Toolkit"
    assert problems_of(minimal(name=" \t ")) == [("name", "invalid_name")]
    assert problems_of(minimal(name="")) == [("name", "invalid_name")]


@pytest.mark.parametrize(
    "version",
    ["0.0.1", "1.2.3", "10.20.30", "1.0.0-rc.1", "1.0.0-alpha+b.7", "2.0.0+x"],
)
def test_valid_versions(version: str):
    assert normalise_manifest(minimal(version=version)).version == version


@pytest.mark.parametrize(
    "version",
    [
        "1.0",
        "1",
        "v1.0.0",
        "01.0.0",
        "1.0.0/../../x",
        "../x",
        "1.0/evil",
        "1.0.0\n",
        " 1.0.0",
        "1.0.0-",
        "1.0.0+",
        "1.0.0-" + "a" * 200,
        "",
    ],
)
def test_invalid_versions(version: str):
    assert problems_of(minimal(version=version)) == [("version", "invalid_version")]


# --- authors and summary ----------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "authors"),
    [
        ({"author": " Ada "}, ["Ada"]),
        ({"author": ["Ada", " Bob", "", "  ", "Ada"]}, ["Ada", "Bob"]),
        ({"authors": ["Bob", "Ada"]}, ["Bob", "Ada"]),
        ({"author": "Ada", "authors": ["Bob", "Ada", " "]}, ["Ada", "Bob"]),
        ({"author": "", "authors": []}, []),
        ({}, []),
    ],
)
def test_author_is_folded_into_authors(changes: dict, authors: list[str]):
    data = normalise_manifest(minimal(**changes)).data
    assert data["authors"] == authors
    assert "author" not in data
    summary = manifest_summary(data)
    assert summary["authors"] == authors
    assert summary["primary_author"] == (authors[0] if authors else None)


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"author": 5}, "author"),
        ({"author": ["Ada", 5]}, "author[1]"),
        ({"authors": "Ada"}, "authors"),
        ({"authors": [None]}, "authors[0]"),
    ],
)
def test_author_types(changes: dict, path: str):
    assert problems_of(minimal(**changes)) == [(path, "invalid_type")]


def test_summary_falls_back_to_stripped_description():
    raw = minimal(description="  A longer text.  ")
    del raw["summary"]
    data = normalise_manifest(raw).data
    assert data["summary"] == "A longer text."
    assert data["description"] == "A longer text."
    data = normalise_manifest(minimal(summary="   ", description="Text")).data
    assert data["summary"] == "Text"
    assert normalise_manifest(minimal(summary=" S ")).data["summary"] == "S"


@pytest.mark.parametrize(
    "changes", [{}, {"description": "  "}, {"summary": ""}, {"summary": " \n "}]
)
def test_summary_or_description_required(changes: dict):
    raw = minimal()
    del raw["summary"]
    raw.update(changes)
    assert problems_of(raw) == [("summary", "missing_field")]


# --- permissions ------------------------------------------------------------------


def test_permissions_are_normalised_to_objects_and_deduplicated():
    raw = minimal(
        permissions=[
            "assets.read",
            {
                "scope": "hooks.listen",
                "description": " Why we listen ",
                "optional": True,
            },
            {"scope": "assets.read", "optional": True},
            {"scope": "ui.panels", "description": "   "},
            {"scope": "hooks.listen"},
        ]
    )
    assert normalise_manifest(raw).data["permissions"] == [
        {
            "scope": "assets.read",
            "description": "List/query asset registry metadata.",
            "optional": False,
        },
        # Declared optional once and required once: required wins.
        {"scope": "hooks.listen", "description": "Why we listen", "optional": False},
        {
            "scope": "ui.panels",
            "description": "Register Studio UI panels.",
            "optional": False,
        },
    ]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("assets.nope", ("permissions[1].scope", "unknown_permission")),
        ({"scope": "root"}, ("permissions[1].scope", "unknown_permission")),
        ({"scope": "ASSETS.READ"}, ("permissions[1].scope", "unknown_permission")),
        ({"description": "x"}, ("permissions[1].scope", "missing_field")),
        ({"scope": 3}, ("permissions[1].scope", "invalid_type")),
        (
            {"scope": "assets.read", "optional": "yes"},
            ("permissions[1].optional", "invalid_type"),
        ),
        (7, ("permissions[1]", "invalid_type")),
        (None, ("permissions[1]", "invalid_type")),
    ],
)
def test_permission_problems(item: Any, expected: tuple[str, str]):
    assert problems_of(minimal(permissions=["assets.read", item])) == [expected]


def test_permissions_must_be_a_list():
    assert problems_of(minimal(permissions="assets.read")) == [
        ("permissions", "invalid_type")
    ]


# --- routes -----------------------------------------------------------------------


def test_routes_are_normalised():
    raw = minimal(
        routes=[
            {"path": " hello ", "methods": ["get", "Post", "GET", " delete "]},
            {
                "path": "/items/{item_id}",
                "entry": "toolkit/api.py",
                "callable": "views.item",
                "summary": " One item ",
                "name": "item",
                "tags": [" a ", "b", "a", ""],
            },
            {"path": "/", "expose": "extension"},
        ]
    )
    assert normalise_manifest(raw).data["routes"] == [
        {
            "path": "/hello",
            "methods": ["GET", "POST", "DELETE"],
            "expose": "extension",
            "tags": [],
        },
        {
            "path": "/items/{item_id}",
            "methods": ["GET"],
            "expose": "extension",
            "entry": "toolkit/api.py",
            "callable": "views.item",
            "summary": "One item",
            "name": "item",
            "tags": ["a", "b"],
        },
        {"path": "/", "methods": ["GET"], "expose": "extension", "tags": []},
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/a/../b",
        "..",
        "/a/..",
        "/./a",
        "/a\\b",
        "//evil.example/x",
        "/a//b",
        "/a\nb",
        "/a\x7f",
        "/a%2e%2e/b",
        "/a?x=1",
        "/a#frag",
        "",
        "   ",
        "/" + "a" * 600,
    ],
)
def test_invalid_route_paths(path: str):
    # A NUL is refused in every string first (tests/manifest/test_display_text.py).
    assert problems_of(minimal(routes=[{"path": path}])) == [
        ("routes[0].path", "invalid_route")
    ]


def test_route_methods():
    raw = minimal(routes=[{"path": "/x", "methods": ["GET", "FETCH", "post", "TRACE"]}])
    assert problems_of(raw) == [
        ("routes[0].methods[1]", "invalid_route"),
        ("routes[0].methods[3]", "invalid_route"),
    ]
    assert problems_of(minimal(routes=[{"path": "/x", "methods": []}])) == [
        ("routes[0].methods", "invalid_route")
    ]
    assert problems_of(minimal(routes=[{"path": "/x", "methods": "GET"}])) == [
        ("routes[0].methods", "invalid_type")
    ]
    assert problems_of(minimal(routes=[{"path": "/x", "methods": [1]}])) == [
        ("routes[0].methods[0]", "invalid_type")
    ]


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ({}, ("routes[0].path", "missing_field")),
        ({"path": 1}, ("routes[0].path", "invalid_type")),
        ({"path": "/x", "expose": "public"}, ("routes[0].expose", "invalid_route")),
        (
            {"path": "/x", "entry": "../outside.py"},
            ("routes[0].entry", "invalid_route"),
        ),
        ({"path": "/x", "entry": "/abs/api.py"}, ("routes[0].entry", "invalid_route")),
        ({"path": "/x", "callable": "a b"}, ("routes[0].callable", "invalid_route")),
        ({"path": "/x", "tags": "a"}, ("routes[0].tags", "invalid_type")),
        ("/x", ("routes[0]", "invalid_type")),
    ],
)
def test_route_problems(route: Any, expected: tuple[str, str]):
    assert problems_of(minimal(routes=[route])) == [expected]


def test_duplicate_routes_are_refused():
    raw = minimal(
        routes=[
            {"path": "/x", "methods": ["GET", "POST"]},
            {"path": "x", "methods": ["post"]},
            {"path": "/x", "methods": ["PUT"]},
        ]
    )
    assert problems_of(raw) == [("routes[1].path", "invalid_route")]


def test_global_route_needs_api_global():
    raw = minimal(
        routes=[{"path": "/api/modder/x", "expose": "global"}],
        trust={"level": "verified"},
    )
    assert problems_of(raw) == [("routes[0].expose", "missing_permission")]
    raw["permissions"] = ["api.global"]
    manifest = normalise_manifest(raw)
    assert manifest.data["routes"][0]["expose"] == "global"


def test_sandbox_refuses_global_routes_of_unverified_bundles():
    raw = minimal(
        permissions=["api.global"],
        routes=[{"path": "/api/modder/x", "expose": "global"}],
    )
    assert problems_of(raw) == [("routes[0].path", "route_not_allowed")]
    # The packager's --trust override is what the sandbox judges.
    assert normalise_manifest(raw, trust_level="verified").trust_level == "verified"


def test_sandbox_allowlist_and_verified_prefixes():
    raw = minimal(
        permissions=["api.global"],
        trust={"level": "verified"},
        routes=[
            {"path": "/api/hooks/a", "expose": "global"},
            {"path": "/ws/modder", "expose": "global"},
            {"path": "/api/extensions/sample.toolkit/y", "expose": "global"},
            {"path": "/api/extra/z", "expose": "global"},
            {"path": "/ws/modderevil", "expose": "global"},
            {"path": "/api/extensions/other/y", "expose": "global"},
        ],
    )
    assert problems_of(raw) == [
        ("routes[3].path", "route_not_allowed"),
        ("routes[4].path", "route_not_allowed"),
        ("routes[5].path", "route_not_allowed"),
    ]
    extra = sandbox.default_allowlist().merged(
        sandbox.parse_allowlist({"verified": ["/api/extra/"]})
    )
    assert problems_of(raw, allowlist=extra) == [
        ("routes[4].path", "route_not_allowed"),
        ("routes[5].path", "route_not_allowed"),
    ]


def test_sandbox_is_skipped_while_id_or_routes_are_invalid():
    raw = minimal(
        id="Bad",
        permissions=["api.global"],
        routes=[{"path": "/api/x", "expose": "global"}],
    )
    assert problems_of(raw) == [("id", "invalid_id")]
    raw = minimal(
        permissions=["api.global"],
        routes=[
            {"path": "/api/x", "expose": "global"},
            {"path": "/a/../b"},
        ],
    )
    assert problems_of(raw) == [("routes[1].path", "invalid_route")]


# --- events, panels, hooks, diagnostics -------------------------------------------


def test_events_are_normalised():
    raw = minimal(
        events=[
            {
                "topic": "modder.on_scene_enter",
                "entry": "handlers.py",
                "callable": "on",
            },
            {"topic": "asset.*", "once": True},
        ]
    )
    assert normalise_manifest(raw).data["events"] == [
        {
            "topic": "modder.on_scene_enter",
            "entry": "handlers.py",
            "callable": "on",
            "once": False,
        },
        {"topic": "asset.*", "once": True},
    ]


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({}, ("events[0].topic", "missing_field")),
        ({"topic": ""}, ("events[0].topic", "invalid_event")),
        ({"topic": "has space"}, ("events[0].topic", "invalid_event")),
        ({"topic": "x", "once": "yes"}, ("events[0].once", "invalid_type")),
        ({"topic": "x", "entry": "a/../../b"}, ("events[0].entry", "invalid_event")),
        ({"topic": "x", "entry": "a\\b.py"}, ("events[0].entry", "invalid_event")),
        ({"topic": "x", "callable": "1x"}, ("events[0].callable", "invalid_event")),
    ],
)
def test_event_problems(event: dict, expected: tuple[str, str]):
    assert problems_of(minimal(events=[event])) == [expected]


def test_panels_are_normalised():
    raw = minimal(
        permissions=["ui.panels"],
        ui={
            "panels": [
                {"slot": "sidebar", "label": " Tools ", "path": "./ui/./panel.html"},
                {
                    "slot": "inspector",
                    "label": "I",
                    "path": "i.html",
                    "icon": "icon.png",
                },
            ]
        },
    )
    manifest = normalise_manifest(raw)
    assert manifest.data["ui"] == {
        "panels": [
            {"slot": "sidebar", "label": "Tools", "path": "ui/panel.html"},
            {"slot": "inspector", "label": "I", "path": "i.html", "icon": "icon.png"},
        ]
    }
    assert manifest.warnings == ()


@pytest.mark.parametrize(
    "path",
    [
        "/abs/panel.html",
        "../panel.html",
        "ui/../../panel.html",
        "ui\\panel.html",
        "C:/panel.html",
        "https://evil.example/p.html",
        "javascript:alert(1)",
        "ui//p.html",
        "",
    ],
)
def test_invalid_panel_paths(path: str):
    # A NUL is refused in every string first (tests/manifest/test_display_text.py).
    panel = {"slot": "sidebar", "label": "L", "path": path}
    raw = minimal(permissions=["ui.panels"], ui={"panels": [panel]})
    assert problems_of(raw) == [("ui.panels[0].path", "invalid_panel")]


@pytest.mark.parametrize(
    ("panel", "expected"),
    [
        ({"slot": "sidebar", "label": "L"}, ("ui.panels[0].path", "missing_field")),
        ({"slot": "sidebar", "path": "p"}, ("ui.panels[0].label", "missing_field")),
        ({"label": "L", "path": "p"}, ("ui.panels[0].slot", "missing_field")),
        (
            {"slot": "sidebar", "label": " ", "path": "p"},
            ("ui.panels[0].label", "invalid_panel"),
        ),
        (
            {"slot": "a b", "label": "L", "path": "p"},
            ("ui.panels[0].slot", "unknown_slot"),
        ),
        (
            {"slot": "sidebar", "label": "L", "path": "p", "icon": "../i.png"},
            ("ui.panels[0].icon", "invalid_panel"),
        ),
    ],
)
def test_panel_problems(panel: dict, expected: tuple[str, str]):
    raw = minimal(permissions=["ui.panels"], ui={"panels": [panel]})
    assert problems_of(raw) == [expected]


def test_panels_without_the_permission_warn():
    raw = minimal(ui={"panels": [{"slot": "sidebar", "label": "L", "path": "p.html"}]})
    warnings = normalise_manifest(raw).warnings
    assert [(w.path, w.code) for w in warnings] == [("ui.panels", "missing_permission")]


def test_hooks_are_deduplicated_and_checked():
    raw = minimal(
        permissions=["hooks.listen", "assets.events"],
        hooks=["on_scene_enter", "on_asset_saved", "on_scene_enter"],
    )
    manifest = normalise_manifest(raw)
    assert manifest.data["hooks"] == ["on_scene_enter", "on_asset_saved"]
    assert manifest.warnings == ()
    assert problems_of(minimal(hooks=["on_scene_enter", "on_nothing", 3])) == [
        ("hooks[1]", "unknown_hook"),
        ("hooks[2]", "invalid_type"),
    ]


def test_hooks_without_their_scope_warn():
    raw = minimal(hooks=["on_extension_installed"])
    warnings = normalise_manifest(raw).warnings
    assert [(w.path, w.code) for w in warnings] == [("hooks[0]", "missing_permission")]
    assert "extensions.lifecycle" in warnings[0].message


def test_diagnostics_are_string_lists():
    raw = minimal(
        diagnostics={"log_topics": [" toolkit ", "toolkit", ""], "metrics": ["m"]}
    )
    assert normalise_manifest(raw).data["diagnostics"] == {
        "log_topics": ["toolkit"],
        "metrics": ["m"],
        "traces": [],
    }
    assert problems_of(minimal(diagnostics={"traces": "t"})) == [
        ("diagnostics.traces", "invalid_type")
    ]
    assert problems_of(minimal(diagnostics={"metrics": [1]})) == [
        ("diagnostics.metrics[0]", "invalid_type")
    ]
    assert problems_of(minimal(diagnostics=[])) == [("diagnostics", "invalid_type")]


# --- trust and content ------------------------------------------------------------


def test_trust_is_normalised():
    raw = minimal(
        trust={
            "level": "verified",
            "signed_by": " cvn-1 ",
            "signature": "  ",
            "reason": "reviewed",
            "verified_at": "2025-12-11T10:00:00+00:00",
        }
    )
    assert normalise_manifest(raw).data["trust"] == {
        "level": "verified",
        "signed_by": "cvn-1",
        "reason": "reviewed",
        "verified_at": "2025-12-11T10:00:00+00:00",
    }


def test_trust_level_override():
    manifest = normalise_manifest(
        minimal(trust={"level": "verified"}), trust_level="unverified"
    )
    assert manifest.trust_level == "unverified"
    assert problems_of(minimal(), trust_level="gold") == [
        ("trust.level", "invalid_trust")
    ]


@pytest.mark.parametrize(
    ("trust", "expected"),
    [
        ({"level": "trusted"}, ("trust.level", "invalid_trust")),
        ({"level": "Verified"}, ("trust.level", "invalid_trust")),
        ({"level": 1}, ("trust.level", "invalid_type")),
        ({"signature_type": "md5"}, ("trust.signature_type", "invalid_trust")),
        ({"verified_at": "yesterday"}, ("trust.verified_at", "invalid_trust")),
        ({"signature": 5}, ("trust.signature", "invalid_type")),
        ("verified", ("trust", "invalid_type")),
    ],
)
def test_trust_problems(trust: Any, expected: tuple[str, str]):
    assert problems_of(minimal(trust=trust)) == [expected]


def test_content_block_is_kept():
    content = {"sha256": "a" * 64, "files": 3, "bytes": 120}
    assert normalise_manifest(minimal(content=content)).data["content"] == content
    floats = {"sha256": "a" * 64, "files": 3.0, "bytes": 120.0}
    data = normalise_manifest(minimal(content=floats)).data
    assert data["content"] == content
    assert isinstance(data["content"]["files"], int)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            {"sha256": "A" * 64, "files": 1, "bytes": 1},
            ("content.sha256", "invalid_content"),
        ),
        (
            {"sha256": "a" * 63, "files": 1, "bytes": 1},
            ("content.sha256", "invalid_content"),
        ),
        (
            {"sha256": "a" * 64, "files": -1, "bytes": 1},
            ("content.files", "invalid_content"),
        ),
        ({"sha256": "a" * 64, "files": 1}, ("content.bytes", "missing_field")),
        (
            {"sha256": "a" * 64, "files": "1", "bytes": 1},
            ("content.files", "invalid_type"),
        ),
        (
            {"sha256": "a" * 64, "files": True, "bytes": 1},
            ("content.files", "invalid_type"),
        ),
    ],
)
def test_content_problems(content: dict, expected: tuple[str, str]):
    assert problems_of(minimal(content=content)) == [expected]


# --- unknown fields and warnings --------------------------------------------------


def test_unknown_fields_are_kept_and_warned():
    raw = minimal(
        homepage="https://example.org",
        x_tool={"a": [1, 2]},
        routes=[{"path": "/x", "method": "POST"}],
        trust={"level": "unverified", "note": "n"},
    )
    raw["$schema"] = "https://comfyvn.dev/schemas/manifest-1.1.schema.json"
    manifest = normalise_manifest(raw)
    assert manifest.data["homepage"] == "https://example.org"
    assert manifest.data["x_tool"] == {"a": [1, 2]}
    assert manifest.data["$schema"] == raw["$schema"]
    assert manifest.data["routes"][0]["method"] == "POST"
    assert manifest.data["trust"]["note"] == "n"
    assert sorted((w.path, w.code) for w in manifest.warnings) == [
        ("homepage", "unknown_field"),
        ("routes[0].method", "unknown_field"),
        ("trust.note", "unknown_field"),
        ("x_tool", "unknown_field"),
    ]


def test_legacy_file_name_warns():
    manifest = normalise_manifest(minimal(), source_name="extension.json")
    assert manifest.source_name == "extension.json"
    assert [(w.path, w.code) for w in manifest.warnings] == [("", "legacy_filename")]


# --- every problem at once, never a traceback -------------------------------------


def test_five_mistakes_give_five_problems():
    raw = {
        "id": "Not Valid",
        "name": "Toolkit",
        "version": "1.0.0/../../x",
        "summary": "s",
        "permissions": ["assets.read", "root.everything"],
        "routes": [{"path": "/ok"}, {"path": "/x", "methods": ["GET", "YEET"]}],
        "hooks": ["on_scene_enter", "on_teleport"],
    }
    with pytest.raises(ManifestError) as info:
        normalise_manifest(raw)
    assert [(p.path, p.code) for p in info.value.problems] == [
        ("hooks[1]", "unknown_hook"),
        ("id", "invalid_id"),
        ("permissions[1].scope", "unknown_permission"),
        ("routes[1].methods[1]", "invalid_route"),
        ("version", "invalid_version"),
    ]
    assert info.value.message.startswith("manifest has 5 problems")
    assert all(p.message for p in info.value.problems)


def test_every_problem_from_schema_and_rules_together():
    raw = {
        "manifest_version": "3",
        "author": 1,
        "permissions": [{"scope": "api.global"}, {}],
        "routes": [{"path": "/a/../b", "expose": "global", "methods": ["get", "nope"]}],
        "events": [{"topic": "bad topic"}],
        "ui": {"panels": [{"slot": "sidebar", "label": "l", "path": "/abs"}]},
        "trust": {"level": "gold"},
    }
    assert problems_of(raw) == [
        ("author", "invalid_type"),
        ("events[0].topic", "invalid_event"),
        ("id", "missing_field"),
        ("manifest_version", "unsupported_manifest_version"),
        ("name", "missing_field"),
        ("permissions[1].scope", "missing_field"),
        ("routes[0].methods[1]", "invalid_route"),
        ("routes[0].path", "invalid_route"),
        ("summary", "missing_field"),
        ("trust.level", "invalid_trust"),
        ("ui.panels[0].path", "invalid_panel"),
        ("version", "missing_field"),
    ]


@pytest.mark.parametrize("raw", [[], "x", None, 3])
def test_non_objects(raw: Any):
    assert problems_of(raw) == [("", "not_an_object")]


@pytest.mark.parametrize(
    ("extra", "path", "code"),
    [
        ({"big": 2**60}, "big", "invalid_value"),
        ({"nan": float("nan")}, "nan", "invalid_value"),
        ({"inf": [float("inf")]}, "inf[0]", "invalid_value"),
        ({"bad": "\ud800"}, "bad", "invalid_value"),
        ({"obj": {1: "x"}}, "obj", "invalid_value"),
        ({"tuple": (1, 2)}, "tuple", "invalid_type"),
    ],
)
def test_values_json_cannot_carry(extra: dict, path: str, code: str):
    assert (path, code) in problems_of(minimal(**extra))


def test_deep_nesting_is_refused_not_crashed():
    deep: Any = "x"
    for _ in range(500):
        deep = [deep]
    with pytest.raises(ManifestError) as info:
        normalise_manifest(minimal(deep=deep))
    assert info.value.code == "limit_exceeded"
    assert info.value.details["name"] == "max_depth"
    assert info.value.details["path"] == "deep" + "[0]" * 32


# --- schema -----------------------------------------------------------------------


def test_schema_is_draft_2020_12_with_id():
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://comfyvn.dev/schemas/manifest-1.1.schema.json"
    assert schema["additionalProperties"] is True
    assert schema["title"] and schema["description"]
    schema["title"] = "changed"
    assert load_schema()["title"] != "changed"


def test_schema_agrees_with_the_registries():
    schema = load_schema()
    defs = schema["$defs"]
    assert defs["scope"]["enum"] == list(KNOWN_PERMISSION_SCOPES)
    assert set(schema["properties"]["hooks"]["items"]["enum"]) == HOOK_NAMES
    assert schema["properties"]["manifest_version"]["enum"] == list(
        SUPPORTED_MANIFEST_VERSIONS
    )
    assert defs["trust"]["properties"]["level"]["enum"] == list(TRUST_LEVELS)
    assert schema["properties"]["id"]["pattern"] == ID_PATTERN
    assert set(schema["properties"]) == registry.TOP_LEVEL_KEYS
    assert set(defs["route"]["properties"]) == registry.ROUTE_KEYS
    assert set(defs["event"]["properties"]) == registry.EVENT_KEYS
    assert set(defs["panel"]["properties"]) == registry.PANEL_KEYS
    assert set(defs["trust"]["properties"]) == registry.TRUST_KEYS
    assert set(defs["content"]["properties"]) == registry.CONTENT_KEYS
    assert set(defs["permission"]["then"]["properties"]) == registry.PERMISSION_KEYS
    diagnostics = schema["properties"]["diagnostics"]["properties"]
    assert tuple(diagnostics) == registry.DIAGNOSTICS_KEYS


def full_raw() -> dict[str, Any]:
    return minimal(
        author=["Ada", "Bob"],
        description="Long text",
        permissions=[
            "assets.read",
            {"scope": "api.global", "optional": False},
            "ui.panels",
        ],
        routes=[
            {"path": "hello", "methods": ["get"]},
            {"path": "/api/modder/toolkit", "expose": "global", "methods": ["POST"]},
        ],
        events=[{"topic": "modder.on_scene_enter", "once": True}],
        ui={"panels": [{"slot": "sidebar", "label": "Tools", "path": "ui/panel.html"}]},
        hooks=["on_scene_enter"],
        diagnostics={"log_topics": ["toolkit"]},
        trust={"level": "verified"},
    )


def test_schema_accepts_raw_and_normalised_forms():
    validator = Draft202012Validator(load_schema())
    raw = full_raw()
    assert list(validator.iter_errors(raw)) == []
    assert list(validator.iter_errors(normalise_manifest(raw).data)) == []


# --- digests ----------------------------------------------------------------------


def test_manifest_sha256_matches_an_independent_computation():
    data = normalise_manifest(full_raw()).data
    assert manifest_sha256(data) == jcs_sha256(data)
    assert canonical_json(data) == rfc8785.dumps(data)


def test_digest_ignores_signature_fields_only():
    manifest = normalise_manifest(full_raw())
    signed = copy.deepcopy(manifest.data)
    signed["trust"].update(signature="sha256:" + "0" * 64, signature_type="sha256")
    assert manifest_sha256(signed) == manifest.digest()
    assert signed["trust"]["signature_type"] == "sha256"  # not mutated
    signed["trust"]["signed_by"] = "cvn-key"
    assert manifest_sha256(signed) != manifest.digest()
    changed = copy.deepcopy(manifest.data)
    changed["summary"] += "!"
    assert manifest_sha256(changed) != manifest.digest()


def test_digest_is_stable_under_key_order():
    data = normalise_manifest(full_raw()).data
    reordered = json.loads(json.dumps(data, sort_keys=True))
    reversed_keys = {k: data[k] for k in reversed(list(data))}
    assert (
        manifest_sha256(reordered)
        == manifest_sha256(reversed_keys)
        == manifest_sha256(data)
    )


def test_content_record():
    entries = [("b.txt", "bb" * 32, 5), ("a/x.py", "aa" * 32, 7)]
    expected_rows = [["a/x.py", "aa" * 32, 7], ["b.txt", "bb" * 32, 5]]
    record = content_record(entries)
    assert record == {
        "sha256": hashlib.sha256(rfc8785.dumps(expected_rows)).hexdigest(),
        "files": 2,
        "bytes": 12,
    }
    assert content_record(reversed(entries)) == record
    assert content_record([]) == {
        "sha256": hashlib.sha256(b"[]").hexdigest(),
        "files": 0,
        "bytes": 0,
    }


def test_manifest_json_bytes():
    data = {"b": "Café", "a": {"z": 1, "y": [1, 2]}}
    out = manifest_json_bytes(data)
    assert (
        out
        == (
            '{\n  "a": {\n    "y": [\n      1,\n      2\n    ],\n    "z": 1\n  },\n'
            '  "b": "Café"\n}\n'
        ).encode()
    )
    assert json.loads(out) == data


# --- signatures -------------------------------------------------------------------

DIGEST = hashlib.sha256(b"x").hexdigest()


@pytest.mark.parametrize(
    "value",
    [
        f"sha256:{DIGEST}",
        f"SHA256:{DIGEST.upper()}",
        DIGEST,
        DIGEST.upper(),
        f"  {DIGEST}  ",
        base64.b64encode(bytes.fromhex(DIGEST)).decode(),
        base64.urlsafe_b64encode(bytes.fromhex(DIGEST)).decode().rstrip("="),
    ],
)
def test_parse_sha256_signature_forms(value: str):
    assert parse_signature(value) == ("sha256", bytes.fromhex(DIGEST))


def test_parse_ed25519_signature():
    raw = bytes(range(64))
    assert parse_signature("ed25519:" + base64.b64encode(raw).decode()) == (
        "ed25519",
        raw,
    )


@pytest.mark.parametrize(
    "value",
    [
        f"md5:{hashlib.md5(b'x').hexdigest()}",
        "rsa:AAAA",
        "sha512:" + "a" * 128,
        "sha256:" + "a" * 63,
        "sha256:" + base64.b64encode(bytes(32)).decode(),
        "ed25519:" + base64.b64encode(bytes(32)).decode(),
        "ed25519:not base64!",
        "a" * 63,
        "g" * 64,
        base64.b64encode(bytes(31)).decode(),
        "",
        "   ",
        None,
        42,
    ],
)
def test_parse_signature_unsupported(value: Any):
    with pytest.raises(SignatureUnsupportedError) as info:
        parse_signature(value)
    assert info.value.code == "signature_unsupported"


def signed(manifest: Manifest, signature: str) -> Manifest:
    data = copy.deepcopy(manifest.data)
    data["trust"]["signature"] = signature
    return normalise_manifest(data)


@pytest.mark.parametrize(
    "form",
    [
        lambda d: f"sha256:{d}",
        lambda d: d.upper(),
        lambda d: base64.b64encode(bytes.fromhex(d)).decode(),
    ],
)
def test_verify_digest_signature_sets_the_type(form):
    manifest = normalise_manifest(full_raw())
    candidate = signed(manifest, form(manifest.digest()))
    verified = verify_digest_signature(candidate)
    assert verified.data["trust"]["signature_type"] == "sha256"
    assert "signature_type" not in candidate.data["trust"]
    assert verified.digest() == manifest.digest()
    assert verified.warnings == candidate.warnings


def test_verify_digest_signature_mismatch():
    manifest = normalise_manifest(full_raw())
    with pytest.raises(SignatureMismatchError) as info:
        verify_digest_signature(signed(manifest, "sha256:" + "0" * 64))
    assert info.value.code == "signature_mismatch"
    assert info.value.details["expected"] == manifest.digest()
    # Signing and then changing the manifest breaks the signature.
    tampered = copy.deepcopy(signed(manifest, manifest.digest()).data)
    tampered["name"] = "Other"
    with pytest.raises(SignatureMismatchError):
        verify_digest_signature(normalise_manifest(tampered))


def test_verify_digest_signature_unknown_algorithm():
    manifest = normalise_manifest(full_raw())
    with pytest.raises(SignatureUnsupportedError):
        verify_digest_signature(signed(manifest, "md5:" + "0" * 32))


def test_verify_digest_signature_leaves_unsigned_alone():
    manifest = normalise_manifest(full_raw())
    assert verify_digest_signature(manifest) is manifest


def test_verify_digest_signature_only_labels_ed25519():
    manifest = normalise_manifest(full_raw())
    # Any 64 bytes: the key check belongs to the install service.
    ed = signed(manifest, "ed25519:" + base64.b64encode(bytes(64)).decode())
    labelled = verify_digest_signature(ed)
    assert labelled.data["trust"]["signature_type"] == "ed25519"
    assert labelled.digest() == manifest.digest()
    assert verify_digest_signature(labelled) is labelled


# --- views ------------------------------------------------------------------------


def test_capabilities_and_summary():
    data = normalise_manifest(full_raw()).data
    caps = capabilities(data)
    assert caps == {
        "permissions": ["assets.read", "api.global", "ui.panels"],
        "routes": [
            {
                "path": "/hello",
                "methods": ["GET"],
                "expose": "extension",
                "effective_path": "/api/extensions/sample.toolkit/hello",
            },
            {
                "path": "/api/modder/toolkit",
                "methods": ["POST"],
                "expose": "global",
                "effective_path": "/api/modder/toolkit",
            },
        ],
        "events": ["modder.on_scene_enter"],
        "ui_panels": ["sidebar"],
        "hooks": ["on_scene_enter"],
        "diagnostics": {"log_topics": ["toolkit"], "metrics": [], "traces": []},
    }
    summary = manifest_summary(data)
    assert summary == {
        "id": "sample.toolkit",
        "name": "Sample Toolkit",
        "version": "1.2.3",
        "summary": "Tools for samples.",
        "authors": ["Ada", "Bob"],
        "primary_author": "Ada",
        "trust": {"level": "verified"},
        "capabilities": caps,
    }
    summary["trust"]["level"] = "changed"
    assert data["trust"]["level"] == "verified"


def test_capabilities_tolerate_sparse_stored_data():
    assert capabilities({}) == {
        "permissions": [],
        "routes": [],
        "events": [],
        "ui_panels": [],
        "hooks": [],
        "diagnostics": {"log_topics": [], "metrics": [], "traces": []},
    }
    assert manifest_summary({})["primary_author"] is None


# --- properties -------------------------------------------------------------------

# Text a valid manifest may hold: no NUL anywhere, and display text (name, summary,
# description, authors) without hidden characters (market/characters.py).
no_nul = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
shown = st.characters(blacklist_categories=tuple(HIDDEN_CATEGORIES))


def json_values_of(
    text: st.SearchStrategy[str], keys: st.SearchStrategy[str]
) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
        | st.floats(allow_nan=False, allow_infinity=False)
        | text
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4)
        ),
        max_leaves=12,
    )


json_values = json_values_of(st.text(max_size=12), st.text(max_size=8))
# Keys too: a NUL in a key is refused like one in a value.
clean_json_values = json_values_of(
    st.text(no_nul, max_size=12), st.text(no_nul, max_size=8)
)
field_names = st.sampled_from(sorted(registry.TOP_LEVEL_KEYS)) | st.text(max_size=8)
arbitrary_objects = st.dictionaries(field_names, json_values, max_size=10)

nonblank = st.text(shown, min_size=1, max_size=20).filter(str.strip)
segment = st.from_regex(r"[a-z0-9_{}-]{1,8}", fullmatch=True)
route_paths = st.builds(
    lambda lead, segs, tail: (
        ("/" if lead else "") + "/".join(segs) + ("/" if tail else "")
    ),
    st.booleans(),
    st.lists(segment, min_size=1, max_size=3),
    st.booleans(),
)
routes = st.fixed_dictionaries(
    {"path": route_paths},
    optional={
        "methods": st.lists(
            st.sampled_from(["get", "GET", "Post", "put", "PATCH", "delete"]),
            min_size=1,
        ),
        "expose": st.just("extension"),
        "tags": st.lists(st.text(no_nul, max_size=5), max_size=3),
        "summary": st.text(no_nul, max_size=10),
    },
)
permissions = st.sampled_from(list(KNOWN_PERMISSION_SCOPES)) | st.fixed_dictionaries(
    {"scope": st.sampled_from(list(KNOWN_PERMISSION_SCOPES))},
    optional={"description": st.text(shown, max_size=10), "optional": st.booleans()},
)
valid_manifests = st.fixed_dictionaries(
    {
        "id": st.from_regex(r"[a-z][a-z0-9_.-]{2,20}", fullmatch=True),
        "name": nonblank,
        "version": st.sampled_from(["0.1.0", "1.2.3", "2.0.0-rc.1", "1.0.0+build.5"]),
        "summary": nonblank,
    },
    optional={
        "manifest_version": st.sampled_from(["1.0", "1.1"]),
        "author": st.text(shown, max_size=8)
        | st.lists(st.text(shown, max_size=8), max_size=4),
        "authors": st.lists(st.text(shown, max_size=8), max_size=4),
        "description": st.text(shown, max_size=20),
        "permissions": st.lists(permissions, max_size=5),
        "routes": st.lists(
            routes, max_size=4, unique_by=lambda r: "/" + r["path"].lstrip("/")
        ),
        "hooks": st.lists(st.sampled_from(sorted(HOOK_NAMES)), max_size=4),
        "events": st.lists(
            st.fixed_dictionaries(
                {"topic": st.from_regex(r"[a-z][a-z.]{0,10}", fullmatch=True)},
                optional={"once": st.booleans()},
            ),
            max_size=3,
        ),
        "diagnostics": st.fixed_dictionaries(
            {}, optional={"metrics": st.lists(st.text(no_nul, max_size=6), max_size=3)}
        ),
        "trust": st.fixed_dictionaries(
            {"level": st.sampled_from(TRUST_LEVELS)},
            optional={"reason": st.text(no_nul, max_size=10)},
        ),
        "x_extra": clean_json_values,
    },
)


def reorder(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reorder(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reorder(v) for v in value]
    return value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arbitrary_objects)
def test_any_json_object_is_a_manifest_or_a_manifest_error(raw: dict):
    try:
        manifest = normalise_manifest(raw)
    except ManifestError as exc:
        assert exc.problems
        assert all(p.path is not None and p.code and p.message for p in exc.problems)
        json.dumps(exc.as_dict())
    else:
        assert isinstance(manifest, Manifest)
        manifest_json_bytes(manifest.data)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(field_names, json_values, max_size=6))
def test_any_json_object_survives_the_byte_parser(raw: dict):
    try:
        parsed = parse_manifest_bytes(json.dumps(raw).encode())
        normalise_manifest(parsed)
    except ManifestError:
        pass


# Global routes need a verified bundle; the generator only makes extension routes.
@settings(max_examples=200, deadline=None)
@given(valid_manifests)
def test_normalise_is_idempotent(raw: dict):
    once = normalise_manifest(raw)
    twice = normalise_manifest(once.data)
    assert twice.data == once.data
    assert twice.digest() == once.digest()
    assert "author" not in once.data
    assert once.data["authors"] == fold_strings(once.data["authors"])


@settings(max_examples=200, deadline=None)
@given(valid_manifests)
def test_digest_is_stable_under_key_reordering(raw: dict):
    manifest = normalise_manifest(raw)
    assert manifest_sha256(reorder(manifest.data)) == manifest.digest()
    assert normalise_manifest(reorder(raw)).digest() == manifest.digest()
    assert manifest.digest() == jcs_sha256(manifest.data)


@given(
    st.text(shown, max_size=10) | st.lists(st.text(shown, max_size=8), max_size=5),
    st.lists(st.text(shown, max_size=8), max_size=5),
)
def test_author_folding_is_idempotent(author: Any, authors: list[str]):
    folded = normalise_manifest(minimal(author=author, authors=authors)).data["authors"]
    assert normalise_manifest(minimal(authors=folded)).data["authors"] == folded
    assert len(folded) == len(set(folded))
    assert all(name == name.strip() and name for name in folded)
    names = [author] if isinstance(author, str) else list(author)
    expected = [n.strip() for n in [*names, *authors] if n.strip()]
    assert folded == list(dict.fromkeys(expected))


def paths_in(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths_in(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths_in(child, (*prefix, index))
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(valid_manifests | st.builds(full_raw), st.data())
def test_damaged_manifests_never_crash(raw: dict, data: st.DataObject):
    """Replace a few values anywhere in a valid manifest with arbitrary JSON."""
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        target_path = data.draw(st.sampled_from(paths_in(raw)[1:]))
        parent = raw
        for key in target_path[:-1]:
            parent = parent[key]
        parent[target_path[-1]] = data.draw(json_values)
    try:
        manifest = normalise_manifest(raw)
    except ManifestError as exc:
        assert exc.problems
    else:
        assert normalise_manifest(manifest.data).data == manifest.data


def test_unknown_keys_of_a_permission_are_kept_with_a_warning():
    raw = {
        "id": "keep.keys",
        "name": "Keep",
        "version": "1.0.0",
        "summary": "s",
        "permissions": [{"scope": "assets.read", "x-reason": "thumbnails"}],
    }
    manifest = normalise_manifest(raw)
    assert manifest.data["permissions"][0]["x-reason"] == "thumbnails"
    assert [(w.path, w.code) for w in manifest.warnings] == [
        ("permissions[0].x-reason", "unknown_field")
    ]


def test_length_problems_say_the_limit_even_for_long_values():
    raw = {"id": "long.one", "name": "x", "version": "1.0.0", "summary": "y" * 600}
    with pytest.raises(ManifestError) as info:
        normalise_manifest(raw)
    [problem] = info.value.problems
    assert problem.path == "summary"
    assert problem.message.endswith("must have at most 500 characters")
