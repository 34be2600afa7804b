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
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
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
    ArchiveBytes,
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


def _sha256(source: ArchiveBytes, stopped: Callable[[], bool] = bool) -> str:
    """The SHA-256 of the ``source.size`` bytes of the bundle (``""`` if stopped)."""
    digest, offset = hashlib.sha256(), 0
    while offset < source.size and not stopped():
        chunk = source.read_at(offset, CHUNK_BYTES)
        if not chunk:
            raise corrupt("file", "the bundle changed while it was read")
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


class _BundleHash:
    """:func:`_sha256` on a thread of its own (hashlib releases the GIL) while the
    caller checks and streams the bundle: its bytes are read once more from the
    page cache, off the critical path. :meth:`hexdigest` waits for it; :meth:`stop`
    abandons it."""

    def __init__(self, source: ArchiveBytes) -> None:
        self._source = source
        self._stopped = False
        self._result = ""
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="market-hash")
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = _sha256(self._source, lambda: self._stopped)
        except BaseException as exc:  # raised by hexdigest()
            self._error = exc

    def stop(self) -> None:
        self._stopped = True
        self._thread.join()

    def hexdigest(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


@dataclass
class OpenBundle:
    """An open bundle: zipfile's view, the positional reader of its bytes, its size
    as opened and its central directory as checked before zipfile read it."""

    zf: zipfile.ZipFile
    source: ArchiveBytes
    size: int
    directory: Directory
    _hash: _BundleHash | None
    _sha256: str

    def sha256(self) -> str:
        """The SHA-256 of exactly the ``size`` bytes parsed ("" if not hashed)."""
        if self._hash is not None:
            self._sha256, self._hash = self._hash.hexdigest(), None
        return self._sha256


@contextmanager
def _open_bundle(
    path: str | Path, limits: ArchiveLimits, *, hashed: bool = True
) -> Iterator[OpenBundle]:
    """The open bundle (see :class:`OpenBundle`), its length fixed when opened.

    With ``hashed``, its SHA-256 is computed alongside (on a thread where positional
    reads exist); without, it is not read whole (a reader of one file).
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        # No server path in the message: it may reach a client.
        reason = exc.strerror or type(exc).__name__
        raise corrupt("file", f"cannot read the bundle: {reason}") from exc
    with handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise corrupt("file", "the bundle is not a regular file")
        size = info.st_size
        if size > limits.max_package_bytes:
            raise PackageTooLargeError(
                f"the bundle is over {limits.max_package_bytes} bytes",
                details={"limit": limits.max_package_bytes},
            )
        source = ArchiveBytes(handle, size)
        hasher = _BundleHash(source) if hashed and source.parallel else None
        try:
            sha256 = _sha256(source) if hashed and hasher is None else ""
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
                yield OpenBundle(zf, source, size, directory, hasher, sha256)
        finally:
            if hasher is not None:
                hasher.stop()  # never reading after the file is closed


def _read_manifest(
    source: ArchiveBytes, by_name: dict[str, Member]
) -> tuple[dict[str, Any], str]:
    """The manifest as written, and the name of the member it came from."""
    for source_name in MANIFEST_FILENAMES:
        member = by_name.get(source_name)
        if member is None:
            continue
        # Held to the manifest's byte limit before a byte is inflated: stream stops
        # at the declared size, so a small member cannot grow past it.
        check_manifest_size(member.info.file_size)
        raw, _, _ = stream(source, member, None, keep=True)
        return parse_manifest_bytes(raw, source_name=source_name), source_name
    raise ManifestMissingError(
        f"the bundle has no {' or '.join(MANIFEST_FILENAMES)} at its root",
        details={"expected": list(MANIFEST_FILENAMES)},
    )


# Problems that may mean files were removed from the bundle after packaging.
MISSING_CODES = frozenset({"missing_file", "missing_entry_module"})


def _load_manifest(
    source: ArchiveBytes,
    files: list[Member],
    allowlist: Allowlist | None,
    trust_level: str | None,
) -> Manifest:
    """The normalised manifest; every file it references must be a member."""
    by_name = {m.name: m for m in files}
    data, source_name = _read_manifest(source, by_name)
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
            records = [_record(source, m) for m in files if m.name != source_name]
            check_content(data, records)
        raise


def _record(source: ArchiveBytes, member: Member) -> tuple[str, str, int]:
    _, digest, count = stream(source, member, None)
    return member.name, digest, count


def _read_bundle(
    path: str | Path,
    dest: Path | None,
    created: list[Path],
    limits: ArchiveLimits,
    allowlist: Allowlist | None,
    trust_level: str | None,
    durable: bool = False,
    workers: int | None = None,
) -> BundleInfo:
    with _open_bundle(path, limits) as bundle, ExitStack() as stack:
        size = bundle.size
        members = iter_members(
            bundle.zf, limits, package_size=size, directory=bundle.directory
        )
        files = sorted((m for m in members if not m.is_dir), key=lambda m: m.name)
        manifest = _load_manifest(bundle.source, files, allowlist, trust_level)
        sync = None
        if dest is not None and durable:
            # finished (flushed) when the content record has matched; aborted if not
            sync = stack.enter_context(TreeSync(dest, files=len(files)))
        if dest is not None:
            os.mkdir(dest, DIR_MODE)
            created.append(dest)
            os.chmod(dest, DIR_MODE)
            if sync is not None:
                sync.directory(dest)
            make_folders(dest, files, sync)
        streamed = stream_members(bundle.source, files, dest, sync, workers=workers)
        records = [
            (member.name, digest, count)
            for member, (digest, count) in zip(files, streamed, strict=True)
            if member.name != manifest.source_name
        ]
        verified, warnings = check_content(manifest.data, records)
        sha256 = bundle.sha256()
        stack.close()  # the tree is on disk before this returns
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
    (:class:`market.durable.TreeSync`: one sync of the tree).
    """
    dest = Path(dest)
    if os.path.lexists(dest):
        raise FileExistsError(f"extraction destination {dest} already exists")
    created: list[Path] = []
    try:
        return _read_bundle(
            path, dest, created, limits, allowlist, trust_level, durable, workers
        )
    except BaseException:
        for folder in created:  # only ever the folder this call made
            shutil.rmtree(folder, ignore_errors=True)
        raise


__all__ = ["DEFAULT_LIMITS", "BundleInfo", "extract_bundle", "inspect_bundle"]
