"""Operator commands: market_install, market_uninstall, market_demo."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from market import flags
from market.models import CatalogEntry, InstalledExtension


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_install_then_uninstall_from_the_shell(build_bundle, market_root):
    result = build_bundle("hello_minimal")
    out = run("market_install", str(result.path))
    assert out.startswith(
        f"[ok] installed {result.manifest.id} {result.manifest.version}"
    )
    assert f"sha256={result.sha256}" in out
    assert (market_root / "extensions" / result.manifest.id / ".market.json").is_file()
    with pytest.raises(CommandError, match="already_installed"):
        run("market_install", str(result.path))
    payload = json.loads(
        run("market_install", str(result.path), "--reinstall", "--json")
    )
    assert payload["installed"]["id"] == result.manifest.id
    assert run("market_uninstall", result.manifest.id).strip() == (
        f"[ok] uninstalled {result.manifest.id}"
    )
    assert InstalledExtension.objects.count() == 0
    with pytest.raises(CommandError, match="not_installed"):
        run("market_uninstall", result.manifest.id)
    with pytest.raises(CommandError, match="invalid_request"):
        run("market_uninstall", "../etc")


def test_install_of_missing_file_is_a_clear_error(db, tmp_path):
    with pytest.raises(CommandError, match="no such bundle"):
        run("market_install", str(tmp_path / "nope.cvnext"))
    with pytest.raises(CommandError, match="File name too long"):
        run("market_install", str(tmp_path / ("a" * 300 + ".cvnext")))
    (tmp_path / "loop.cvnext").symlink_to(tmp_path / "loop.cvnext")
    with pytest.raises(CommandError):
        run("market_install", str(tmp_path / "loop.cvnext"))


@pytest.mark.django_db(transaction=True)
def test_demo_lists_the_samples_and_is_repeatable(settings):
    out = run("market_demo")
    assert "admin login: admin / " in out
    assert flags.get_flags().marketplace and flags.get_flags().uploads
    listed = dict(
        CatalogEntry.objects.filter(status="approved", is_latest=True).values_list(
            "extension_id", "trust_level"
        )
    )
    assert listed == {
        "demo.word_count": "unverified",
        "hello.minimal": "unverified",
        "legacy.tools": "unverified",
        "sample.toolkit": "verified",
    }
    token = Token.objects.get(user__username="admin").key
    assert token in out
    again = run("market_demo")
    assert "already listed" in again
    assert "[ok] demo.word_count 2.0.0 already submitted (pending)" in again
    assert CatalogEntry.objects.count() == 5
    packages = sorted(p.name for p in Path(settings.MARKET_PACKAGE_DIRS[0]).iterdir())
    assert packages == [
        "demo.word_count-1.0.0.cvnext",
        "demo.word_count-2.0.0.cvnext",
        "hello.minimal-0.1.0.cvnext",
        "legacy.tools-0.9.1.cvnext",
        "sample.toolkit-1.2.3.cvnext",
    ]


@pytest.mark.django_db(transaction=True)
def test_demo_writes_the_examples_environment(tmp_path, settings):
    env_file = tmp_path / "demo.env"
    out = run("market_demo", "--env-file", str(env_file), "--server-url", "http://h:1/")
    assert f"[ok] server URL and tokens in {env_file}" in out
    assert env_file.stat().st_mode & 0o777 == 0o600
    values = dict(
        line.removeprefix("export ").split("=", 1)
        for line in env_file.read_text().splitlines()
        if line.startswith("export ")
    )
    assert values["B"] == "http://h:1/api/market"
    assert values["COMFYVN_MARKET_SERVER"] == "http://h:1"
    assert (
        values["TOKEN"]
        == values["ADMIN_TOKEN"]
        == (Token.objects.get(user__username="admin").key)
    )
    owners = {
        name: Token.objects.get(key=values[name]).user
        for name in (
            "MODDER_TOKEN",
            "INSTALLER_TOKEN",
            "VIEWER_TOKEN",
            "REVIEWER_TOKEN",
        )
    }
    assert owners["REVIEWER_TOKEN"].has_perm("market.review_catalogentry")
    assert owners["MODDER_TOKEN"].get_username() == values["MODDER_USER"]
    assert owners["MODDER_TOKEN"].has_perm("market.submit_catalogentry")
    assert owners["INSTALLER_TOKEN"].has_perm("market.install_extension")
    assert not owners["VIEWER_TOKEN"].get_all_permissions()
    assert values["COMFYVN_MARKET_TOKEN"] == values["MODDER_TOKEN"]
    # Run again: the same accounts and tokens, nothing duplicated (the reviewer,
    # like the admin, gets a fresh password printed).

    def tokens() -> str:
        text = env_file.read_text().split("TOKEN=", 2)[2]
        return "\n".join(line for line in text.splitlines() if "_PASSWORD=" not in line)

    before = tokens()
    run("market_demo", "--env-file", str(env_file), "--server-url", "http://h:1/")
    assert tokens() == before


@pytest.mark.django_db(transaction=True)
def test_demo_makes_the_key_and_a_reviewer_who_can_review_the_admins_work(
    tmp_path, client, build_bundle
):
    from django.urls import reverse

    from market import review, signing

    env_file = tmp_path / "demo.env"
    out = run("market_demo", "--env-file", str(env_file))
    key = signing.load_signing_key()
    assert key is not None
    assert f"[ok] created catalogue key {signing.key_id_for(key.public_key())}" in out
    assert "[ok] catalogue key" in run("market_demo")  # kept, never replaced
    assert signing.key_id_for(signing.load_signing_key().public_key()) == (
        signing.key_id_for(key.public_key())
    )
    values = dict(
        line.removeprefix("export ").split("=", 1)
        for line in env_file.read_text().splitlines()
        if line.startswith("export ")
    )
    username, password = values["REVIEWER_USER"], values["REVIEWER_PASSWORD"]
    assert username == "reviewer"
    # Printed as well as written (the second run printed a new one).
    assert f"reviewer login: {username} / " in out
    run("market_demo", "--env-file", str(env_file))
    password = dict(
        line.removeprefix("export ").split("=", 1)
        for line in env_file.read_text().splitlines()
        if line.startswith("export ")
    )["REVIEWER_PASSWORD"]
    assert client.login(username=username, password=password)
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.get(username="admin")
    entry = review.catalog_entry_submit(
        bundle_path=build_bundle("hello_minimal", edit=bump).path, actor=admin
    )
    client.post(
        reverse(
            "admin:market_catalogentry_decide", args=[entry.pk, "approve_unverified"]
        )
    )
    entry.refresh_from_db()
    assert entry.status == CatalogEntry.Status.APPROVED
    assert entry.reviewed_by.username == "reviewer"


def bump(data: dict) -> None:
    data["version"] = "0.2.0"


@pytest.mark.django_db(transaction=True)
def test_demo_leaves_the_modders_2_0_pending_for_the_reviewer(tmp_path, client):
    from django.urls import reverse

    env_file = tmp_path / "demo.env"
    out = run("market_demo", "--env-file", str(env_file))
    values = dict(
        line.removeprefix("export ").split("=", 1)
        for line in env_file.read_text().splitlines()
        if line.startswith("export ")
    )
    assert f"modder login: modder / {values['MODDER_PASSWORD']}" in out
    assert f"API token: {values['MODDER_TOKEN']}" in out
    pending = CatalogEntry.objects.get(status="pending")
    approved = CatalogEntry.objects.get(
        extension_id=pending.extension_id, version="1.0.0"
    )
    assert (pending.extension_id, pending.version) == ("demo.word_count", "2.0.0")
    assert approved.status == "approved"
    assert pending.submitted_by.username == approved.submitted_by.username == "modder"
    review_url = reverse("admin:market_catalogentry_change", args=[pending.pk])
    assert (
        "[ok] demo.word_count 2.0.0 submitted by modder, pending review (code and "
        f"permissions changed since 1.0.0): http://127.0.0.1:8000{review_url}"
    ) in out
    # What the reviewer is meant to see: new code and a new permission.
    report = pending.report
    assert report["diff"]["previous_version"] == "1.0.0"
    assert report["diff"]["changes"]["permissions"]["added"] == ["assets.write"]
    codes = {(f["code"], f["file"]) for f in report["risk"]["findings"]}
    assert ("network_access", "word_count/routes.py") in codes
    assert ("new_permission", "manifest.json") in codes
    assert client.login(
        username=values["REVIEWER_USER"], password=values["REVIEWER_PASSWORD"]
    )
    page = client.get(review_url).content.decode()
    assert "Approve as verified" in page and "Reject" in page
    diff = client.get(
        reverse("market-workbench:diff", args=[pending.pk])
    ).content.decode()
    assert "word_count/routes.py" in diff
    assert "urllib" in diff
