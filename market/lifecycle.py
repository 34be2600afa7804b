"""The lifecycle record: audit events, stored errors and the logfmt server log.

Errors are written on their own connection-level autocommit, outside any failed
transaction, so a rollback never erases the record of why it rolled back. Services
wrap each action in :func:`recording`, which does exactly that.

A stored error is public (``health.last_error``, ``errors/``): its message and
details are redacted of server paths, and a fault of the server itself (a bug, a disk
error, a broken setting) is stored as a reference id only. The server log keeps the
full message and the traceback under the same id.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction

from market import revision
from market.conf import market_conf
from market.errors import ConfigError, MarketError
from market.models import LifecycleError, LifecycleEvent
from market.redact import redact
from market.serverlog import append_line, logfmt, new_error_id, now_iso

logger = logging.getLogger(__name__)

__all__ = [
    "logfmt",
    "record_error",
    "record_event",
    "recording",
    "server_log_path",
]

CONFIG_MESSAGE = "the server's configuration is invalid; the operator has the details"


def fault_point(name: str) -> None:
    """A named step of a lifecycle action; tests patch it to simulate a crash."""


def server_log_path() -> Path:
    return market_conf().server_log


def write_log_line(fields: dict[str, Any]) -> None:
    line = logfmt({**fields, "ts": now_iso()})
    logger.info("%s", line)
    append_line(line)


def _scrub(value: Any) -> Any:
    """Make hostile text storable: PostgreSQL refuses NUL in text and jsonb."""
    if isinstance(value, str):
        return value.replace("\x00", "\\x00")
    if isinstance(value, dict):
        return {_scrub(str(k)): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _scrub(str(value))


def _actor_name(actor: Any) -> str | None:
    return getattr(actor, "username", None) or None


def _actor_row(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def record_event(
    action: str,
    ext_id: str,
    *,
    version: str = "",
    trust: str = "",
    sha256: str = "",
    actor: Any = None,
    detail: dict[str, Any] | None = None,
) -> LifecycleEvent:
    """Store an audit event; the log line is written once the transaction commits.

    Every lifecycle write records its event inside its own transaction, so this is
    also where the catalogue revision is bumped: with the change, or not at all.
    """
    event = LifecycleEvent.objects.create(
        action=action,
        extension_id=ext_id,
        version=version,
        trust_level=trust,
        package_sha256=sha256,
        actor=_actor_row(actor),
        detail=detail or {},
    )
    fields = {
        "event": f"market.{action}",
        "extension_id": ext_id,
        "version": version or None,
        "trust": trust or None,
        "sha256": sha256 or None,
        "actor": _actor_name(actor),
    }
    transaction.on_commit(lambda: write_log_line(fields))
    revision.catalog_changed(action)
    return event


def record_error(
    action: str, ext_id: str, exc: BaseException, *, actor: Any = None
) -> LifecycleError | None:
    """Store a failed action. Must run outside the failed ``atomic()`` block."""
    error_id = None
    if isinstance(exc, ConfigError) or not isinstance(exc, MarketError):
        # The server's fault, not the request's: the traceback goes to the server
        # log; the stored row and the client get the reference id.
        error_id = getattr(exc, "error_id", None) or new_error_id()
        with contextlib.suppress(AttributeError):
            exc.error_id = error_id  # type: ignore[attr-defined]
        logger.error(
            "%s of %s failed",
            action,
            ext_id or "-",
            exc_info=(type(exc), exc, exc.__traceback__),
            extra={"error_id": error_id},
        )
    if isinstance(exc, ConfigError):
        code, message, detail = exc.code, CONFIG_MESSAGE, {"error_id": error_id}
    elif isinstance(exc, MarketError):
        code, message, detail = exc.code, exc.message, exc.details
    else:
        code, message, detail = (
            "server_error",
            "internal error",
            {"type": type(exc).__name__, "error_id": error_id},
        )
    write_log_line(
        {
            "event": f"market.{action}.error",
            "extension_id": ext_id or None,
            "code": code,
            "message": exc.message if isinstance(exc, MarketError) else message,
            "error_id": error_id,
            "actor": _actor_name(actor),
        }
    )
    roots = market_conf().redaction_roots
    message = redact(message, roots)
    detail = redact(detail if isinstance(detail, dict) else {"value": detail}, roots)
    if transaction.get_connection().needs_rollback:
        # Still inside a broken outer transaction (a caller's atomic block): writing now
        # would fail; the log line above is the record.
        return None
    try:
        return LifecycleError.objects.create(
            action=action,
            extension_id=_scrub(ext_id)[:64],
            code=code,
            message=_scrub(message)[:2000],
            detail=_scrub(detail),
            actor=_actor_row(actor),
        )
    except Exception:
        logger.exception("could not store lifecycle error %s %s", action, code)
        return None


# Set on an exception once it is stored, so nested recordings store it once.
_RECORDED = "_market_lifecycle_recorded"


def record_rolled_back(exc: BaseException) -> None:
    """``exc`` was stored inside an outer transaction that then rolled back (a
    multi-extension plan): let the next enclosing :func:`recording` store it again."""
    with suppress(AttributeError):
        setattr(exc, _RECORDED, False)


@dataclass
class Recording:
    """The action being recorded; set ``ext_id`` once it is known (e.g. from the
    bundle's manifest)."""

    action: str
    ext_id: str = ""
    actor: Any = None


@contextmanager
def recording(
    action: str, ext_id: str = "", *, actor: Any = None
) -> Iterator[Recording]:
    """Store a failure of the enclosed lifecycle action, then re-raise it.

    Wrap the whole action, its ``transaction.atomic()`` block inside::

        with recording(LifecycleAction.INSTALL, actor=user) as rec:
            rec.ext_id = manifest.id
            with transaction.atomic():
                ...

    The exception leaves the atomic block first, so the rollback cannot erase the
    ``LifecycleError`` (and the log line) written here. Only ``Exception``s are
    recorded (not ``KeyboardInterrupt``/``SystemExit``). Nested recordings store an
    exception once, at the innermost one, which knows the most.
    """
    rec = Recording(action, ext_id, actor)
    try:
        yield rec
    except Exception as exc:
        if not getattr(exc, _RECORDED, False):
            with suppress(AttributeError):  # an exception type without attributes
                setattr(exc, _RECORDED, True)
            record_error(rec.action, rec.ext_id, exc, actor=rec.actor)
        raise
