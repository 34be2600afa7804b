#!/usr/bin/env python
"""API and install benchmarks (run by hand; prints figures, asserts nothing).

- ``list`` and ``catalog/`` latency with 100 and 10,000 catalogue entries, in process
  through Django's test client (so it measures our code and the database, not HTTP).
- install + uninstall of a ~100 MB bundle through the service layer (every check and
  hash included, every file flushed to disk before the commit), next to the named
  baselines ``unzip -q`` of the same file, and ``unzip -q`` followed by ``sync`` (the
  fair one: an install is durable, a bare unzip is not).

    .venv/bin/python benchmarks/bench_api.py [--bundle-mb 100] [--entries 100 10000]

Runs on a throwaway SQLite database and MARKET_ROOT under a temp folder, or on
``DATABASE_URL`` when it is set.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(work: Path) -> None:
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{work / 'bench.sqlite3'}")
    os.environ["MARKET_ROOT"] = str(work / "var")
    os.environ["COMFYVN_CONFIG"] = str(work / "comfyvn.json")
    os.environ["MARKET_PACKAGE_DIRS"] = str(work / "var" / "packages")
    os.environ["MARKET_MAX_PACKAGE_BYTES"] = str(1024**3)
    os.environ["ALLOWED_HOSTS"] = "testserver"
    # The test client speaks plain HTTP, as a server behind no TLS proxy would.
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    (work / "var" / "staticfiles").mkdir(parents=True, exist_ok=True)
    os.environ["DJANGO_SETTINGS_MODULE"] = "comfyvn_site.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from market import flags

    flags.write_flags(
        {"enable_marketplace": True, "enable_extension_market_uploads": True}
    )


def timed(fn, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples)


def grow(total: int) -> None:
    from django.utils import timezone

    from market.models import CatalogEntry
    from market.selectors import catalog_card, catalog_listing

    have = CatalogEntry.objects.count()
    manifest = {
        "id": "x",
        "name": "X",
        "version": "1.0.0",
        "summary": "A benchmark entry.",
        "authors": ["Bench"],
        "permissions": [
            {"scope": "assets.read", "description": "d", "optional": False},
            {"scope": "hooks.listen", "description": "d", "optional": False},
        ],
        "routes": [{"path": "/x", "methods": ["GET"], "expose": "extension"}],
        "hooks": ["on_scene_enter", "on_asset_saved"],
        "diagnostics": {"log_topics": ["x"], "metrics": [], "traces": []},
        "trust": {"level": "unverified"},
    }
    now = timezone.now()
    entries = [
        CatalogEntry(
            extension_id=f"bench.{i:06d}",
            version="1.0.0",
            name=f"Bench {i}",
            summary="A benchmark entry.",
            manifest={**manifest, "id": f"bench.{i:06d}"},
            manifest_sha256="0" * 64,
            package=f"bundles/bench.{i:06d}.cvnext",
            package_sha256=f"{i:064x}",
            package_size=1000,
            status="approved",
            is_latest=True,
            permission_index=" assets.read hooks.listen ",
            hook_index=" on_scene_enter on_asset_saved ",
            reviewed_at=now,
            card=catalog_card({**manifest, "id": f"bench.{i:06d}"}),
        )
        for i in range(have, total)
    ]
    for entry in entries:  # as the review services store it at approval
        entry.listing = catalog_listing(entry)
    CatalogEntry.objects.bulk_create(entries, batch_size=1000)


def bench_reads(sizes: list[int]) -> None:
    from django.test import Client

    client = Client()
    print("== reads (median / best of 5, in-process) ==")
    for size in sizes:
        grow(size)
        for label, url in (
            ("list", "/api/market/list"),
            ("catalog/", "/api/market/catalog/"),
        ):

            def call(url=url):
                response = client.get(url)
                assert response.status_code == 200, response.content[:200]

            median, best = timed(call, 5)
            print(
                f"{label:9} entries={size:>6}  median={median * 1000:8.1f} ms  "
                f"best={best * 1000:8.1f} ms"
            )


def make_tree(root: Path, size_mb: int) -> None:
    rng = __import__("random").Random(7)
    (root / "assets").mkdir(parents=True)
    (root / "scripts").mkdir()
    (root / "manifest.json").write_text(
        '{"id": "bench.big", "name": "Big", "version": "1.0.0", '
        '"summary": "A large benchmark bundle."}'
    )
    target = size_mb * 1024 * 1024
    written, n = 0, 0
    while written < target:
        n += 1
        if n % 3 == 0:
            data = os.urandom(2 * 1024 * 1024)
            (root / "assets" / f"bg{n:04d}.png").write_bytes(data)
        else:
            words = [
                f"line {i} say {rng.random():.6f} choice_{i % 17}\n"
                for i in range(30000)
            ]
            data = "".join(words).encode()
            (root / "scripts" / f"scene{n:04d}.txt").write_bytes(data)
        # Text deflates about 4:1, media not at all: count what lands in the bundle.
        written += len(data) if n % 3 == 0 else len(data) // 4


def bench_install(work: Path, size_mb: int) -> None:
    from market import packaging, services

    src = work / "big"
    make_tree(src, size_mb)
    out = work / "var" / "packages"
    result = packaging.build_package(src, out, force=True)
    size = result.path.stat().st_size
    print(f"== install of a {size / 1e6:.0f} MB bundle ({result.files} files) ==")

    def unzip(sync: bool = False):
        dest = work / "unzipped"
        shutil.rmtree(dest, ignore_errors=True)
        subprocess.run(["unzip", "-q", str(result.path), "-d", str(dest)], check=True)
        if sync:
            subprocess.run(["sync"], check=True)
        shutil.rmtree(dest)

    def unzip_sync():
        unzip(sync=True)

    def install():
        source = services.InstallSource("path", result.path, result.path.name)
        services.extension_install(source=source)

    def uninstall():
        services.extension_uninstall(ext_id="bench.big")

    unzip_times, synced_times, install_times, uninstall_times = [], [], [], []
    os.sync()  # start every round with nothing else waiting to be written
    for _ in range(5):
        unzip_times.append(timed(unzip, 1)[0])
        os.sync()
        synced_times.append(timed(unzip_sync, 1)[0])
        os.sync()
        install_times.append(timed(install, 1)[0])
        uninstall_times.append(timed(uninstall, 1)[0])
        os.sync()
    # ``unzip`` removes nothing; compare our uninstall on its own figure.
    base, synced, ours = min(unzip_times), min(synced_times), min(install_times)
    for label, best, samples in (
        ("unzip -q (baseline)", base, unzip_times),
        ("unzip -q + sync", synced, synced_times),
        ("install (durable)", ours, install_times),
    ):
        print(
            f"{label:20} best={best:.3f} s  median={statistics.median(samples):.3f} s"
            f"  {size / 1e6 / best:7.1f} MB/s"
        )
    print(f"uninstall            best={min(uninstall_times):.3f} s")
    print(f"ratio install / (unzip -q + sync) = {ours / synced:.2f}  (goal <= 1.00)")
    print(f"ratio install / unzip -q          = {ours / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle-mb", type=int, default=100)
    parser.add_argument("--entries", type=int, nargs="+", default=[100, 10000])
    parser.add_argument("--skip-install", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="comfyvn-bench-"))
    try:
        setup_django(work)
        bench_reads(sorted(args.entries))
        if not args.skip_install:
            bench_install(work, args.bundle_mb)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
