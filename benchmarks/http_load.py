"""Requests and load for ``bench_http.py``: wrk, or a small bounded generator."""

from __future__ import annotations

import http.client
import re
import socket
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass

HOST = "127.0.0.1"


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]
