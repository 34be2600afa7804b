"""Reads of a catalogue entry's stored bundle for the workbench views.

Every read checks that the stored bytes hash to the entry's ``package_sha256`` (else
``content_mismatch``), so a bundle is content-addressed: its file list with sizes
and digests is cached under that digest and never goes stale. Single files are read
through :func:`market.open_bundle_files`, which looks names up among the
checked members only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from django.core.cache import cache

from market import archive, codeview
from market.archive.files import BundleFiles, open_bundle_files
from market.errors import ContentMismatchError
from market.models import CatalogEntry
from market.services import archive_limits, local_package

TREE_CACHE_SECONDS = 24 * 3600
# What a page reads of one file: enough to show and diff any hand-written source.
VIEW_BYTES = 512 * 1024
DIFF_BYTES = 256 * 1024
IMAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class FileRead:
    name: str
    size: int
    data: bytes  # the first ``VIEW_BYTES`` (or the cap given)

    @property
    def truncated(self) -> bool:
        return len(self.data) < self.size


def mismatch(entry: CatalogEntry, sha256: str) -> ContentMismatchError:
    return ContentMismatchError(
        f"the stored bundle of {entry.extension_id} {entry.version} is not the one "
        "that was submitted (its sha256 differs); it was changed in storage",
        details={"expected_sha256": entry.package_sha256, "sha256": sha256},
    )


@contextmanager
def opened(entry: CatalogEntry) -> Iterator[BundleFiles]:
    """The entry's stored bundle, refused unless its bytes are the ones submitted:
    a reviewer reads exactly what the entry's ``package_sha256`` names."""
    with (
        local_package(entry) as path,
        open_bundle_files(path, limits=archive_limits(), hashed=True) as files,
    ):
        if files.sha256 != entry.package_sha256:
            raise mismatch(entry, files.sha256)
        yield files


def package_digest(handle: IO[bytes]) -> str:
    """The SHA-256 of an open stored bundle, read from its start; left at its start."""
    digest = hashlib.sha256()
    handle.seek(0)
    while chunk := handle.read(archive.CHUNK_BYTES):
        digest.update(chunk)
    handle.seek(0)
    return digest.hexdigest()


def bundle_tree(entry: CatalogEntry) -> list[codeview.FileState]:
    """Every file of the entry's bundle with its size and SHA-256, by name."""
    key = f"market:workbench:tree:{entry.package_sha256}"
    cached = cache.get(key)
    if cached is not None:
        return [codeview.FileState(*row) for row in cached]
    with opened(entry) as files:
        tree = [codeview.FileState(e.name, e.size, e.sha256) for e in files.entries()]
    cache.set(key, [(f.name, f.size, f.sha256) for f in tree], TREE_CACHE_SECONDS)
    return tree


def bundle_read(entry: CatalogEntry, name: str, *, max_bytes: int) -> FileRead:
    """The first ``max_bytes`` of one file (``NotFoundError`` for a non-member)."""
    with opened(entry) as files:
        return FileRead(
            name, files.file_size(name), files.read(name, max_bytes=max_bytes)
        )


def bundle_member_size(entry: CatalogEntry, name: str) -> int:
    with opened(entry) as files:
        return files.file_size(name)


def bundle_chunks(entry: CatalogEntry, name: str) -> Iterator[bytes]:
    """A file's bytes, streamed from the bundle (opened for as long as it runs)."""
    with opened(entry) as files:
        yield from files.chunks(name)


def file_diffs(
    entry: CatalogEntry, previous: CatalogEntry, changed: list[str]
) -> dict[str, tuple[FileRead, FileRead]]:
    """Both versions of each changed file (first ``DIFF_BYTES``), one open each."""
    with opened(previous) as old, opened(entry) as new:
        return {
            name: (
                FileRead(
                    name, old.file_size(name), old.read(name, max_bytes=DIFF_BYTES)
                ),
                FileRead(
                    name, new.file_size(name), new.read(name, max_bytes=DIFF_BYTES)
                ),
            )
            for name in changed
        }
