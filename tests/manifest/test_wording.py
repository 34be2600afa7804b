"""Problems that teach: suggestions for typos, rules in words, a stable order.

Pure tests: no database and no Django settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from market.errors import ManifestError, Problem, sort_problems
from market.hooks_catalog import HOOK_NAMES
from market.manifest import load_schema, normalise_manifest, registry
from market.manifest.wording import PATTERN_RULES, did_you_mean

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def market_root():
    """Pure tests: replace the suite's settings-based runtime folder fixture."""
    return None


def minimal(**changes: Any) -> dict[str, Any]:
    return {
        "id": "sample.toolkit",
        "name": "Sample Toolkit",
        "version": "1.2.3",
        "summary": "Tools for samples.",
        **changes,
    }


def problems(raw: Any) -> list[Problem]:
    with pytest.raises(ManifestError) as info:
        normalise_manifest(raw)
    return info.value.problems


def only(raw: Any) -> Problem:
    [problem] = problems(raw)
    return problem


PANEL = {"label": "Tools", "path": "ui/panel.html"}


@pytest.mark.parametrize(
    ("raw", "path", "code", "message"),
    [
        (
            minimal(permissions=["ui.panel"]),
            "permissions[0].scope",
            "unknown_permission",
            "unknown scope 'ui.panel'; did you mean 'ui.panels'? "
            "(known scopes: docs/manifest.md#permission-registry)",
        ),
        (
            minimal(permissions=[{"scope": "asset.read", "optional": True}]),
            "permissions[0].scope",
            "unknown_permission",
            "unknown scope 'asset.read'; did you mean 'assets.read'? "
            "(known scopes: docs/manifest.md#permission-registry)",
        ),
        (
            minimal(permissions=["Hooks.Listen"]),
            "permissions[0].scope",
            "unknown_permission",
            "unknown scope 'Hooks.Listen'; did you mean 'hooks.listen'? "
            "(known scopes: docs/manifest.md#permission-registry)",
        ),
        (
            minimal(hooks=["on_scene_exit"]),
            "hooks[0]",
            "unknown_hook",
            "unknown hook 'on_scene_exit'; did you mean 'on_scene_enter'? "
            "(known hooks: docs/manifest.md#hooks)",
        ),
        (
            minimal(hooks=["on_asset_save"]),
            "hooks[0]",
            "unknown_hook",
            "unknown hook 'on_asset_save'; did you mean 'on_asset_saved'? "
            "(known hooks: docs/manifest.md#hooks)",
        ),
        (
            minimal(
                permissions=["ui.panels"], ui={"panels": [{"slot": "sidbar", **PANEL}]}
            ),
            "ui.panels[0].slot",
            "unknown_slot",
            "unknown slot 'sidbar'; did you mean 'sidebar'? "
            "(known slots: docs/manifest.md#panel-slots)",
        ),
        (
            minimal(
                permissions=["ui.panels"],
                ui={"panels": [{"slot": "Inspector", **PANEL}]},
            ),
            "ui.panels[0].slot",
            "unknown_slot",
            "unknown slot 'Inspector'; did you mean 'inspector'? "
            "(known slots: docs/manifest.md#panel-slots)",
        ),
    ],
)
def test_unknown_names_suggest_the_closest_and_point_to_the_list(
    raw: dict, path: str, code: str, message: str
):
    assert only(raw) == Problem(path, code, message)


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        (
            minimal(hooks=["On_Scene_Enter"]),
            "hooks[0]",
            "unknown hook 'On_Scene_Enter'; did you mean 'on_scene_enter'? "
            "(known hooks: docs/manifest.md#hooks)",
        ),
        (
            minimal(hooks=["on-asset-saved"]),
            "hooks[0]",
            "unknown hook 'on-asset-saved'; did you mean 'on_asset_saved'? "
            "(known hooks: docs/manifest.md#hooks)",
        ),
        (
            minimal(permissions=[{"scope": "UI.PANELS"}]),
            "permissions[0].scope",
            "unknown scope 'UI.PANELS'; did you mean 'ui.panels'? "
            "(known scopes: docs/manifest.md#permission-registry)",
        ),
        (
            minimal(
                permissions=["ui.panels"],
                ui={"panels": [{"slot": "bottom-panel", **PANEL}]},
            ),
            "ui.panels[0].slot",
            "unknown slot 'bottom-panel'; did you mean 'bottom_panel'? "
            "(known slots: docs/manifest.md#panel-slots)",
        ),
    ],
)
def test_case_and_separator_slips_are_suggested_too(raw, path, message):
    problem = only(raw)
    assert (problem.path, problem.message) == (path, message)


@pytest.mark.parametrize(
    ("raw", "path", "code"),
    [
        (minimal(permissions=["ui.panel" + "s" * 120]), "permissions[0].scope", None),
        (minimal(hooks=["on_scene_enter" + "r" * 120]), "hooks[0]", "unknown_hook"),
        (
            minimal(
                permissions=["ui.panels"],
                ui={"panels": [{"slot": "sidebar" + "r" * 120, **PANEL}]},
            ),
            "ui.panels[0].slot",
            "unknown_slot",
        ),
    ],
)
def test_long_values_get_no_suggestion(raw, path, code):
    # A typo is short; a long value is not compared (difflib's cost grows with it).
    by_path = {p.path: p for p in problems(raw)}
    assert path in by_path, by_path
    assert "did you mean" not in by_path[path].message
    if code:
        assert by_path[path].code == code


def test_several_typos_each_get_their_suggestion_in_one_report():
    raw = minimal(
        permissions=["ui.panel", "asset.read"],
        hooks=["on_scene_exit", "on_asset_save"],
        ui={"panels": [{"slot": "sidbar", **PANEL}, {"slot": "Inspector", **PANEL}]},
    )
    suggestions = {
        p.path: p.message.split("; ")[1].split("?")[0]
        for p in problems(raw)
        if "did you mean" in p.message
    }
    assert suggestions == {
        "hooks[0]": "did you mean 'on_scene_enter'",
        "hooks[1]": "did you mean 'on_asset_saved'",
        "permissions[0].scope": "did you mean 'ui.panels'",
        "permissions[1].scope": "did you mean 'assets.read'",
        "ui.panels[0].slot": "did you mean 'sidebar'",
        "ui.panels[1].slot": "did you mean 'inspector'",
    }


@pytest.mark.parametrize(
    ("raw", "path", "code", "kind", "where"),
    [
        (
            minimal(permissions=["nope"]),
            "permissions[0].scope",
            "unknown_permission",
            "scope",
            "docs/manifest.md#permission-registry",
        ),
        (
            minimal(hooks=["on_nothing"]),
            "hooks[0]",
            "unknown_hook",
            "hook",
            "docs/manifest.md#hooks",
        ),
        (
            minimal(
                permissions=["ui.panels"], ui={"panels": [{"slot": "zz", **PANEL}]}
            ),
            "ui.panels[0].slot",
            "unknown_slot",
            "slot",
            "docs/manifest.md#panel-slots",
        ),
    ],
)
def test_nothing_close_still_points_to_the_list(raw, path, code, kind, where):
    problem = only(raw)
    assert (problem.path, problem.code) == (path, code)
    assert "did you mean" not in problem.message
    assert problem.message.endswith(f"(known {kind}s: {where})")


def test_known_slots_validate_and_each_is_in_the_schema():
    schema_slots = load_schema()["$defs"]["panel"]["properties"]["slot"]["enum"]
    assert schema_slots == list(registry.KNOWN_UI_SLOTS)
    for slot in registry.KNOWN_UI_SLOTS:
        manifest = normalise_manifest(
            minimal(permissions=["ui.panels"], ui={"panels": [{"slot": slot, **PANEL}]})
        )
        assert manifest.data["ui"]["panels"][0]["slot"] == slot


def test_schema_only_failures_word_registries_the_same_way():
    # A value no JSON library round-trips stops the semantic rules: the schema's
    # messages alone must teach as well.
    raw = minimal(
        hooks=["on_scene_exit"],
        permissions=["ui.panel", "ui.panels"],
        ui={"panels": [{"slot": "sidbar", **PANEL}]},
        big=2**60,
    )
    by_path = {p.path: p.message for p in problems(raw)}
    assert by_path["hooks[0]"].startswith("unknown hook 'on_scene_exit'; did you mean")
    assert by_path["permissions[0].scope"].startswith(
        "unknown scope 'ui.panel'; did you mean 'ui.panels'?"
    )
    assert by_path["ui.panels[0].slot"].startswith(
        "unknown slot 'sidbar'; did you mean 'sidebar'?"
    )


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        (
            minimal(routes=[{"path": "/x", "methods": ["GTE"]}]),
            "routes[0].methods[0]",
            "'GTE' is not an HTTP method; use one of DELETE, GET, HEAD, OPTIONS, "
            "PATCH, POST, PUT; did you mean 'GET'?",
        ),
        (
            minimal(trust={"level": "verifed"}),
            "trust.level",
            "'verifed' is not one of unverified, verified; did you mean 'verified'?",
        ),
        (
            minimal(routes=[{"path": "/x", "expose": "globl"}]),
            "routes[0].expose",
            "'globl' is not one of: extension, global; did you mean 'global'?",
        ),
        (
            minimal(manifest_version="1.2"),
            "manifest_version",
            "'1.2' is not supported; use one of 1.0, 1.1; did you mean '1.1'?",
        ),
    ],
)
def test_other_closed_lists_suggest_too(raw, path, message):
    assert {p.path: p.message for p in problems(raw)}[path] == message


def test_unknown_fields_suggest_the_field_meant():
    manifest = normalise_manifest(
        minimal(
            permisions=["assets.read"],
            routes=[{"path": "/x", "method": ["GET"]}],
            homepage="https://example.org",
        )
    )
    assert [w.as_dict() for w in manifest.warnings] == [
        {
            "path": "homepage",
            "code": "unknown_field",
            "message": "unknown field 'homepage' (kept)",
        },
        {
            "path": "permisions",
            "code": "unknown_field",
            "message": "unknown field 'permisions' (kept); did you mean 'permissions'?",
        },
        {
            "path": "routes[0].method",
            "code": "unknown_field",
            "message": "unknown field 'method' (kept); did you mean 'methods'?",
        },
    ]


def _schema_patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return found + [p for value in node.values() for p in _schema_patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in _schema_patterns(value)]
    return []


def test_every_schema_pattern_is_said_in_words():
    patterns = set(_schema_patterns(load_schema()))
    assert patterns <= set(PATTERN_RULES)


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        (
            minimal(routes=[{"path": "/x", "callable": "list-scenes"}]),
            "routes[0].callable",
            "'list-scenes' must be a Python name or dotted name (letters, digits and "
            "'_', each part not starting with a digit), e.g. list_scenes or "
            "views.list_scenes",
        ),
        (
            minimal(events=[{"topic": "bad topic"}]),
            "events[0].topic",
            "'bad topic' must start with a letter or digit and hold only letters, "
            "digits and _ . : / * - (e.g. modder.on_scene_enter)",
        ),
        (
            minimal(
                permissions=["ui.panels"],
                ui={"panels": [{"slot": "sidebar", "label": " ", "path": "p.html"}]},
            ),
            "ui.panels[0].label",
            "' ' must not be blank",
        ),
        (
            minimal(content={"sha256": "XYZ", "files": 1, "bytes": 1}),
            "content.sha256",
            "'XYZ' must be 64 lower-case hexadecimal digits (a SHA-256)",
        ),
    ],
)
def test_pattern_failures_say_what_is_allowed(raw, path, message):
    found = {p.path: p.message for p in problems(raw)}
    assert found[path] == message
    assert not any("^" in m or "$" in m or "[A-Z" in m for m in found.values())


def test_problems_are_sorted_by_path_whoever_builds_the_error():
    shuffled = [
        Problem("version", "c", "m"),
        Problem("routes[10].path", "c", "m"),
        Problem("", "c", "m"),
        Problem("routes[2].path", "c", "m"),
        Problem("hooks[0]", "c", "m"),
        Problem("routes[2]", "c", "m"),
    ]
    expected = [
        "",
        "hooks[0]",
        "routes[2]",
        "routes[2].path",
        "routes[10].path",
        "version",
    ]
    assert [p.path for p in ManifestError(shuffled).problems] == expected
    assert [p["path"] for p in ManifestError(shuffled).details["problems"]] == expected


def test_sorting_survives_any_key_a_manifest_can_hold():
    # Unknown keys become problem paths; a huge "index" must not break sorting.
    huge = "[" + "9" * 5000 + "]"
    order = sort_problems(
        [
            Problem(f"x{huge}", "c", "m"),
            Problem("x[1]", "c", "m"),
            Problem("a", "c", "m"),
        ]
    )
    assert [p.path for p in order] == ["a", "x[1]", f"x{huge}"]
    long_index = "[" + "9" * 100 + "]"
    raw = minimal(**{long_index: float("nan"), "[1]": float("inf")})
    assert [p.path for p in problems(raw)] == ["[1]", long_index]


def test_missing_files_sort_among_the_other_problems(tmp_path):
    from market.archive.contents import normalise_with_files

    raw = minimal(
        id="Bad",
        routes=[{"path": "/x", "entry": "handlers.py"}],
        permissions=["ui.panels"],
        ui={"panels": [{"slot": "sidebar", **PANEL}]},
    )
    with pytest.raises(ManifestError) as info:
        normalise_with_files(raw, [], source_name="manifest.json")
    assert [(p.path, p.code) for p in info.value.problems] == [
        ("id", "invalid_id"),
        ("routes[0].entry", "missing_file"),
        ("ui.panels[0].path", "missing_file"),
    ]


def test_suggestions_ignore_long_values_and_exact_matches():
    assert did_you_mean("x" * 101 + "sidebar", registry.KNOWN_UI_SLOTS) == ""
    assert did_you_mean("sidebar", ["sidebar"]) == ""
    assert did_you_mean(3, ["sidebar"]) == ""
    assert (
        did_you_mean("on_scene_exit", HOOK_NAMES) == "; did you mean 'on_scene_enter'?"
    )


def test_docs_name_the_anchors_problems_point_to():
    for where in (registry.PERMISSIONS_DOC, registry.HOOKS_DOC, registry.SLOTS_DOC):
        doc, anchor = where.split("#")
        text = (ROOT / doc).read_text() if (ROOT / doc).exists() else ""
        headings = [
            line.lstrip("#").strip().lower().replace(" ", "-")
            for line in text.splitlines()
            if line.startswith("#")
        ]
        assert anchor in headings, where
