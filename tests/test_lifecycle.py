"""The lifecycle record: logfmt lines and stored errors survive hostile values."""

from __future__ import annotations

from market.errors import UnsafePathError
from market.lifecycle import logfmt, record_error, server_log_path
from market.models import LifecycleError


def test_logfmt_quotes_only_what_needs_it_and_drops_none():
    line = logfmt(
        {
            "event": "market.install",
            "extension_id": "sample.toolkit",
            "message": 'say "hi"\nevent=market.uninstall',
            "actor": None,
        }
    )
    assert line == (
        "event=market.install extension_id=sample.toolkit "
        'message="say \\"hi\\"\\nevent=market.uninstall"'
    )
    assert "\n" not in line


def test_error_with_nul_and_newlines_is_stored_and_logged_on_one_line(db):
    exc = UnsafePathError(
        "unsafe entry name", details={"entry": "a\x00b\nevent=market.install"}
    )
    stored = record_error("install", "x\x00y", exc)
    assert stored is not None
    row = LifecycleError.objects.get()
    assert row.code == "unsafe_path"
    assert row.detail == {"entry": "a\\x00b\nevent=market.install"}
    lines = server_log_path().read_text().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("event=market.install.error ")
    assert "code=unsafe_path" in lines[0]


def test_unexpected_exceptions_are_stored_without_their_text(db):
    record_error("uninstall", "a.b.c", RuntimeError("secret path /root/x"))
    row = LifecycleError.objects.get()
    assert (row.code, row.message) == ("server_error", "internal error")
    assert row.detail == {"type": "RuntimeError"}
