"""The admin pages an operator uses, in a real browser: logging in (and being locked
out after too many failures) and switching the marketplace on from the flags page."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_too_many_failed_logins_lock_the_account_with_a_page_that_says_so(
    browser, make_user, settings
):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    make_user("root", superuser=True)

    browser.login("root", "wrong")
    assert "Please enter the correct username and password" in browser.text()
    browser.shot("wrong password")
    browser.login("root", "wrong")
    browser.login("root", "wrong")
    page = browser.text()
    assert "Too many failed logins" in page
    assert "Try again in 15 minutes." in page
    browser.shot("locked out")
    # Locked means locked: the right password does not get in either.
    browser.login("root", "pw-root")
    assert "Too many failed logins" in browser.text()
    browser.open("/admin/")
    assert browser.path.startswith("/admin/login/")


def test_an_operator_switches_the_marketplace_on_from_the_flags_page(
    browser, make_user, settings
):
    make_user("root", superuser=True)
    health = browser.base_url + "/api/market/health"
    assert _status(health) == 403  # off until someone switches it on

    browser.login("root", "pw-root")
    browser.wait_for("#content")
    assert browser.find("#site-name").text == "ComfyVN Marketplace"
    browser.shot("admin home")
    # Listed with the marketplace's models, on the index and in the sidebar.
    links = browser.find_all(".app-market a[href='/admin/flags/']")
    assert "Debug & Feature Flags" in [a.text for a in links]
    browser.click_link("Debug & Feature Flags")
    assert len(browser.find_all("#nav-sidebar a[href='/admin/flags/']")) == 1
    browser.wait_for("form input[type=submit]")
    assert "marketplace API off" in browser.text()
    browser.shot("flags off")
    checkbox = browser.find("input[type=checkbox][name=enable_marketplace]")
    assert not checkbox.is_selected()
    checkbox.click()
    browser.click("form input[type=submit]")
    browser.wait_for("ul.messagelist")
    assert "Saved enable_marketplace" in browser.text()
    assert "marketplace API on" in browser.text()
    browser.shot("flags saved")

    assert _status(health) == 200
    saved = json.loads(settings.COMFYVN_CONFIG.read_text())
    assert saved["features"]["enable_marketplace"] is True
