"""Catalogue search: PostgreSQL full-text search, a substring match elsewhere.

On PostgreSQL ``?search=`` is matched against a ``tsvector`` of the id (whole, and
split at dots so ``toolkit`` finds ``sample.toolkit``), the name and the summary,
with the ``simple`` configuration (no language-specific stemming: names and ids are
not English prose). The query is read by ``websearch_to_tsquery``: words must all
match, ``"quoted phrases"``, ``or`` and ``-excluded`` work, and no input is a syntax
error. A partial GIN index over the same expression (migration
``0004_catalog_search_index``) makes it an index lookup at any catalogue size.

SQLite (the embedded default) has no such index: there every word (up to
``MAX_WORDS``) must be a case-insensitive substring of the id, the name or the summary.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Replace

SEARCH_CONFIG = "simple"
MAX_WORDS = 8
INDEX_NAME = "market_catalog_search"


def search_vector() -> SearchVector:
    """The indexed expression; the index and every query must use exactly this."""
    return SearchVector(
        "extension_id",
        Replace("extension_id", Value("."), Value(" ")),
        "name",
        "summary",
        config=SEARCH_CONFIG,
    )


def full_text(queryset: QuerySet, text: str) -> QuerySet:
    """``queryset`` narrowed to entries matching the search text."""
    if connection.vendor == "postgresql":
        query = SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch")
        return queryset.alias(_search=search_vector()).filter(_search=query)
    for word in text.split()[:MAX_WORDS]:
        queryset = queryset.filter(
            Q(extension_id__icontains=word)
            | Q(name__icontains=word)
            | Q(summary__icontains=word)
        )
    return queryset
