"""Reading and extracting a ``.cvnext`` bundle once its members have passed the checks.

The bundle is hashed while it is read, the archive opened with :mod:`zipfile`, every
member checked (:mod:`market.archive.members`) before a byte is written, the manifest
read and normalised with its file references checked, and every member streamed with
its real size counted, so a size that lies cannot slip through. The ``content`` record
is then recomputed and compared. A referenced file that is missing from a bundle whose
content record no longer matches is reported as the content mismatch it is.
:func:`extract_bundle` writes files itself, never with zipfile's bulk extraction, and
removes the destination on any failure.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from market.archive.contents import check_content, normalise_with_files
from market.archive.directory import Directory, corrupt, read_directory
from market.archive.members import ArchiveLimits, Member, iter_members
from market.archive.streams import (
    ARCHIVE_FAILURES,
    CHUNK_BYTES,
    DIR_MODE,
    make_folders,
    stream,
    stream_members,
)
from market.durable import TreeSync
from market.errors import (
    ManifestError,
    ManifestMissingError,
    PackageTooLargeError,
    Problem,
    UnsafePathError,
    sort_problems,
)
from market.manifest import (
    LIMITS,
    MANIFEST_FILENAMES,
    Manifest,
    check_manifest_size,
    parse_manifest_bytes,
)
from market.sandbox import Allowlist

MAX_MANIFEST_BYTES = LIMITS.max_bytes


DEFAULT_LIMITS = ArchiveLimits()


@dataclass(frozen=True)
class BundleInfo:
    manifest: Manifest
    sha256: str
    size: int
    content_verified: bool
    warnings: tuple[Problem, ...]
    entries: tuple[str, ...]


@contextmanager
def _open_bundle(
    path: str | Path, limits: ArchiveLimits, *, hashed: bool = True
) -> Iterator[tuple[zipfile.ZipFile, str, int, Directory]]:
    """The open archive, with the SHA-256 and size of exactly the bytes it parses,
    and its central directory as checked before zipfile read it. Without ``hashed``
    the digest is ``""`` and the bundle is not read whole (a reader of one file)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        # No server path in the message: it may reach a client.
        reason = exc.strerror or type(exc).__name__
        raise corrupt("file", f"cannot read the bundle: {reason}") from exc
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise corrupt("file", "the bundle is not a regular file")
        digest, size = hashlib.sha256(), 0
        if not hashed:
            size = os.fstat(handle.fileno()).st_size
        while hashed and (chunk := handle.read(CHUNK_BYTES)):
            size += len(chunk)
            if size > limits.max_package_bytes:
                break
            digest.update(chunk)
        if size > limits.max_package_bytes:
            raise PackageTooLargeError(
                f"the bundle is over {limits.max_package_bytes} bytes",
                details={"limit": limits.max_package_bytes},
            )
        directory = read_directory(handle, size, limits)
        handle.seek(0)
        try:
            zf = zipfile.ZipFile(handle)
        except UnicodeDecodeError as exc:
            raise UnsafePathError(
                "an entry name is not valid UTF-8", details={"rule": "encoding"}
            ) from exc
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise corrupt("zip", f"not a readable zip archive: {reason}") from exc
        except ARCHIVE_FAILURES as exc:
            raise corrupt("zip", f"not a readable zip archive: {exc}") from exc
        with zf:
            yield zf, digest.hexdigest() if hashed else "", size, directory


def _read_manifest(
    zf: zipfile.ZipFile, by_name: dict[str, Member]
) -> tuple[dict[str, Any], str]:
    """The manifest as written, and the name of the member it came from."""
    for source_name in MANIFEST_FILENAMES:
        member = by_name.get(source_name)
        if member is None:
            continue
        # Held to the manifest's byte limit before a byte is inflated: stream stops
        # at the declared size, so a small member cannot grow past it.
        check_manifest_size(member.info.file_size)
        raw, _, _ = stream(zf, member, None, keep=True)
        return parse_manifest_bytes(raw, source_name=source_name), source_name
    raise ManifestMissingError(
        f"the bundle has no {' or '.join(MANIFEST_FILENAMES)} at its root",
        details={"expected": list(MANIFEST_FILENAMES)},
    )


# Problems that may mean files were removed from the bundle after packaging.
MISSING_CODES = frozenset({"missing_file", "missing_entry_module"})


def _load_manifest(
    zf: zipfile.ZipFile,
    files: list[Member],
    allowlist: Allowlist | None,
    trust_level: str | None,
) -> Manifest:
    """The normalised manifest; every file it references must be a member."""
    by_name = {m.name: m for m in files}
    data, source_name = _read_manifest(zf, by_name)
    try:
        return normalise_with_files(
            data,
            by_name,
            source_name=source_name,
            trust_level=trust_level,
            allowlist=allowlist,
        )
    except ManifestError as exc:
        if any(p.code in MISSING_CODES for p in exc.problems):
            # Files gone since packaging: the content record tells the real story.
            records = [_record(zf, m) for m in files if m.name != source_name]
            check_content(data, records)
        raise


def _record(zf: zipfile.ZipFile, member: Member) -> tuple[str, str, int]:
    _, digest, count = stream(zf, member, None)
    return member.name, digest, count


def _read_bundle(
    path: str | Path,
    dest: Path | None,
    created: list[Path],
    limits: ArchiveLimits,
    allowlist: Allowlist | None,
    trust_level: str | None,
    sync: TreeSync | None = None,
    workers: int | None = None,
) -> BundleInfo:
    with _open_bundle(path, limits) as (zf, sha256, size, directory):
        members = iter_members(zf, limits, package_size=size, directory=directory)
        files = sorted((m for m in members if not m.is_dir), key=lambda m: m.name)
        manifest = _load_manifest(zf, files, allowlist, trust_level)
        if dest is not None:
            os.mkdir(dest, DIR_MODE)
            created.append(dest)
            os.chmod(dest, DIR_MODE)
            if sync is not None:
                sync.directory(dest)
            make_folders(dest, files, sync)
        streamed = stream_members(
            zf, files, dest, sync, workers=workers, archive_size=size
        )
        records = [
            (member.name, digest, count)
            for member, (digest, count) in zip(files, streamed, strict=True)
            if member.name != manifest.source_name
        ]
        verified, warnings = check_content(manifest.data, records)
    return BundleInfo(
        manifest=manifest,
        sha256=sha256,
        size=size,
        content_verified=verified,
        warnings=tuple(sort_problems([*manifest.warnings, *warnings])),
        entries=tuple(m.name for m in files),
    )


def inspect_bundle(
    path: str | Path,
    *,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    allowlist: Allowlist | None = None,
    trust_level: str | None = None,
    workers: int | None = None,
) -> BundleInfo:
    """Check a bundle completely (every member read and hashed) without writing,
    on ``workers`` threads (default: one per core, see
    :func:`market.archive.streams.stream_members`)."""
    return _read_bundle(path, None, [], limits, allowlist, trust_level, workers=workers)


def extract_bundle(
    path: str | Path,
    dest: Path,
    *,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    allowlist: Allowlist | None = None,
    trust_level: str | None = None,
    durable: bool = False,
    workers: int | None = None,
) -> BundleInfo:
    """Check a bundle and write its files into ``dest``, which must not exist yet.

    Nothing is written until every member has passed its checks; on any failure,
    including a content mismatch found while writing, ``dest`` is removed. Members
    are inflated, hashed and written on ``workers`` threads (default: one per core,
    see :func:`market.archive.streams.stream_members`). With ``durable``, every file
    and folder written is flushed to disk before this returns
    (:class:`market.durable.TreeSync`: about one sync of the tree).
    """
    dest = Path(dest)
    if os.path.lexists(dest):
        raise FileExistsError(f"extraction destination {dest} already exists")
    created: list[Path] = []
    try:
        if not durable:
            return _read_bundle(
                path, dest, created, limits, allowlist, trust_level, workers=workers
            )
        with TreeSync(dest) as sync:
            return _read_bundle(
                path, dest, created, limits, allowlist, trust_level, sync, workers
            )
    except BaseException:
        for folder in created:  # only ever the folder this call made
            shutil.rmtree(folder, ignore_errors=True)
        raise


__all__ = ["DEFAULT_LIMITS", "BundleInfo", "extract_bundle", "inspect_bundle"]
