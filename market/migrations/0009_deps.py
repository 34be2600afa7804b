"""Catalogue entries gain ``studio_range`` (the manifest's ``compatibility.studio``),
and their stored cards and listings gain ``compatibility`` and ``dependencies``.

All three are derived from each entry's stored manifest, with the manifest package's
own functions, so they are what ``manage.py market_rebuild`` would write.
"""

import json

from django.db import migrations, models

from market.manifest import dependency_ranges, studio_range


def fill_versions(apps, schema_editor):
    CatalogEntry = apps.get_model("market", "CatalogEntry")
    changed = False
    for entry in CatalogEntry.objects.iterator():
        studio = studio_range(entry.manifest)
        extra = {
            "compatibility": {"studio": studio} if studio else {},
            "dependencies": dependency_ranges(entry.manifest),
        }
        card = {**(entry.card or {}), **extra}
        listing = entry.listing
        if listing:
            listing = json.dumps({**json.loads(listing), **extra}, separators=(",", ":"))
        CatalogEntry.objects.filter(pk=entry.pk).update(
            studio_range=studio, card=card, listing=listing
        )
        changed = True
    if changed:
        revision = apps.get_model("market", "CatalogRevision")
        for row in revision.objects.all():  # every cached body and ETag is stale
            row.number += 1
            row.save(update_fields=["number"])


class Migration(migrations.Migration):
    dependencies = [
        ("market", "0008_review_state"),
    ]

    operations = [
        migrations.AddField(
            model_name="catalogentry",
            name="studio_range",
            field=models.CharField(blank=True, default="", max_length=256),
        ),
        migrations.RunPython(fill_versions, migrations.RunPython.noop),
    ]
