"""Findings in files that are not Python source: native binaries, compiled Python
and minified JavaScript.

A native binary is recognised by its name (``.so``, ``.dll``, ``.dylib``, ``.pyd``,
``.exe``) or by its first bytes (ELF, PE, Mach-O), whatever it is called; compiled
Python (``.pyc``, ``.pyo``) by its name. Minified JavaScript is recognised by its
line lengths: code a person wrote and a reviewer can read has short lines.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from market.risk.findings import Finding

NATIVE_SUFFIXES = (".so", ".dll", ".dylib", ".pyd", ".exe")
# Python imports a sourceless module from these: code that never meets the ast scan.
COMPILED_PYTHON_SUFFIXES = (".pyc", ".pyo")
JS_SUFFIXES = (".js", ".mjs", ".cjs")
HEAD_BYTES = 1024
_MACHO = (
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
)
_FAT = b"\xca\xfe\xba\xbe"


def binary_format(head: bytes) -> str | None:
    """``"ELF"``, ``"PE"`` or ``"Mach-O"`` when ``head`` starts an executable."""
    if head.startswith(b"\x7fELF"):
        return "ELF"
    if head.startswith(b"MZ") and len(head) >= 0x40:
        (offset,) = struct.unpack_from("<I", head, 0x3C)
        if offset + 4 <= len(head) and head[offset : offset + 4] == b"PE\0\0":
            return "PE"
    if head.startswith(_MACHO):
        return "Mach-O"
    # A universal Mach-O binary; a Java class file starts alike, but its next word
    # (a version >= 45) is far above any count of architectures.
    if head.startswith(_FAT) and len(head) >= 8:
        (count,) = struct.unpack_from(">I", head, 4)
        if 0 < count < 20:
            return "Mach-O"
    return None


def native_finding(name: str, head: bytes) -> Finding | None:
    if name.lower().endswith(COMPILED_PYTHON_SUFFIXES):
        return Finding(
            "compiled_python",
            "high",
            name,
            None,
            "compiled Python bytecode: it runs when imported, and its source is not "
            "in the bundle to read",
        )
    kind = binary_format(head)
    if kind is None and not name.lower().endswith(NATIVE_SUFFIXES):
        return None
    what = f"a native {kind} executable" if kind else "named as a native library"
    return Finding(
        "native_binary",
        "high",
        name,
        None,
        f"{what}: compiled code the reviewer cannot read",
    )


def minified_findings(
    name: str, source: bytes, *, max_line_chars: int = 1000
) -> Iterator[Finding]:
    if not name.lower().endswith(JS_SUFFIXES):
        return
    start, number = 0, 1
    while start <= len(source):
        end = source.find(b"\n", start)
        stop = len(source) if end < 0 else end
        if stop - start > max_line_chars:
            yield Finding(
                "minified_js",
                "low",
                name,
                number,
                f"line {number} is {stop - start} characters long: minified or "
                "generated code; ask for the source",
            )
            return
        if end < 0:
            return
        start, number = end + 1, number + 1


__all__ = [
    "COMPILED_PYTHON_SUFFIXES",
    "JS_SUFFIXES",
    "NATIVE_SUFFIXES",
    "binary_format",
    "minified_findings",
    "native_finding",
]
