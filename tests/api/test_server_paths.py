"""Server-path installs the file system cannot use: one 4xx code, whatever the OSError.

A name too long for the file system, a NUL, a symlink loop, a folder, a FIFO or a
device where the bundle should be, an I/O error: each is ``400 unusable_path`` with
``details.reason`` (and the errno's name), never a 500; the refusal is recorded whole
(one ``LifecycleError`` row, without the path) and nothing is installed or staged.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from django.urls import reverse

from market.errors import UnusablePathError
from market.models import InstalledExtension, LifecycleError, LifecycleEvent
from market.services.sources import source_from_path


def install(api, package: str):
    return api.post(reverse("market-api:install"), {"package": package}, format="json")


def assert_unusable(api, market_root: Path, package: str, reason: str, **more):
    response = install(api, package)
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "unusable_path"
    assert error["details"] == {"reason": reason, **more}
    assert "packages" not in error["message"]
    row = LifecycleError.objects.get()
    assert (row.action, row.code, row.message) == (
        "install",
        "unusable_path",
        error["message"],
    )
    assert row.detail == error["details"]
    assert InstalledExtension.objects.count() == 0
    assert LifecycleEvent.objects.count() == 0
    staging = market_root / "staging"
    assert not staging.exists() or list(staging.iterdir()) == []
    assert not (market_root / "extensions").exists() or not any(
        (market_root / "extensions").iterdir()
    )


def test_final_name_too_long_for_the_file_system(api, package_dir, market_root):
    name = "a" * 300 + ".cvnext"
    assert_unusable(
        api,
        market_root,
        str(package_dir / name),
        "name_too_long",
        errno="ENAMETOOLONG",
    )


def test_whole_path_too_long_for_the_file_system(api, package_dir, market_root):
    # Every segment is short; the whole is over PATH_MAX. The request refuses any
    # path over 4096 characters before the file system sees it ...
    deep = package_dir.joinpath(*["d" * 200] * 25) / "x.cvnext"
    response = install(api, str(deep))
    assert response.status_code == 400
    problems = response.json()["error"]["details"]["problems"]
    assert [(p["path"], p["code"]) for p in problems] == [("package", "max_length")]
    # ... and the service, called directly, refuses it by the file system's answer.
    with pytest.raises(UnusablePathError) as info:
        source_from_path(str(deep))
    assert info.value.details == {"reason": "name_too_long", "errno": "ENAMETOOLONG"}
    assert InstalledExtension.objects.count() == 0


def test_nul_character(api, package_dir, market_root):
    # The request's own validation refuses NUL in any text field ...
    response = install(api, str(package_dir / "a\x00b.cvnext"))
    assert response.status_code == 400
    problems = response.json()["error"]["details"]["problems"]
    assert [(p["path"], p["code"]) for p in problems] == [
        ("package", "null_characters_not_allowed")
    ]
    # ... and so does the service, for callers that are not the API.
    with pytest.raises(UnusablePathError) as info:
        source_from_path(str(package_dir / "a\x00b.cvnext"))
    assert info.value.details == {"reason": "nul_character"}
    assert InstalledExtension.objects.count() == 0


def test_lone_surrogate(api, package_dir, market_root):
    # The JSON parser refuses it (tests/api/test_request_bodies.py); the service, for
    # callers that are not the API, too.
    with pytest.raises(UnusablePathError) as info:
        source_from_path(str(package_dir / "a\ud800.cvnext"))
    assert info.value.details == {"reason": "encoding"}


def test_a_folder_where_the_bundle_should_be(api, package_dir, market_root):
    (package_dir / "dir-1.0.0.cvnext").mkdir()
    assert_unusable(
        api,
        market_root,
        str(package_dir / "dir-1.0.0.cvnext"),
        "not_a_regular_file",
    )


def test_a_symlink_to_a_folder(api, package_dir, market_root):
    (package_dir / "real.cvnext").mkdir()
    (package_dir / "link.cvnext").symlink_to(package_dir / "real.cvnext")
    assert_unusable(
        api, market_root, str(package_dir / "link.cvnext"), "not_a_regular_file"
    )


def test_a_fifo_is_refused_without_being_opened(api, package_dir, market_root):
    fifo = package_dir / "pipe.cvnext"
    os.mkfifo(fifo)  # opening it would block the worker until a writer came
    assert_unusable(api, market_root, str(fifo), "not_a_regular_file")


def test_a_device(api, package_dir, market_root):
    (package_dir / "null.cvnext").symlink_to("/dev/null")
    # /dev/null is outside the package folders once resolved: not even looked at.
    response = install(api, str(package_dir / "null.cvnext"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "path_not_allowed"


def test_a_symlink_loop(api, package_dir, market_root):
    (package_dir / "a.cvnext").symlink_to(package_dir / "b.cvnext")
    (package_dir / "b.cvnext").symlink_to(package_dir / "a.cvnext")
    assert_unusable(
        api, market_root, str(package_dir / "a.cvnext"), "symlink_loop", errno="ELOOP"
    )


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.EACCES, "permission_denied"),
        (errno.EPERM, "permission_denied"),
        (errno.EISDIR, "not_a_regular_file"),
        (errno.EIO, "os_error"),
        (errno.EOVERFLOW, "os_error"),
        (None, "os_error"),
    ],
)
def test_any_other_os_error(api, package_dir, market_root, monkeypatch, code, reason):
    """The class, not a list of errnos: whatever stat raises is a 4xx."""
    real_stat = os.stat
    target = package_dir / "x.cvnext"
    target.write_bytes(b"PK")

    def failing_stat(path, *args, **kwargs):
        if os.fspath(path) == str(target):
            raise OSError(code, "simulated") if code else OSError("simulated")
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", failing_stat)
    more = {"errno": errno.errorcode[code]} if code else {}
    assert_unusable(api, market_root, str(target), reason, **more)


def test_a_missing_bundle_is_still_not_found(api, package_dir, market_root):
    for path in (package_dir / "nope.cvnext", package_dir / "no" / "dir.cvnext"):
        response = install(api, str(path))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    (package_dir / "file").write_text("x")
    response = install(api, str(package_dir / "file" / "below.cvnext"))  # ENOTDIR
    assert response.status_code == 404
    assert InstalledExtension.objects.count() == 0
