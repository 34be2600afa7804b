"""Reading single files out of a stored bundle, for the reviewer's code viewer.

The archive is opened and its members checked exactly as for an install (byte
layout, names, types, sizes, ratios), then a file is looked up by its exact member
name among the checked members: a name that is not a member (``../x``, an absolute
path, a NUL) is ``NotFoundError``, and nothing outside the archive is
ever opened. Reads are bounded by the caller's byte budget, and nothing is written
to disk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zipfile import ZipFile

from market.archive.directory import corrupt
from market.archive.members import ArchiveLimits, Member, iter_members
from market.archive.reader import _open_bundle
from market.archive.streams import ARCHIVE_FAILURES as _ARCHIVE_FAILURES
from market.archive.streams import CHUNK_BYTES
from market.errors import NotFoundError


@dataclass(frozen=True)
class FileEntry:
    """One file of a bundle: its member name, size and SHA-256."""

    name: str
    size: int
    sha256: str


class BundleFiles:
    """The checked files of an open bundle, read on demand."""

    def __init__(self, zf: ZipFile, members: list[Member], sha256: str, size: int):
        self._zf = zf
        self._by_name = {m.name: m for m in members if not m.is_dir}
        self.sha256 = sha256
        self.size = size

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)

    def member(self, name: object) -> Member:
        found = self._by_name.get(name) if isinstance(name, str) else None
        if found is None:
            raise NotFoundError(
                "the bundle has no file of that name", details={"path": str(name)}
            )
        return found

    def file_size(self, name: str) -> int:
        return self.member(name).info.file_size

    def read(self, name: str, *, max_bytes: int) -> bytes:
        """The first ``max_bytes`` bytes of a file (all of it when smaller)."""
        member = self.member(name)
        want = min(max(max_bytes, 0), member.info.file_size)
        try:
            with self._zf.open(member.info) as src:
                data = src.read(want)
        except _ARCHIVE_FAILURES as exc:
            raise corrupt(
                "data", f"entry {member.name!r} is corrupt: {exc}", entry=member.name
            ) from exc
        return data

    def entry(self, name: str) -> FileEntry:
        """A file's size and SHA-256, streamed (never held whole in memory)."""
        member = self.member(name)
        digest, count = hashlib.sha256(), 0
        try:
            with self._zf.open(member.info) as src:
                while chunk := src.read(CHUNK_BYTES):
                    count += len(chunk)
                    if count > member.info.file_size:
                        break
                    digest.update(chunk)
        except _ARCHIVE_FAILURES as exc:
            raise corrupt(
                "data", f"entry {member.name!r} is corrupt: {exc}", entry=member.name
            ) from exc
        if count != member.info.file_size:
            raise corrupt(
                "size",
                f"entry {member.name!r} holds {count} bytes, not the declared "
                f"{member.info.file_size}",
                entry=member.name,
            )
        return FileEntry(member.name, count, digest.hexdigest())

    def entries(self) -> list[FileEntry]:
        """Every file with its size and SHA-256, sorted by name."""
        return [self.entry(name) for name in self.names]

    def chunks(self, name: str, *, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        """A file's bytes in chunks, never more than its declared size."""
        member = self.member(name)
        left = member.info.file_size
        try:
            with self._zf.open(member.info) as src:
                while left > 0 and (chunk := src.read(min(chunk_bytes, left))):
                    left -= len(chunk)
                    yield chunk
        except _ARCHIVE_FAILURES as exc:
            raise corrupt(
                "data", f"entry {member.name!r} is corrupt: {exc}", entry=member.name
            ) from exc


@contextmanager
def open_bundle_files(
    path: str | Path, *, limits: ArchiveLimits, hashed: bool = False
) -> Iterator[BundleFiles]:
    """The bundle's checked files; the archive is closed when the block ends.

    With ``hashed``, the whole bundle is read first and ``sha256`` is its digest;
    otherwise ``sha256`` is ``""`` and only the directory and the files asked for
    are read.
    """
    with _open_bundle(path, limits, hashed=hashed) as bundle:
        sha256 = bundle.sha256()
        members = iter_members(
            bundle.zf, limits, package_size=bundle.size, directory=bundle.directory
        )
        yield BundleFiles(bundle.zf, members, sha256, bundle.size)


__all__ = ["BundleFiles", "FileEntry", "open_bundle_files"]
