#!/usr/bin/env python
"""Reads over real HTTP, as the Studio sees them (run by hand; prints figures).

Seeds one PostgreSQL database per size (100, 10,000 and 100,000 approved entries by
default, 3 extensions installed) the way approval stores them, starts one gunicorn
per database (``-w 2``, otherwise as ``gunicorn.conf.py`` sets it) on 127.0.0.1
only, and measures p50, p99 and requests/s with ``wrk -t1 -c4`` (or a small bounded
load generator when wrk is missing) for:

- ``GET keys``: no database, the floor every read is compared with;
- ``health``; ``catalog/`` first page and a deep page (90 % in, by cursor);
  ``catalog/?search=`` (a word ten entries carry at every size);
- ``list`` 200 (``Accept-Encoding: gzip``, served from the cache) and ``list`` 304.

Every request carries ``Connection: close`` unless ``--keep-alive`` is given. A
gthread worker serves a kept-alive connection until it closes, and which of the two
workers accepts each of wrk's four connections is a race: in about a third of the
runs one worker won three or four of them, serving them on one core while the other
idled, which doubled p50 (2.8 against 5.3-6.2 ms for the same ``list`` 304, at 100
entries as at 100,000). A connection per request spreads the requests over both
workers the way many Studios' connections do, and keeps the spread between runs
below the effects measured (3.7-4.3 ms for that 304, every run).

The machine is shared, and its load moves from minute to minute: every request kind
is measured on every size in turn, ``--rounds`` times, and the median round is
reported, so no size is measured in a quieter minute than another.

Then checks the issue's goals: at the largest size each of health, catalog/ (both
pages), search and list 304 has p50 <= 1.5 x its p50 at the smallest size and <= 8 x
the floor; list 200 at 10,000 entries <= 3 x the floor plus transfer.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench \\
        .venv/bin/python benchmarks/bench_http.py [--sizes 100 10000 100000]

The database named in DATABASE_URL is never touched: throwaway databases
``<name>_http_bench_<size>`` are created beside it and dropped afterwards (``--keep``
keeps them). MARKET_ROOT and the flags file live in a temporary folder.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import gzip
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_load import (  # noqa: E402
    HOST,
    Case,
    Figures,
    fetch,
    free_port,
    run_threads,
    run_wrk,
)
from http_seed import RARE, seed  # noqa: E402

API = "/api/market/"


# --- set-up ---------------------------------------------------------------------
def bench_databases(
    url: str, sizes: list[int], keep: bool
) -> tuple[dict[int, str], contextlib.ExitStack]:
    """A fresh database per size beside the one in ``url``; dropped when the stack
    closes."""
    import psycopg

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit("DATABASE_URL must point at PostgreSQL (postgres://...)")
    base = (parts.path.lstrip("/") or "postgres") + "_http_bench"
    admin = parts._replace(path="/postgres").geturl()
    names = {size: f"{base}_{size}" for size in sizes}
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    stack = contextlib.ExitStack()

    def drop() -> None:
        if keep:
            print(f"kept databases {', '.join(names.values())}")
            return
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    stack.callback(drop)
    urls = {
        size: parts._replace(path=f"/{name}").geturl() for size, name in names.items()
    }
    return urls, stack


def server_env(db_url: str, work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "MARKET_ROOT": str(work / "var"),
        "COMFYVN_CONFIG": str(work / "comfyvn.json"),
        "MARKET_PACKAGE_DIRS": str(work / "var" / "packages"),
        "DJANGO_SETTINGS_MODULE": "comfyvn_site.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-http-" + "k" * 50,
        "ALLOWED_HOSTS": HOST,
        "LOG_LEVEL": "WARNING",
        "GUNICORN_ACCESSLOG": "",  # gunicorn.conf.py: no access log
        "SECURE_SSL_REDIRECT": "false",  # plain HTTP on 127.0.0.1, no TLS proxy
    }


def setup_django(env: dict[str, str]) -> None:
    Path(env["MARKET_ROOT"], "staticfiles").mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    import django

    django.setup()
    from market import flags

    flags.write_flags({"enable_marketplace": True})


def use_database(url: str) -> None:
    """Point this process's connection at ``url`` and migrate it."""
    from django.core.management import call_command
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = urllib.parse.urlsplit(url).path.lstrip("/")
    call_command("migrate", verbosity=0)


@contextlib.contextmanager
def gunicorn(env: dict[str, str], port: int, workers: int):
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "comfyvn_site.wsgi",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        # Workers live through the whole run: a recycled worker would start with a
        # cold local cache and a new database connection in the middle of a figure.
        "--max-requests",
        "0",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _, _ = fetch(port, API + "keys")
                if status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("gunicorn did not start")
            time.sleep(0.2)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


# --- requests -------------------------------------------------------------------
# --- main -----------------------------------------------------------------------
def cases(port: int, size: int, extra: dict[str, str]) -> list[Case]:
    """The requests to time at this size (each with the ``extra`` headers)."""
    _, _, body = fetch(port, API + "catalog/")
    first = json.loads(body)
    deep = _deep_page(first, size)
    _, headers, _ = fetch(port, API + "list", {"Accept-Encoding": "gzip"})
    etag = headers["etag"]
    plain = [
        Case("keys (floor)", API + "keys", {}, 200),
        Case("health", API + "health", {}, 200),
        Case("catalog/ first", API + "catalog/", {}, 200),
        Case("catalog/ deep", deep, {}, 200),
        Case("catalog/?search=", f"{API}catalog/?search={RARE}", {}, 200),
        Case("list 200 gzip", API + "list", {"Accept-Encoding": "gzip"}, 200),
        Case(
            "list 304",
            API + "list",
            {"Accept-Encoding": "gzip", "If-None-Match": etag},
            304,
        ),
    ]
    for case in plain:
        case.headers = {**case.headers, **extra}
    return plain


def _deep_page(first: dict, size: int) -> str:
    """A full page about 90 % of the way through the catalogue."""
    target = f"bench.{max(0, min(int(size * 0.9), size - 51)):06d}"
    link = first.get("next") or ""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    if "cursor" in query:
        # Keyset pagination: a cursor names a position (DRF's encoding: base64 of
        # "p=<last id>"), so a page 90 % of the way in is one index seek.
        token = base64.b64encode(urllib.parse.urlencode({"p": target}).encode())
        return f"{API}catalog/?cursor={urllib.parse.quote(token.decode())}"
    page_size = len(first.get("items") or first.get("results") or []) or 50
    page = max(1, int(size * 0.9) // page_size)
    return f"{API}catalog/?page={page}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000, 100_000])
    parser.add_argument("--seconds", type=int, default=3, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument(
        "--keep-alive",
        action="store_true",
        help="reuse connections (see the notes: the figures then vary between runs)",
    )
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        raise SystemExit("set DATABASE_URL=postgres://... (bench databases are made)")
    sizes = sorted(args.sizes)
    runner = run_wrk if shutil.which("wrk") else run_threads
    work = Path(tempfile.mkdtemp(prefix="comfyvn-http-bench-"))
    urls, stack = bench_databases(url, sizes, args.keep)
    samples: dict[tuple[str, int], list[Figures]] = collections.defaultdict(list)
    with stack:
        setup_django(server_env(urls[sizes[0]], work))
        for size in sizes:
            use_database(urls[size])
            print(f"seeded {size:,} entries in {seed(size):.1f} s", flush=True)
        servers = {size: (free_port(), server_env(urls[size], work)) for size in sizes}
        for port, env in servers.values():
            stack.enter_context(gunicorn(env, port, args.workers))
        print(
            f"== HTTP reads: one gunicorn -w {args.workers} (gunicorn.conf.py) per "
            f"size on PostgreSQL, {runner.__name__[4:]} -t1 -c{args.connections}, "
            f"{'kept alive' if args.keep_alive else 'a connection per request'}, "
            f"{args.rounds} rounds of {args.seconds} s, sizes interleaved; "
            f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} ==",
            flush=True,
        )
        extra = {} if args.keep_alive else {"Connection": "close"}
        plan = {
            size: checked_cases(port, size, extra)
            for size, (port, _) in servers.items()
        }
        labels = [case.label for case in plan[sizes[0]]]
        # Round-robin over sizes for every request kind: on a shared machine the
        # load changes from minute to minute, and each size must see the same mix.
        for _ in range(args.rounds):
            for index, _label in enumerate(labels):
                for size in sizes:
                    port = servers[size][0]
                    case = plan[size][index]
                    samples[(case.label, size)].append(
                        runner(port, case, args.seconds, args.connections)
                    )
        load = os.getloadavg()[0]
    shutil.rmtree(work, ignore_errors=True)
    results = {key: _median(figs) for key, figs in samples.items()}
    for size in sizes:
        print(f"-- {size:,} entries (median of {args.rounds} rounds) --")
        for case in plan[size]:
            f = results[(case.label, size)]
            print(
                f"{case.label:18} p50={f.p50:8.2f} ms  p99={f.p99:8.2f} ms  "
                f"{f.rps:8.0f} req/s  {case.size:>10,} B"
            )
        raw, sent = LIST_BYTES[size]
        print(f"list body {raw:,} B ({raw / size:,.0f} B/entry), {sent:,} B gzip")
    print(f"(load average at the end: {load:.1f})")
    report_goals(results, sizes)
    return 0


LIST_BYTES: dict[int, tuple[int, int]] = {}


def checked_cases(port: int, size: int, extra: dict[str, str]) -> list[Case]:
    """The cases at this size, each answered once with the status it must have."""
    out = []
    for case in cases(port, size, extra):
        status, headers, body = fetch(port, case.path, case.headers)
        if status != case.status:
            raise SystemExit(f"{case.label}: HTTP {status} {body[:300]!r}")
        case.size = len(body)
        if case.label.startswith("list 200"):
            raw = body
            if headers.get("content-encoding") == "gzip":
                raw = gzip.decompress(body)
            LIST_BYTES[size] = (len(raw), len(body))
        out.append(case)
    return out


def _median(figures: list[Figures]) -> Figures:
    return Figures(
        statistics.median(f.p50 for f in figures),
        statistics.median(f.p99 for f in figures),
        statistics.median(f.rps for f in figures),
    )


def report_goals(results: dict[tuple[str, int], Figures], sizes: list[int]) -> None:
    small, large = sizes[0], sizes[-1]
    floor = results[("keys (floor)", large)].p50
    print(f"== goals (p50; floor = keys at {large:,} entries = {floor:.2f} ms) ==")
    for label in ("health", "catalog/ first", "catalog/ deep", "catalog/?search="):
        _goal(results, label, small, large, floor)
    _goal(results, "list 304", small, large, floor)
    if ("list 200 gzip", 10_000) in results:
        p50 = results[("list 200 gzip", 10_000)].p50
        print(
            f"list 200 at 10,000: {p50:.2f} ms = {p50 / floor:.1f} x floor "
            "(goal <= 3 x floor plus transfer)"
        )


def _goal(results, label: str, small: int, large: int, floor: float) -> None:
    a, b = results[(label, small)].p50, results[(label, large)].p50
    ok = b <= 1.5 * a and b <= 8 * floor
    print(
        f"{label:18} {b:7.2f} ms at {large:,} = {b / a:4.2f} x at {small:,} "
        f"(<= 1.5), {b / floor:4.1f} x floor (<= 8)  {'ok' if ok else 'MISSED'}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
