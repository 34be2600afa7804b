#!/usr/bin/env python
"""A studio's sync over real HTTP: the full signed snapshot against ``since=``.

Seeds a throwaway PostgreSQL database with ``--size`` approved entries (10,000 by
default) the way approval stores them, makes the catalogue key, starts gunicorn
(``-w 2``) on 127.0.0.1, and measures ``GET snapshot`` as a studio asks for it:

- the full snapshot: the first request (built and signed) and then from the cache,
  compressed (``Accept-Encoding: gzip``) and not;
- after ``--changes`` decisions (yanks and delistings, as reviewers make them):
  ``since=<revision before them>``, compressed and not.

Each figure is the median of ``--rounds`` requests; every document is checked (its
signature with the published key, and that ``since=`` holds exactly the changed ids).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench \\
        .venv/bin/python benchmarks/bench_sync.py [--size 10000] [--changes 10]

The database named in DATABASE_URL is never touched: ``<name>_http_bench_<size>`` is
created beside it and dropped afterwards. MARKET_ROOT lives in a temporary folder.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_http import (
    API,
    bench_databases,
    gunicorn,
    server_env,
    setup_django,
    use_database,
)
from http_load import fetch, free_port
from http_seed import seed


def timed(port: int, path: str, headers: dict[str, str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    status, _, body = fetch(port, path, headers)
    elapsed = time.perf_counter() - start
    if status != 200:
        raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
    return elapsed, body


def verified(body: bytes, keys: dict[str, str]) -> dict:
    import rfc8785
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    doc = json.loads(body)
    snapshot = doc["snapshot"]
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(keys[snapshot["key_id"]]))
    key.verify(base64.b64decode(doc["signature"]), rfc8785.dumps(snapshot))
    return snapshot


def measure(port: int, path: str, rounds: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for label, headers in (("gzip", {"Accept-Encoding": "gzip"}), ("plain", {})):
        times, size = [], 0
        for _ in range(rounds):
            elapsed, body = timed(port, path, headers)
            times.append(elapsed)
            size = len(body)
        figures[f"{label}_ms"] = statistics.median(times) * 1000
        figures[f"{label}_bytes"] = size
    return figures


def decide(changes: int, size: int) -> list[str]:
    """Yank and delist ``changes`` entries spread over the catalogue; their ids."""
    from market.models import CatalogEntry
    from market.review import transition

    step = max(1, size // changes)
    ids = []
    rows = CatalogEntry.objects.order_by("extension_id")
    for n, entry in enumerate(rows[::step][:changes]):
        action = "yank" if n % 2 else "delist"
        transition(entry=entry, action=action, actor=None, reason="benchmark")
        ids.append(entry.extension_id)
    return sorted(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    urls, stack = bench_databases(url, [args.size], keep=False)
    with stack, tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        env = server_env(urls[args.size], Path(tmp))
        setup_django(env)
        use_database(urls[args.size])
        from market import revision, signing
        from market.models import CatalogEntry

        seconds = seed(args.size)
        revision.stamp_changed(CatalogEntry.objects.all())
        signing.create_signing_key()
        print(f"seeded {args.size} entries in {seconds:.1f} s")
        port = free_port()
        with gunicorn(env, port, workers=2):
            _, _, body = fetch(port, API + "snapshot/keys")
            keys = {k["key_id"]: k["public_key"] for k in json.loads(body)["items"]}
            cold, body = timed(port, API + "snapshot", {"Accept-Encoding": "gzip"})
            full = verified(gzip.decompress(body), keys)
            assert len(full["entries"]) == args.size
            warm = measure(port, API + "snapshot", args.rounds)
            before = full["revision"]
            changed = decide(args.changes, args.size)
            path = f"{API}snapshot?since={before}"
            _, body = timed(port, path, {})
            incremental = verified(body, keys)
            assert sorted(e["id"] for e in incremental["entries"]) == changed
            since = measure(port, path, args.rounds)
    print(f"full snapshot, first request (built, signed): {cold * 1000:.0f} ms")
    print("                  median ms    bytes (gzip)    bytes (plain)")
    for label, row in (("full (cached)", warm), (f"since= {args.changes}", since)):
        print(
            f"{label:<16} {row['gzip_ms']:>7.1f} gz {row['plain_ms']:>7.1f} plain"
            f"  {row['gzip_bytes']:>12,.0f}  {row['plain_bytes']:>14,.0f}"
        )


if __name__ == "__main__":
    main()
