"""Building a bundle from a source folder, and checking a bundle by rebuilding it.

:func:`build_package` ties the steps together: read the manifest, collect the source
files (:mod:`market.packaging.sources`), normalise the manifest and check the files it
references against those being packed, hash every file into the ``content`` record,
and write the bundle (:mod:`market.packaging.zipwriter`). :func:`check_package` is the
reproducibility check behind ``manage.py package --check``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from market.archive import normalise_with_files
from market.errors import PackagingError
from market.manifest import (
    MANIFEST_FILENAMES,
    Manifest,
    content_record,
    read_manifest_dir,
    verify_digest_signature,
)
from market.packaging.result import PackageResult, file_digest
from market.packaging.sources import (
    BUNDLE_SUFFIX,
    MANIFEST_ENTRY,
    collect_files,
    refuse_special,
    source_root,
)
from market.packaging.zipwriter import ProgressCallback, hash_files, write_atomically
from market.sandbox import Allowlist

# The size of tree from which files are hashed and compressed on a thread pool.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024


def build_package(
    src: str | Path,
    output_dir: str | Path,
    *,
    force: bool = False,
    trust_level: str | None = None,
    allowlist: Allowlist | None = None,
    include_hidden: bool = False,
    ignore: Iterable[str] = (),
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    durable: bool = True,
) -> PackageResult:
    """Package the extension at ``src`` into ``<output_dir>/<id>-<version>.cvnext``.

    Raises ``ManifestError`` (every problem, ``missing_file`` for referenced files
    that are not packed among them), ``ManifestMissingError``,
    ``SignatureMismatchError``/``SignatureUnsupportedError``, ``DuplicateEntryError``
    (names that collide once folded) or ``PackagingError``; on any failure nothing is
    left in ``output_dir``. ``workers`` is the number of compression threads
    (default: one per CPU; 0 compresses in the calling thread). The bundle is on
    disk when this returns (flushed, renamed, folder flushed) unless ``durable`` is
    off, for builds thrown away at once.
    """
    root = source_root(src)
    out_dir = Path(output_dir).resolve()
    for name in MANIFEST_FILENAMES:
        refuse_special(root / name, name)
    raw, source_name = read_manifest_dir(root)
    files = collect_files(
        root, include_hidden=include_hidden, ignore=ignore, exclude_dir=out_dir
    )
    manifest = normalise_with_files(
        raw,
        [MANIFEST_ENTRY, *(f.name for f in files)],
        source_name=source_name,
        trust_level=trust_level,
        allowlist=allowlist,
    )
    target = out_dir / _bundle_name(manifest)
    if os.path.lexists(target) and not force:
        raise PackagingError(
            f"{target} already exists (use --force to replace it)",
            details={"path": str(target)},
        )
    if workers is None:
        # Threads pay off only on trees worth compressing in parallel; a small one
        # is done before a pool would have started (and its import is skipped).
        big = sum(f.size for f in files) >= PARALLEL_MIN_BYTES
        workers = (os.cpu_count() or 1) if big else 0
    pool = None
    if workers > 0:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=workers)
    try:
        digests = hash_files(files, pool)
        record = content_record(
            (f.name, d.sha256, f.size) for f, d in zip(files, digests, strict=True)
        )
        manifest = verify_digest_signature(
            replace(manifest, data={**manifest.data, "content": record})
        )
        write_atomically(
            target,
            manifest,
            files,
            digests,
            pool=pool,
            progress=progress,
            durable=durable,
        )
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    sha256, size = file_digest(target)
    return PackageResult(
        path=target,
        files=len(files) + 1,
        bytes=size,
        sha256=sha256,
        manifest=manifest,
        manifest_sha256=manifest.digest(),
    )


def check_package(
    src: str | Path, bundle: str | Path, **options: Any
) -> tuple[bool, PackageResult]:
    """Rebuild ``src`` and say whether ``bundle`` has exactly the rebuilt bytes.

    ``options`` are those of :func:`build_package` (``force`` and ``output_dir`` are
    chosen here). The rebuild goes to a temporary folder that is removed before
    returning: the result's ``path`` names where it was, for the record.
    """
    import tempfile  # here, so that a build starts without it

    options.pop("force", None)
    options["durable"] = False  # a rebuild compared and thrown away
    bundle_sha256, bundle_size = file_digest(bundle)
    with tempfile.TemporaryDirectory(prefix="cvnext-check-") as tmp:
        result = build_package(src, tmp, **options)
    identical = result.sha256 == bundle_sha256 and result.bytes == bundle_size
    return identical, result


def _bundle_name(manifest: Manifest) -> str:
    name = f"{manifest.id}-{manifest.version}{BUNDLE_SUFFIX}"
    # The manifest schema forbids this already; a file name is worth checking twice.
    if "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise PackagingError(f"unsafe bundle name {name!r}", details={"name": name})
    return name


__all__ = ["build_package", "check_package"]
