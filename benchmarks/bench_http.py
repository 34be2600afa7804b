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
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
API = "/api/market/"
WORDS = [
    *("scene", "inspector", "relay", "palette", "weather", "battle", "audio"),
    *("subtitle", "worldline", "rating", "export", "cloud", "prop", "asset", "tts"),
    *("mixer", "timeline", "camera", "dialogue", "sprite", "portrait", "glossary"),
    *("choice", "branch", "memory", "save", "quest", "journal", "outfit", "shader"),
]
# What ?search= looks for: ten entries carry it at every size (7, 17, ..., 97), so
# the answer is the same page everywhere and only finding it may cost more.
RARE = "zyzzyva"
INSTALLED = 3


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


def _manifest(i: int, rng: random.Random) -> dict:
    words = rng.sample(WORDS, 3)
    summary = f"Adds {words[0]} and {words[1]} helpers for the {words[2]} workflow."
    if i < 100 and i % 10 == 7:
        summary += f" Includes the {RARE} toolkit."
    return {
        "manifest_version": "1.1",
        "id": f"bench.{i:06d}",
        "name": f"{words[0].title()} {words[1].title()} {i}",
        "version": "1.0.0",
        "summary": summary,
        "authors": [f"Modder {i % 97}"],
        "permissions": [
            {"scope": "assets.read", "description": "d", "optional": False},
            {"scope": "hooks.listen", "description": "d", "optional": False},
        ],
        "routes": [{"path": "/status", "methods": ["GET"], "expose": "extension"}],
        "events": [],
        "ui": {"panels": []},
        "hooks": ["on_scene_enter", "on_asset_saved"],
        "diagnostics": {"log_topics": [f"bench{i}"], "metrics": [], "traces": []},
        "trust": {"level": "unverified"},
    }


def seed(total: int) -> float:
    """Grow the approved catalogue to ``total`` entries; seconds taken.

    Each row holds what submission and approval store, computed by the same
    functions (card, listing, filter indexes, newest-version flag), and is written
    with PostgreSQL's COPY.
    """
    from django.db import connection, transaction
    from django.utils import timezone

    from market import revision
    from market.models import CatalogEntry, InstalledExtension

    start = time.perf_counter()
    have = CatalogEntry.objects.count()
    rng = random.Random(have)
    now = timezone.now()
    fields = [f for f in CatalogEntry._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(CatalogEntry._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for i in range(have, total):
            data = _manifest(i, rng)
            row = types.SimpleNamespace(
                extension_id=data["id"],
                version=data["version"],
                name=data["name"],
                summary=data["summary"],
                authors=data["authors"],
                manifest=data,
                manifest_sha256=f"{i:064x}",
                package=f"bundles/{data['id']}/{data['id']}-1.0.0.cvnext",
                package_sha256=f"{i + 1:064x}",
                package_size=2048 + i % 1000,
                trust_level="unverified",
                status=CatalogEntry.Status.APPROVED.value,
                is_latest=True,
                submitted_at=now,
                reviewed_at=now,
            )
            derive(row)  # what submission and approval store
            copy.write_row([_column(f, row) for f in fields])
    if not InstalledExtension.objects.exists():
        rows = CatalogEntry.objects.order_by("extension_id")[:INSTALLED]
        InstalledExtension.objects.bulk_create(
            InstalledExtension(
                extension_id=e.extension_id,
                version="0.9.0",  # older than the catalogue: update_available is set
                trust_level=e.trust_level,
                manifest=e.manifest,
                manifest_sha256=e.manifest_sha256,
                package_name=f"{e.extension_id}-0.9.0.cvnext",
                package_sha256=e.package_sha256,
                package_size=e.package_size,
                source="catalog",
                sidecar={"id": e.extension_id, "version": "0.9.0"},
                installed_at=now,
            )
            for e in rows
        )
    with transaction.atomic():
        revision.rebuild()  # as every approval does, in its transaction
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return time.perf_counter() - start


def derive(entry) -> None:
    """The columns submission and approval derive from the manifest."""
    from market.selectors import catalog_card, catalog_listing

    scopes = [p["scope"] for p in entry.manifest["permissions"]]
    entry.permission_index = " " + " ".join(scopes) + " "
    entry.hook_index = " " + " ".join(entry.manifest["hooks"]) + " "
    entry.card = catalog_card(entry.manifest)
    entry.listing = catalog_listing(entry)


def _column(field, row) -> object:
    value = getattr(row, field.attname, None)
    if value is None and not field.null:
        value = field.get_default()
    if value is not None and field.get_internal_type() == "JSONField":
        return json.dumps(value)
    return value


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
def fetch(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


@dataclass
class Case:
    label: str
    path: str
    headers: dict[str, str]
    status: int
    size: int = 0


def cases(port: int, size: int) -> list[Case]:
    """The requests to time at this size, each checked once before it is timed."""
    _, _, body = fetch(port, API + "catalog/")
    first = json.loads(body)
    deep = _deep_page(first, size)
    _, headers, _ = fetch(port, API + "list", {"Accept-Encoding": "gzip"})
    etag = headers["etag"]
    return [
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


@dataclass
class Figures:
    p50: float
    p99: float
    rps: float


def run_wrk(port: int, case: Case, seconds: int, connections: int) -> Figures:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for key, value in case.headers.items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run(
        [*cmd, f"http://{HOST}:{port}{case.path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx or 3xx" in out or "Socket errors" in out:
        raise SystemExit(f"{case.label}: errors under load\n{out}")

    def latency(pct: str) -> float:
        match = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert match, out
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        return float(match.group(1)) * scale

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return Figures(latency("50"), latency("99"), rps)


def run_threads(port: int, case: Case, seconds: int, connections: int) -> Figures:
    """A bounded load generator: ``connections`` threads, one request at a time."""
    samples: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        mine = []
        while time.monotonic() < stop:
            start = time.perf_counter()
            status, _, _ = fetch(port, case.path, case.headers)
            mine.append((time.perf_counter() - start) * 1000)
            if status != case.status:
                raise SystemExit(f"{case.label}: HTTP {status}")
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return Figures(statistics.median(samples), p99, len(samples) / seconds)


# --- main -----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000, 100_000])
    parser.add_argument("--seconds", type=int, default=3, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
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
            f"{args.rounds} rounds of {args.seconds} s, sizes interleaved; "
            f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} ==",
            flush=True,
        )
        plan = {size: checked_cases(port, size) for size, (port, _) in servers.items()}
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


def checked_cases(port: int, size: int) -> list[Case]:
    """The cases at this size, each answered once with the status it must have."""
    out = []
    for case in cases(port, size):
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
