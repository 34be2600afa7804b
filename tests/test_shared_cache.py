"""The cache is shared across processes: two gunicorn workers spend one throttle budget.

Runs against the cache named by ``CACHE_URL`` when it is Redis (CI's shared-cache
pass sets ``CACHE_URL=redis://127.0.0.1:6379/<n>`` when a server answers there), else
against a file-based cache, which two workers on one host share the same way.
"""

from __future__ import annotations

import collections
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 4


def test_the_cache_is_the_one_cache_url_names(settings):
    from django.core.cache import cache

    url = os.environ.get("CACHE_URL", "")
    backend = settings.CACHES["default"]["BACKEND"]
    if url.startswith("redis://"):
        assert backend == "django.core.cache.backends.redis.RedisCache"
    else:
        assert backend == "django.core.cache.backends.locmem.LocMemCache"
    cache.set("probe", {"n": 1})
    assert cache.get("probe") == {"n": 1}


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{auth}@{host}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, token: str) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps({"id": "not.in.catalogue"}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.django_db(transaction=True)
def test_two_gunicorn_workers_share_one_throttle_budget(tmp_path, make_user):
    from rest_framework.authtoken.models import Token

    user = make_user("studio", "market.install_extension")
    token = Token.objects.create(user=user).key
    config = tmp_path / "comfyvn.json"
    config.write_text(
        json.dumps(
            {
                "features": {
                    "enable_marketplace": True,
                    "enable_extension_market_uploads": True,
                }
            }
        )
    )
    cache_url = os.environ.get("CACHE_URL", "")
    if not cache_url.startswith("redis://"):
        cache_url = f"filecache://{tmp_path / 'cache'}"
    access_log = tmp_path / "access.log"
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "comfyvn_site.settings",
        "DATABASE_URL": _database_url(),
        "CACHE_URL": cache_url,
        "CACHE_KEY_PREFIX": f"comfyvn-test-{uuid.uuid4().hex}",
        "MARKET_ROOT": str(tmp_path / "var"),
        "COMFYVN_CONFIG": str(config),
        "MARKET_INSTALL_THROTTLE": f"{BUDGET}/min",
        "SECRET_KEY": f"shared-cache-test-{uuid.uuid4().hex}{uuid.uuid4().hex}",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",  # plain HTTP on 127.0.0.1
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "comfyvn_site.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            "%(p)s %(s)s",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/api/market/install"
    try:
        deadline = time.monotonic() + 60
        while server.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        assert server.poll() is None, server.stderr.read().decode()[-2000:]

        statuses: list[int] = []

        def burst() -> None:
            # One request at a time, each on a new connection that either worker
            # may accept. (DRF's throttle reads, then writes its history, so requests
            # arriving at the same instant can each see the budget unspent.)
            for _ in range(6):
                statuses.append(_post(url, token))

        # Until both workers have served enough that separate budgets would have let
        # more than BUDGET requests through (bounded: 10 bursts of 6).
        for _ in range(10):
            burst()
            time.sleep(0.3)  # the access log is written after the response
            per_worker = collections.Counter(
                line.split()[0] for line in access_log.read_text().splitlines()
            )
            if sum(min(n, BUDGET) for n in per_worker.values()) > BUDGET:
                break
        assert len(per_worker) == 2, per_worker
        assert sum(min(n, BUDGET) for n in per_worker.values()) > BUDGET
    finally:
        server.terminate()
        server.wait(timeout=30)
    counted = collections.Counter(statuses)
    # Refused in the view (no such catalogue entry) but counted by the throttle: one
    # budget across both workers, the rest throttled.
    assert counted == {404: BUDGET, 429: len(statuses) - BUDGET}
