"""Safe reading and extraction of ``.cvnext`` bundles (zip archives).

``zipfile`` parses the archive; this package decides what it may contain. The byte
layout is checked first, so that every zip reader sees the same files: the end
records and central directory before zipfile reads them, then the members tiling the
archive with local headers that agree with the directory. Every member is checked
before a byte is written: its raw name, its type, flags, compression and declared
sizes against :class:`ArchiveLimits`, and name collisions that one file system would
fold together (case, NFC/NFKC, Windows's trailing dots and spaces). The manifest is
read and normalised, the files it references must be present, and its ``content``
record is recomputed and compared.

- :mod:`~market.archive.names`: portable member names and the collision key, shared
  with the packager;
- :mod:`~market.archive.directory`: end records and the central directory;
- :mod:`~market.archive.layout`: members tiling the archive, local headers;
- :mod:`~market.archive.members`: per-member and whole-archive checks from the headers;
- :mod:`~market.archive.contents`: referenced files and the content record;
- :mod:`~market.archive.streams`: members inflated, hashed and written on a few
  threads;
- :mod:`~market.archive.reader`: :func:`inspect_bundle` and :func:`extract_bundle`
  (this package loads the reader, its members and streams when one of their names is
  first used);
- :mod:`~market.archive.files`: ``open_bundle_files``, single files read from a
  stored bundle for the reviewer (imported from there: the packager, which imports
  this package, starts without it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from market.archive.contents import (
    NO_CONTENT_RECORD,
    check_content,
    normalise_with_files,
)
from market.archive.names import (
    MAX_NAME_BYTES,
    MAX_PATH_UNITS,
    MAX_SEGMENT_BYTES,
    RESERVED_NAME,
    check_member_name,
    check_name_collisions,
    fold_name,
)

# The reader's names are loaded on first use: the packager needs only the name and
# content rules above, and starts without the zip reader's checks, dataclasses and
# threads.
_READER_NAMES = {
    "RATIO_MIN_BYTES": "members",
    "ArchiveLimits": "members",
    "Member": "members",
    "check_member": "members",
    "iter_members": "members",
    "DEFAULT_LIMITS": "reader",
    "MAX_MANIFEST_BYTES": "reader",
    "BundleInfo": "reader",
    "extract_bundle": "reader",
    "inspect_bundle": "reader",
    "CHUNK_BYTES": "streams",
    "DIR_MODE": "streams",
    "FILE_MODE": "streams",
}

if TYPE_CHECKING:
    from market.archive.members import (
        RATIO_MIN_BYTES,
        ArchiveLimits,
        Member,
        check_member,
        iter_members,
    )
    from market.archive.reader import (
        DEFAULT_LIMITS,
        MAX_MANIFEST_BYTES,
        BundleInfo,
        extract_bundle,
        inspect_bundle,
    )
    from market.archive.streams import CHUNK_BYTES, DIR_MODE, FILE_MODE
else:

    def __getattr__(name: str) -> Any:
        module = _READER_NAMES.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value


__all__ = [
    "CHUNK_BYTES",
    "DEFAULT_LIMITS",
    "DIR_MODE",
    "FILE_MODE",
    "MAX_MANIFEST_BYTES",
    "MAX_NAME_BYTES",
    "MAX_PATH_UNITS",
    "MAX_SEGMENT_BYTES",
    "NO_CONTENT_RECORD",
    "RATIO_MIN_BYTES",
    "RESERVED_NAME",
    "ArchiveLimits",
    "BundleInfo",
    "Member",
    "check_content",
    "check_member",
    "check_member_name",
    "check_name_collisions",
    "extract_bundle",
    "fold_name",
    "inspect_bundle",
    "iter_members",
    "normalise_with_files",
]
