"""The catalogue key is made on purpose: ``market_keys create|list|rotate``."""

from __future__ import annotations

import base64
import json
import multiprocessing
import stat
import threading
from io import StringIO
from pathlib import Path

import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.core.management import CommandError, call_command
from django.db import connections
from django.urls import reverse

from market import review, signing
from market.errors import MarketError
from market.manifest import manifest_sha256, parse_signature
from market.models import CatalogEntry, LifecycleError

CONCURRENT = 15
# The key, and the chain folder with its one record (GET snapshot/keys).
KEY_FILES = ["catalog.pem", "catalog.pem.chain"]


def run(*args: str) -> str:
    out = StringIO()
    call_command("market_keys", *args, stdout=out)
    return out.getvalue()


def published(client) -> dict[str, Ed25519PublicKey]:
    body = client.get(reverse("market-api:keys")).json()
    return {
        k["key_id"]: Ed25519PublicKey.from_public_bytes(
            base64.b64decode(k["public_key"])
        )
        for k in body["keys"]
    }


def signature_of(entry: CatalogEntry) -> tuple[str, bytes, str]:
    """``(signed_by, raw signature, signed digest)`` of an entry approved verified."""
    import zipfile

    with zipfile.ZipFile(entry.package.path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    _, raw = parse_signature(manifest["trust"]["signature"])
    return manifest["trust"]["signed_by"], raw, manifest_sha256(manifest)


def test_create_writes_a_private_key_once(settings):
    path = Path(settings.MARKET_SIGNING_KEY_FILE)
    out = run("create")
    key = signing.require_signing_key()
    key_id = signing.key_id_for(key.public_key())
    assert out == f"[ok] created catalogue key {key_id} in {path}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == KEY_FILES
    pem = path.read_bytes()
    with pytest.raises(CommandError, match="signing_key_exists") as info:
        run("create")
    assert "never overwritten" in str(info.value)
    assert path.read_bytes() == pem
    assert sorted(p.name for p in path.parent.iterdir()) == KEY_FILES


def test_list_shows_current_retired_and_configured_keys(settings):
    assert "current  (none)  create it on purpose with" in run("list")
    first = signing.create_signing_key()
    assert run("list").splitlines() == [
        f"current  {first}  {settings.MARKET_SIGNING_KEY_FILE}"
    ]
    out = run("rotate")
    second = signing.key_id_for(signing.require_signing_key().public_key())
    assert out.startswith(f"[ok] rotated catalogue key {first} -> {second};")
    lines = run("list").splitlines()
    assert lines[0] == f"current  {second}  {settings.MARKET_SIGNING_KEY_FILE}"
    assert lines[1].startswith(f"retired  {first}  ")


def test_rotate_needs_a_key():
    with pytest.raises(CommandError, match="signing_key_missing"):
        run("rotate")
    assert signing.load_signing_key() is None


@pytest.mark.django_db(transaction=True)
def test_after_rotation_earlier_signatures_still_verify(
    flags_on, client, build_bundle, make_user
):
    reviewer = make_user("reviewer")
    run("create")

    def submit(version):
        result = build_bundle(
            "sample_toolkit", edit=lambda d: d.update(version=version)
        )
        return review.catalog_entry_submit(bundle_path=result.path)

    before = review.transition(
        entry=submit("1.0.0"), action="approve_verified", actor=reviewer
    )
    run("rotate")
    after = review.transition(
        entry=submit("1.1.0"), action="approve_verified", actor=reviewer
    )
    keys = published(client)
    assert len(keys) == 2
    old_id, old_sig, old_digest = signature_of(before)
    new_id, new_sig, new_digest = signature_of(after)
    assert old_id != new_id and {old_id, new_id} == set(keys)
    keys[old_id].verify(old_sig, bytes.fromhex(old_digest))  # raises if invalid
    keys[new_id].verify(new_sig, bytes.fromhex(new_digest))
    assert signing.verify_digest(old_digest, old_sig, old_id) == old_id
    # a second rotation keeps both earlier keys
    run("rotate")
    assert set(published(client)) > {old_id, new_id}


def test_approval_without_a_key_is_refused_and_makes_none(db, build_bundle, settings):
    entry = review.catalog_entry_submit(bundle_path=build_bundle("sample_toolkit").path)
    with pytest.raises(MarketError) as info:
        review.catalog_entry_approve(entry=entry, trust_level="verified")
    assert info.value.code == "signing_key_missing"
    assert "manage.py market_keys create" in info.value.message
    assert not Path(settings.MARKET_SIGNING_KEY_FILE).exists()
    assert not Path(settings.MARKET_SIGNING_KEY_FILE).parent.exists()
    assert LifecycleError.objects.get().code == "signing_key_missing"
    assert CatalogEntry.objects.get().status == "pending"


def _create_in_child(start, results) -> None:
    start.wait(30)
    try:
        results.put(signing.create_signing_key())
    except MarketError as exc:
        results.put(exc.code)


def test_concurrent_creates_in_processes_leave_exactly_one_key(settings):
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    children = [
        context.Process(target=_create_in_child, args=(start, results))
        for _ in range(CONCURRENT)
    ]
    for child in children:
        child.start()
    start.set()
    outcomes = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=60)
    created = [o for o in outcomes if o.startswith("cvn-")]
    assert len(created) == 1, outcomes
    assert outcomes.count("signing_key_exists") == CONCURRENT - 1
    assert created == [signing.key_id_for(signing.require_signing_key().public_key())]
    folder = Path(settings.MARKET_SIGNING_KEY_FILE).parent
    assert sorted(p.name for p in folder.iterdir()) == KEY_FILES
    [record] = (folder / "catalog.pem.chain").iterdir()
    assert record.stem == signing.key_id_for(signing.require_signing_key().public_key())


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_and_first_approvals_leave_one_key_that_verifies_all(
    flags_on, client, build_bundle, make_user, settings
):
    """Threads race `market_keys create` against first approvals as verified: one key
    is made, approvals before it are refused (never make a key), and every signature
    handed out verifies with a key GET keys lists."""
    reviewer = make_user("reviewer")
    entries = [
        review.catalog_entry_submit(
            bundle_path=build_bundle(
                "sample_toolkit", edit=lambda d, n=n: d.update(version=f"1.0.{n}")
            ).path
        )
        for n in range(CONCURRENT)
    ]
    barrier = threading.Barrier(2 * CONCURRENT)
    created: list[str] = []
    refused: list[str] = []
    approved: list[int] = []
    crashes: list[BaseException] = []

    def create() -> None:
        try:
            barrier.wait(timeout=60)
            created.append(run("create"))
        except CommandError as exc:
            refused.append(str(exc))
        except BaseException as exc:
            crashes.append(exc)

    def approve(entry: CatalogEntry) -> None:
        try:
            barrier.wait(timeout=60)
            review.transition(entry=entry, action="approve_verified", actor=reviewer)
            approved.append(entry.pk)
        except MarketError as exc:
            refused.append(exc.code)
        except BaseException as exc:
            crashes.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create) for _ in range(CONCURRENT)]
    threads += [threading.Thread(target=approve, args=(e,)) for e in entries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not crashes, crashes
    assert len(created) == 1
    assert sum("signing_key_exists" in r for r in refused) == CONCURRENT - 1
    assert all(
        r == "signing_key_missing" or "signing_key_exists" in r for r in refused
    ), refused
    folder = Path(settings.MARKET_SIGNING_KEY_FILE).parent
    assert sorted(p.name for p in folder.iterdir()) == KEY_FILES
    [record] = (folder / "catalog.pem.chain").iterdir()
    assert record.stem == signing.key_id_for(signing.require_signing_key().public_key())
    # the rest are approved now that the key exists
    for entry in CatalogEntry.objects.filter(status="pending"):
        review.transition(entry=entry, action="approve_verified", actor=reviewer)
    keys = published(client)
    assert list(keys) == [
        signing.key_id_for(signing.require_signing_key().public_key())
    ]
    signed = CatalogEntry.objects.filter(status="approved")
    assert signed.count() == CONCURRENT
    for entry in signed:
        key_id, raw, digest = signature_of(entry)
        keys[key_id].verify(raw, bytes.fromhex(digest))  # raises if invalid


def chain(client) -> list[dict]:
    response = client.get(reverse("market-api:snapshot-keys"))
    assert response.status_code == 200
    return response.json()["items"]


def test_the_key_chain_starts_at_create_and_each_rotation_is_signed_by_the_last(
    db, flags_on, client
):
    assert chain(client) == []
    first = run("create").split()[4]
    [root] = chain(client)
    assert root["key_id"] == first and root["signed_by"] is None
    assert root["signature"] is None and root["created_at"].endswith("Z")
    run("rotate")
    run("rotate")
    items = chain(client)
    assert [i["signed_by"] for i in items] == [
        None,
        items[0]["key_id"],
        items[1]["key_id"],
    ]
    current = signing.key_id_for(signing.require_signing_key().public_key())
    assert items[-1]["key_id"] == current
    # A studio that pinned the first key walks the chain to the current one.
    trusted = Ed25519PublicKey.from_public_bytes(base64.b64decode(root["public_key"]))
    for link in items[1:]:
        trusted.verify(
            base64.b64decode(link["signature"]),
            rfc8785.dumps({"key_id": link["key_id"], "public_key": link["public_key"]}),
        )
        trusted = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(link["public_key"])
        )
        assert signing.key_id_for(trusted) == link["key_id"]
    # The records are durable files beside the retired keys.
    folder = Path(signing.chain_dir())
    assert sorted(p.stem for p in folder.glob("*.json")) == sorted(
        i["key_id"] for i in items
    )


def test_a_forged_link_does_not_verify(db, flags_on, client):
    run("create")
    run("rotate")
    root, link = chain(client)
    pinned = Ed25519PublicKey.from_public_bytes(base64.b64decode(root["public_key"]))
    forged = base64.b64encode(
        Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    )
    with pytest.raises(InvalidSignature):
        pinned.verify(
            base64.b64decode(link["signature"]),
            rfc8785.dumps({"key_id": link["key_id"], "public_key": forged.decode()}),
        )


def test_the_snapshot_is_signed_by_the_key_in_service_after_rotation(
    db, flags_on, client
):
    run("create")
    before = client.get(reverse("market-api:snapshot")).json()["snapshot"]["key_id"]
    run("rotate")
    body = client.get(reverse("market-api:snapshot")).json()
    items = chain(client)
    assert body["snapshot"]["key_id"] == items[-1]["key_id"] != before
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(items[-1]["public_key"]))
    key.verify(base64.b64decode(body["signature"]), rfc8785.dumps(body["snapshot"]))


def test_a_rotation_that_stopped_before_its_swap_leaves_no_link(
    db, flags_on, client, monkeypatch
):
    run("create")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    real_write = signing.atomic_write_bytes

    def write(path, data, **kwargs):
        if Path(path) == signing.key_path():
            crash()
        return real_write(path, data, **kwargs)

    monkeypatch.setattr(signing, "atomic_write_bytes", write)
    with pytest.raises(OSError):
        signing.rotate_signing_key()
    monkeypatch.undo()
    assert len(list(signing.chain_dir().glob("*.json"))) == 2  # the orphan is kept
    [root] = chain(client)  # ...but never listed: it signed nothing
    run("rotate")
    items = chain(client)
    assert [i["signed_by"] for i in items] == [None, root["key_id"]]


def test_a_key_made_before_the_chain_becomes_its_first_link(db, flags_on, client):
    run("create")
    for record in signing.chain_dir().glob("*.json"):
        record.unlink()
    [root] = chain(client)
    assert root["signed_by"] is None
    run("rotate")
    items = chain(client)
    assert items[0]["key_id"] == root["key_id"]
    assert items[1]["signed_by"] == root["key_id"]
    assert len(list(signing.chain_dir().glob("*.json"))) == 2
