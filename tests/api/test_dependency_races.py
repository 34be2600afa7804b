"""Installs with dependencies racing cascaded uninstalls of what they depend on:
whatever interleaves, no installed extension is left without a dependency in range,
and rows, folders and sidecars agree."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from market.manifest import dependency_ranges, satisfies
from market.models import InstalledExtension
from tests.publishing import publish
from tests.races import race

pytestmark = pytest.mark.usefixtures("catalog_key")


@pytest.mark.django_db(transaction=True)
def test_plans_and_cascades_racing_leave_a_consistent_set(
    token_client, installer, flags_on, build_bundle, market_root
):
    publish(build_bundle, "race.base", "1.0.0")
    publish(build_bundle, "race.mid", "1.0.0", deps={"race.base": "1.x"})
    publish(build_bundle, "race.top", "1.0.0", deps={"race.mid": "^1"})
    publish(build_bundle, "race.side", "1.0.0", deps={"race.base": ">=1"})
    clients = [token_client(installer) for _ in range(8)]

    def request(client, n: int, i: int):
        kind = (n + i) % 4
        if kind == 0:
            r = client.post(
                reverse("market-api:uninstall"),
                {"id": "race.base", "cascade": True},
                format="json",
            )
        elif kind == 1:
            r = client.post(
                reverse("market-api:uninstall"),
                {"id": "race.mid"},
                format="json",
            )
        else:
            target = "race.top" if kind == 2 else "race.side"
            r = client.post(
                reverse("market-api:install"),
                {"id": target, "with_dependencies": True, "reinstall": True},
                format="json",
            )
        return r

    statuses = race(clients, 4, request)
    assert set(statuses) <= {200, 404, 409}, statuses
    # How many win depends on the interleaving (a plan whose dependencies changed
    # meanwhile is a 409 to retry); that none is stuck is shown after the race.
    assert statuses.count(200) >= 1

    rows = {r.extension_id: r for r in InstalledExtension.objects.all()}
    for row in rows.values():
        for dep_id, text in dependency_ranges(row.manifest).items():
            assert dep_id in rows, (row.extension_id, dep_id)
            assert satisfies(rows[dep_id].version, text)
    folder = market_root / "extensions"
    on_disk = {
        f.name: json.loads((f / ".market.json").read_text())["version"]
        for f in (folder.iterdir() if folder.exists() else ())
    }
    assert on_disk == {ext_id: row.version for ext_id, row in rows.items()}
    staging = market_root / "staging"
    assert not [p for p in staging.iterdir() if p.name.startswith("install-")]

    # Nothing was left locked: the whole chain installs at once afterwards.
    settled = token_client(installer).post(
        reverse("market-api:install"),
        {"id": "race.top", "with_dependencies": True, "reinstall": True},
        format="json",
    )
    assert settled.status_code == 200, settled.content
