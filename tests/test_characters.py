"""The one character classification: member names and display text share it."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market import characters
from market.archive import names
from market.characters import (
    HIDDEN_CATEGORIES,
    display_text_problem,
    first_hidden,
    require_display_text,
)
from market.errors import InvalidCharactersError, UnsafePathError

# One of each kind a reader cannot see, with where it sits in "ab?cd".
HIDDEN = {
    "nul": "\x00",
    "bell": "\x07",
    "escape": "\x1b",
    "delete": "\x7f",
    "c1_control": "\x85",
    "rtl_override": "\u202e",
    "ltr_embedding": "\u202a",
    "rtl_isolate": "\u2067",
    "pop_isolate": "\u2069",
    "rtl_mark": "\u200f",
    "zero_width_space": "\u200b",
    "zero_width_joiner": "\u200d",
    "word_joiner": "\u2060",
    "bom": "\ufeff",
    "soft_hyphen": "\u00ad",
    "tag_letter": "\U000e0041",
    "line_separator": "\u2028",
    "paragraph_separator": "\u2029",
    "private_use": "\ue000",
    "private_use_plane_15": "\U000f0000",
    "unassigned": "\u0378",
    "noncharacter": "\uffff",
    "lone_surrogate": "\ud800",
}
SHOWN = [
    "Hello world",
    "Café crème",
    "naïve résumé",
    "日本語の拡張",
    "مرحبا بالعالم",  # right-to-left letters are text, not overrides
    "שלום",
    "Ünïcödé — “quotes” … ellipsis",
    "emoji 🎮🚀",
    "tab-free, line-free",
]


@pytest.mark.parametrize("name", sorted(HIDDEN))
def test_every_kind_of_hidden_character_is_found_with_its_position(name):
    char = HIDDEN[name]
    found = first_hidden("ab" + char + "cd")
    assert found is not None
    assert (found.position, found.char) == (2, char)
    assert found.code_point == f"U+{ord(char):04X}"
    assert unicodedata.category(char) in HIDDEN_CATEGORIES


@pytest.mark.parametrize("text", SHOWN)
def test_text_people_write_passes(text):
    assert first_hidden(text) is None
    assert require_display_text(text, path="name") == text


def test_line_breaks_only_in_multiline_text():
    text = "first line\nsecond\r\nthird\tcolumn"
    assert first_hidden(text, multiline=True) is None
    found = first_hidden(text)
    assert found is not None and (found.position, found.char) == (10, "\n")
    # Only the three layout characters: other controls are hidden in any text.
    assert first_hidden("a\x0bb", multiline=True) == characters.HiddenCharacter(
        1, "\x0b"
    )
    assert first_hidden("a\u2028b", multiline=True) is not None


def test_the_first_one_is_reported():
    found = first_hidden("x\u200by\u202ez")
    assert found is not None and found.position == 1


def test_labels_name_the_character():
    assert characters.HiddenCharacter(0, "\u202e").label == (
        "U+202E (RIGHT-TO-LEFT OVERRIDE)"
    )
    assert characters.HiddenCharacter(0, "\x07").label == "U+0007 (control character)"
    assert characters.HiddenCharacter(0, "\ue000").label == "U+E000 (private use)"
    assert characters.HiddenCharacter(0, "\u0378").label == "U+0378 (unassigned)"
    assert characters.HiddenCharacter(0, "\U000e0041").label == (
        "U+E0041 (TAG LATIN CAPITAL LETTER A)"
    )


def test_problem_and_error_say_which_character_where():
    problem = display_text_problem("Tool\u202egnp.exe", path="name")
    assert problem is not None
    assert (problem.path, problem.code) == ("name", "invalid_characters")
    assert problem.message.startswith(
        "character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 4 is not allowed"
    )
    assert display_text_problem("fine", path="name") is None
    with pytest.raises(InvalidCharactersError) as info:
        require_display_text("ok\u200b", path="reason")
    assert info.value.code == "invalid_characters"
    assert info.value.details == {
        "path": "reason",
        "character": "U+200B",
        "position": 2,
    }
    assert info.value.message.startswith("reason: character U+200B (ZERO WIDTH SPACE)")


@pytest.mark.parametrize("name", sorted(HIDDEN))
def test_member_names_refuse_the_same_characters(name):
    """archive/names.py uses this classification, not a copy of it."""
    with pytest.raises(UnsafePathError) as info:
        names.check_member_name("assets/a" + HIDDEN[name] + "b.txt")
    assert info.value.details["rule"] == "invisible_character"
    assert f"U+{ord(HIDDEN[name]):04X}" in info.value.message


def test_the_classification_is_not_duplicated():
    import inspect

    source = inspect.getsource(names)
    assert "first_hidden" in source
    assert '"Cf"' not in source and "'Cf'" not in source


@given(st.text(max_size=60))
def test_first_hidden_agrees_with_the_categories(text):
    found = first_hidden(text)
    expected = next(
        (
            (i, c)
            for i, c in enumerate(text)
            if unicodedata.category(c) in HIDDEN_CATEGORIES
        ),
        None,
    )
    assert (None if found is None else (found.position, found.char)) == expected


def test_pure_module():
    import ast
    import pathlib

    tree = ast.parse(pathlib.Path(characters.__file__).read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not any(name and name.startswith("django") for name in imported)
