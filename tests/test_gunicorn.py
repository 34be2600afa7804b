"""The production server as documented: real gunicorn with the project's config file.

One server per module on a free loopback port, always stopped. Slow clients must not
starve the others: with eight connections stuck mid-headers (and four that never send
a byte), a ninth client is still answered at once.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
START_DEADLINE = 20.0

pytestmark = pytest.mark.server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(port: int, path: str, headers: str = "", timeout: float = 5.0) -> bytes:
    """One HTTP/1.1 request on a fresh connection; the whole raw response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
            "Connection: close\r\n\r\n".encode()
        )
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _post(port: int, path: str, body: bytes, headers: str = "") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as conn:
        conn.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _status_and_json(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("gunicorn")
    config = tmp / "comfyvn.json"
    config.write_text(json.dumps({"features": {"enable_marketplace": True}}))
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "comfyvn_site.settings",
        "DEBUG": "false",
        "SECRET_KEY": "gunicorn-test-" + "k" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "MARKET_ROOT": str(tmp / "var"),
        "COMFYVN_CONFIG": str(config),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_ACCESSLOG": "",
    }
    log = (tmp / "gunicorn.log").open("wb")
    # The documented command, run from the project root: gunicorn finds
    # gunicorn.conf.py there by itself.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "comfyvn_site.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_DEADLINE
        while True:
            assert proc.poll() is None, (tmp / "gunicorn.log").read_text()
            try:
                if _get(port, "/api/market/keys", timeout=2.0).startswith(
                    b"HTTP/1.1 200"
                ):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp / "gunicorn.log").read_text()
            time.sleep(0.2)
        yield {"port": port, "log": tmp / "gunicorn.log", "root": tmp / "var"}
    finally:
        # The whole process group: the arbiter and its workers.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()


def test_the_config_file_is_picked_up(server):
    text = server["log"].read_text()
    assert "Using worker: gthread" in text
    assert text.count("Booting worker with pid") == 1


def test_a_ninth_client_is_answered_while_eight_are_stuck_mid_headers(server, capsys):
    port = server["port"]
    slow = []
    try:
        for i in range(8):
            conn = socket.create_connection(("127.0.0.1", port), timeout=5.0)
            # A request line and part of a header, then nothing: a thread that
            # picked this connection up now waits for the rest.
            conn.sendall(b"GET /api/market/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow")
            slow.append(conn)
            if i % 2:
                slow.append(socket.create_connection(("127.0.0.1", port), timeout=5.0))
        time.sleep(0.5)
        started = time.monotonic()
        raw = _get(port, "/api/market/keys", timeout=5.0)
        elapsed = time.monotonic() - started
    finally:
        for conn in slow:
            conn.close()
    status, body = _status_and_json(raw)
    assert status == 200
    assert body["ok"] is True
    assert elapsed < 3.0, elapsed
    with capsys.disabled():
        print(f"\n9th client answered in {elapsed * 1000:.1f} ms")


def test_a_script_name_header_cannot_open_the_gate(server):
    """The attack as it was run: a prefix the server strips into SCRIPT_NAME."""
    raw = _post(
        server["port"],
        "/prefix/api/market/install",
        b'{"id": "hello.world"}',
        headers="SCRIPT_NAME: /prefix\r\n",
    )
    status, body = _status_and_json(raw)
    assert status == 403
    assert body["error"]["code"] == "feature_disabled"
    assert body["error"]["details"] == {"flag": "enable_extension_market_uploads"}
    assert not (server["root"] / "extensions").exists()


def test_oversized_request_line_is_refused_by_the_server(server):
    raw = _get(server["port"], "/api/market/keys?" + "a" * 5000)
    assert raw.startswith(b"HTTP/1.1 4")
