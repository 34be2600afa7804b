"""Member names: what a bundle path may look like, and when two paths are the same.

:func:`check_member_name` is the one rule for a single name (no absolute, drive, UNC or
``..`` paths, no backslashes, control characters or empty segments) and
:func:`check_name_collisions` the one rule for a set of names (no duplicates, nothing
that a case- or normalisation-insensitive file system would fold together, no path
that is both a file and a directory). The packager applies both to a source tree and
the installer to a bundle, so no bundle is built that would be refused.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from market.errors import DuplicateEntryError, UnsafePathError

MAX_NAME_BYTES = 1024
MAX_SEGMENT_BYTES = 255
# Control, format (bidi overrides, zero-width), surrogate, private, unassigned, and
# line/paragraph separators: characters that hide or rewrite what a name shows.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def check_member_name(name: str, *, utf8_flag: bool = True) -> tuple[str, ...]:
    """The path segments of a raw member name, or ``UnsafePathError``."""

    def refuse(why: str) -> UnsafePathError:
        return UnsafePathError(
            f"unsafe entry name {name!r}: {why}", details={"entry": name}
        )

    if not name:
        raise refuse("empty name")
    if not utf8_flag and not name.isascii():
        # Without the UTF-8 flag, tools disagree on the encoding (cp437 or local).
        raise refuse("non-ASCII name without the UTF-8 flag")
    for ch in name:
        if unicodedata.category(ch) in _INVISIBLE:
            raise refuse(f"control or invisible character U+{ord(ch):04X}")
    if "\\" in name:
        raise refuse("backslash")
    if name.startswith("/"):
        raise refuse("absolute or UNC path")
    if ":" in name:
        raise refuse("':' (a Windows drive like C: or an alternate data stream)")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise refuse(f"longer than {MAX_NAME_BYTES} bytes")
    parts = name.removesuffix("/").split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise refuse(f"{part!r} path segment" if part else "empty path segment")
        if len(part.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise refuse(f"a path segment is longer than {MAX_SEGMENT_BYTES} bytes")
    return tuple(parts)


def fold_name(name: str) -> str:
    """The key under which case- or normalisation-insensitive file systems collide.

    ``fold_name("Readme.txt") == fold_name("README.TXT")``, and the NFC and NFD
    spellings of ``café`` fold together too. Casefolding can denormalise (and NFKC
    can change case), hence NFKC on both sides.
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def check_name_collisions(names: Iterable[str]) -> None:
    """``DuplicateEntryError`` unless the names stay distinct on every file system.

    ``names`` are checked bundle paths; a directory entry ends with ``/``. Refused:
    the same name twice, two names with the same :func:`fold_name`, and a file whose
    path (folded) is also a directory implied by another name.
    """
    seen: dict[str, str] = {}
    dirs: dict[str, str] = {}  # folded directory path -> a name that implies it
    files: list[tuple[str, str]] = []  # (folded path, name)
    for name in names:
        is_dir = name.endswith("/")
        parts = name.removesuffix("/").split("/")
        folded = fold_name("/".join(parts))
        key = folded + ("/" if is_dir else "")
        other = seen.get(key)
        if other == name:
            raise DuplicateEntryError(
                f"entry {name!r} appears twice", details={"entries": [name]}
            )
        if other is not None:
            raise DuplicateEntryError(
                f"entries {other!r} and {name!r} collide on case- or "
                "Unicode-insensitive file systems",
                details={"entries": [other, name]},
            )
        seen[key] = name
        if not is_dir:
            files.append((folded, name))
        depth = len(parts) if is_dir else len(parts) - 1
        for i in range(1, depth + 1):
            dirs.setdefault(fold_name("/".join(parts[:i])), name)
    for folded, name in files:
        clash = dirs.get(folded)
        if clash is not None:
            raise DuplicateEntryError(
                f"entry {name!r} is both a file and a directory (see {clash!r})",
                details={"entries": [name, clash]},
            )


__all__ = [
    "MAX_NAME_BYTES",
    "MAX_SEGMENT_BYTES",
    "check_member_name",
    "check_name_collisions",
    "fold_name",
]
