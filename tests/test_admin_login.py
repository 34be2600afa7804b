"""Admin logins are throttled per username and client address (django-axes)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

LOGIN = "/admin/login/"
HOME = "/admin/"


@pytest.fixture
def throttled(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


@pytest.fixture
def admins(make_user):
    return {
        "root": make_user("root", superuser=True),
        "other": make_user("other", superuser=True),
    }


def attempt(client: Client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(
        LOGIN,
        {"username": username, "password": password, "next": HOME},
        REMOTE_ADDR=ip,
    )


def logged_in(client: Client) -> bool:
    return client.get(HOME).status_code == 200


def assert_locked_page(response, username: str) -> None:
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed logins" in page
    assert f"<strong>{username}</strong>" in page
    assert "locked after\n    3 failed attempts" in page
    assert "Try again in 15 minutes." in page


def test_the_limit_locks_out_even_the_right_password(throttled, admins, client):
    for _ in range(2):
        response = attempt(client, "root", "wrong")
        assert response.status_code == 200  # the login form, with its error
        assert "Please enter the correct username and password" in (
            response.content.decode()
        )
    assert_locked_page(attempt(client, "root", "wrong"), "root")
    assert_locked_page(attempt(client, "root", "pw-root"), "root")
    assert not logged_in(client)
    # The refused attempt counts too (and restarts the cool-off).
    assert AccessAttempt.objects.get().failures_since_start == 4


def test_another_user_and_another_address_are_unaffected(throttled, admins):
    attacker = Client()
    for _ in range(3):
        attempt(attacker, "root", "wrong")
    assert_locked_page(attempt(attacker, "root", "pw-root"), "root")

    other_user = Client()
    response = attempt(other_user, "other", "pw-other")  # same address
    assert response.status_code == 302 and response["Location"] == HOME
    assert logged_in(other_user)

    elsewhere = Client()
    response = attempt(elsewhere, "root", "pw-root", ip="10.0.0.2")
    assert response.status_code == 302
    assert logged_in(elsewhere)


def test_a_success_before_the_limit_starts_the_count_again(throttled, admins, client):
    attempt(client, "root", "wrong")
    attempt(client, "root", "wrong")
    assert attempt(client, "root", "pw-root").status_code == 302
    client.logout()
    attempt(client, "root", "wrong")
    attempt(client, "root", "wrong")
    assert attempt(client, "root", "pw-root").status_code == 302


def test_the_lock_ends_with_the_cool_off_or_an_operator_reset(
    throttled, admins, client
):
    for _ in range(3):
        attempt(client, "root", "wrong")
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )
    assert attempt(client, "root", "pw-root").status_code == 302
    client.logout()
    for _ in range(3):
        attempt(client, "root", "wrong")
    assert attempt(client, "root", "pw-root").status_code == 429
    call_command("axes_reset_username", "root")
    assert attempt(client, "root", "pw-root").status_code == 302


def test_behind_a_proxy_the_address_comes_from_its_header(
    throttled, settings, admins, client
):
    settings.MARKET_CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    for _ in range(3):
        client.post(
            LOGIN,
            {"username": "root", "password": "wrong"},
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_REAL_IP="203.0.113.7",
        )
    assert AccessAttempt.objects.get().ip_address == "203.0.113.7"
    # Another client behind the same proxy is a different address.
    response = Client().post(
        LOGIN,
        {"username": "root", "password": "pw-root", "next": HOME},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_REAL_IP="203.0.113.8",
    )
    assert response.status_code == 302


def test_the_api_is_not_throttled_by_failed_logins(throttled, admins, client):
    """Token requests never go through authenticate(): nothing to count or lock."""
    from rest_framework.authtoken.models import Token

    for _ in range(3):
        attempt(client, "root", "wrong")
    token = Token.objects.create(user=admins["root"])
    response = Client().get(
        reverse("market-api:health"),
        HTTP_AUTHORIZATION=f"Token {token.key}",
        REMOTE_ADDR="10.0.0.1",
    )
    assert response.status_code in (200, 403)  # 403 only for the flag, not axes
    assert response["Content-Type"] == "application/json"
