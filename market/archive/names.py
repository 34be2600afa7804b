"""Member names: what a bundle path may look like, and when two paths are the same.

Studios run on Windows, macOS and Linux, and a bundle must extract to the same files
on each. :func:`check_member_name` is the one rule for a single name: no absolute,
drive, UNC or ``..`` paths, no backslashes, control or invisible characters, nothing
Windows forbids or rewrites (``<>:"|?*``, a trailing dot or space, device names such
as ``CON`` or ``com1.txt``, names shaped like 8.3 short names), a length that fits
under Windows's ``MAX_PATH`` in an install folder, and never the installer's own
record (``.market.json``). :func:`fold_name` is the one key under which two names are
the same file somewhere (case, Unicode normalisation, Windows's dropped trailing dots
and spaces), and :func:`check_name_collisions` the rule for a set of names. The
packager applies both to a source tree and the installer to a bundle, so no bundle
is built that would be refused.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

from market.characters import first_hidden
from market.errors import DuplicateEntryError, UnsafePathError

MAX_NAME_BYTES = 1024
MAX_SEGMENT_BYTES = 255
# Windows's MAX_PATH is 260 UTF-16 units with the terminating NUL; a bundle path of
# at most 160 leaves 99 for the install folder (``C:\Users\<name>\...\<id>\``).
MAX_PATH_UNITS = 160
# The installer's record beside the extension's files (services.SIDECAR_NAME).
RESERVED_NAME = ".market.json"
# Device names Windows opens instead of a file, in any folder and with any extension.
WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"{port}{digit}" for port in ("com", "lpt") for digit in "0123456789"}
)
WINDOWS_FORBIDDEN = frozenset('<>:"|?*')
# An 8.3 short name (``PROGRA~1``, ``LONGNA~12.TXT``): on NTFS it may be another file's
# alias, so two different names would open one file.
_SHORT_NAME = re.compile(r"[^.~]{0,7}~[0-9]+(?:\.[^.]{0,3})?")
_SHOWN_CHARS = 300


def shown_name(name: str) -> str:
    """``name`` as shown in errors: a 64 KiB hostile name makes no 64 KiB error."""
    return name if len(name) <= _SHOWN_CHARS else name[:_SHOWN_CHARS] + "\u2026"


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def check_member_name(name: str, *, utf8_flag: bool = True) -> tuple[str, ...]:
    """The path segments of a raw member name, or ``UnsafePathError``.

    ``details`` carry the ``entry`` and the ``rule`` it breaks.
    """

    def refuse(rule: str, why: str) -> UnsafePathError:
        entry = shown_name(name)
        return UnsafePathError(
            f"unsafe entry name {entry!r}: {why}",
            details={"entry": entry, "rule": rule},
        )

    if not name:
        raise refuse("empty", "empty name")
    if not utf8_flag and not name.isascii():
        # Without the UTF-8 flag, tools disagree on the encoding (cp437 or local).
        raise refuse("encoding", "non-ASCII name without the UTF-8 flag")
    hidden = first_hidden(name)  # the one classification, shared with display text
    if hidden is not None:
        raise refuse(
            "invisible_character",
            f"control or invisible character {hidden.code_point}",
        )
    if "\\" in name:
        raise refuse("backslash", "backslash")
    if name.startswith("/"):
        raise refuse("absolute", "absolute or UNC path")
    if ":" in name:
        raise refuse(
            "windows_character",
            "':' (a Windows drive like C: or an alternate data stream)",
        )
    for ch in name:
        if ch in WINDOWS_FORBIDDEN:
            raise refuse(
                "windows_character", f"{ch!r} is not allowed in Windows file names"
            )
    path = name.removesuffix("/")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise refuse("too_long", f"longer than {MAX_NAME_BYTES} bytes")
    if _utf16_units(path) > MAX_PATH_UNITS:
        raise refuse(
            "too_long",
            f"longer than {MAX_PATH_UNITS} characters (UTF-16 units), which does not "
            "fit under Windows's 260-character path limit once installed",
        )
    parts = tuple(path.split("/"))
    for part in parts:
        problem = _segment_problem(part)
        if problem is not None:
            raise refuse(*problem)
    return parts


def _segment_problem(part: str) -> tuple[str, str] | None:
    """``(rule, why)`` if one path segment is not portable."""
    if part in ("", ".", ".."):
        return "dot_segment", f"{part!r} path segment" if part else "empty path segment"
    if len(part.encode("utf-8")) > MAX_SEGMENT_BYTES:
        return "too_long", f"a path segment is longer than {MAX_SEGMENT_BYTES} bytes"
    if part[-1] in " .":
        return (
            "trailing_dot_or_space",
            f"{shown_name(part)!r} ends with a dot or a space, which Windows drops",
        )
    folded = fold_segment(part)
    if folded == RESERVED_NAME:
        return "reserved_name", f"{RESERVED_NAME!r} is reserved for the installer"
    if folded.split(".", 1)[0].rstrip(" ") in WINDOWS_DEVICES:
        return (
            "windows_device_name",
            f"{part!r} is a device name on Windows (with any extension)",
        )
    stem = part.split(".", 1)[0]
    if len(stem) <= 8 and _SHORT_NAME.fullmatch(part):
        return (
            "windows_short_name",
            f"{part!r} has the shape of a Windows 8.3 short name, which can be "
            "another file's alias",
        )
    return None


@functools.lru_cache(maxsize=4096)  # folder names repeat along every path
def fold_segment(segment: str) -> str:
    """One path segment as every file system we install on compares it.

    Case-folded and NFKC-normalised (``Readme`` and ``README``, NFC and NFD ``café``,
    the ``ﬁ`` ligature and ``fi``, superscript and plain digits), and without the
    trailing dots and spaces Windows drops (``readme.`` is ``readme`` there).
    Casefolding can denormalise (and NFKC can change case), hence NFKC on both sides.
    """
    folded = unicodedata.normalize(
        "NFKC", unicodedata.normalize("NFKC", segment).casefold()
    )
    return folded.rstrip(" .")


def fold_name(name: str) -> str:
    """The key under which two bundle paths are one file on some file system."""
    return "/".join(fold_segment(segment) for segment in name.split("/"))


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
    "MAX_PATH_UNITS",
    "MAX_SEGMENT_BYTES",
    "RESERVED_NAME",
    "WINDOWS_DEVICES",
    "check_member_name",
    "check_name_collisions",
    "fold_name",
    "fold_segment",
    "shown_name",
]
