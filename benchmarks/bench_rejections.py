#!/usr/bin/env python
"""CPU time and output size of refusing hostile bundles (run by hand; asserts nothing).

Each bundle is checked as install and submission check it (``inspect_bundle`` with the
default archive limits), best of ``--runs``, in CPU seconds; the size is that of the
error as the API would send it.

- ``repeat-100k``: a ~2 KiB bundle whose manifest repeats one unknown hook 100,000
  times (once a 25 MB error and ~20 s of CPU);
- ``repeat-in-limits``: the same mistake repeated to just under the manifest's byte
  limit;
- ``worst-in-limits``: 1,000 routes with bad paths and methods, the costliest manifest
  inside the limits;
- ``max-size``: a bundle of ``--max-mb`` MiB (default 256, the package limit) of random
  data whose manifest is invalid: the whole file is hashed before it is refused.

    .venv/bin/python benchmarks/bench_rejections.py [--runs 3] [--max-mb 256]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from market.archive import inspect_bundle
from market.errors import MarketError
from market.manifest import LIMITS

BASE = {"id": "bench.reject", "name": "Bench", "version": "1.0.0", "summary": "s"}


def manifest_bundle(path: Path, manifest: dict, filler_mb: int = 0) -> Path:
    data = json.dumps(manifest, separators=(",", ":")).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", data)
        part = 0
        while filler_mb > 0:  # files of 100 MiB, under the per-file limit
            size, filler_mb, part = min(filler_mb, 100), filler_mb - 100, part + 1
            info = zipfile.ZipInfo(f"media/filler{part}.bin")
            with zf.open(info, "w", force_zip64=True) as out:
                for _ in range(size):
                    out.write(os.urandom(1024 * 1024))
    return path


def repeats_under_limit() -> dict:
    one = len(json.dumps("on_nothing")) + 1
    count = min((LIMITS.max_bytes - 200) // one, LIMITS.max_array_items)
    return {**BASE, "hooks": ["on_nothing"] * count}


def cases(work: Path, max_mb: int) -> dict[str, Path]:
    # Random data does not deflate: the bundle ends up just under max_mb MiB.
    worst = {
        **BASE,
        "routes": [
            {"path": f"/a/../{i}", "methods": ["FETCH", "X"], "expose": "global"}
            for i in range(LIMITS.max_array_items)
        ],
    }
    return {
        "repeat-100k": manifest_bundle(
            work / "r100k.cvnext", {**BASE, "hooks": ["on_nothing"] * 100_000}
        ),
        "repeat-in-limits": manifest_bundle(
            work / "rlim.cvnext", repeats_under_limit()
        ),
        "worst-in-limits": manifest_bundle(work / "worst.cvnext", worst),
        "max-size": manifest_bundle(
            work / "max.cvnext", {**BASE, "hooks": ["on_nothing"] * 1000}, max_mb - 1
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-mb", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reject-") as tmp:
        for name, bundle in cases(Path(tmp), args.max_mb).items():
            best, error = float("inf"), None
            for _ in range(args.runs):
                started = time.process_time()
                try:
                    inspect_bundle(bundle)
                except MarketError as exc:
                    error = exc
                best = min(best, time.process_time() - started)
            assert error is not None, name
            body = json.dumps({"ok": False, "error": error.as_dict()})
            print(
                f"{name:18} bundle={bundle.stat().st_size:>11,} B  cpu={best:7.3f} s  "
                f"code={error.code:17} error={len(body):,} B"
            )


if __name__ == "__main__":
    main()
