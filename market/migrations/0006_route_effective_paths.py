"""Stored catalogue cards and listings gain ``effective_path`` on every route.

Cards (written at submission) and listings (written at approval) are derived from the
manifest; this rebuilds the routes in both from each entry's stored manifest, leaving
everything else as it was.
"""

import json

from django.db import migrations

from market.manifest import capabilities


def _with_routes(summary, routes):
    if not isinstance(summary, dict):
        return summary
    caps = summary.get("capabilities")
    if isinstance(caps, dict):
        summary = {**summary, "capabilities": {**caps, "routes": routes}}
    return summary


def rebuild_routes(apps, schema_editor):
    CatalogEntry = apps.get_model("market", "CatalogEntry")
    for entry in CatalogEntry.objects.iterator():
        routes = capabilities(entry.manifest)["routes"]
        card = entry.card or {}
        if "manifest_summary" in card:
            card = {**card, "manifest_summary": _with_routes(card["manifest_summary"], routes)}
        listing = entry.listing
        if listing:
            data = json.loads(listing)
            data["manifest_summary"] = _with_routes(data.get("manifest_summary"), routes)
            listing = json.dumps(data, separators=(",", ":"))
        CatalogEntry.objects.filter(pk=entry.pk).update(card=card, listing=listing)
    revision = apps.get_model("market", "CatalogRevision")
    for row in revision.objects.all():  # every cached body and ETag is stale
        row.number += 1
        row.save(update_fields=["number"])


class Migration(migrations.Migration):
    dependencies = [("market", "0005_listing_without_repeats")]

    operations = [migrations.RunPython(rebuild_routes, migrations.RunPython.noop)]
