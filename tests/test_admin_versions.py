"""The review page shows a bundle's Studio range and dependencies, and the diff
against the last approved version covers both."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from tests.publishing import publish


@pytest.fixture
def admin_client_logged(client, make_user):
    client.force_login(make_user("boss", superuser=True))
    return client


def page(client, entry) -> str:
    response = client.get(reverse("admin:market_catalogentry_change", args=[entry.pk]))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_review_page_shows_compatibility_dependencies_and_their_diff(
    admin_client_logged, build_bundle
):
    publish(build_bundle, "dep.base", "1.2.0")
    first = publish(
        build_bundle, "app.main", "1.0.0", studio=">=1.0", deps={"dep.base": "^1"}
    )
    shown = page(admin_client_logged, first)
    assert "Compatibility and dependencies" in shown
    assert "Studio: <code>>=1.0</code>" in shown
    assert "<td><code>dep.base</code></td><td><code>^1</code></td>" in shown
    assert "<td>1.2.0</td>" in shown

    second = publish(
        build_bundle,
        "app.main",
        "2.0.0",
        studio=">=1.4",
        deps={"dep.base": "^2", "dep.extra": "1.x"},
        approve=False,
    )
    assert second.report["diff"]["changes"]["compatibility"] == {
        "added": ["studio >=1.4"],
        "removed": ["studio >=1.0"],
    }
    assert second.report["diff"]["changes"]["dependencies"] == {
        "added": ["dep.base ^2", "dep.extra 1.x"],
        "removed": ["dep.base ^1"],
    }
    shown = page(admin_client_logged, second)
    assert "Since approved version 1.0.0" in shown
    minus = "\N{MINUS SIGN}"  # the template's &minus;
    for line in (
        "+ studio >=1.4",
        f"{minus} studio >=1.0",
        "+ dep.base ^2",
        f"{minus} dep.base ^1",
    ):
        assert line in shown, line
    assert shown.count("none: the catalogue has no approved version in range") == 2


def test_a_bundle_without_them_says_so(admin_client_logged, build_bundle):
    entry = publish(build_bundle, "app.plain", "1.0.0", approve=False)
    shown = page(admin_client_logged, entry)
    assert "Studio: any version (no range declared)" in shown
    assert '<tr><td colspan="3">none</td></tr>' in shown
