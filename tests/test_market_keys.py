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
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management import CommandError, call_command
from django.db import connections
from django.urls import reverse

from market import review, signing
from market.errors import MarketError
from market.manifest import manifest_sha256, parse_signature
from market.models import CatalogEntry, LifecycleError

CONCURRENT = 15


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
    assert sorted(p.name for p in path.parent.iterdir()) == ["catalog.pem"]
    pem = path.read_bytes()
    with pytest.raises(CommandError, match="signing_key_exists") as info:
        run("create")
    assert "never overwritten" in str(info.value)
    assert path.read_bytes() == pem
    assert sorted(p.name for p in path.parent.iterdir()) == ["catalog.pem"]


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
    assert sorted(p.name for p in folder.iterdir()) == ["catalog.pem"]


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
    assert sorted(p.name for p in folder.iterdir()) == ["catalog.pem"]
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
