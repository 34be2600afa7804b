"""Owned extension ids: the owner and maintainers submit; others get ``not_owner``.

Maintainers are listed, added and removed over the API by the owner or a reviewer;
reviewers transfer ids with a reason. Every change is an event, every refusal an
error record, and a refused submission stores nothing.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from market import review
from market.models import (
    CatalogEntry,
    ExtensionMaintainer,
    ExtensionOwner,
    LifecycleError,
    LifecycleEvent,
)

EXT = "hello.minimal"


@pytest.fixture
def alice(make_user):
    return make_user("alice", "market.submit_catalogentry")


@pytest.fixture
def bob(make_user):
    return make_user("bob", "market.submit_catalogentry")


@pytest.fixture
def reviewer(make_user):
    return make_user("rev", "market.review_catalogentry")


def version(v: str):
    def edit(data):
        data["version"] = v

    return edit


def submit(client, path):
    with path.open("rb") as fh:
        return client.post(
            reverse("market-api:submissions-list"), {"package": fh}, format="multipart"
        )


def stored_bundles(market_root) -> list[str]:
    folder = market_root / "catalog" / "bundles"
    return sorted(p.name for p in folder.rglob("*.cvnext")) if folder.exists() else []


def add(client, username, ext_id=EXT):
    return client.post(
        reverse("market-api:maintainers"),
        {"id": ext_id, "username": username},
        format="json",
    )


def remove(client, username, ext_id=EXT):
    return client.delete(reverse("market-api:maintainer", args=[ext_id, username]))


def listing(client, ext_id=EXT):
    return client.get(reverse("market-api:maintainers-of", args=[ext_id]))


@pytest.fixture
def owned(flags_on, token_client, alice, build_bundle):
    """hello.minimal 0.1.0 submitted by alice, who owns it."""
    response = submit(token_client(alice), build_bundle("hello_minimal").path)
    assert response.status_code == 201, response.json()
    return ExtensionOwner.objects.get(extension_id=EXT)


def test_the_first_submitter_owns_the_id(owned, alice):
    assert owned.owner == alice
    assert owned.owner_since is not None
    event = LifecycleEvent.objects.get(action="submit")
    assert event.detail["owner"] == "alice"


def test_another_users_submission_is_not_owner_recorded_and_stores_nothing(
    owned, token_client, bob, build_bundle, market_root
):
    before = stored_bundles(market_root)
    response = submit(token_client(bob), build_bundle(edit=version("0.2.0")).path)
    assert response.status_code == 403
    assert response.json() == {
        "ok": False,
        "error": {
            "code": "not_owner",
            "message": f"{EXT} belongs to another user; its owner can add you as a "
            "maintainer",
            "details": {"id": EXT},
        },
    }
    assert CatalogEntry.objects.count() == 1
    assert stored_bundles(market_root) == before
    error = LifecycleError.objects.get()
    assert (error.action, error.code, error.extension_id, error.actor) == (
        "submit",
        "not_owner",
        EXT,
        bob,
    )
    assert list((market_root / "staging").iterdir()) == []


def test_a_maintainer_submits_and_loses_the_right_when_removed(
    owned, token_client, alice, bob, build_bundle
):
    owner = token_client(alice)
    added = add(owner, "bob")
    assert added.status_code == 201, added.json()
    body = added.json()
    assert body["ok"] is True and body["id"] == EXT
    assert body["maintainer"]["username"] == "bob"
    assert body["maintainer"]["role"] == "maintainer"
    assert body["maintainer"]["added_by"] == "alice"
    ok = submit(token_client(bob), build_bundle(edit=version("0.2.0")).path)
    assert ok.status_code == 201, ok.json()
    assert ok.json()["submission"]["submitted_by"] == "bob"
    assert ExtensionOwner.objects.get().owner.username == "alice"  # still alice's

    removed = remove(owner, "bob")
    assert removed.json() == {"ok": True, "id": EXT, "username": "bob"}
    refused = submit(token_client(bob), build_bundle(edit=version("0.3.0")).path)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_owner"
    actions = list(
        LifecycleEvent.objects.order_by("id").values_list("action", "detail")
    )
    assert ("maintainer_add", {"username": "bob"}) in actions
    assert ("maintainer_drop", {"username": "bob"}) in actions


def test_a_server_submission_leaves_the_id_to_the_first_user(
    flags_on, token_client, alice, bob, build_bundle
):
    review.catalog_entry_submit(bundle_path=build_bundle().path)  # no user
    assert ExtensionOwner.objects.get().owner is None
    ok = submit(token_client(alice), build_bundle(edit=version("0.2.0")).path)
    assert ok.status_code == 201
    assert ExtensionOwner.objects.get().owner == alice
    no = submit(token_client(bob), build_bundle(edit=version("0.3.0")).path)
    assert no.status_code == 403


# --- the maintainer API: who may do what -------------------------------------------


@pytest.mark.parametrize(
    ("who", "add_status", "list_status"),
    [
        ("anonymous", 401, 401),
        ("other", 403, 403),
        ("maintainer", 403, 200),
        ("owner", 201, 200),
        ("reviewer", 201, 200),
    ],
)
def test_permission_matrix(
    owned, token_client, make_user, alice, reviewer, who, add_status, list_status
):
    carol = make_user("carol")
    maintainer = make_user("maint")
    ExtensionMaintainer.objects.create(extension=owned, user=maintainer)
    actor = {
        "anonymous": None,
        "other": make_user("mallory", "market.submit_catalogentry"),
        "maintainer": maintainer,
        "owner": alice,
        "reviewer": reviewer,
    }[who]
    client = token_client(actor)
    assert listing(client).status_code == list_status
    response = add(client, "carol")
    assert response.status_code == add_status, response.json()
    code = {401: "not_authenticated", 403: "not_owner"}.get(add_status)
    if code:
        assert response.json()["error"]["code"] == code
        assert not owned.maintainer_rows.filter(user=carol).exists()
        # removing needs the same rights as adding
        gone = remove(client, "maint")
        assert gone.status_code == add_status
        assert owned.maintainer_rows.filter(user=maintainer).exists()
    else:
        assert owned.maintainer_rows.filter(user=carol).exists()
        gone = remove(client, "maint")
        assert gone.status_code == 200
        assert not owned.maintainer_rows.filter(user=maintainer).exists()
    if add_status == 403:
        refusal = LifecycleError.objects.filter(action="maintainer_add").get()
        assert (refusal.code, refusal.actor) == ("not_owner", actor)


def test_clear_codes_for_every_refusal(owned, token_client, alice, bob):
    owner = token_client(alice)
    cases = [
        (add(owner, "nobody"), 404, "unknown_user", {"username": "nobody"}),
        (remove(owner, "nobody"), 404, "unknown_user", {"username": "nobody"}),
        (add(owner, "alice"), 409, "already_owner", {"id": EXT, "username": "alice"}),
        (
            remove(owner, "alice"),
            409,
            "owner_not_removable",
            {"id": EXT, "username": "alice"},
        ),
        (remove(owner, "bob"), 404, "not_maintainer", {"id": EXT, "username": "bob"}),
        (add(owner, "bob", "no.such.id"), 404, "not_found", {"id": "no.such.id"}),
        (listing(owner, "no.such.id"), 404, "not_found", {"id": "no.such.id"}),
    ]
    for response, status, code, details in cases:
        assert response.status_code == status, response.json()
        error = response.json()["error"]
        assert (error["code"], error["details"]) == (code, details)
    assert add(owner, "bob").status_code == 201
    again = add(owner, "bob")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_maintainer"
    missing = token_client(alice).post(
        reverse("market-api:maintainers"), {"id": EXT}, format="json"
    )
    assert missing.status_code == 400
    assert missing.json()["error"]["details"]["problems"][0]["path"] == "username"


def test_the_list_is_the_envelope_owner_first_in_bounded_queries(
    owned, token_client, alice, make_user, django_assert_max_num_queries
):
    client = token_client(alice)
    for name in ("zed", "amy"):
        add(client, make_user(name).username)
    body = listing(client).json()
    assert set(body) == {"ok", "items", "next", "previous", "count"}
    assert body["ok"] is True and body["next"] is None and body["previous"] is None
    assert [(i["username"], i["role"]) for i in body["items"]] == [
        ("alice", "owner"),
        ("amy", "maintainer"),
        ("zed", "maintainer"),
    ]
    assert body["items"][0]["added_by"] is None
    assert body["items"][1]["added_by"] == "alice"
    for n in range(20):
        add(client, make_user(f"m{n}").username)
    with django_assert_max_num_queries(6):
        grown = listing(client).json()
    assert grown["count"] == 23
    paged = client.get(
        reverse("market-api:maintainers-of", args=[EXT]), {"page_size": 5}
    ).json()
    assert len(paged["items"]) == 5 and paged["next"]
    # usernames only: no email, no user id
    assert set(grown["items"][0]) == {"username", "role", "added_at", "added_by"}


# --- transfers -----------------------------------------------------------------------


def transfer(client, username, reason="the author asked by mail", ext_id=EXT):
    return client.post(
        reverse("market-api:transfers"),
        {"id": ext_id, "username": username, "reason": reason},
        format="json",
    )


def test_a_reviewer_transfers_an_id_with_a_reason_audited(
    owned, token_client, alice, bob, reviewer, build_bundle
):
    ExtensionMaintainer.objects.create(extension=owned, user=bob)
    response = transfer(token_client(reviewer), "bob")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "ok": True,
        "id": EXT,
        "owner": "bob",
        "previous_owner": "alice",
    }
    owned.refresh_from_db()
    assert owned.owner == bob
    assert not owned.maintainer_rows.exists()  # the owner is not listed twice
    event = LifecycleEvent.objects.get(action="transfer")
    assert event.extension_id == EXT and event.actor == reviewer
    assert event.detail == {
        "from": "alice",
        "to": "bob",
        "reason": "the author asked by mail",
    }
    assert (
        submit(token_client(bob), build_bundle(edit=version("0.2.0")).path).status_code
        == 201
    )
    refused = submit(token_client(alice), build_bundle(edit=version("0.3.0")).path)
    assert refused.json()["error"]["code"] == "not_owner"


def test_transfers_are_refused_clearly_and_recorded(
    owned, token_client, alice, bob, reviewer
):
    cases = [
        (transfer(token_client(None), "bob"), 401, "not_authenticated"),
        (transfer(token_client(alice), "bob"), 403, "permission_denied"),
        (transfer(token_client(reviewer), "bob", reason=""), 400, "invalid_request"),
        (transfer(token_client(reviewer), "nobody"), 404, "unknown_user"),
        (transfer(token_client(reviewer), "alice"), 409, "already_owner"),
        (transfer(token_client(reviewer), "rev"), 403, "permission_denied"),
        (
            transfer(token_client(reviewer), "bob", ext_id="no.such.id"),
            404,
            "not_found",
        ),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.json()
        assert response.json()["error"]["code"] == code
    owned.refresh_from_db()
    assert owned.owner == alice
    assert not LifecycleEvent.objects.filter(action="transfer").exists()
    codes = set(
        LifecycleError.objects.filter(action="transfer").values_list("code", flat=True)
    )
    assert codes == {"permission_denied", "unknown_user", "already_owner", "not_found"}


# --- versions -------------------------------------------------------------------------


def test_versions_of_equal_precedence_are_version_exists(
    flags_on, token_client, alice, build_bundle, market_root
):
    client = token_client(alice)
    assert submit(client, build_bundle(edit=version("2.0.0")).path).status_code == 201
    files = stored_bundles(market_root)
    hotfix = submit(client, build_bundle(edit=version("2.0.0+hotfix")).path)
    assert hotfix.status_code == 409
    assert hotfix.json()["error"] == {
        "code": "version_exists",
        "message": f"{EXT} 2.0.0+hotfix is the same version as 2.0.0, already "
        "submitted (build metadata does not count); bump the version",
        "details": {"id": EXT, "version": "2.0.0+hotfix", "submitted": "2.0.0"},
    }
    assert stored_bundles(market_root) == files
    # and the other way round, and between two build tags
    assert submit(client, build_bundle(edit=version("3.0.0+a")).path).status_code == 201
    for v in ("3.0.0", "3.0.0+b"):
        again = submit(client, build_bundle(edit=version(v)).path)
        assert again.status_code == 409 and again.json()["error"]["details"] == {
            "id": EXT,
            "version": v,
            "submitted": "3.0.0+a",
        }
    # a pre-release is a different version
    assert (
        submit(client, build_bundle(edit=version("3.0.1-rc.1")).path).status_code == 201
    )
    assert CatalogEntry.objects.count() == 3


def test_the_openapi_document_types_every_new_route(db, client):
    doc = client.get(reverse("openapi-schema"), {"format": "json"}).json()
    paths, schemas = doc["paths"], doc["components"]["schemas"]

    def ok_schema(path, method, status):
        responses = paths[path][method]["responses"]
        assert {"401", "403", "404"} <= set(responses), (path, method)
        return responses[status]["content"]["application/json"]["schema"]["$ref"]

    listed = ok_schema("/api/market/maintainers/{ext_id}", "get", "200")
    envelope = schemas[listed.rsplit("/", 1)[1]]
    assert envelope["required"] == ["ok", "items", "next", "previous"]
    assert envelope["properties"]["items"]["items"]["$ref"].endswith("/Maintainer")
    assert set(schemas["Maintainer"]["properties"]) == {
        "username",
        "role",
        "added_at",
        "added_by",
    }
    assert ok_schema("/api/market/maintainers", "post", "201").endswith(
        "/MaintainerAddResponse"
    )
    assert ok_schema(
        "/api/market/maintainers/{ext_id}/{username}", "delete", "200"
    ).endswith("/MaintainerRemoveResponse")
    assert ok_schema("/api/market/transfers", "post", "200").endswith(
        "/TransferResponse"
    )


BOTH = ("maintainers", "transfers")


@pytest.mark.parametrize(
    ("body", "routes"),
    [
        ({"id": EXT, "username": "a\x00b", "reason": "r"}, BOTH),
        ({"id": "a\x00b", "username": "bob", "reason": "r"}, BOTH),
        ({"id": "x" * 5000, "username": "bob", "reason": "r"}, BOTH),
        ({"id": EXT, "username": "u" * 1000, "reason": "r"}, BOTH),
        ({"id": ["a"], "username": {"b": 1}, "reason": "r"}, BOTH),
        ({"id": EXT, "username": "bob", "reason": "r" * 5000}, ("transfers",)),
        ({"id": EXT, "username": "bob", "reason": "a\x00b"}, ("transfers",)),
        ("not an object", BOTH),
        ([], BOTH),
    ],
)
def test_hostile_bodies_are_invalid_requests_never_crashes(
    owned, token_client, alice, reviewer, body, routes
):
    clients = {"maintainers": token_client(alice), "transfers": token_client(reviewer)}
    for name in routes:
        url = reverse(f"market-api:{name}")
        response = clients[name].post(url, body, format="json")
        assert response.status_code == 400, (name, response.content)
        assert response.json()["error"]["code"] == "invalid_request"
    assert not ExtensionMaintainer.objects.exists()
    assert ExtensionOwner.objects.get().owner == alice


def test_hostile_paths_reach_no_view_or_a_clear_refusal(owned, token_client, alice):
    client = token_client(alice)
    for path in (
        f"/api/market/maintainers/{EXT}/a%00b",
        f"/api/market/maintainers/{EXT}/a%2Fb",
        "/api/market/maintainers/%00bad",
        f"/api/market/maintainers/{EXT}/" + "u" * 151,
    ):
        assert client.delete(path).status_code == 404, path
        assert client.get(path).status_code in (404, 405), path
    assert ExtensionOwner.objects.get().owner == alice


def test_a_user_who_owns_ids_is_not_deleted(owned, alice):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        alice.delete()
    assert ExtensionOwner.objects.get().owner == alice
