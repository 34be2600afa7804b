"""Characters that hide or rewrite what text shows, and the rule for display text.

One classification, used for bundle member names (``market/archive/names.py``) and for
display text: a manifest's ``name``, ``summary``, ``description`` and authors, and
every reason a reviewer types. A character is *hidden* when its Unicode general
category (Python's ``unicodedata``, Unicode 15.0 on Python 3.11) is one of:

- ``Cc`` control characters (NUL, ESC, DEL, C1 controls);
- ``Cf`` format characters: bidi overrides and isolates (U+202A-U+202E,
  U+2066-U+2069), zero-width space/joiners (U+200B-U+200D), the BOM (U+FEFF), soft
  hyphen, invisible operators and tag characters;
- ``Cs`` surrogates, ``Co`` private use, ``Cn`` unassigned code points;
- ``Zl``/``Zp`` line and paragraph separators (U+2028, U+2029).

They make a name read as something else (``exe.txt`` shown for ``txt.exe``), or one
name look like another. Multi-line display text (descriptions, reasons) may also hold
line feeds, carriage returns and tabs. Pure module: no Django.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from market.errors import InvalidCharactersError, Problem

HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# The layout characters multi-line text may hold.
LINE_BREAKS = frozenset("\n\r\t")
PROBLEM_CODE = "invalid_characters"


@dataclass(frozen=True)
class HiddenCharacter:
    """The first hidden character of a text: where it is and what it is."""

    position: int  # 0-based, in code points
    char: str

    @property
    def code_point(self) -> str:
        """``U+202E``."""
        return f"U+{ord(self.char):04X}"

    @property
    def label(self) -> str:
        """``U+202E (RIGHT-TO-LEFT OVERRIDE)``, or the code point and its category."""
        name = unicodedata.name(self.char, "")
        if not name:
            name = _CATEGORY_NAMES.get(unicodedata.category(self.char), "")
        return f"{self.code_point} ({name})" if name else self.code_point


_CATEGORY_NAMES = {
    "Cc": "control character",
    "Cf": "format character",
    "Cs": "surrogate",
    "Co": "private use",
    "Cn": "unassigned",
}


def is_hidden(char: str) -> bool:
    return unicodedata.category(char) in HIDDEN_CATEGORIES


def first_hidden(text: str, *, multiline: bool = False) -> HiddenCharacter | None:
    """The first hidden character of ``text``, or None.

    With ``multiline``, line feeds, carriage returns and tabs are allowed.
    """
    if text.isascii() and text.isprintable():  # the common case, at C speed
        return None
    allowed = LINE_BREAKS if multiline else frozenset()
    for position, char in enumerate(text):
        if char not in allowed and unicodedata.category(char) in HIDDEN_CATEGORIES:
            return HiddenCharacter(position, char)
    return None


def _message(found: HiddenCharacter) -> str:
    return (
        f"character {found.label} at position {found.position} is not allowed in "
        "display text: control, bidi, zero-width and other invisible, private-use "
        "or unassigned characters hide or reorder what readers see"
    )


def display_text_problem(
    value: str, *, path: str, multiline: bool = False, offset: int = 0
) -> Problem | None:
    """The ``invalid_characters`` problem of one display string at ``path``, or None.

    ``offset`` is added to the position reported (``value`` cut from a longer text).
    """
    found = first_hidden(value, multiline=multiline)
    if found is None:
        return None
    return Problem(
        path,
        PROBLEM_CODE,
        _message(HiddenCharacter(found.position + offset, found.char)),
    )


def require_display_text(value: str, *, path: str, multiline: bool = False) -> str:
    """``value`` if it holds no hidden character, else ``InvalidCharactersError``
    (``details``: ``path``, ``character`` as ``U+XXXX``, ``position``)."""
    found = first_hidden(value, multiline=multiline)
    if found is None:
        return value
    raise InvalidCharactersError(
        f"{path}: {_message(found)}",
        details={
            "path": path,
            "character": found.code_point,
            "position": found.position,
        },
    )


__all__ = [
    "HIDDEN_CATEGORIES",
    "PROBLEM_CODE",
    "HiddenCharacter",
    "display_text_problem",
    "first_hidden",
    "is_hidden",
    "require_display_text",
]
