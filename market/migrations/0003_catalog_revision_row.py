"""The catalogue revision's single row, with the catalogue counted as it stands."""

import secrets

from django.db import migrations


def create_row(apps, schema_editor):
    revision = apps.get_model("market", "CatalogRevision")
    entry = apps.get_model("market", "CatalogEntry")
    listed = entry.objects.filter(status="approved", is_latest=True).count()
    revision.objects.update_or_create(
        pk=1, defaults={"listed": listed, "epoch": secrets.token_hex(4)}
    )


class Migration(migrations.Migration):
    dependencies = [("market", "0002_catalog_revision")]

    operations = [migrations.RunPython(create_row, migrations.RunPython.noop)]
