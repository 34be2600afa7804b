"""Display text in a manifest (name, summary, description, authors) holds no hidden
characters (``invalid_characters``); no string or key anywhere holds a NUL
(``nul_character``)."""

from __future__ import annotations

from typing import Any

import pytest

from market.errors import ManifestError
from market.manifest import normalise_manifest, parse_manifest_bytes

BASE: dict[str, Any] = {
    "id": "display.text",
    "name": "Display text",
    "version": "1.0.0",
    "summary": "Shows things.",
}


def problems(**fields: Any) -> list[tuple[str, str]]:
    with pytest.raises(ManifestError) as info:
        normalise_manifest({**BASE, **fields})
    return [(p["path"], p["code"]) for p in info.value.details["problems"]]


def only_problem(**fields: Any) -> dict[str, str]:
    with pytest.raises(ManifestError) as info:
        normalise_manifest({**BASE, **fields})
    assert info.value.code == "manifest_invalid"
    (problem,) = info.value.details["problems"]
    return problem


@pytest.mark.parametrize(
    ("fields", "path", "position", "char"),
    [
        ({"name": "Tool\u202egnp.exe"}, "name", 4, "U+202E"),
        ({"name": "\u2066Name\u2069"}, "name", 0, "U+2066"),
        ({"name": "Zero\u200bWidth"}, "name", 4, "U+200B"),
        ({"name": "Line\nbreak"}, "name", 4, "U+000A"),
        ({"name": "  \tPad\u200b  \n"}, "name", 6, "U+200B"),
        ({"summary": "Fine.\u200d"}, "summary", 5, "U+200D"),
        ({"summary": "Private \ue000"}, "summary", 8, "U+E000"),
        ({"description": "Long\n text \u0378"}, "description", 11, "U+0378"),
        ({"description": "\x1b[31mred"}, "description", 0, "U+001B"),
        ({"author": "Ann\u00ad"}, "author", 3, "U+00AD"),
        ({"author": ["Ann", "B\u2028ob"]}, "author[1]", 1, "U+2028"),
        ({"authors": ["Ann", "Bob", "\ufeffCy"]}, "authors[2]", 0, "U+FEFF"),
        ({"authors": ["Tag\U000e0041"]}, "authors[0]", 3, "U+E0041"),
        (
            {"permissions": [{"scope": "assets.read", "description": "To\u202eread"}]},
            "permissions[0].description",
            2,
            "U+202E",
        ),
        (
            {
                "permissions": ["ui.panels"],
                "ui": {"panels": [{"slot": "sidebar", "label": "\u200b", "path": "p"}]},
            },
            "ui.panels[0].label",
            0,
            "U+200B",
        ),
    ],
)
def test_hidden_characters_in_display_text(fields, path, position, char):
    problem = only_problem(**fields)
    assert (problem["path"], problem["code"]) == (path, "invalid_characters")
    assert problem["message"].startswith(f"character {char} (")
    assert (
        f"at position {position} is not allowed in display text" in (problem["message"])
    )


def test_every_field_is_reported_at_once():
    assert problems(
        name="a\u202eb",
        summary="c\u200bd",
        description="e\u2060f",
        authors=["g\u200eh"],
    ) == [
        ("authors[0]", "invalid_characters"),
        ("description", "invalid_characters"),
        ("name", "invalid_characters"),
        ("summary", "invalid_characters"),
    ]


def test_surrounding_whitespace_is_stripped_not_refused():
    manifest = normalise_manifest(
        {**BASE, "name": "  Toolkit \n", "authors": ["\tAnn "], "summary": "\nS\n"}
    )
    assert (manifest.name, manifest.data["authors"]) == ("Toolkit", ["Ann"])
    assert manifest.data["summary"] == "S"


def test_text_people_write_is_kept():
    manifest = normalise_manifest(
        {
            **BASE,
            "name": "Café ツール — مرحبا 🎮",
            "summary": "Two lines:\nsecond\ttabbed.",
            "description": "Para one.\r\n\r\nPara two.",
            "authors": ["Zoë", "李雷"],
        }
    )
    assert manifest.name == "Café ツール — مرحبا 🎮"
    assert manifest.data["authors"] == ["Zoë", "李雷"]


def test_other_strings_are_not_display_text():
    # Ids, paths and unknown fields have their own rules; only NUL is refused in
    # every string.
    manifest = normalise_manifest({**BASE, "x_note": "a\u200bb"})
    assert manifest.data["x_note"] == "a\u200bb"


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"name": "a\x00b"}, "name"),
        ({"summary": "\x00"}, "summary"),
        ({"version": "1.0.0\x00"}, "version"),
        ({"id": "abc\x00"}, "id"),
        ({"authors": ["ok", "n\x00"]}, "authors[1]"),
        ({"routes": [{"path": "/x\x00", "methods": ["GET"]}]}, "routes[0].path"),
        ({"hooks": ["on_\x00"]}, "hooks[0]"),
        (
            {
                "permissions": ["ui.panels"],
                "ui": {"panels": [{"slot": "sidebar", "label": "L", "path": "p\x00"}]},
            },
            "ui.panels[0].path",
        ),
        ({"x_extra": {"deep": [{"k": "v\x00"}]}}, "x_extra.deep[0].k"),
        ({"x\x00key": 1}, ""),
        ({"x_extra": {"bad\x00key": "v"}}, "x_extra"),
        ({"trust": {"level": "unverified", "reason": "\x00"}}, "trust.reason"),
    ],
)
def test_nul_anywhere_is_its_own_problem(fields, path):
    with pytest.raises(ManifestError) as info:
        normalise_manifest({**BASE, **fields})
    nul = [p for p in info.value.details["problems"] if p["code"] == "nul_character"]
    assert [p["path"] for p in nul] == [path]
    assert "NUL character (U+0000) at position" in nul[0]["message"]
    # Refused before normalisation: the schema may add its own view, nothing else.
    others = {p["code"] for p in info.value.details["problems"]} - {"nul_character"}
    assert others <= {
        "invalid_version",
        "invalid_id",
        "invalid_route",
        "invalid_panel",
        "unknown_hook",
    }


def test_nul_from_manifest_bytes():
    raw = b'{"id": "display.text", "name": "a\\u0000b", "version": "1.0.0", '
    raw += b'"summary": "s", "k\\u0000": 1}'
    value = parse_manifest_bytes(raw)  # parses: the rules refuse it
    assert sorted(problems(**value)) == [
        ("", "nul_character"),
        ("name", "nul_character"),
    ]
