"""Small hostile bundles make small refusals: the response, the stored
LifecycleError, the log line and the listing stay under fixed bounds whatever the
manifest repeats, and nothing is left behind."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse

from market.manifest import LIMITS, MAX_PROBLEMS, MAX_WARNINGS
from market.models import CatalogEntry, InstalledExtension, LifecycleError
from tests.api.test_hostile_bundles import assert_nothing_left
from tests.bundles import BASE_MANIFEST, good_entries, write_zip

# The fixed bounds, for a manifest anywhere up to LIMITS.max_bytes.
MAX_RESPONSE_BYTES = 64 * 1024
MAX_ROW_BYTES = 64 * 1024
MAX_LOG_LINE_BYTES = 8 * 1024
MAX_BUNDLE_BYTES = 4 * 1024  # the hostile bundles really are tiny


def manifest_only(path: Path, manifest: dict) -> Path:
    data = json.dumps(manifest, separators=(",", ":")).encode()
    return write_zip(path, [("manifest.json", data)], compression=zipfile.ZIP_DEFLATED)


REPEATED = {
    # inside the byte limit: validated, ~1000 problems listed as 50 + a count
    "unknown_hooks": ({"hooks": ["on_nothing"] * 1000}, "manifest_invalid"),
    "bad_methods": (
        {"routes": [{"path": "/r", "methods": ["FETCH"]}] * 1000},
        "manifest_invalid",
    ),
    "wrong_types": ({"authors": [1] * 1000, "hooks": [2] * 1000}, "manifest_invalid"),
    # past it: refused before parsing, by the manifest's byte limit or (over 1 MiB)
    # the archive's compression-ratio limit
    "hooks_60k": ({"hooks": ["on_nothing"] * 60_000}, "limit_exceeded"),
    "hooks_100k": ({"hooks": ["on_nothing"] * 100_000}, "limit_exceeded"),
    # inside the byte limit, over the list limit
    "wide_list": ({"x": [0] * 100_000}, "limit_exceeded"),
}


def _sizes(response, market_root: Path) -> None:
    assert len(response.content) < MAX_RESPONSE_BYTES
    [row] = LifecycleError.objects.all()
    stored = len(json.dumps(row.detail)) + len(row.message)
    assert stored < MAX_ROW_BYTES
    lines = (market_root / "logs" / "server.log").read_bytes().splitlines()
    assert lines and all(len(line) < MAX_LOG_LINE_BYTES for line in lines)


@pytest.mark.parametrize("case", sorted(REPEATED))
def test_a_tiny_bundle_repeating_a_mistake_gets_a_small_refusal(
    api, package_dir, market_root, case
):
    extra, code = REPEATED[case]
    bundle = manifest_only(package_dir / "rep.cvnext", {**BASE_MANIFEST, **extra})
    assert bundle.stat().st_size < MAX_BUNDLE_BYTES
    response = api.post(
        reverse("market-api:install"), {"package": str(bundle)}, format="json"
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == code
    if code == "manifest_invalid":
        assert len(error["details"]["problems"]) == MAX_PROBLEMS
        assert error["details"]["problem_count"] >= 1000
    else:
        limits = {"hooks_60k": "max_bytes", "wide_list": "max_array_items"}
        if case in limits:
            assert error["details"]["name"] == limits[case]
            assert error["details"]["limit"] == getattr(LIMITS, limits[case])
        assert error["details"]["value"] > error["details"]["limit"]
    _sizes(response, market_root)
    assert_nothing_left(market_root, code)


def test_a_deep_manifest_inside_the_limits_installs(api, package_dir, market_root):
    files = {"main.py": b"print(1)\n"}
    bundle = write_zip(
        package_dir / "deep.cvnext",
        good_entries(files, x=json.loads("[" * 30 + "]" * 30)),
    )
    response = api.post(
        reverse("market-api:install"), {"package": str(bundle)}, format="json"
    )
    assert response.status_code == 200, response.json()


def test_a_repeated_mistake_in_a_submission_gets_a_small_refusal(
    flags_on, token_client, make_user, tmp_path, market_root
):
    modder = make_user("modder", "market.submit_catalogentry")
    bundle = manifest_only(
        tmp_path / "rep.cvnext", {**BASE_MANIFEST, "hooks": ["on_nothing"] * 1000}
    )
    with bundle.open("rb") as fh:
        response = token_client(modder).post(
            reverse("market-api:submissions-list"), {"package": fh}, format="multipart"
        )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["problem_count"] == 1000
    _sizes(response, market_root)
    assert CatalogEntry.objects.count() == 0


def _unknown_keys(count: int) -> dict[str, int]:
    width = LIMITS.max_key_chars
    return {f"x{i:03}".ljust(width, "k"): i for i in range(count)}


def test_unknown_key_warnings_are_capped_everywhere_they_are_kept(
    api, token_client, package_dir, market_root
):
    files = {"main.py": b"print(1)\n"}
    plain = write_zip(package_dir / "plain.cvnext", good_entries(files))
    response = api.post(
        reverse("market-api:install"), {"package": str(plain)}, format="json"
    )
    assert response.status_code == 200
    baseline = len(token_client(None).get(reverse("market-api:list")).content)

    keys = _unknown_keys(LIMITS.max_object_keys - 20)
    noisy = write_zip(
        package_dir / "noisy.cvnext",
        good_entries(files, version="1.0.1", **keys),
    )
    response = api.post(
        reverse("market-api:install"), {"package": str(noisy)}, format="json"
    )
    assert response.status_code == 200, response.json()
    installed = response.json()["installed"]
    assert len(installed["warnings"]) == MAX_WARNINGS
    assert installed["warning_count"] == len(keys)
    row = InstalledExtension.objects.get()
    assert len(row.warnings) == MAX_WARNINGS
    sidecar = json.loads(
        (market_root / "extensions" / row.extension_id / ".market.json").read_text()
    )
    assert len(sidecar["warnings"]) == MAX_WARNINGS
    assert sidecar["warning_count"] == installed["warning_count"]

    listing = token_client(None).get(reverse("market-api:list"))
    # 50 warnings of < 400 bytes each (in "warnings" and in the sidecar), however
    # many the manifest has and however long its keys.
    assert len(listing.content) - baseline < 2 * MAX_WARNINGS * 400
    [entry] = listing.json()["installed"]
    assert entry["warning_count"] == installed["warning_count"]
