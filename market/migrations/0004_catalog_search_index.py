"""PostgreSQL only: a partial GIN index over the catalogue's search expression.

Built from ``market.search.search_vector()`` itself, so the index and the queries can't
drift apart (a test checks PostgreSQL plans searches through it). Other databases
search by substring and get no index here.
"""

from django.contrib.postgres.indexes import GinIndex
from django.db import migrations
from django.db.models import Q

from market.search import INDEX_NAME, search_vector


def _index() -> GinIndex:
    return GinIndex(
        search_vector(),
        name=INDEX_NAME,
        condition=Q(status="approved", is_latest=True),
    )


def add_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("market", "CatalogEntry"), _index())


def remove_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("market", "CatalogEntry"), _index())


class Migration(migrations.Migration):
    dependencies = [("market", "0003_catalog_revision_row")]

    operations = [migrations.RunPython(add_index, remove_index)]
