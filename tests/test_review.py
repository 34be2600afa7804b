"""Review decisions: approve (verified: signed and re-packed), reject, delist."""

from __future__ import annotations

import base64
import json
import os
import zipfile
from pathlib import Path

import pytest

from market import review, selectors, signing
from market.errors import MarketError
from market.manifest import manifest_sha256, parse_signature
from market.models import CatalogEntry, LifecycleError, LifecycleEvent
from market.services import InstallSource, extension_install
from tests.bundles import good_entries, write_zip

# Approving as verified needs the catalogue key, made on purpose.
pytestmark = pytest.mark.usefixtures("catalog_key")


def entries_of(path):
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


@pytest.mark.django_db(transaction=True)
def test_approve_verified_signs_and_repacks(build_bundle, make_user):
    modder = make_user("modder")
    reviewer = make_user("reviewer")
    result = build_bundle("sample_toolkit")
    entry = review.catalog_entry_submit(bundle_path=result.path, actor=modder)
    submitted = entries_of(entry.package.path)
    old_path = entry.package.path

    approved = review.catalog_entry_approve(
        entry=entry, reviewer=reviewer, trust_level="verified"
    )
    assert approved.status == "approved" and approved.trust_level == "verified"
    assert approved.is_latest
    assert approved.package_sha256 != result.sha256
    assert approved.report["submitted_sha256"] == result.sha256
    shipped = entries_of(approved.package.path)
    # every file the reviewer saw, byte for byte; only the manifest changed
    assert {k: v for k, v in shipped.items() if k != "manifest.json"} == {
        k: v for k, v in submitted.items() if k != "manifest.json"
    }
    manifest = json.loads(shipped["manifest.json"])
    trust = manifest["trust"]
    key = signing.load_signing_key()
    assert trust["level"] == "verified"
    assert trust["signed_by"] == signing.key_id_for(key.public_key())
    assert trust["signature_type"] == "ed25519"
    assert trust["verified_at"]
    digest = manifest_sha256(manifest)
    assert digest == approved.manifest_sha256
    algorithm, raw = parse_signature(trust["signature"])
    assert algorithm == "ed25519"
    key.public_key().verify(raw, bytes.fromhex(digest))  # raises if invalid
    assert base64.b64decode(trust["signature"].split(":", 1)[1]) == raw
    # the unsigned submission is gone from storage; the catalogue serves the signed one
    assert not os.path.exists(old_path)
    card = selectors.catalog_entry_payload(approved)
    assert card["manifest_summary"]["trust"]["signature_type"] == "ed25519"

    # installing the catalogue bundle is verified, by the catalogue and the signature
    row = extension_install(
        source=InstallSource("path", approved.package.path, "signed.cvnext")
    )
    assert row.trust_level == "verified"
    assert LifecycleEvent.objects.filter(action="approve").count() == 1


@pytest.mark.django_db(transaction=True)
def test_signed_bundle_is_verified_even_outside_this_catalogue(
    build_bundle, make_user, tmp_path, package_dir
):
    result = build_bundle("sample_toolkit")
    entry = review.catalog_entry_submit(bundle_path=result.path)
    approved = review.catalog_entry_approve(entry=entry, trust_level="verified")
    copy = package_dir / "copied.cvnext"
    copy.write_bytes(Path(approved.package.path).read_bytes())
    CatalogEntry.objects.all().delete()  # only the signature can prove it now
    row = extension_install(source=InstallSource("path", copy, copy.name))
    assert row.trust_level == "verified"
    assert row.sidecar["trust"]["proof"].startswith("ed25519:")


def test_reviewer_cannot_approve_own_bundle(db, build_bundle, make_user):
    modder = make_user("modder")
    entry = review.catalog_entry_submit(
        bundle_path=build_bundle("sample_toolkit").path, actor=modder
    )
    for attempt, level in enumerate(("verified", "unverified"), start=1):
        with pytest.raises(MarketError) as info:
            review.catalog_entry_approve(
                entry=entry, reviewer=modder, trust_level=level
            )
        assert info.value.code == "review_refused"
        # each refusal is recorded exactly once
        assert LifecycleError.objects.filter(action="approve").count() == attempt
    entry.refresh_from_db()
    assert entry.status == "pending"


def test_unverified_approval_refuses_a_bundle_claiming_verified(db, build_bundle):
    entry = review.catalog_entry_submit(bundle_path=build_bundle("sample_toolkit").path)
    with pytest.raises(MarketError) as info:
        review.catalog_entry_approve(entry=entry, trust_level="unverified")
    assert info.value.code == "review_refused"


def test_bundle_with_files_the_packager_skips_cannot_be_signed(db, package_dir):
    files = {"main.py": b"print(1)\n", "cache/x.pyc": b"\0\0"}
    bundle = write_zip(package_dir / "odd.cvnext", good_entries(files))
    entry = review.catalog_entry_submit(bundle_path=bundle)
    with pytest.raises(MarketError) as info:
        review.catalog_entry_approve(entry=entry, trust_level="verified")
    assert info.value.code == "review_refused"
    assert info.value.details["files"] == ["cache/x.pyc"]
    entry.refresh_from_db()
    assert entry.status == "pending"


def test_reject_needs_a_reason_and_delist_hides(db, build_bundle):
    entry = review.catalog_entry_submit(bundle_path=build_bundle("hello_minimal").path)
    with pytest.raises(MarketError):
        review.catalog_entry_reject(entry=entry, reviewer=None, reason="  ")
    approved = review.catalog_entry_approve(entry=entry, trust_level="unverified")
    assert [e.extension_id for e in selectors.catalog_queryset()] == ["hello.minimal"]
    review.catalog_entry_delist(entry=approved, reviewer=None, reason="abandoned")
    assert list(selectors.catalog_queryset()) == []
    approved.refresh_from_db()
    assert approved.is_latest is False


def test_newest_approved_version_is_the_default(db, build_bundle):
    def version(v):
        def edit(data):
            data["version"] = v

        return edit

    for v in ("1.10.0", "1.9.0", "1.10.0-rc.1"):
        e = review.catalog_entry_submit(
            bundle_path=build_bundle("hello_minimal", edit=version(v)).path
        )
        review.catalog_entry_approve(entry=e, trust_level="unverified")
    [latest] = selectors.catalog_queryset()
    assert latest.version == "1.10.0"


@pytest.mark.django_db(transaction=True)  # the submitted file goes after the commit
def test_catalogue_bundles_are_stored_under_one_folder_per_id(build_bundle):
    entry = review.catalog_entry_submit(bundle_path=build_bundle("sample_toolkit").path)
    assert entry.package.name.startswith("bundles/sample.toolkit/")
    approved = review.catalog_entry_approve(entry=entry, trust_level="verified")
    assert approved.package.name.startswith("bundles/sample.toolkit/")
    folder = Path(approved.package.path).parent
    assert [p.name for p in folder.iterdir()] == [Path(approved.package.name).name]


@pytest.mark.django_db(transaction=True)
def test_delisting_revokes_a_signed_bundle(build_bundle, package_dir):
    result = build_bundle("sample_toolkit")
    entry = review.catalog_entry_submit(bundle_path=result.path)
    approved = review.catalog_entry_approve(entry=entry, trust_level="verified")
    copy = package_dir / "signed-copy.cvnext"
    copy.write_bytes(Path(approved.package.path).read_bytes())
    review.catalog_entry_delist(entry=approved, reviewer=None, reason="key leaked")
    with pytest.raises(MarketError) as info:
        extension_install(source=InstallSource("path", copy, copy.name))
    assert info.value.code == "trust_unproven"
    assert info.value.details["reason"] == "delisted"
