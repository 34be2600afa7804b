"""Take server filesystem paths out of text that leaves the server.

Error messages are written for the person who can act on them; a path on the server
helps nobody outside it and tells an attacker how the host is laid out. Everything a
client can read (API error payloads, stored lifecycle errors shown by ``health`` and
``errors/``) passes through :func:`redact`; the server log keeps the full text.

Two nets, so a path is caught whoever formatted it (an ``OSError`` naming its file, a
message that quotes a setting's folder):

- the server's own folders (``roots``: the project, ``MARKET_ROOT``, the package
  folders, the temp and home directories, the interpreter's prefix, ...), wherever
  they appear, with whatever follows them;
- any other absolute path under a well-known system top-level folder (``/home``,
  ``/tmp``, ``/var``, ``/srv``, ...), a Windows drive or UNC path, or a ``file:`` URL.

URL paths such as an extension's route ``/api/modder/x`` are left alone.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

PLACEHOLDER = "<server path>"

# What may follow a root inside one path: anything but whitespace, quotes and the
# brackets or separators that end a path quoted in prose; a colon or full stop only
# inside it, not as the punctuation after it.
_TAIL = r"(?:[^\s'\"`<>()\[\]{},;:.]|[:.](?!\s|$))*"
_SYSTEM_TOP = (
    "bin",
    "boot",
    "dev",
    "etc",
    "home",
    "lib",
    "lib64",
    "media",
    "mnt",
    "nix",
    "opt",
    "private",
    "proc",
    "root",
    "run",
    "sbin",
    "snap",
    "srv",
    "sys",
    "tmp",
    "Users",
    "usr",
    "var",
    "Volumes",
)
_GENERIC = re.compile(
    # A POSIX path under a system folder, not inside a URL or a longer path.
    r"(?<![\w.:/\\-])/(?:"
    + "|".join(_SYSTEM_TOP)
    + r")(?=/|$|[\s'\"`),;:])"
    + _TAIL
    # A Windows drive path (C:\x or C:/x) or a UNC path (\\host\share).
    + r"|(?<![\w])[A-Za-z]:[\\/]"
    + _TAIL
    + r"|\\\\[\w.$-]+\\"
    + _TAIL
    # file: URLs.
    + r"|\bfile:/"
    + _TAIL,
)


@functools.lru_cache(maxsize=16)
def _roots_pattern(roots: tuple[str, ...]) -> re.Pattern[str] | None:
    cleaned = sorted(
        {r.rstrip("/\\") for r in roots if r and len(r.rstrip("/\\")) > 1},
        key=len,
        reverse=True,
    )
    if not cleaned:
        return None
    alternatives = "|".join(re.escape(root) for root in cleaned)
    return re.compile(r"(?:" + alternatives + r")(?=[/\\]|$|[^\w.-])" + _TAIL)


def redact_text(text: str, roots: Iterable[str] = ()) -> str:
    """``text`` with every server path replaced by ``<server path>``."""
    pattern = _roots_pattern(tuple(roots))
    if pattern is not None:
        text = pattern.sub(PLACEHOLDER, text)
    return _GENERIC.sub(PLACEHOLDER, text)


def redact(value: Any, roots: Iterable[str] = ()) -> Any:
    """Redact every string inside ``value`` (dict keys and values, lists, tuples)."""
    roots = tuple(roots)
    if isinstance(value, str):
        return redact_text(value, roots)
    if isinstance(value, dict):
        return {redact(k, roots): redact(v, roots) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, roots) for v in value]
    return value
