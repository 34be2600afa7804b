"""The lifecycle record: logfmt lines and stored errors survive hostile values."""

from __future__ import annotations

import json
import re

import pytest

from market.errors import UnsafePathError
from market.lifecycle import logfmt, record_error, server_log_path
from market.models import LifecycleError
from tests.conftest import ANY_ERROR_ID


def parse_logfmt(line: str) -> dict[str, str]:
    """The fields of one logfmt line (values JSON-quoted where needed)."""
    fields = {}
    for key, value in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line):
        fields[key] = json.loads(value) if value.startswith('"') else value
    return fields


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
    exc = RuntimeError("secret path /root/x")
    record_error("uninstall", "a.b.c", exc)
    row = LifecycleError.objects.get()
    assert (row.code, row.message) == ("server_error", "internal error")
    assert row.detail == {"type": "RuntimeError", "error_id": ANY_ERROR_ID}
    # The log keeps what the row leaves out, under the same reference.
    error_id = row.detail["error_id"]
    assert exc.error_id == error_id
    lines = server_log_path().read_text().splitlines()
    assert len(lines) == 2
    fault = parse_logfmt(lines[0])
    assert fault["event"] == "server.error"
    assert fault["error_id"] == error_id
    assert fault["exc_type"] == "RuntimeError"
    assert "RuntimeError: secret path /root/x" in fault["traceback"]
    assert parse_logfmt(lines[1])["error_id"] == error_id


def test_a_broken_setting_is_stored_as_a_reference_only(db, tmp_path):
    from market.errors import ConfigError

    record_error("approve", "a.b.c", ConfigError(f"{tmp_path}/keys/x.pem: unreadable"))
    row = LifecycleError.objects.get()
    assert row.code == "config_invalid"
    assert str(tmp_path) not in row.message
    assert row.detail == {"error_id": ANY_ERROR_ID}
    assert str(tmp_path) in server_log_path().read_text()


def test_stored_messages_and_details_lose_server_paths(db, market_root, tmp_path):
    from market.errors import PackagingError

    target = market_root / "staging" / "x.cvnext"
    exc = PackagingError(
        f"cannot write {target}: Permission denied",
        details={"path": str(target), "other": "/etc/passwd", "entry": "a/b.txt"},
    )
    record_error("approve", "a.b.c", exc)
    row = LifecycleError.objects.get()
    assert row.message == "cannot write <server path>: Permission denied"
    assert row.detail == {
        "path": "<server path>",
        "other": "<server path>",
        "entry": "a/b.txt",
    }
    assert str(target) in server_log_path().read_text()


# -- recording(): one way to store a failed lifecycle action -----------------------


def test_recording_stores_the_failure_outside_the_rolled_back_block(db):
    from django.db import transaction

    from market.errors import NotInstalledError
    from market.lifecycle import record_event, recording
    from market.models import LifecycleEvent

    with (
        pytest.raises(NotInstalledError),
        recording("uninstall", "demo.ext"),
        transaction.atomic(),
    ):
        record_event("uninstall", "demo.ext")  # rolled back with the block
        raise NotInstalledError("demo.ext is not installed", details={"id": "x"})
    assert LifecycleEvent.objects.count() == 0
    row = LifecycleError.objects.get()
    assert (row.action, row.extension_id, row.code) == (
        "uninstall",
        "demo.ext",
        "not_installed",
    )
    assert row.detail == {"id": "x"}
    assert "code=not_installed" in server_log_path().read_text()


def test_recording_uses_the_id_learnt_during_the_action_and_the_actor(
    db, django_user_model
):
    from market.lifecycle import recording

    user = django_user_model.objects.create_user(username="studio")
    with pytest.raises(UnsafePathError), recording("install", actor=user) as rec:
        rec.ext_id = "from.manifest"
        raise UnsafePathError("entry escapes the folder")
    row = LifecycleError.objects.get()
    assert (row.extension_id, row.actor, row.code) == (
        "from.manifest",
        user,
        "unsafe_path",
    )


def test_nested_recordings_store_a_failure_once_where_it_is_known_best(db):
    from market.lifecycle import recording

    with (
        pytest.raises(RuntimeError),
        recording("install", "outer.label"),
        recording("install") as inner,
    ):
        inner.ext_id = "inner.label"
        raise RuntimeError("disk on fire at /srv/secret/path")
    row = LifecycleError.objects.get()
    assert (row.extension_id, row.code, row.message) == (
        "inner.label",
        "server_error",
        "internal error",
    )


def test_recording_stores_nothing_on_success_or_on_interrupts(db):
    from market.lifecycle import recording

    with recording("install", "fine.ext") as rec:
        rec.ext_id = "fine.ext"
    with pytest.raises(KeyboardInterrupt), recording("install", "stopped.ext"):
        raise KeyboardInterrupt
    assert LifecycleError.objects.count() == 0


def test_a_failed_repair_is_recorded_and_stops_the_doctor(db, market_root, monkeypatch):
    from market import doctor
    from market.services.common import ensure

    half = ensure(market_root / "extensions" / "half.done")
    (half / ".market.json").write_text('{"id": "half.done"}')

    def broken(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(doctor, "replace_durably", broken)
    with pytest.raises(PermissionError):
        doctor.market_doctor(fix=True, min_age_seconds=0)
    row = LifecycleError.objects.get()
    assert (row.action, row.extension_id, row.code) == (
        "repair",
        "half.done",
        "server_error",
    )
    assert (half / ".market.json").is_file()  # nothing half done
