"""Versions over time: updates with re-consent, yank and block, rollback, lockfile."""

from __future__ import annotations

import json
import shutil

import pytest
from django.urls import reverse

from market import review
from market.models import (
    CatalogEntry,
    InstalledExtension,
    LifecycleEvent,
    PreviousInstall,
)

pytestmark = pytest.mark.usefixtures("catalog_key")


def edit(version, permissions=(), hooks=()):
    def apply(data):
        data["version"] = version
        if permissions:
            data["permissions"] = list(permissions)
        if hooks:
            data["hooks"] = list(hooks)
            data["permissions"] = [*data.get("permissions", []), "hooks.listen"]

    return apply


def publish(build_bundle, version, **caps):
    result = build_bundle("hello_minimal", edit=edit(version, **caps))
    entry = review.catalog_entry_submit(bundle_path=result.path)
    review.catalog_entry_approve(entry=entry, trust_level="unverified")
    return result


def install(api, **payload):
    return api.post(reverse("market-api:install"), payload, format="json")


def sidecar(market_root, ext_id="hello.minimal", where="extensions"):
    return json.loads((market_root / where / ext_id / ".market.json").read_text())


@pytest.fixture
def reviewer(make_user):
    return make_user("rev", "market.review_catalogentry")


# -- updates and re-consent -------------------------------------------------------


def test_updates_list_what_the_newest_version_adds_and_removes(api, build_bundle):
    publish(build_bundle, "0.1.0", permissions=["assets.read"])
    assert install(api, id="hello.minimal").status_code == 200
    body = api.get(reverse("market-api:updates")).json()
    assert body == {
        "ok": True,
        "items": [
            {
                "id": "hello.minimal",
                "installed": "0.1.0",
                "update": None,
                "yanked": None,
                "blocked": None,
            }
        ],
    }
    new = publish(
        build_bundle,
        "0.2.0",
        permissions=["assets.write"],
        hooks=["on_scene_enter"],
    )
    [item] = api.get(reverse("market-api:updates")).json()["items"]
    assert item["update"] == {
        "version": "0.2.0",
        "sha256": new.sha256,
        "trust": "unverified",
        "added": {
            "permissions": ["assets.write", "hooks.listen"],
            "global_routes": [],
            "hooks": ["on_scene_enter"],
        },
        "removed": {"permissions": ["assets.read"], "global_routes": [], "hooks": []},
        "accept": [
            "permission:assets.write",
            "permission:hooks.listen",
            "hook:on_scene_enter",
        ],
        "consent_required": True,
    }


def test_upgrade_adding_a_permission_needs_it_accepted(api, build_bundle, market_root):
    publish(build_bundle, "0.1.0")
    assert install(api, id="hello.minimal").status_code == 200
    publish(build_bundle, "0.2.0", permissions=["assets.read", "assets.write"])

    refused = install(api, id="hello.minimal")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "consent_required"
    assert error["details"] == {
        "id": "hello.minimal",
        "installed": "0.1.0",
        "bundle": "0.2.0",
        "added": {
            "permissions": ["assets.read", "assets.write"],
            "global_routes": [],
            "hooks": [],
        },
        "items": ["permission:assets.read", "permission:assets.write"],
        "missing": ["permission:assets.read", "permission:assets.write"],
    }
    # accept missing one of them: still refused, naming what is missing
    partial = install(api, id="hello.minimal", accept=["permission:assets.read"])
    assert partial.status_code == 409
    assert partial.json()["error"]["code"] == "consent_required"
    assert partial.json()["error"]["details"]["missing"] == ["permission:assets.write"]
    assert InstalledExtension.objects.get().version == "0.1.0"
    assert sidecar(market_root)["version"] == "0.1.0"

    accepted = install(
        api,
        id="hello.minimal",
        accept=["permission:assets.write", "permission:assets.read"],
    )
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["installed"]["version"] == "0.2.0"
    assert sidecar(market_root)["consent"] == {
        "accepted": ["permission:assets.read", "permission:assets.write"]
    }
    event = LifecycleEvent.objects.filter(action="install").first()
    assert event.version == "0.2.0"
    assert event.detail["accepted"] == [
        "permission:assets.read",
        "permission:assets.write",
    ]
    assert event.detail["kind"] == "upgrade"


def test_upgrade_that_only_removes_needs_no_consent(api, build_bundle, market_root):
    publish(build_bundle, "0.1.0", permissions=["assets.read"])
    assert install(api, id="hello.minimal").status_code == 200
    publish(build_bundle, "0.2.0")
    response = install(api, id="hello.minimal")
    assert response.status_code == 200, response.json()
    assert "consent" not in sidecar(market_root)


def test_accept_must_be_a_list_of_strings(api, build_bundle):
    publish(build_bundle, "0.1.0")
    response = install(api, id="hello.minimal", accept="permission:assets.read")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


# -- yank and block ---------------------------------------------------------------


def yank(client, version, reason="broken saves"):
    return client.post(
        reverse("market-api:yank", args=["hello.minimal", version]),
        {"reason": reason},
        format="json",
    )


def test_yank_needs_the_review_permission_and_a_reason(
    api, build_bundle, token_client, reviewer
):
    publish(build_bundle, "0.1.0")
    assert yank(api, "0.1.0").status_code == 403
    rev = token_client(reviewer)
    missing = yank(rev, "0.1.0", reason="  ")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "reason_required"
    unknown = yank(rev, "9.9.9")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    assert CatalogEntry.objects.get().status == "approved"


def test_yanked_version_is_never_newest_nor_an_update_but_installable_exactly(
    api, build_bundle, token_client, reviewer
):
    publish(build_bundle, "0.1.0")
    assert install(api, id="hello.minimal").status_code == 200
    publish(build_bundle, "0.2.0")
    rev = token_client(reviewer)
    before = api.get(reverse("market-api:list"))
    response = yank(rev, "0.2.0")
    assert response.status_code == 200, response.json()
    entry = response.json()["entry"]
    assert (entry["status"], entry["reason"]) == ("yanked", "broken saves")
    event = LifecycleEvent.objects.filter(action="yank").get()
    assert event.version == "0.2.0"
    assert event.detail["reason"] == "broken saves"
    assert yank(rev, "0.2.0").json()["error"]["code"] == "review_refused"

    # the list cache moved on with the catalogue revision
    listing = api.get(reverse("market-api:list"))
    assert listing["ETag"] != before["ETag"]
    assert [c["version"] for c in listing.json()["catalog"]] == ["0.1.0"]
    assert listing.json()["installed"][0]["update_available"] is None
    [item] = api.get(reverse("market-api:updates")).json()["items"]
    assert item["update"] is None
    # newest is 0.1.0, so a plain install by id is already installed
    assert install(api, id="hello.minimal").json()["error"]["code"] == (
        "already_installed"
    )
    exact = install(api, id="hello.minimal", version="0.2.0")
    assert exact.status_code == 200, exact.json()
    body = exact.json()
    assert body["installed"]["version"] == "0.2.0"
    assert body["installed"]["yanked"]["reason"] == "broken saves"
    assert body["warnings"][0]["code"] == "yanked_version"


def test_installed_copies_show_yanked_and_blocked(
    api, build_bundle, token_client, reviewer
):
    publish(build_bundle, "0.1.0")
    assert install(api, id="hello.minimal").status_code == 200
    rev = token_client(reviewer)
    assert yank(rev, "0.1.0").status_code == 200

    def views():
        listed = api.get(reverse("market-api:list")).json()["installed"][0]
        page = api.get(reverse("market-api:installed-list")).json()["items"][0]
        one = api.get(
            reverse("market-api:installed-detail", args=["hello.minimal"])
        ).json()
        health = api.get(reverse("market-api:health")).json()["counts"]
        return listed, page, one, health

    listed, page, one, health = views()
    for item in (listed, page, one):
        assert item["yanked"]["reason"] == "broken saves"
        assert item["yanked"]["at"].endswith("Z")
        assert item["blocked"] is None
    assert (health["yanked"], health["blocked"]) == (1, 0)

    entry = CatalogEntry.objects.get(version="0.1.0")
    review.catalog_entry_delist(entry=entry, reviewer=None, reason="malware")
    listed, page, one, health = views()
    for item in (listed, page, one):
        assert item["blocked"]["reason"] == "malware"
        assert item["yanked"] is None
    assert (health["yanked"], health["blocked"]) == (0, 1)


def test_blocked_when_every_version_of_the_extension_is_delisted(api, build_bundle):
    old = build_bundle("hello_minimal")  # installed from a path, never listed
    assert install(api, package=str(old.path)).status_code == 200
    publish(build_bundle, "0.2.0")
    [item] = api.get(reverse("market-api:installed-list")).json()["items"]
    assert item["blocked"] is None
    entry = CatalogEntry.objects.get(version="0.2.0")
    review.catalog_entry_delist(entry=entry, reviewer=None, reason="withdrawn")
    [item] = api.get(reverse("market-api:installed-list")).json()["items"]
    assert item["blocked"]["reason"] == "withdrawn"


def test_installed_list_queries_do_not_grow(
    api, build_bundle, django_assert_max_num_queries, market_root
):
    for n in range(4):
        publish(build_bundle, f"0.{n + 1}.0")
    assert install(api, id="hello.minimal", version="0.1.0").status_code == 200
    with django_assert_max_num_queries(9):
        api.get(reverse("market-api:installed-list"))
    with django_assert_max_num_queries(6):
        api.get(reverse("market-api:updates"))


# -- rollback ---------------------------------------------------------------------


def rollback(client, ext_id="hello.minimal"):
    return client.post(reverse("market-api:rollback"), {"id": ext_id}, format="json")


def test_rollback_swaps_back_to_the_previous_version(api, build_bundle, market_root):
    assert rollback(api).status_code == 404
    assert rollback(api).json()["error"]["code"] == "not_installed"
    old = publish(build_bundle, "0.1.0")
    assert install(api, id="hello.minimal").status_code == 200
    nothing = rollback(api)
    assert nothing.status_code == 409
    assert nothing.json()["error"]["code"] == "no_previous_version"

    new = publish(build_bundle, "0.2.0")
    assert install(api, id="hello.minimal").status_code == 200
    assert sidecar(market_root, where="previous")["package"]["sha256"] == old.sha256
    assert PreviousInstall.objects.get().version == "0.1.0"

    before = api.get(reverse("market-api:list"))
    back = rollback(api)
    assert back.status_code == 200, back.json()
    # the cached list moved on with the revision
    listing = api.get(reverse("market-api:list"), HTTP_IF_NONE_MATCH=before["ETag"])
    assert listing.status_code == 200
    assert listing.json()["installed"][0]["version"] == "0.1.0"
    assert listing.json()["installed"][0]["update_available"] == "0.2.0"
    assert back.json()["installed"]["version"] == "0.1.0"
    assert back.json()["previous"] == {"version": "0.2.0", "sha256": new.sha256}
    row = InstalledExtension.objects.get()
    assert (row.version, row.package_sha256) == ("0.1.0", old.sha256)
    assert sidecar(market_root)["package"]["sha256"] == old.sha256
    assert sidecar(market_root, where="previous")["package"]["sha256"] == new.sha256
    event = LifecycleEvent.objects.filter(action="rollback").get()
    assert (event.version, event.detail["from"], event.detail["to"]) == (
        "0.1.0",
        "0.2.0",
        "0.1.0",
    )
    assert event.actor.username == "installer"
    # rolling back again returns to where it started
    assert rollback(api).json()["installed"]["version"] == "0.2.0"
    assert [p.name for p in (market_root / "staging").iterdir()] == []

    # uninstall removes the kept version too
    response = api.post(
        reverse("market-api:uninstall"), {"id": "hello.minimal"}, format="json"
    )
    assert response.status_code == 200
    assert PreviousInstall.objects.count() == 0
    assert not (market_root / "previous" / "hello.minimal").exists()


def test_an_upgrade_keeps_one_generation(api, build_bundle, market_root):
    for version in ("0.1.0", "0.2.0", "0.3.0"):
        publish(build_bundle, version)
        assert install(api, id="hello.minimal").status_code == 200
    assert PreviousInstall.objects.get().version == "0.2.0"
    assert sidecar(market_root, where="previous")["version"] == "0.2.0"
    assert [p.name for p in (market_root / "previous").iterdir()] == ["hello.minimal"]
    assert [p.name for p in (market_root / "staging").iterdir()] == []


def test_rollback_needs_the_install_permission(
    api, build_bundle, token_client, make_user
):
    viewer = token_client(make_user("viewer"))
    response = rollback(viewer)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


# -- lockfile ---------------------------------------------------------------------


def tree(root):
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def restore(client, lock):
    return client.post(reverse("market-api:restore"), {"lock": lock}, format="json")


def test_lockfile_round_trip_gives_identical_folders(
    api, build_bundle, market_root, settings, tmp_path, catalog_key
):
    publish(build_bundle, "0.1.0")
    toolkit = build_bundle("sample_toolkit")
    entry = review.catalog_entry_submit(bundle_path=toolkit.path)
    review.catalog_entry_approve(entry=entry, trust_level="verified")
    assert install(api, id="hello.minimal").status_code == 200
    assert install(api, id="sample.toolkit").status_code == 200
    lock = api.get(reverse("market-api:lock")).json()
    assert lock["ok"] is True
    [hello, kit] = lock["lock"]["extensions"]
    assert hello["id"] == "hello.minimal"
    assert hello["trust"] == {"level": "unverified"}
    assert kit["trust"] == {"level": "verified", "proof": "catalog"}
    assert (
        kit["sha256"]
        == InstalledExtension.objects.get(extension_id="sample.toolkit").package_sha256
    )
    before = {
        ext: tree(market_root / "extensions" / ext)
        for ext in ("hello.minimal", "sample.toolkit")
    }
    sidecars = {ext: files.pop(".market.json") for ext, files in before.items()}

    # another studio: the same catalogue, an empty MARKET_ROOT
    for ext in ("hello.minimal", "sample.toolkit"):
        response = api.post(reverse("market-api:uninstall"), {"id": ext}, format="json")
        assert response.status_code == 200
    shutil.rmtree(market_root / "extensions")
    shutil.rmtree(market_root / "staging")
    restored = api.post(
        reverse("market-api:restore"), {"lock": lock["lock"]}, format="json"
    )
    assert restored.status_code == 200, restored.json()
    assert restored.json() == {
        "ok": True,
        "installed": ["hello.minimal", "sample.toolkit"],
        "unchanged": [],
    }
    for ext, files in before.items():
        after = tree(market_root / "extensions" / ext)
        side = json.loads(after.pop(".market.json"))
        assert after == files  # every extension file, byte for byte
        old = json.loads(sidecars[ext])
        for key in ("id", "version", "trust", "package", "manifest_sha256", "source"):
            assert side[key] == old[key]
    assert api.get(reverse("market-api:lock")).json() == lock
    again = restore(api, lock["lock"])
    assert again.json()["unchanged"] == ["hello.minimal", "sample.toolkit"]


def test_restore_refuses_any_digest_that_does_not_match(api, build_bundle):
    publish(build_bundle, "0.1.0")
    assert install(api, id="hello.minimal").status_code == 200
    lock = api.get(reverse("market-api:lock")).json()["lock"]
    api.post(reverse("market-api:uninstall"), {"id": "hello.minimal"}, format="json")
    bad = json.loads(json.dumps(lock))
    bad["extensions"][0]["manifest_sha256"] = "0" * 64
    bad["extensions"].append(
        {
            "id": "no.such.ext",
            "version": "1.0.0",
            "sha256": "1" * 64,
            "manifest_sha256": "2" * 64,
            "trust": {"level": "unverified"},
        }
    )
    response = api.post(reverse("market-api:restore"), {"lock": bad}, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "lock_mismatch"
    problems = error["details"]["problems"]
    assert [(p["id"], p["field"], p["reason"]) for p in problems] == [
        ("hello.minimal", "manifest_sha256", "differs"),
        ("no.such.ext", "version", "not_in_catalogue"),
    ]
    assert InstalledExtension.objects.count() == 0


def test_restore_is_all_or_nothing(api, build_bundle, monkeypatch, catalog_key):
    publish(build_bundle, "0.1.0")
    toolkit = build_bundle("sample_toolkit")
    entry = review.catalog_entry_submit(bundle_path=toolkit.path)
    review.catalog_entry_approve(entry=entry, trust_level="verified")
    assert install(api, id="hello.minimal").status_code == 200
    assert install(api, id="sample.toolkit").status_code == 200
    lock = api.get(reverse("market-api:lock")).json()["lock"]
    for ext in ("hello.minimal", "sample.toolkit"):
        api.post(reverse("market-api:uninstall"), {"id": ext}, format="json")

    from market import lifecycle

    def fault(name):
        if (
            name == "install.recorded"
            and InstalledExtension.objects.filter(
                extension_id="sample.toolkit"
            ).exists()
        ):
            raise RuntimeError("disk failed")

    monkeypatch.setattr(lifecycle, "fault_point", fault)
    api.raise_request_exception = False
    response = api.post(reverse("market-api:restore"), {"lock": lock}, format="json")
    assert response.status_code == 500
    assert InstalledExtension.objects.count() == 0


def test_restore_refuses_to_replace_or_leave_other_installs(api, build_bundle):
    publish(build_bundle, "0.1.0")
    publish(build_bundle, "0.2.0")
    assert install(api, id="hello.minimal", version="0.1.0").status_code == 200
    lock = api.get(reverse("market-api:lock")).json()["lock"]
    assert install(api, id="hello.minimal").status_code == 200
    response = api.post(reverse("market-api:restore"), {"lock": lock}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "restore_conflict",
        "message": response.json()["error"]["message"],
        "details": {
            "conflicts": [
                {"id": "hello.minimal", "installed": "0.2.0", "lock": "0.1.0"}
            ]
        },
    }
    empty = {"format": 1, "extensions": []}
    response = api.post(reverse("market-api:restore"), {"lock": empty}, format="json")
    assert response.json()["error"]["details"]["conflicts"][0]["lock"] is None


def test_restore_body_is_checked(api):
    dup = {
        "id": "hello.minimal",
        "version": "0.1.0",
        "sha256": "a" * 64,
        "manifest_sha256": "b" * 64,
        "trust": {"level": "unverified"},
    }
    for lock in (
        {"format": 1, "extensions": [dup, dup]},
        {"format": 2, "extensions": []},
        {"format": 1, "extensions": [{**dup, "sha256": "x"}]},
    ):
        response = restore(api, lock)
        assert response.status_code == 400, lock
        assert response.json()["ok"] is False


def test_no_rollback_to_a_verified_version_the_catalogue_withdrew(
    api, build_bundle, market_root
):
    def kit(version):
        def apply(data):
            data["version"] = version

        result = build_bundle("sample_toolkit", edit=apply)
        entry = review.catalog_entry_submit(bundle_path=result.path)
        return review.catalog_entry_approve(entry=entry, trust_level="verified")

    first = kit("1.2.3")
    assert install(api, id="sample.toolkit").status_code == 200
    kit("1.2.4")
    assert install(api, id="sample.toolkit").status_code == 200
    review.catalog_entry_delist(entry=first, reviewer=None, reason="key leaked")
    response = rollback(api, "sample.toolkit")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "trust_unproven"
    assert InstalledExtension.objects.get().version == "1.2.4"
    assert sidecar(market_root, "sample.toolkit")["version"] == "1.2.4"
    assert PreviousInstall.objects.get().version == "1.2.3"


def test_the_admin_lists_kept_versions_read_only(api, build_bundle, make_user, client):
    publish(build_bundle, "0.1.0")
    assert install(api, id="hello.minimal").status_code == 200
    publish(build_bundle, "0.2.0")
    assert install(api, id="hello.minimal").status_code == 200
    client.force_login(make_user("root", superuser=True))
    page = client.get(reverse("admin:market_previousinstall_changelist"))
    assert page.status_code == 200
    assert "hello.minimal" in page.content.decode()
    kept = PreviousInstall.objects.get()
    assert client.get(reverse("admin:market_previousinstall_add")).status_code == 403
    delete = reverse("admin:market_previousinstall_delete", args=[kept.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert PreviousInstall.objects.count() == 1
