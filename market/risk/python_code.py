"""Findings in Python source, read with :mod:`ast` (never pattern-matched as text).

What is flagged, and where:

- importing a module whose use is the signal: ``subprocess``/``pty``
  (``process_exec``), ``ctypes``/``cffi`` (``native_code``), network clients
  (``network_access``), at the import;
- calling ``os.system``/``os.popen``/``os.exec*``/``os.spawn*``
  (``process_exec``), ``eval``/``exec``/``compile`` (``dynamic_code``),
  ``__import__``/``importlib.import_module`` (``dynamic_import``),
  ``pickle``/``marshal`` loads (``unsafe_deserialise``), at the call; names are
  resolved through the file's imports, so ``from os import system as s; s()`` counts,
  and so does ``getattr(os, "system")``;
- string and bytes literals that look like long base64 or hex blobs
  (``encoded_blob``).

Source that does not parse is an ``unparseable_python`` finding: a reviewer cannot
trust what the scanner could not read.
"""

from __future__ import annotations

import ast
import string
from collections.abc import Iterator

from market.risk.findings import Finding

PROCESS_MODULES = frozenset({"subprocess", "pty"})
NATIVE_MODULES = frozenset({"ctypes", "cffi", "_ctypes"})
NETWORK_MODULES = frozenset(
    {
        "socket",
        "ssl",
        "urllib.request",
        "urllib3",
        "http.client",
        "requests",
        "httpx",
        "aiohttp",
        "ftplib",
        "smtplib",
        "telnetlib",
        "websocket",
        "websockets",
    }
)
_OS_PROCESS = frozenset({"system", "popen", "posix_spawn", "posix_spawnp"})
_OS_PROCESS_PREFIXES = ("exec", "spawn")
_DYNAMIC_CODE = frozenset({"eval", "exec", "compile"})
_DESERIALISERS = frozenset({"pickle", "cPickle", "_pickle", "marshal", "dill"})
_DESERIALISE_CALLS = frozenset({"load", "loads", "Unpickler"})

_BASE64 = frozenset(string.ascii_letters + string.digits + "+/=-_")
_HEX = frozenset(string.hexdigits)


Signal = tuple[str, str, str]  # (code, severity, what)


def _module_signal(module: str) -> Signal | None:
    """``(code, severity, what)`` when importing ``module`` is itself a signal."""
    top = module.split(".")[0]
    if top in PROCESS_MODULES:
        return "process_exec", "high", f"imports {module}: runs other programs"
    if top in NATIVE_MODULES:
        return "native_code", "high", f"imports {module}: calls native code"
    if any(module == m or module.startswith(m + ".") for m in NETWORK_MODULES):
        return "network_access", "medium", f"imports {module}: network access"
    return None


def _call_signal(name: str) -> Signal | None:
    """``(code, severity, what)`` for a call to the dotted ``name``."""
    module, _, attr = name.rpartition(".")
    if module == "os" and (
        attr in _OS_PROCESS or attr.startswith(_OS_PROCESS_PREFIXES)
    ):
        return "process_exec", "high", f"calls {name}: runs other programs"
    if name in _DYNAMIC_CODE or (module == "builtins" and attr in _DYNAMIC_CODE):
        return "dynamic_code", "high", f"calls {attr}(): runs code built at run time"
    if name in ("__import__", "builtins.__import__") or (
        module == "importlib" and attr in ("import_module", "__import__")
    ):
        return "dynamic_import", "medium", f"calls {name}(): imports by a computed name"
    if module in _DESERIALISERS and attr in _DESERIALISE_CALLS:
        return (
            "unsafe_deserialise",
            "medium",
            f"calls {name}: loading such data can run code",
        )
    return None


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, the name resolved through the
    file's imports; ``None`` for anything else (calls, subscripts, ...)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def _getattr_signal(node: ast.Call, aliases: dict[str, str]) -> Signal | None:
    """``getattr(os, "system")`` is ``os.system`` by another spelling."""
    if len(node.args) < 2:
        return None
    target, attr = node.args[0], node.args[1]
    if not (isinstance(attr, ast.Constant) and isinstance(attr.value, str)):
        return None
    owner = _dotted(target, aliases)
    if owner in ("__builtins__", "builtins"):
        return _call_signal(attr.value)
    return _call_signal(f"{owner}.{attr.value}") if owner else None


def _blob_kind(value: str | bytes, min_chars: int) -> str | None:
    if len(value) < min_chars:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    compact = text.replace("\n", "").replace("\r", "")
    if len(compact) < min_chars:
        return None
    chars = set(compact)
    if chars <= _HEX:
        return "hex"
    # Random bytes in base64 use digits and both cases; long words do not.
    mixed = (
        any(c.isdigit() for c in chars)
        and any(c.isupper() for c in chars)
        and any(c.islower() for c in chars)
    )
    return "base64" if chars <= _BASE64 and mixed else None


def python_findings(
    name: str, source: bytes, *, blob_min_chars: int = 256
) -> list[Finding]:
    """Every finding in one Python file (``name`` as the bundle calls it), in line
    order."""
    found = list(_scan(name, source, blob_min_chars))
    found.sort(key=lambda f: f.line or 0)  # stable: same line keeps walk order
    return found


def _scan(name: str, source: bytes, blob_min_chars: int) -> Iterator[Finding]:
    try:
        tree = ast.parse(source, filename=name)
    except (SyntaxError, ValueError, RecursionError, MemoryError, LookupError) as exc:
        line = getattr(exc, "lineno", None)
        yield Finding(
            "unparseable_python",
            "medium",
            name,
            line if isinstance(line, int) else None,
            f"could not be parsed ({type(exc).__name__}); it was not scanned",
        )
        return
    aliases: dict[str, str] = {}
    nodes = list(ast.walk(tree))
    # Imports first: a name imported anywhere in the file resolves everywhere.
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in nodes:
        line = getattr(node, "lineno", None)
        if isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif node.module and not node.level:
                # ``from urllib import request`` imports urllib.request.
                modules = [
                    node.module,
                    *(f"{node.module}.{a.name}" for a in node.names),
                ]
            else:
                modules = []
            for module in modules:
                signal = _module_signal(module)
                if signal:
                    yield Finding(signal[0], signal[1], name, line, signal[2])
        elif isinstance(node, ast.Call):
            called = _dotted(node.func, aliases)
            signal = _call_signal(called) if called else None
            if signal is None and called in ("getattr", "builtins.getattr"):
                signal = _getattr_signal(node, aliases)
            if signal:
                yield Finding(signal[0], signal[1], name, line, signal[2])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
            kind = _blob_kind(node.value, blob_min_chars)
            if kind:
                yield Finding(
                    "encoded_blob",
                    "medium",
                    name,
                    line,
                    f"a {len(node.value)}-character {kind} literal: encoded data or "
                    "code the reviewer cannot read",
                )


__all__ = ["NETWORK_MODULES", "python_findings"]
