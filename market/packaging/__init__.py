"""Deterministic ``.cvnext`` writer: the same source tree gives the same bytes.

A bundle is a zip archive whose first entry is the normalised ``manifest.json``,
followed by every other file of the source tree sorted by POSIX relative path, with
fixed metadata and no directory entries. The written manifest carries a ``content``
record (digest over the path, SHA-256 and size of every other entry), so
``manifest_sha256`` covers every byte of the bundle, whichever zlib compressed it.

- :mod:`~market.packaging.sources`: which files are packed, which trees are refused;
- :mod:`~market.packaging.zipwriter`: the deterministic, parallel zip writer;
- :mod:`~market.packaging.result`: :class:`PackageResult` and :func:`file_digest`;
- :mod:`~market.packaging.builder`: :func:`build_package` and :func:`check_package`.
"""

from market.packaging.builder import build_package, check_package
from market.packaging.result import PackageResult, file_digest
from market.packaging.sources import (
    BUNDLE_SUFFIX,
    MANIFEST_ENTRY,
    SKIPPED_NAMES,
    SKIPPED_SUFFIXES,
    SourceFile,
    collect_files,
)
from market.packaging.zipwriter import (
    CHUNK_BYTES,
    COMPRESS_LEVEL,
    CREATE_SYSTEM_UNIX,
    ENTRY_MODE,
    STORED_SUFFIXES,
    STREAM_THRESHOLD,
    WINDOW_BYTES,
    WINDOW_FILES,
    ZIP_EPOCH,
    ProgressCallback,
)

__all__ = [
    "BUNDLE_SUFFIX",
    "CHUNK_BYTES",
    "COMPRESS_LEVEL",
    "CREATE_SYSTEM_UNIX",
    "ENTRY_MODE",
    "MANIFEST_ENTRY",
    "SKIPPED_NAMES",
    "SKIPPED_SUFFIXES",
    "STORED_SUFFIXES",
    "STREAM_THRESHOLD",
    "WINDOW_BYTES",
    "WINDOW_FILES",
    "ZIP_EPOCH",
    "PackageResult",
    "ProgressCallback",
    "SourceFile",
    "build_package",
    "check_package",
    "collect_files",
    "file_digest",
]
