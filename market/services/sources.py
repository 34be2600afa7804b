"""Where a bundle to install comes from: an upload, a server path, the catalogue."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from market.conf import market_conf
from market.errors import (
    ContentMismatchError,
    InvalidRequestError,
    NotFoundError,
    PackageTooLargeError,
    PathNotAllowedError,
    UnusablePathError,
)
from market.models import CatalogEntry, InstalledExtension
from market.services.common import ensure, staging_dir


@dataclass(frozen=True)
class InstallSource:
    """Where a bundle comes from: a local file plus how it got there."""

    kind: str  # InstalledExtension.Source
    path: Path
    name: str
    catalog_entry: CatalogEntry | None = field(default=None, compare=False)
    # A private copy (upload spool, remote catalogue file) removed after the install.
    temporary: bool = False


# What the file system said about a server path, as ``unusable_path`` reasons.
_PATH_ERRNOS = {
    errno.ENAMETOOLONG: "name_too_long",
    errno.ELOOP: "symlink_loop",
    errno.EISDIR: "not_a_regular_file",
    errno.EACCES: "permission_denied",
    errno.EPERM: "permission_denied",
}
_UNUSABLE_MESSAGES = {
    "nul_character": "the package path contains a NUL character",
    "encoding": "the package path is not valid Unicode",
    "name_too_long": "the package path is too long for the server's file system",
    "symlink_loop": "the package path is a loop of symbolic links",
    "not_a_regular_file": "the package path is not a regular file",
    "permission_denied": "the server may not read the package path",
    "os_error": "the server's file system cannot use the package path",
}


def _unusable(reason: str, exc: OSError | None = None) -> UnusablePathError:
    details: dict[str, str] = {"reason": reason}
    if exc is not None and exc.errno is not None:
        details["errno"] = errno.errorcode.get(exc.errno, str(exc.errno))
    # Never the path itself: after resolving symlinks it describes the server's disk.
    return UnusablePathError(_UNUSABLE_MESSAGES[reason], details=details)


def source_from_path(raw: str) -> InstallSource:
    """A server-side bundle path, accepted only inside ``MARKET_PACKAGE_DIRS``.

    A path the file system cannot use (a NUL, too long a name, a symlink loop, a
    folder or device instead of a file, ...) is ``unusable_path`` whatever the
    ``OSError`` behind it; a path that is not there is ``not_found``.
    """
    if not isinstance(raw, str) or not raw:
        raise InvalidRequestError("package must be a non-empty path string")
    if "\x00" in raw:
        raise _unusable("nul_character")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates from "\ud800" escapes
        raise _unusable("encoding") from exc
    candidate = Path(raw)
    if not candidate.is_absolute():
        raise PathNotAllowedError(
            "package must be an absolute path", details={"package": raw}
        )
    try:
        resolved = Path(os.path.realpath(candidate))
    except OSError as exc:
        raise _unusable(_PATH_ERRNOS.get(exc.errno or 0, "os_error"), exc) from exc
    roots = [Path(os.path.realpath(p)) for p in market_conf().package_dirs]
    if not any(resolved.is_relative_to(root) for root in roots):
        # Neither the folders nor the path go back to the client: they describe the
        # server's disk.
        raise PathNotAllowedError(
            "package paths are accepted only inside the configured package folders"
        )
    if resolved.suffix != ".cvnext":
        raise NotFoundError("there is no .cvnext bundle at the given package path")
    try:
        mode = os.stat(resolved).st_mode
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise NotFoundError(
            "there is no .cvnext bundle at the given package path"
        ) from exc
    except OSError as exc:
        raise _unusable(_PATH_ERRNOS.get(exc.errno or 0, "os_error"), exc) from exc
    if not stat.S_ISREG(mode):
        raise _unusable("not_a_regular_file")
    return InstallSource(InstalledExtension.Source.PATH, resolved, resolved.name)


def source_from_catalog(ext_id: str, version: str | None = None) -> InstallSource:
    """The approved catalogue bundle of ``ext_id``: that version, else the newest.

    A yanked version is never the newest, but is still installed when asked for by
    its exact version.
    """
    listed = [CatalogEntry.Status.APPROVED]
    if version:
        listed.append(CatalogEntry.Status.YANKED)
    entries = CatalogEntry.objects.filter(extension_id=ext_id, status__in=listed)
    entry = (
        entries.filter(version=version).first()
        if version
        else entries.filter(is_latest=True).first()
    )
    if entry is None:
        wanted = f"{ext_id} {version}" if version else ext_id
        raise NotFoundError(f"no approved catalogue entry for {wanted}")
    if entry.source == CatalogEntry.Source.UPSTREAM:
        from market.upstream.bundles import download_bundle

        return InstallSource(
            InstalledExtension.Source.CATALOG,
            download_bundle(entry),
            f"{entry.extension_id}-{entry.version}.cvnext",
            entry,
            temporary=True,
        )
    path, copied = materialise_catalog_package(entry)
    try:
        check_stored_bundle(entry, path)
    except BaseException:
        if copied:
            path.unlink(missing_ok=True)
        raise
    return InstallSource(
        InstalledExtension.Source.CATALOG,
        path,
        Path(entry.package.name or "").name,
        entry,
        temporary=copied,
    )


def materialise_catalog_package(entry: CatalogEntry) -> tuple[Path, bool]:
    """A local path for a stored bundle, and whether it is a temporary copy.

    Local storage gives its own file; a remote storage (S3 and the like) is copied to
    a private temp file, which the caller removes.
    """
    try:
        return Path(entry.package.path), False
    except NotImplementedError:
        pass
    fd, tmp = tempfile.mkstemp(suffix=".cvnext", dir=ensure(staging_dir()))
    with os.fdopen(fd, "wb") as out, entry.package.open("rb") as src:
        shutil.copyfileobj(src, out, 1024 * 1024)
    return Path(tmp), True


@contextmanager
def local_package(entry: CatalogEntry) -> Iterator[Path]:
    """:func:`materialise_catalog_package` that removes its temp copy afterwards."""
    path, copied = materialise_catalog_package(entry)
    try:
        yield path
    finally:
        if copied:
            path.unlink(missing_ok=True)


def stored_bundle_mismatch(entry: CatalogEntry, sha256: str) -> ContentMismatchError:
    """The refusal for a stored bundle whose bytes are not the ones submitted."""
    return ContentMismatchError(
        f"the stored bundle of {entry.extension_id} {entry.version} is not the one "
        "that was submitted and reviewed (its sha256 differs); it was changed in "
        "storage, and nothing was done with it",
        details={
            "id": entry.extension_id,
            "version": entry.version,
            "expected_sha256": entry.package_sha256,
            "sha256": sha256,
        },
    )


def open_stored_bundle(entry: CatalogEntry) -> Any:
    """The entry's stored bundle, open for reading; a bundle gone from storage is
    ``content_mismatch`` like a changed one (nothing can be done with it)."""
    try:
        return entry.package.storage.open(entry.package.name or "", "rb")
    except OSError as exc:
        raise ContentMismatchError(
            f"the stored bundle of {entry.extension_id} {entry.version} is missing "
            "from storage; nothing was done with it",
            details={
                "id": entry.extension_id,
                "version": entry.version,
                "expected_sha256": entry.package_sha256,
            },
        ) from exc


def check_stored_bundle(entry: CatalogEntry, path: Path | None = None) -> None:
    """Refuse (``content_mismatch``) unless the stored bundle's bytes (or those of
    its local copy at ``path``) hash to the entry's ``package_sha256``: the digest
    the reviewer saw.

    An upstream entry has no stored bundle: its download is checked the same way
    when it is installed (:mod:`market.upstream.bundles`)."""
    if path is None and entry.source == CatalogEntry.Source.UPSTREAM:
        return
    digest = hashlib.sha256()
    with open(path, "rb") if path is not None else open_stored_bundle(entry) as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    if digest.hexdigest() != entry.package_sha256:
        raise stored_bundle_mismatch(entry, digest.hexdigest())


def source_from_upload(upload: Any) -> InstallSource:
    """An uploaded file (Django ``UploadedFile``), spooled to a private temp file."""
    limit = market_conf().archive_limits.max_package_bytes
    if upload.size is not None and upload.size > limit:
        raise PackageTooLargeError(
            f"the bundle is {upload.size} bytes; the limit is {limit}",
            details={"size": upload.size, "limit": limit},
        )
    fd, tmp = tempfile.mkstemp(suffix=".cvnext", dir=ensure(staging_dir()))
    with os.fdopen(fd, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    name = Path(getattr(upload, "name", "") or "upload.cvnext").name
    return InstallSource(
        InstalledExtension.Source.UPLOAD, Path(tmp), name, temporary=True
    )
