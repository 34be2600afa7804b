"""Catalogue seeding for ``bench_http.py``: approved entries as approval stores them.

Each row holds what submission and approval store, computed by the same functions
(card, listing, filter indexes, newest-version flag), and is written with
PostgreSQL's COPY, so 100,000 entries take minutes of Python, not of database round
trips. Needs Django set up on a PostgreSQL database.
"""

from __future__ import annotations

import json
import random
import time
import types

WORDS = [
    *("scene", "inspector", "relay", "palette", "weather", "battle", "audio"),
    *("subtitle", "worldline", "rating", "export", "cloud", "prop", "asset", "tts"),
    *("mixer", "timeline", "camera", "dialogue", "sprite", "portrait", "glossary"),
    *("choice", "branch", "memory", "save", "quest", "journal", "outfit", "shader"),
]
# What ?search= looks for: ten entries carry it at every size (7, 17, ..., 97), so
# the answer is the same page everywhere and only finding it may cost more.
RARE = "zyzzyva"
INSTALLED = 3  # extensions installed, older than the catalogue


def _manifest(i: int, rng: random.Random) -> dict:
    words = rng.sample(WORDS, 3)
    summary = f"Adds {words[0]} and {words[1]} helpers for the {words[2]} workflow."
    if i < 100 and i % 10 == 7:
        summary += f" Includes the {RARE} toolkit."
    return {
        "manifest_version": "1.1",
        "id": f"bench.{i:06d}",
        "name": f"{words[0].title()} {words[1].title()} {i}",
        "version": "1.0.0",
        "summary": summary,
        "authors": [f"Modder {i % 97}"],
        "permissions": [
            {"scope": "assets.read", "description": "d", "optional": False},
            {"scope": "hooks.listen", "description": "d", "optional": False},
        ],
        "routes": [{"path": "/status", "methods": ["GET"], "expose": "extension"}],
        "events": [],
        "ui": {"panels": []},
        "hooks": ["on_scene_enter", "on_asset_saved"],
        "diagnostics": {"log_topics": [f"bench{i}"], "metrics": [], "traces": []},
        "trust": {"level": "unverified"},
    }


def seed(total: int) -> float:
    """Grow the approved catalogue to ``total`` entries; seconds taken.

    Each row holds what submission and approval store, computed by the same
    functions (card, listing, filter indexes, newest-version flag), and is written
    with PostgreSQL's COPY.
    """
    from django.db import connection, transaction
    from django.utils import timezone

    from market import revision
    from market.models import CatalogEntry, InstalledExtension

    start = time.perf_counter()
    have = CatalogEntry.objects.count()
    rng = random.Random(have)
    now = timezone.now()
    fields = [f for f in CatalogEntry._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(CatalogEntry._meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for i in range(have, total):
            data = _manifest(i, rng)
            row = types.SimpleNamespace(
                extension_id=data["id"],
                version=data["version"],
                name=data["name"],
                summary=data["summary"],
                authors=data["authors"],
                manifest=data,
                manifest_sha256=f"{i:064x}",
                package=f"bundles/{data['id']}/{data['id']}-1.0.0.cvnext",
                package_sha256=f"{i + 1:064x}",
                package_size=2048 + i % 1000,
                trust_level="unverified",
                status=CatalogEntry.Status.APPROVED.value,
                is_latest=True,
                source=CatalogEntry.Source.LOCAL.value,
                studio_range="",
                submitted_at=now,
                reviewed_at=now,
                approved_at=now,
            )
            derive(row)  # what submission and approval store
            copy.write_row([_column(f, row) for f in fields])
    if not InstalledExtension.objects.exists():
        rows = CatalogEntry.objects.order_by("extension_id")[:INSTALLED]
        InstalledExtension.objects.bulk_create(
            InstalledExtension(
                extension_id=e.extension_id,
                version="0.9.0",  # older than the catalogue: update_available is set
                trust_level=e.trust_level,
                manifest=e.manifest,
                manifest_sha256=e.manifest_sha256,
                package_name=f"{e.extension_id}-0.9.0.cvnext",
                package_sha256=e.package_sha256,
                package_size=e.package_size,
                source="catalog",
                sidecar={"id": e.extension_id, "version": "0.9.0"},
                installed_at=now,
            )
            for e in rows
        )
    with transaction.atomic():
        revision.rebuild()  # as every approval does, in its transaction
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return time.perf_counter() - start


def derive(entry) -> None:
    """The columns submission and approval derive from the manifest."""
    from market.selectors import catalog_card, catalog_listing

    scopes = [p["scope"] for p in entry.manifest["permissions"]]
    entry.permission_index = " " + " ".join(scopes) + " "
    entry.hook_index = " " + " ".join(entry.manifest["hooks"]) + " "
    entry.card = catalog_card(entry.manifest)
    entry.listing = catalog_listing(entry)


def _column(field, row) -> object:
    value = getattr(row, field.attname, None)
    if value is None and not field.null:
        value = field.get_default()
    if value is not None and field.get_internal_type() == "JSONField":
        return json.dumps(value)
    return value
