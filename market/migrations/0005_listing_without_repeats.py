"""Re-encode the stored ``listing`` of approved entries: capabilities no longer repeat
the permissions and hooks each entry carries at its top level."""

from django.db import migrations


def reencode(apps, schema_editor):
    from market.selectors import catalog_listing

    entry = apps.get_model("market", "CatalogEntry")
    approved = entry.objects.filter(status="approved").exclude(listing="")
    batch = []
    for row in approved.iterator(chunk_size=2000):
        row.listing = catalog_listing(row)
        batch.append(row)
        if len(batch) == 2000:
            entry.objects.bulk_update(batch, ["listing"])
            batch = []
    entry.objects.bulk_update(batch, ["listing"])
    revision = apps.get_model("market", "CatalogRevision")
    for row in revision.objects.all():  # every cached body and ETag is stale
        row.number += 1
        row.save(update_fields=["number"])


class Migration(migrations.Migration):
    dependencies = [("market", "0004_catalog_search_index")]

    operations = [migrations.RunPython(reencode, migrations.RunPython.noop)]
