"""The source tree: which files go into a bundle, and which trees are refused.

Hidden paths (unless asked for), caches, logs and ``--ignore`` patterns are skipped and
not looked into; symlinks and special files are refused, never followed. Every name
packed must be one the installer accepts, by the very same rule
(:func:`market.archive.check_member_name`: portable on Windows, macOS and Linux, never
the installer's ``.market.json``), refused as ``unsafe_path``; and no two may be one
file somewhere (:func:`market.archive.check_name_collisions`), refused as
``duplicate_entry``; so no bundle is built in vain. Files are opened without following
a symlink swapped in after the walk.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from market.archive import check_member_name, check_name_collisions
from market.errors import DuplicateEntryError, PackagingError, UnsafePathError
from market.manifest import MANIFEST_FILENAMES

BUNDLE_SUFFIX = ".cvnext"
MANIFEST_ENTRY = "manifest.json"
SKIPPED_NAMES = frozenset({"__pycache__", ".DS_Store", "Thumbs.db"})
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".log")


@dataclass(frozen=True)
class SourceFile:
    """A regular file of the source tree, by bundle path and location on disk."""

    name: str
    path: Path
    size: int


def collect_files(
    src: str | Path,
    *,
    include_hidden: bool = False,
    ignore: Iterable[str] = (),
    exclude_dir: Path | None = None,
) -> list[SourceFile]:
    """The files to pack (manifest excluded), sorted by bundle path.

    Symlinks and special files among the paths walked are refused, never followed;
    skipped paths (hidden, caches, ``ignore`` patterns) are not looked into.
    ``exclude_dir``, when inside the tree, loses its ``.cvnext`` files (our output).
    Names that would collide in the bundle (``Readme.txt`` and ``README.TXT``, NFC and
    NFD spellings) raise ``DuplicateEntryError``.
    """
    root = source_root(src)
    patterns = tuple(p.rstrip("/") for p in ignore if p.strip("/"))
    own_output = None
    if exclude_dir is not None and exclude_dir.resolve().is_relative_to(root):
        own_output = exclude_dir.resolve().relative_to(root).as_posix()
    files: list[SourceFile] = []
    for name, path, info in _walk(root, "", include_hidden, patterns):
        parent = name.rpartition("/")[0] or "."
        if parent == "." and name in MANIFEST_FILENAMES:
            continue  # the normalised manifest replaces it
        if parent == own_output and name.endswith(BUNDLE_SUFFIX):
            continue
        files.append(SourceFile(name, path, info.st_size))
    files.sort(key=lambda f: f.name)
    _check_collisions([MANIFEST_ENTRY, *(f.name for f in files)])
    return files


def _check_collisions(names: list[str]) -> None:
    """The installer's collision rule, so such a tree fails here, not at install."""
    try:
        check_name_collisions(names)
    except DuplicateEntryError as exc:
        raise DuplicateEntryError(
            f"cannot be packed: {exc.message}", details=exc.details
        ) from exc


def _walk(
    directory: Path, prefix: str, include_hidden: bool, patterns: tuple[str, ...]
) -> Iterator[tuple[str, Path, os.stat_result]]:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        raise read_error(prefix or ".", exc) from exc
    for entry in entries:
        name = prefix + entry.name
        if _skipped(name, entry.name, include_hidden, patterns):
            continue
        _check_encoding(entry.name, prefix)
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as exc:
            raise read_error(name, exc) from exc
        if stat.S_ISDIR(info.st_mode):
            yield from _walk(Path(entry.path), name + "/", include_hidden, patterns)
        elif stat.S_ISREG(info.st_mode):
            _check_name(name)
            yield name, Path(entry.path), info
        else:
            raise _not_regular(name, info)


def _not_regular(name: str, info: os.stat_result) -> PackagingError:
    kind = "a symlink" if stat.S_ISLNK(info.st_mode) else "a special file"
    return PackagingError(
        f"{name} is {kind}; bundles hold regular files only "
        "(replace it with a copy or --ignore it)",
        details={"path": name},
    )


def refuse_special(path: Path, name: str) -> None:
    """Refuse ``path`` if it exists as anything but a regular file (never follow)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise read_error(name, exc) from exc
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(name, info)


def _skipped(
    name: str, basename: str, include_hidden: bool, patterns: tuple[str, ...]
) -> bool:
    if not include_hidden and basename.startswith("."):
        return True
    if basename in SKIPPED_NAMES or basename.endswith(SKIPPED_SUFFIXES):
        return True
    return any(
        fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(basename, p)
        for p in patterns
    )


def _check_encoding(raw: str, prefix: str) -> None:
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        # os.scandir decoded undecodable bytes as surrogates: no portable name exists.
        shown = raw.encode("utf-8", "backslashreplace").decode("ascii", "replace")
        raise PackagingError(
            f"{prefix}{shown}: file name is not valid UTF-8",
            details={"path": prefix + shown},
        ) from None


def _check_name(name: str) -> None:
    """Refuse names the installer would refuse, so no bundle is built in vain."""
    try:
        check_member_name(name)
    except UnsafePathError as exc:
        raise UnsafePathError(
            f"{name}: cannot be packed: {exc.message}",
            details={"path": name, "rule": exc.details.get("rule")},
        ) from exc


def source_root(src: str | Path) -> Path:
    """``src`` resolved, or ``PackagingError`` if it is not a directory."""
    root = Path(src).resolve()
    if not root.is_dir():
        raise PackagingError(f"{src} is not a directory", details={"path": str(src)})
    return root


def read_error(name: str, exc: OSError) -> PackagingError:
    return PackagingError(
        f"cannot read {name}: {exc.strerror or exc}", details={"path": name}
    )


def changed_error(file: SourceFile) -> PackagingError:
    return PackagingError(
        f"{file.name} changed while it was being packed; try again",
        details={"path": file.name},
    )


def open_source(file: SourceFile) -> IO[bytes]:
    """Open without following a symlink swapped in after the walk, nor blocking."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(file.path, flags | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise read_error(file.name, exc) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PackagingError(
            f"{file.name} is no longer a regular file", details={"path": file.name}
        )
    return os.fdopen(fd, "rb")


__all__ = [
    "BUNDLE_SUFFIX",
    "MANIFEST_ENTRY",
    "SKIPPED_NAMES",
    "SKIPPED_SUFFIXES",
    "SourceFile",
    "changed_error",
    "collect_files",
    "open_source",
    "read_error",
    "refuse_special",
    "source_root",
]
