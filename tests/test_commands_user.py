"""``manage.py market_user``: accounts per role, with working tokens."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from market import review
from market.models import CatalogEntry


def run(*args: str) -> str:
    out = StringIO()
    call_command("market_user", *args, stdout=out)
    return out.getvalue()


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def submit(client: APIClient, path):
    with path.open("rb") as fh:
        return client.post(
            reverse("market-api:submissions-list"), {"package": fh}, format="multipart"
        )


def test_modder_can_submit_but_not_install(flags_on, db, build_bundle):
    out = run("create", "mia", "--role", "modder")
    lines = out.splitlines()
    assert lines[0] == "[ok] created mia roles=modder"
    key = Token.objects.get(user__username="mia").key
    assert lines[1] == f"      token={key}"
    assert len(lines) == 2  # no password: modders never log in to the admin
    user = get_user_model().objects.get(username="mia")
    assert not user.is_staff and not user.has_usable_password()
    client = client_for(key)
    response = submit(client, build_bundle("hello_minimal").path)
    assert response.status_code == 201, response.json()
    assert CatalogEntry.objects.get().submitted_by == user
    refused = client.post(
        reverse("market-api:install"), {"id": "hello.minimal"}, format="json"
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"


def test_reviewer_logs_in_to_the_admin_and_reviews(flags_on, db, client, build_bundle):
    payload = json.loads(run("create", "rita", "--role", "reviewer", "--json"))
    assert payload["ok"] is True
    assert payload["roles"] == ["reviewer"]
    assert payload["permissions"] == [
        "market.review_catalogentry",
        "market.view_catalogentry",
        "market.view_lifecycleerror",
        "market.view_lifecycleevent",
    ]
    assert payload["token"] == Token.objects.get(user__username="rita").key
    changelist = reverse("admin:market_catalogentry_changelist")
    login = client.post(
        reverse("admin:login"),
        {"username": "rita", "password": payload["password"], "next": changelist},
    )
    assert login.status_code == 302 and login["Location"] == changelist
    assert client.get(changelist).status_code == 200
    entry = review.catalog_entry_submit(bundle_path=build_bundle("hello_minimal").path)
    response = client.post(
        reverse(
            "admin:market_catalogentry_decide", args=[entry.pk, "approve_unverified"]
        )
    )
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.status == "approved"
    assert entry.reviewed_by.username == "rita"
    errors = client_for(payload["token"]).get(reverse("market-api:errors-list"))
    assert errors.status_code == 200


def test_installer_installs_and_uninstalls(api, transactional_db, build_bundle):
    out = run("create", "studio", "--role", "installer")
    key = out.splitlines()[1].split("=", 1)[1]
    client = client_for(key)
    bundle = build_bundle("hello_minimal")
    response = client.post(
        reverse("market-api:install"), {"package": str(bundle.path)}, format="json"
    )
    assert response.status_code == 200, response.json()
    response = client.post(
        reverse("market-api:uninstall"), {"id": "hello.minimal"}, format="json"
    )
    assert response.json() == {"ok": True, "id": "hello.minimal"}
    refused = submit(client, bundle.path)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"


def test_roles_combine_and_groups_keep_operator_additions(db):
    group = Group.objects.create(name="market modders")
    added = Permission.objects.get(
        codename="view_lifecycleevent", content_type__app_label="market"
    )
    group.permissions.add(added)
    payload = json.loads(
        run("create", "both", "--role", "modder", "--role", "installer", "--json")
    )
    assert payload["roles"] == ["modder", "installer"]
    assert payload["password"] is None
    assert set(payload["permissions"]) == {
        "market.submit_catalogentry",
        "market.install_extension",
        "market.uninstall_extension",
        "market.view_lifecycleevent",
    }
    assert group.permissions.filter(pk=added.pk).exists()


def test_existing_or_bad_names_and_unknown_roles_are_refused(db):
    run("create", "mia", "--role", "modder")
    with pytest.raises(CommandError, match="user 'mia' already exists"):
        run("create", "mia", "--role", "installer")
    with pytest.raises(CommandError, match="invalid_request: invalid user name"):
        run("create", "no spaces/here", "--role", "modder")
    with pytest.raises(CommandError, match="invalid choice: 'admin'"):
        run("create", "x", "--role", "admin")
    with pytest.raises(CommandError, match="--role"):
        run("create", "x")
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["mia"]
    assert Token.objects.count() == 1


def test_token_prints_or_rotates(db):
    run("create", "mia", "--role", "modder")
    first = Token.objects.get(user__username="mia").key
    assert run("token", "mia").strip() == first
    rotated = run("token", "mia", "--rotate").strip()
    assert rotated != first
    assert Token.objects.get(user__username="mia").key == rotated
    with pytest.raises(CommandError, match="invalid_request: no user 'nobody'"):
        run("token", "nobody")
