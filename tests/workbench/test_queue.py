"""The review queue (the catalogue entries changelist) and its query budget."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from market.models import CatalogEntry

QUEUE = "admin:market_catalogentry_changelist"


def rows(html: str) -> list[str]:
    """``id version`` of each row, in order."""
    return [
        f"{m[0]} {m[1]}"
        for m in re.findall(
            r'<th class="field-extension_id"><a [^>]*>([^<]+)</a></th>'
            r'<td class="field-version"><a [^>]*>([^<]+)</a>',
            html,
        )
    ]


def make_entries(n: int, *, status: str = "pending", user=None, start: int = 0):
    """``n`` entries as a submission stores them (report with risk and diff)."""
    now = timezone.now()
    entries = CatalogEntry.objects.bulk_create(
        CatalogEntry(
            extension_id=f"bulk.e{i:04d}",
            version="2.0.0",
            name=f"Bulk {i}",
            manifest={"id": f"bulk.e{i:04d}", "version": "2.0.0"},
            manifest_sha256="0" * 64,
            package=f"bundles/bulk/e{i}.cvnext",
            package_sha256=f"{i:064x}",
            package_size=1000 + i,
            status=status,
            permission_index=" assets.read assets.write ",
            report={
                "risk": {"score": i % 100, "total": i % 7, "findings": []},
                "diff": {
                    "previous_version": "1.0.0",
                    "changes": {
                        "permissions": {"added": ["assets.write"], "removed": []}
                    },
                },
                "files": [{"path": f"f{j}.py"} for j in range(50)],
            },
            submitted_by=user,
        )
        for i in range(start, start + n)
    )
    # Oldest first: entry i waited i minutes less than entry 0.
    for i, entry in enumerate(entries):
        CatalogEntry.objects.filter(pk=entry.pk).update(
            submitted_at=now - timedelta(days=3, minutes=-i)
        )
    return entries


@pytest.fixture
def boss_client(client, make_user):
    client.force_login(make_user("boss", superuser=True))
    return client


def test_the_queue_is_pending_entries_oldest_first(boss_client, make_user):
    modder = make_user("mo")
    make_entries(3, user=modder)
    make_entries(2, status="approved", start=10)
    html = boss_client.get(reverse(QUEUE)).content.decode()
    assert rows(html) == ["bulk.e0000 2.0.0", "bulk.e0001 2.0.0", "bulk.e0002 2.0.0"]
    first = CatalogEntry.objects.get(extension_id="bulk.e0000")
    review = reverse("admin:market_catalogentry_change", args=[first.pk])
    assert f'<a href="{review}">bulk.e0000</a>' in html
    cells = re.search(r"<tr>.*?bulk\.e0001.*?</tr>", html, re.S).group(0)
    assert '<td class="field-submitter">mo</td>' in cells
    assert '<td class="field-waiting">2\xa0days, 23\xa0hours</td>' in cells
    assert '<td class="field-risk">1 (1 finding)</td>' in cells
    assert '<td class="field-new_permissions">1: assets.write</td>' in cells
    assert '<td class="field-size">1001\xa0bytes</td>' in cells


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=approved", ["bulk.e0010 2.0.0", "bulk.e0011 2.0.0"]),
        ("status=rejected", []),
        ("status=bogus", ["bulk.e0000 2.0.0"]),  # the queue, not an error
    ],
)
def test_other_states_are_one_click_away(boss_client, query, expected):
    make_entries(1)
    make_entries(2, status="approved", start=10)
    html = boss_client.get(reverse(QUEUE) + "?" + query).content.decode()
    assert rows(html) == expected


def test_all_states_and_every_link_of_the_status_filter(boss_client):
    make_entries(1)
    make_entries(1, status="yanked", start=10)
    html = boss_client.get(reverse(QUEUE)).content.decode()
    for value in ("pending", "approved", "rejected", "delisted", "yanked", "all"):
        assert f'href="?status={value}"' in html
    assert re.search(r'<li class="selected">\s*<a href="\?status=pending"', html)
    assert "Review queue: pending submissions, oldest first" in html
    assert 'class="field-status"' not in html  # one status: no column for it
    every = boss_client.get(reverse(QUEUE) + "?status=all").content.decode()
    assert rows(every) == ["bulk.e0000 2.0.0", "bulk.e0010 2.0.0"]
    assert '<td class="field-status">Yanked</td>' in every
    assert "Catalogue entries: all" in every


def test_a_first_version_lists_all_its_permissions_and_unscanned_entries_say_so(
    boss_client,
):
    (entry,) = make_entries(1)
    # As a first submission stores it: no previous version (a JSON null).
    CatalogEntry.objects.filter(pk=entry.pk).update(
        report={"diff": {"previous_version": None, "changes": {}}}
    )
    html = boss_client.get(reverse(QUEUE)).content.decode()
    assert (
        '<td class="field-new_permissions">2: assets.read, assets.write '
        "(first version)</td>"
    ) in html
    assert '<td class="field-risk">not scanned</td>' in html


def test_the_risk_column_sorts_by_score(boss_client):
    make_entries(3, start=5)  # scores 5, 6, 7
    risk_column = 5  # id, version, submitter, waiting, risk (no status column)
    html = boss_client.get(reverse(QUEUE) + f"?o=-{risk_column}").content.decode()
    assert rows(html) == ["bulk.e0007 2.0.0", "bulk.e0006 2.0.0", "bulk.e0005 2.0.0"]


def test_bulk_actions_only_reject_and_delist(boss_client):
    make_entries(1)
    html = boss_client.get(reverse(QUEUE)).content.decode()
    actions = re.findall(r'<option value="(\w+)"', html.split('name="action"')[1])
    assert actions == ["reject", "delist"]


@pytest.mark.parametrize("pending", [10, 500])
def test_the_queue_costs_the_same_queries_however_long(
    client, make_user, pending, django_assert_max_num_queries
):
    reviewer = make_user(
        "rev", "market.review_catalogentry", "market.view_catalogentry", staff=True
    )
    modder = make_user("mo")
    make_entries(pending, user=modder)
    client.force_login(reviewer)
    # session, user, its permissions (2), count, full count, the page's rows
    with django_assert_max_num_queries(7):
        response = client.get(reverse(QUEUE))
    assert response.status_code == 200
    assert len(rows(response.content.decode())) == min(pending, 100)


@pytest.mark.parametrize("pending", [10, 500])
def test_the_review_page_costs_the_same_queries_however_long_the_queue(
    client, make_user, pending, django_assert_max_num_queries
):
    reviewer = make_user(
        "rev", "market.review_catalogentry", "market.view_catalogentry", staff=True
    )
    entries = make_entries(pending, user=make_user("mo"))
    # Other versions of the reviewed id are listed (bounded) on its page.
    CatalogEntry.objects.filter(pk__in=[e.pk for e in entries[1:30]]).update(
        extension_id="bulk.e0000", version=versions_from_pk()
    )
    client.force_login(reviewer)
    url = reverse("admin:market_catalogentry_change", args=[entries[0].pk])
    # session, user, its permissions (2), the entry, its other versions
    with django_assert_max_num_queries(6):
        response = client.get(url)
    assert response.status_code == 200
    assert "Other versions of bulk.e0000" in response.content.decode()


def versions_from_pk():
    """A distinct version per row, from its primary key."""
    from django.db.models import CharField, Value
    from django.db.models.functions import Cast, Concat

    return Concat(Value("1.0."), Cast("pk", CharField()))
