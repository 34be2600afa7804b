#!/usr/bin/env python
"""Ours against the reference market server, side by side over HTTP (run by hand).

The reference is the ComfyVN project's own market router, already running (started
by hand, outside this repository) with its catalogue in memory. Give one
``--reference-url`` per catalogue size: each reference's size is read from its
``health`` (``catalog_count``), and ours is seeded to the same size (approved
entries as approval stores them, 3 installed, by ``http_seed``) in a throwaway
PostgreSQL database beside ``DATABASE_URL`` and served by gunicorn (``-w 2``, as
``gunicorn.conf.py`` sets it) on 127.0.0.1. Loads come from ``http_load`` (wrk, or
its small bounded generator), the same as ``bench_http.py``.

Measured, p50 and p99 and bytes on the wire, at every size:

- ``installed/`` (ours) against the reference's installed listing
  (``--reference-installed-path``, by default ``/api/market/installed``);
- ``list`` 200 (``Accept-Encoding: gzip`` for both) against the reference's ``list``.

With ``--install``, a ~``--size-mb`` MB tree (``bench_package``'s generator) is
packaged once by our packager, and the same bundle is installed by server path,
``--install-runs`` times each: ours (``install``), the reference's ``install``, and
``unzip -q`` followed by ``sync``. Each install is followed by an uninstall (not
timed); every timed run starts after a ``sync`` and ``--settle`` seconds after that
uninstall (see :func:`settle`), so no contestant pays for another's dirty pages or
for the inodes just freed. The reference must be able to read the bundle: it is written
under ``--bundle-dir`` (a temporary folder by default).

The machine is shared: measurements interleave ours and the reference (order
alternating each round) so both see the same load, and the load average is printed
with every figure (the median of the load averages read before each sample).

Goals (issue 10): ``installed/`` flat in catalogue size; ``list`` at 10,000 entries
faster than the reference's; install <= 0.8 x the reference and <= 1.0 x unzip+sync.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench \\
        .venv/bin/python benchmarks/bench_reference.py \\
        --reference-url http://127.0.0.1:8100 http://127.0.0.1:8110 [--install]
"""

from __future__ import annotations

import argparse
import collections
import gzip
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_http import (
    API,
    bench_databases,
    gunicorn,
    server_env,
    setup_django,
    use_database,
)
from http_load import HOST, Case, Figures, fetch, free_port, run_threads, run_wrk
from http_seed import seed

GZIP = {"Accept-Encoding": "gzip"}
BUNDLE_ID = "bench.tree"
MB = 1_000_000


@dataclass
class Sample:
    figures: Figures
    load: float


# --- the reference --------------------------------------------------------------
def reference_port(url: str) -> int:
    """The port of a reference on 127.0.0.1 (the only address this talks to)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or parts.hostname != HOST or not parts.port:
        raise SystemExit(f"--reference-url must be http://{HOST}:PORT, not {url!r}")
    return parts.port


def reference_size(port: int) -> int:
    status, _, body = fetch(port, API + "health")
    if status != 200:
        raise SystemExit(f"reference on port {port}: health answered HTTP {status}")
    return int(json.loads(body)["catalog_count"])


def post(
    port: int, path: str, data: dict, token: str | None = None
) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    try:
        conn.request("POST", path, body=json.dumps(data), headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- ours -----------------------------------------------------------------------
def admin_token() -> str:
    """A superuser's API token in the current database (installs need one)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_superuser("bench", "", "bench-password")
    return Token.objects.create(user=user).key


def our_env(db_url: str, work: Path, bundles: Path) -> dict[str, str]:
    return {
        **server_env(db_url, work),
        "MARKET_PACKAGE_DIRS": str(bundles),
        "MARKET_INSTALL_THROTTLE": "10000/min",
        "MARKET_PUBLIC_READS": "true",
    }


# --- measuring ------------------------------------------------------------------
def checked(port: int, case: Case) -> tuple[int, int]:
    """Answer ``case`` once with its status; ``(bytes on the wire, bytes of JSON)``."""
    status, headers, body = fetch(port, case.path, case.headers)
    if status != case.status:
        raise SystemExit(f"{case.label} on port {port}: HTTP {status} {body[:300]!r}")
    raw = body
    if headers.get("content-encoding") == "gzip":
        raw = gzip.decompress(body)
    json.loads(raw)
    case.size = len(body)
    return len(body), len(raw)


def median_sample(samples: list[Sample]) -> Sample:
    return Sample(
        Figures(
            statistics.median(s.figures.p50 for s in samples),
            statistics.median(s.figures.p99 for s in samples),
            statistics.median(s.figures.rps for s in samples),
        ),
        statistics.median(s.load for s in samples),
    )


def measure_reads(args, ours: dict[int, int], refs: dict[int, int]) -> None:
    runner = run_wrk if shutil.which("wrk") else run_threads
    sizes = sorted(ours)
    plan: dict[tuple[str, str, int], tuple[int, Case]] = {}
    wire: dict[tuple[str, str, int], tuple[int, int]] = {}
    for size in sizes:
        for side, port, installed in (
            ("ours", ours[size], API + "installed/"),
            ("reference", refs[size], args.reference_installed_path),
        ):
            for kind, path in (("installed", installed), ("list 200", API + "list")):
                case = Case(f"{side} {kind}", path, dict(GZIP), 200)
                wire[(kind, side, size)] = checked(port, case)
                plan[(kind, side, size)] = (port, case)
    print(
        f"== reads: ours gunicorn -w {args.workers} on PostgreSQL, the reference as "
        f"started; {runner.__name__[4:]} -t1 -c{args.connections}, {args.rounds} "
        f"rounds of {args.seconds} s, ours and the reference interleaved; "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} ==",
        flush=True,
    )
    samples: dict[tuple[str, str, int], list[Sample]] = collections.defaultdict(list)
    for round_no in range(args.rounds):
        sides = ("ours", "reference") if round_no % 2 == 0 else ("reference", "ours")
        for kind in ("installed", "list 200"):
            for size in sizes:
                for side in sides:
                    port, case = plan[(kind, side, size)]
                    load = os.getloadavg()[0]
                    figures = runner(port, case, args.seconds, args.connections)
                    samples[(kind, side, size)].append(Sample(figures, load))
    results = {key: median_sample(value) for key, value in samples.items()}
    for kind in ("installed", "list 200"):
        print(f"-- {kind} (median of {args.rounds} rounds) --")
        for size in sizes:
            for side in ("ours", "reference"):
                s = results[(kind, side, size)]
                sent, raw = wire[(kind, side, size)]
                print(
                    f"{side:9} {size:>7,} entries  p50={s.figures.p50:8.2f} ms  "
                    f"p99={s.figures.p99:8.2f} ms  {s.figures.rps:7.0f} req/s  "
                    f"{sent:>10,} B sent ({raw:>10,} B JSON)  load {s.load:.2f}"
                )
            ratio = (
                results[(kind, "ours", size)].figures.p50
                / results[(kind, "reference", size)].figures.p50
            )
            print(f"          {size:>7,} entries  ours/reference p50 = {ratio:.2f}")
    small, large = sizes[0], sizes[-1]
    a = results[("installed", "ours", small)].figures.p50
    b = results[("installed", "ours", large)].figures.p50
    print("== read goals ==")
    print(
        f"installed/ p50 {b:.2f} ms at {large:,} = {b / a:.2f} x at {small:,} "
        f"(flat: <= 1.5)  {'ok' if b <= 1.5 * a else 'MISSED'}"
    )
    if 10_000 in sizes:
        ours_p50 = results[("list 200", "ours", 10_000)].figures.p50
        ref_p50 = results[("list 200", "reference", 10_000)].figures.p50
        print(
            f"list 200 at 10,000: ours {ours_p50:.2f} ms vs reference {ref_p50:.2f} ms"
            f" = {ours_p50 / ref_p50:.2f} (< 1)  "
            f"{'ok' if ours_p50 < ref_p50 else 'MISSED'}"
        )


def settle(seconds: float) -> None:
    """Flush everything, then wait until the files just deleted are ``seconds`` old.

    Nobody pays for the dirty pages of the one before. And ext4 without a journal
    (as this machine's root file system is) does not hand out an inode freed less
    than 60 s ago (the kernel's ``RECENTCY_MIN``; 360 s while its inode table block
    is dirty, hence the sync first): it checks and skips every such inode when it
    allocates one, so creating 2,000 files right after deleting 2,000 costs about half
    a millisecond of CPU per file (for every contestant alike), which no install on a
    real machine pays.
    """
    os.sync()
    time.sleep(seconds)


def measure_install(
    args, our_port: int, ref_port: int, token: str, bundles: Path, work: Path
) -> None:
    from bench_package import generate_tree

    from market.packaging import build_package

    with tempfile.TemporaryDirectory(prefix="cvnext-ref-tree-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        files, size = generate_tree(src, args.size_mb)
        result = build_package(src, bundles, force=True)
    bundle = result.path
    print(
        f"== install: {files} files, {size / MB:.1f} MB tree, bundle "
        f"{bundle.stat().st_size / MB:.1f} MB; best and median of "
        f"{args.install_runs} runs, contestants interleaved ==",
        flush=True,
    )
    # Beside ours's MARKET_ROOT: the same file system and, as far as can be, the
    # same neighbourhood of it.
    scratch = Path(tempfile.mkdtemp(prefix="cvnext-unzip-", dir=work))

    def ours() -> None:
        status, body = post(our_port, API + "install", {"package": str(bundle)}, token)
        if status != 200:
            raise SystemExit(f"ours: install HTTP {status} {body[:400]!r}")

    def ours_undo() -> None:
        status, body = post(our_port, API + "uninstall", {"id": BUNDLE_ID}, token)
        if status != 200:
            raise SystemExit(f"ours: uninstall HTTP {status} {body[:400]!r}")

    def reference() -> None:
        status, body = post(ref_port, API + "install", {"package": str(bundle)})
        if status != 200:
            raise SystemExit(f"reference: install HTTP {status} {body[:400]!r}")

    def reference_undo() -> None:
        status, body = post(ref_port, API + "uninstall", {"id": BUNDLE_ID})
        if status != 200:
            raise SystemExit(f"reference: uninstall HTTP {status} {body[:400]!r}")

    def unzip() -> None:
        subprocess.run(
            ["unzip", "-q", str(bundle), "-d", str(scratch / "out")], check=True
        )
        os.sync()

    def unzip_undo() -> None:
        shutil.rmtree(scratch / "out")

    contestants = {
        "ours": (ours, ours_undo),
        "reference": (reference, reference_undo),
        "unzip -q + sync": (unzip, unzip_undo),
    }
    for run, undo in contestants.values():  # warm-up: the bundle in the page cache
        run()
        undo()
    times: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    names = list(contestants)
    for index in range(args.install_runs):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            run, undo = contestants[name]
            settle(args.settle)
            load = os.getloadavg()[0]
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start, load))
            undo()
    shutil.rmtree(scratch, ignore_errors=True)
    best = {}
    for name in names:
        seconds = [t for t, _ in times[name]]
        loads = [load for _, load in times[name]]
        best[name] = min(seconds)
        print(
            f"{name:16} best {min(seconds):6.2f} s  median "
            f"{statistics.median(seconds):6.2f} s  "
            f"({', '.join(f'{t:.2f}' for t in seconds)})  "
            f"load {statistics.median(loads):.2f}"
        )
    to_ref = best["ours"] / best["reference"]
    to_unzip = best["ours"] / best["unzip -q + sync"]
    print("== install goals (best of runs) ==")
    print(
        f"ours / reference       = {to_ref:.2f} (<= 0.8)  "
        f"{'ok' if to_ref <= 0.8 else 'MISSED'}"
    )
    print(
        f"ours / unzip -q + sync = {to_unzip:.2f} (<= 1.0)  "
        f"{'ok' if to_unzip <= 1.0 else 'MISSED'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference-url",
        nargs="+",
        required=True,
        help="running reference servers, one per catalogue size",
    )
    parser.add_argument("--reference-installed-path", default="/api/market/installed")
    parser.add_argument("--seconds", type=int, default=3, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--install", action="store_true")
    parser.add_argument("--install-runs", type=int, default=3)
    parser.add_argument("--size-mb", type=int, default=120)
    parser.add_argument(
        "--settle",
        type=float,
        default=65.0,
        help="seconds between the last uninstall and the next timed install",
    )
    parser.add_argument(
        "--bundle-dir", type=Path, help="where the bundle is written (default: temp)"
    )
    parser.add_argument("--skip-reads", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        raise SystemExit("set DATABASE_URL=postgres://... (bench databases are made)")
    refs: dict[int, int] = {}
    for ref_url in args.reference_url:
        port = reference_port(ref_url)
        refs[reference_size(port)] = port
    sizes = sorted(refs)
    work = Path(tempfile.mkdtemp(prefix="comfyvn-ref-bench-"))
    bundles = (args.bundle_dir or work / "bundles").resolve()
    bundles.mkdir(parents=True, exist_ok=True)
    urls, stack = bench_databases(url, sizes, args.keep)
    with stack:
        setup_django(our_env(urls[sizes[0]], work, bundles))
        from market import flags

        # Installs by server path are behind the uploads flag.
        flags.write_flags(
            {"enable_marketplace": True, "enable_extension_market_uploads": True}
        )
        tokens = {}
        for size in sizes:
            use_database(urls[size])
            print(f"seeded {size:,} entries in {seed(size):.1f} s", flush=True)
            tokens[size] = admin_token()
        ours: dict[int, int] = {}
        for size in sizes:
            ours[size] = free_port()
            env = our_env(urls[size], work, bundles)
            stack.enter_context(gunicorn(env, ours[size], args.workers))
        if not args.skip_reads:
            measure_reads(args, ours, refs)
        if args.install:
            small = sizes[0]
            measure_install(
                args, ours[small], refs[small], tokens[small], bundles, work
            )
        print(f"(load average at the end: {os.getloadavg()[0]:.2f})")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
