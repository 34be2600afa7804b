"""``market_submit`` and ``market_status``: publishing from the command line, over HTTP
against a live server, and every refusal with the server's own error code."""

from __future__ import annotations

import io
import json
import shutil
import socket
import zipfile
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from market import review
from market.client import ClientConfig, MarketClient, RemoteError, load_config
from market.models import CatalogEntry
from tests.conftest import write_config

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "extensions"
HEX = "[0-9a-f]{64}"


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def modder(make_user, monkeypatch, tmp_path):
    user = make_user("mia", "market.submit_catalogentry")
    token, _ = Token.objects.get_or_create(user=user)
    # No stray config from the machine running the tests.
    monkeypatch.setenv("COMFYVN_MARKET_CONFIG", str(tmp_path / "no-config.json"))
    monkeypatch.setenv("COMFYVN_MARKET_TOKEN", token.key)
    monkeypatch.delenv("COMFYVN_MARKET_SERVER", raising=False)
    return user


@pytest.fixture
def server(live_server, flags_on, modder) -> str:
    return live_server.url


def hello_copy(tmp_path: Path) -> Path:
    src = tmp_path / "src" / "hello_minimal"
    shutil.copytree(FIXTURES / "hello_minimal", src)
    return src


def test_submit_a_folder_then_follow_its_review(server, modder, make_user, tmp_path):
    src = hello_copy(tmp_path)
    code, out, err = run("market_submit", str(src), "--server", server)
    assert (code, err) == (0, "")
    entry = CatalogEntry.objects.get()
    assert entry.status == "pending" and entry.submitted_by == modder
    assert out.splitlines() == [
        f"[ok] packaged hello.minimal 0.1.0 sha256={entry.package_sha256}",
        f"[ok] submitted hello.minimal 0.1.0 (submission {entry.pk}): pending",
        f"      sha256={entry.package_sha256} manifest_sha256={entry.manifest_sha256}",
        f"      report: {server}/api/market/submissions/{entry.pk}/",
        f"      follow it: manage.py market_status {entry.pk}",
    ]
    # The report link is the submission itself, for the submitter's token.
    report = httpx.get(
        f"{server}/api/market/submissions/{entry.pk}/",
        headers={"Authorization": f"Token {Token.objects.get(user=modder).key}"},
    ).json()
    assert report["id"] == entry.pk and report["status"] == "pending"

    reviewer = make_user("rita", "market.review_catalogentry")
    review.catalog_entry_reject(
        entry=entry, reviewer=reviewer, reason="Please add a summary line."
    )
    code, out, _ = run("market_status", "--server", server)
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == [
        "ID",
        "EXTENSION_ID",
        "VERSION",
        "STATUS",
        "SUBMITTED_AT",
        "REASON",
    ]
    assert row.split()[:4] == [str(entry.pk), "hello.minimal", "0.1.0", "rejected"]
    assert row.endswith("Please add a summary line.")
    code, out, _ = run("market_status", str(entry.pk), "--server", server)
    assert out.splitlines()[:2] == [
        f"hello.minimal 0.1.0 (submission {entry.pk}): rejected",
        "      reason: Please add a summary line.",
    ]
    payload = json.loads(run("market_status", "--server", server, "--json")[1])
    assert payload["count"] == 1
    assert payload["items"][0]["review_reason"] == "Please add a summary line."


def test_submit_a_bundle_prints_report_warnings_and_json(server, build_bundle):
    bundle = build_bundle("sample_toolkit")
    code, out, err = run(
        "market_submit", str(bundle.path), "--server", server, "--json"
    )
    assert code == 0 and err == ""
    payload = json.loads(out)
    entry = CatalogEntry.objects.get()
    assert payload["submission"]["id"] == entry.pk
    assert payload["submission"]["package_sha256"] == bundle.sha256
    assert payload["report_url"] == f"{payload['report_url'].split('/api/')[0]}" + (
        f"/api/market/submissions/{entry.pk}/"
    )
    # The text form shows the report's warnings on stderr, as `package` does.
    entry.delete()
    code, out, err = run("market_submit", str(bundle.path), "--server", server)
    assert code == 0
    assert "[warn] trust.level: claims verified without proof" in err


def test_the_server_error_code_is_printed_and_sets_the_exit_status(
    server, build_bundle, tmp_path
):
    bundle = build_bundle("hello_minimal")
    assert run("market_submit", str(bundle.path), "--server", server)[0] == 0
    code, out, err = run("market_submit", str(bundle.path), "--server", server)
    assert (code, out) == (1, "")
    assert err.startswith("[error] version_exists: ")
    code, out, _ = run("market_submit", str(bundle.path), "--server", server, "--json")
    assert code == 1
    assert json.loads(out)["error"]["code"] == "version_exists"

    # A bundle the packager would refuse, hand-made: the server lists every problem.
    bad = tmp_path / "bad.cvnext"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"id": "Bad", "version": "1"}))
    code, out, err = run("market_submit", str(bad), "--server", server)
    assert code == 65
    lines = err.splitlines()
    assert lines[0].startswith("[error] manifest_invalid: ")
    assert "  id: 'Bad' must be 3-64 characters" in err
    assert "[invalid_version]" in err
    assert CatalogEntry.objects.count() == 1


def test_a_folder_with_a_broken_manifest_stops_before_uploading(server, tmp_path):
    src = hello_copy(tmp_path)
    data = json.loads((src / "manifest.json").read_text())
    data["hooks"] = ["on_scene_exit"]
    (src / "manifest.json").write_text(json.dumps(data))
    code, out, err = run("market_submit", str(src), "--server", server)
    assert (code, out) == (65, "")
    assert "did you mean 'on_scene_enter'?" in err
    assert CatalogEntry.objects.count() == 0


def test_tokens_and_servers_that_do_not_work(server, monkeypatch, settings, tmp_path):
    bundle = str(hello_copy(tmp_path))
    monkeypatch.setenv("COMFYVN_MARKET_TOKEN", "0" * 40)
    code, _, err = run("market_submit", bundle, "--server", server)
    assert code == 1
    assert err.startswith("[error] not_authenticated: ")
    assert "(token from COMFYVN_MARKET_TOKEN)" in err
    monkeypatch.delenv("COMFYVN_MARKET_TOKEN")
    code, _, err = run("market_submit", bundle, "--server", server)
    assert code == 1 and err.startswith("[error] config_invalid: no API token")
    assert "market_user create NAME --role modder" in err
    code, _, err = run("market_status", "--server", "ftp://example.org")
    assert code == 1 and "must be an http(s) URL" in err

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("COMFYVN_MARKET_TOKEN", "x")
    code, _, err = run("market_status", "--server", closed)
    assert code == 1 and err.startswith(
        f"[error] server_unreachable: cannot reach {closed}/"
    )

    write_config(settings, {"enable_marketplace": True})  # uploads off
    monkeypatch.setenv("COMFYVN_MARKET_TOKEN", Token.objects.get().key)
    code, _, err = run("market_submit", bundle, "--server", server)
    assert code == 1
    assert err.startswith("[error] feature_disabled: ")
    assert CatalogEntry.objects.count() == 0


def test_config_file_supplies_server_and_token_and_must_be_private(
    server, monkeypatch, tmp_path
):
    key = Token.objects.get().key
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"server": server, "token": key}))
    config.chmod(0o600)
    monkeypatch.setenv("COMFYVN_MARKET_CONFIG", str(config))
    monkeypatch.delenv("COMFYVN_MARKET_TOKEN")
    code, out, err = run("market_status")
    assert (code, out, err) == (0, "no submissions yet\n", "")
    config.chmod(0o644)
    code, out, err = run("market_status")
    assert code == 0
    assert err == (
        f"[warn] {config} holds a token and is readable by other users; "
        f"run: chmod 600 {config}\n"
    )
    config.write_text("{nope")
    code, _, err = run("market_status")
    assert code == 1 and err.startswith("[error] config_invalid: the config file ")


def test_client_explains_answers_that_are_not_the_marketplace():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>Bad Gateway</html>")

    config = ClientConfig(server="http://proxy.test/", token="t", token_source="test")
    client = MarketClient(config, transport=httpx.MockTransport(handler))
    with client, pytest.raises(RemoteError) as info:
        client.submissions()
    assert info.value.code == "bad_response"
    assert info.value.status == 502
    assert "without the marketplace's JSON" in info.value.message


def test_flags_beat_the_environment_which_beats_the_file(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"server": "http://file.test", "token": "file"}))
    config.chmod(0o600)
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    env = {"COMFYVN_MARKET_CONFIG": str(config)}
    assert load_config(environ=env).server == "http://file.test/"
    assert load_config(environ=env).token == "file"
    env["COMFYVN_MARKET_TOKEN"] = "env"
    env["COMFYVN_MARKET_SERVER"] = "http://env.test"
    chosen = load_config(environ=env)
    assert (chosen.server, chosen.token) == ("http://env.test/", "env")
    chosen = load_config(
        server="http://flag.test", token_file=str(token_file), environ=env
    )
    assert (chosen.server, chosen.token) == ("http://flag.test/", "from-file")
