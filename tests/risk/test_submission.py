"""Risk signals are computed at submission and stored in the entry's report."""

from __future__ import annotations

import json
import zipfile
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from market import review
from market.models import CatalogEntry


def _code_change(src):
    (src / "hello.py").write_text(
        "import subprocess\n\n\ndef hello(request):\n    return {}\n"
    )


def test_submission_stores_risk(db, build_bundle, sample_src, package_dir):
    clean = review.catalog_entry_submit(bundle_path=build_bundle("hello_minimal").path)
    assert clean.report["risk"] == {
        "score": 0,
        "total": 0,
        "counts": {"info": 0, "low": 0, "medium": 0, "high": 0},
        "findings": [],
    }


def test_submission_compares_with_the_last_approved_version(
    db, build_bundle, sample_src, package_dir
):
    from market.packaging import build_package

    first = review.catalog_entry_submit(bundle_path=build_bundle("hello_minimal").path)
    review.catalog_entry_approve(entry=first)
    src = sample_src("hello_minimal")
    data = json.loads((src / "manifest.json").read_text())
    data["version"] = "2.0.0"
    data["permissions"] = [{"scope": "assets.write"}]
    (src / "manifest.json").write_text(json.dumps(data, indent=2))
    _code_change(src)
    bundle = build_package(src, package_dir, force=True).path
    with zipfile.ZipFile(bundle) as zf:
        shipped = zf.read("manifest.json").decode().splitlines()
    line = next(i for i, t in enumerate(shipped, 1) if '"assets.write"' in t)
    second = review.catalog_entry_submit(bundle_path=bundle)
    findings = second.report["risk"]["findings"]
    assert {(f["code"], f["file"], f["line"]) for f in findings} == {
        ("sensitive_permission", "manifest.json", line),
        ("new_permission", "manifest.json", line),
        ("unjustified_permission", "manifest.json", line),
        ("process_exec", "hello.py", 1),
    }
    assert second.report["risk"]["score"] == 30


def test_backfill_fills_missing_risk_only(db, build_bundle):
    entry = review.catalog_entry_submit(bundle_path=build_bundle("hello_minimal").path)
    stored = entry.report["risk"]
    report = {k: v for k, v in entry.report.items() if k != "risk"}
    CatalogEntry.objects.filter(pk=entry.pk).update(report=report)
    out = StringIO()
    call_command("market_risk", stdout=out)
    entry.refresh_from_db()
    assert entry.report == {**report, "risk": stored}
    assert "scanned 1 entries, 0 failed" in out.getvalue()
    out = StringIO()
    call_command("market_risk", stdout=out)
    assert "scanned 0 entries" in out.getvalue()


def test_backfill_reports_a_missing_bundle(db, build_bundle):
    entry = review.catalog_entry_submit(bundle_path=build_bundle("hello_minimal").path)
    entry.package.storage.delete(entry.package.name)
    CatalogEntry.objects.filter(pk=entry.pk).update(report={})
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("market_risk", "--all", stdout=StringIO(), stderr=err)
    assert "not scanned" in err.getvalue()
