"""Shared fixtures: an isolated MARKET_ROOT per test, flags, users and bundles."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path

import pytest

from market import durable, flags

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "extensions"


class _ErrorId:
    """Equal to any reference id (16 hex digits) the server hands out for a 500."""

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, str) and re.fullmatch(r"[0-9a-f]{16}", other) is not None
        )

    def __repr__(self) -> str:
        return "<any error_id>"


ANY_ERROR_ID = _ErrorId()
# What a client sees of any unexpected failure: a reference id, nothing else.
SERVER_ERROR = {
    "ok": False,
    "error": {
        "code": "server_error",
        "message": "internal server error",
        "details": {"error_id": ANY_ERROR_ID},
    },
}


@pytest.fixture(autouse=True)
def market_root(tmp_path: Path, settings) -> Path:
    """Every test gets its own runtime folder and config file."""
    root = tmp_path / "var"
    settings.MARKET_ROOT = root
    settings.COMFYVN_CONFIG = tmp_path / "config" / "comfyvn.json"
    settings.MARKET_PACKAGE_DIRS = [root / "packages"]
    settings.MARKET_SIGNING_KEY_FILE = root / "keys" / "catalog.pem"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "market.storage.DurableFileSystemStorage",
            "OPTIONS": {"location": str(root / "catalog")},
        },
    }
    flags.refresh_cache()
    yield root
    flags.refresh_cache()


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    """Every test starts with an empty cache: a rolled-back database returns to the
    same catalogue revision, and a body cached by an earlier test must not answer.

    On Redis (``CACHE_URL=redis://...``, a server other programs may share) nothing is
    flushed: each test writes under its own key prefix, and removes only its keys.
    """
    from django.core.cache import cache

    default = settings.CACHES["default"]
    if not default["BACKEND"].endswith("RedisCache"):
        cache.clear()
        yield
        cache.clear()
        return
    prefix = f"comfyvn-test-{uuid.uuid4().hex}"
    settings.CACHES = {**settings.CACHES, "default": {**default, "KEY_PREFIX": prefix}}
    yield
    client = cache._cache.get_client(write=True)
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)


def write_config(settings, features: dict) -> None:
    path = Path(settings.COMFYVN_CONFIG)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"features": features}))
    flags.refresh_cache()


@pytest.fixture
def flags_on(settings) -> None:
    write_config(
        settings,
        {"enable_marketplace": True, "enable_extension_market_uploads": True},
    )


@pytest.fixture
def catalog_key(market_root: Path) -> str:
    """The catalogue's signing key, created on purpose (as `market_keys create`
    does): approving as verified without one is refused. Its key id."""
    from market import signing

    return signing.create_signing_key()


@pytest.fixture
def sample_src(tmp_path: Path):
    """Copy a sample extension source tree so a test may change it."""

    copies = iter(range(1_000_000))

    def copy(name: str) -> Path:
        dst = tmp_path / f"src{next(copies)}" / name
        shutil.copytree(FIXTURES / name, dst)
        return dst

    return copy


@pytest.fixture
def package_dir(market_root: Path) -> Path:
    path = market_root / "packages"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def build_bundle(sample_src, package_dir):
    """Package a sample (its manifest optionally edited) into MARKET_PACKAGE_DIRS."""
    from market.packaging import build_package

    def build(name: str = "hello_minimal", edit=None, **opts):
        src = sample_src(name)
        if edit is not None:
            manifest_path = src / "manifest.json"
            data = json.loads(manifest_path.read_text())
            edit(data)
            manifest_path.write_text(json.dumps(data))
        return build_package(src, package_dir, force=True, **opts)

    return build


@pytest.fixture
def make_user(db, django_user_model):
    from django.contrib.auth.models import Permission

    def make(username: str, *perms: str, staff: bool = False, superuser: bool = False):
        user = django_user_model.objects.create_user(
            username=username,
            password="pw-" + username,
            is_staff=staff or superuser,
            is_superuser=superuser,
        )
        for perm in perms:
            app, codename = perm.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app, codename=codename)
            )
        return django_user_model.objects.get(pk=user.pk)

    return make


@pytest.fixture
def token_client(db):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return client_for


@pytest.fixture
def installer(make_user):
    return make_user(
        "installer", "market.install_extension", "market.uninstall_extension"
    )


@pytest.fixture
def api(transactional_db, token_client, installer, flags_on):
    """A token-authenticated client of a user allowed to install and uninstall.

    Transactional, so ``on_commit`` work (log lines, trash removal) really runs.
    """
    return token_client(installer)


@pytest.fixture(params=["volume", "per_file"])
def tree_sync(request, monkeypatch) -> str:
    """Extracted trees flushed by one sync of the volume (Linux), or file by file
    (elsewhere)."""
    if request.param == "volume" and not durable.volume_sync_available():
        pytest.fail("this Linux C library has no syncfs/sync_file_range")
    monkeypatch.setattr(durable, "VOLUME_SYNC", request.param == "volume")
    monkeypatch.setattr(durable, "VOLUME_SYNC_MIN_FILES", 0)  # however small
    return request.param
