"""Two servers at once over real HTTP on 127.0.0.1: a central marketplace (gunicorn,
PostgreSQL, its own MARKET_ROOT) where a bundle is approved and yanked, and a studio
(this test process, SQLite, its own MARKET_ROOT) that syncs from it and installs.

The central side is driven as an operator would: ``manage.py`` commands in its own
environment. PostgreSQL is the one the project uses for its other servers tests
(``DATABASE_URL`` host, database ``studio``, recreated here).
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

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from market.models import CatalogEntry, InstalledExtension, LifecycleError

ROOT = Path(__file__).resolve().parents[2]
PG = os.environ.get("CENTRAL_PG", "postgres://postgres@127.0.0.1:5432")
DB = "studio"
START_DEADLINE = 30.0

pytestmark = pytest.mark.server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Central:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "var"
        config = tmp / "comfyvn.json"
        config.write_text(json.dumps({"features": {"enable_marketplace": True}}))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "comfyvn_site.settings",
            "DEBUG": "false",
            "SECRET_KEY": "central-test-" + "k" * 50,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": f"{PG}/{DB}",
            "MARKET_ROOT": str(self.root),
            "COMFYVN_CONFIG": str(config),
            "MARKET_PACKAGE_DIRS": str(tmp / "packages"),
            "WEB_CONCURRENCY": "1",
            "GUNICORN_ACCESSLOG": "",
            "CACHE_URL": "locmemcache://",
        }
        (tmp / "packages").mkdir()

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def shell(self, code: str) -> str:
        return self.manage("shell", "-c", code)

    def publish(self, bundle: Path, trust: str = "verified") -> None:
        self.shell(
            "from pathlib import Path\n"
            "from market import review\n"
            f"e = review.catalog_entry_submit(bundle_path=Path({str(bundle)!r}))\n"
            f"review.catalog_entry_approve(entry=e, trust_level={trust!r})\n"
        )

    def yank(self, ext_id: str, version: str, reason: str) -> None:
        self.shell(
            "from market import review\n"
            "from market.models import CatalogEntry\n"
            f"e = CatalogEntry.objects.get(extension_id={ext_id!r}, "
            f"version={version!r})\n"
            f"review.catalog_entry_yank(entry=e, reviewer=None, reason={reason!r})\n"
        )

    def stored_bundle(self, ext_id: str) -> Path:
        [path] = (self.root / "catalog" / "bundles" / ext_id).glob("*.cvnext")
        return path


@pytest.fixture(scope="module")
def central(tmp_path_factory) -> Iterator[Central]:
    server = Central(tmp_path_factory.mktemp("central"))
    for tool in ("dropdb", "createdb"):
        extra = ["--if-exists"] if tool == "dropdb" else []
        subprocess.run(
            [tool, *extra, "-h", "127.0.0.1", "-U", "postgres", DB],
            check=True,
            capture_output=True,
        )
    server.manage("migrate", "--no-input", "-v", "0")
    server.manage("market_keys", "create")
    log = (server.tmp / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "comfyvn_site.wsgi",
            "--bind",
            f"127.0.0.1:{server.port}",
        ],
        cwd=ROOT,
        env=server.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_DEADLINE
        while True:
            assert proc.poll() is None, (server.tmp / "gunicorn.log").read_text()
            try:
                if (
                    httpx.get(server.url + "/api/market/snapshot/keys").status_code
                    == 200
                ):
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (
                server.tmp / "gunicorn.log"
            ).read_text()
            time.sleep(0.2)
        yield server
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()


@pytest.fixture
def studio(settings, central):
    """This process as the studio, pinning the central server's key."""
    keys = httpx.get(central.url + "/api/market/snapshot/keys").json()["items"]
    settings.MARKET_UPSTREAM_URL = central.url
    settings.MARKET_UPSTREAM_KEYS = {k["key_id"]: k["public_key"] for k in keys}
    settings.MARKET_UPSTREAM_SYNC_AFTER = 0
    return central


def _bundle(build_bundle, ext_id, version):
    def edit(data):
        data.update(id=ext_id, version=version, name=f"{ext_id} {version}")

    return build_bundle("hello_minimal", edit=edit).path


def _install(api, ext_id, **extra):
    return api.post(
        reverse("market-api:install"), {"id": ext_id, **extra}, format="json"
    )


def _list(api):
    return json.loads(api.get(reverse("market-api:list")).content)


def test_approve_sync_install_verified_uninstall_then_yank(api, studio, build_bundle):
    studio.publish(_bundle(build_bundle, "two.hello", "1.0.0"))
    call_command("market_sync")
    [item] = [i for i in _list(api)["catalog"] if i["id"] == "two.hello"]
    assert item["source"] == "upstream" and item["trust"] == "verified"

    response = _install(api, "two.hello")
    assert response.status_code == 200, response.content
    row = InstalledExtension.objects.get(extension_id="two.hello")
    assert row.trust_level == "verified"
    assert row.sidecar["trust"]["proof"].startswith("upstream:cvn-")
    assert (Path(api_root()) / "extensions" / "two.hello").is_dir()

    response = api.post(
        reverse("market-api:uninstall"), {"id": "two.hello"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert not (Path(api_root()) / "extensions" / "two.hello").exists()

    assert _install(api, "two.hello").status_code == 200
    studio.yank("two.hello", "1.0.0", "corrupts saves")
    call_command("market_sync")
    payload = _list(api)
    assert "two.hello" not in [i["id"] for i in payload["catalog"]]
    [installed] = [i for i in payload["installed"] if i["id"] == "two.hello"]
    assert installed["yanked"]["reason"] == "corrupts saves"
    entry = CatalogEntry.objects.get(extension_id="two.hello", source="upstream")
    assert entry.status == "yanked"


def test_bundle_changed_on_central_after_approval_installs_nothing(
    api, studio, build_bundle
):
    studio.publish(_bundle(build_bundle, "two.swapped", "1.0.0"))
    call_command("market_sync")
    stored = studio.stored_bundle("two.swapped")
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    response = _install(api, "two.swapped")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "content_mismatch"
    assert not InstalledExtension.objects.filter(extension_id="two.swapped").exists()
    assert LifecycleError.objects.filter(
        code="content_mismatch", extension_id="two.swapped"
    ).exists()


def test_replayed_snapshot_from_central_is_rollback(
    api, studio, build_bundle, settings
):
    studio.publish(_bundle(build_bundle, "two.replay", "1.0.0"))
    old = httpx.get(studio.url + "/api/market/snapshot").content
    studio.publish(_bundle(build_bundle, "two.replay", "1.1.0"))
    call_command("market_sync")
    # A man in the middle answers with the older (validly signed) document.
    from tests.upstream.central import FakeCentral

    proxy = FakeCentral()
    try:
        proxy.serve("/api/market/snapshot", old)
        from market.upstream import state

        rev = state.current().revision
        proxy.serve(f"/api/market/snapshot?since={rev}", old)
        settings.MARKET_UPSTREAM_URL = proxy.url
        with pytest.raises(CommandError, match="snapshot_rollback"):
            call_command("market_sync")
    finally:
        proxy.close()
    newest = CatalogEntry.objects.get(extension_id="two.replay", is_latest=True)
    assert newest.version == "1.1.0"


def api_root():
    from market.conf import market_conf

    return market_conf().root


def test_central_key_rotation_is_followed_once(api, studio, build_bundle):
    """Last in this module: the central key changes for good."""
    from market.models import UpstreamKey

    call_command("market_sync")
    studio.manage("market_keys", "rotate")
    studio.publish(_bundle(build_bundle, "two.rotated", "1.0.0"))
    call_command("market_sync")
    [accepted] = UpstreamKey.objects.all()
    from market.upstream import state

    assert state.current().key_id == accepted.key_id
    response = _install(api, "two.rotated")
    assert response.status_code == 200, response.content
    proof = InstalledExtension.objects.get(extension_id="two.rotated").sidecar["trust"]
    assert proof["proof"] == f"upstream:{accepted.key_id}"
    call_command("market_sync")
    assert UpstreamKey.objects.count() == 1
