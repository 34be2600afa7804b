"""``health`` in one query whose cost does not grow with the catalogue.

The catalogue count is the one the revision row keeps (recounted by every catalogue
decision, see :mod:`market.revision`); installs are few; the error count and the
newest error are read through the ``(action, created_at)`` index. One round trip, a
handful of index lookups, whether the catalogue holds 100 entries or 100,000.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import DateTimeField

from market.clock import iso
from market.conf import market_conf
from market.manifest import TRUST_LEVELS
from market.models import (
    CatalogEntry,
    CatalogRevision,
    InstalledExtension,
    LifecycleAction,
    LifecycleError,
    LifecycleEvent,
)
from market.redact import redact
from market.revision import REVISION_PK
from market.upstream import state as upstream_state

LIFECYCLE_ACTIONS = (LifecycleAction.INSTALL, LifecycleAction.UNINSTALL)


def _sql() -> tuple[str, list[Any]]:
    q = connection.ops.quote_name
    revision = q(CatalogRevision._meta.db_table)
    entries = q(CatalogEntry._meta.db_table)
    installed = q(InstalledExtension._meta.db_table)
    errors = q(LifecycleError._meta.db_table)
    events = q(LifecycleEvent._meta.db_table)
    actions = ", ".join(["%s"] * len(LIFECYCLE_ACTIONS))
    # Only quoted table names from the models are formatted in; values are parameters.
    per_level = ", ".join(
        f"(SELECT COUNT(*) FROM {installed} WHERE trust_level = %s)"  # noqa: S608
        for _ in TRUST_LEVELS
    )
    # COALESCE only counts the catalogue when the revision row is missing (a
    # database emptied by hand), so health stays right even then.
    sql = f"""
        SELECT
            COALESCE(
                (SELECT listed FROM {revision} WHERE id = %s),
                (SELECT COUNT(*) FROM {entries}
                 WHERE status = %s AND is_latest = %s)
            ),
            {per_level},
            (SELECT COUNT(*) FROM {errors} WHERE action IN ({actions})),
            (SELECT COUNT(*) FROM {installed} i WHERE EXISTS (
                SELECT 1 FROM {entries} c WHERE c.extension_id = i.extension_id
                AND c.version = i.version AND c.status = %s)),
            (SELECT COUNT(*) FROM {installed} i WHERE EXISTS (
                SELECT 1 FROM {entries} c WHERE c.extension_id = i.extension_id
                AND c.status = %s AND (c.version = i.version OR NOT EXISTS (
                    SELECT 1 FROM {entries} a WHERE a.extension_id = i.extension_id
                    AND a.status IN (%s, %s))))),
            e.action, e.message, e.created_at, e.extension_id, e.code,
            EXISTS (
                SELECT 1 FROM {events} v
                WHERE v.action IN ({actions}) AND v.created_at > e.created_at
            )
        FROM (SELECT 1 AS one) base
        LEFT JOIN (
            SELECT action, message, created_at, extension_id, code
            FROM {errors} WHERE action IN ({actions})
            ORDER BY created_at DESC, id DESC LIMIT 1
        ) e ON 1 = 1
    """  # noqa: S608
    params: list[Any] = [
        REVISION_PK,
        CatalogEntry.Status.APPROVED,
        True,
        *TRUST_LEVELS,
        *LIFECYCLE_ACTIONS,
        # yanked, then blocked (delisted: the version, or the whole extension)
        CatalogEntry.Status.YANKED,
        CatalogEntry.Status.DELISTED,
        CatalogEntry.Status.APPROVED,
        CatalogEntry.Status.YANKED,
        *LIFECYCLE_ACTIONS,
        *LIFECYCLE_ACTIONS,
    ]
    return sql, params


def _timestamp(value: Any) -> datetime:
    """A ``created_at`` as the driver returns it (SQLite: text in UTC)."""
    value = DateTimeField().to_python(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def market_health() -> dict[str, Any]:
    """Counts, trust breakdown and the last error unless a success followed it."""
    sql, params = _sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    n = len(TRUST_LEVELS)
    catalog, by_level, errors = row[0], row[1 : 1 + n], row[1 + n]
    yanked, blocked = row[2 + n], row[3 + n]
    action, message, created_at, ext_id, code, superseded = row[4 + n :]
    last_error = None
    if action is not None and not superseded:
        last_error = {
            "action": action,
            # Stored redacted; read redacted too, for rows written before that.
            "message": redact(message, market_conf().redaction_roots),
            "timestamp": iso(_timestamp(created_at)),
            "extension_id": ext_id or None,
            "code": code,
        }
    payload = {
        "ok": True,
        "counts": {
            "catalog": catalog,
            "installed": sum(by_level),
            "errors": errors,
            # Installed copies of yanked versions and of delisted extensions.
            "yanked": yanked,
            "blocked": blocked,
        },
        "trust_breakdown": dict(zip(TRUST_LEVELS, by_level, strict=True)),
        "last_error": last_error,
    }
    # No query unless a central server is configured.
    upstream = upstream_state.health_payload()
    if upstream is not None:
        payload["upstream"] = upstream
    return payload
