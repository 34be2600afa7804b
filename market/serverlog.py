"""The server log, ``<MARKET_ROOT>/logs/server.log``: one logfmt line per event.

Lifecycle events (``event=market.install ...``) and server errors
(``event=server.error error_id=... traceback="..."``) share the file. A value that is
not a plain token is JSON-quoted, so a traceback, a newline in a hostile path or a
quote can never start a second line; each line is one ``O_APPEND`` write, so
concurrent workers never interleave.

:class:`ServerLogHandler` is the logging handler behind ``LOGGING`` in the settings:
errors of ``django.request`` (uncaught exceptions in views and middleware) and of
the ``market`` loggers arrive here with their traceback and the ``error_id`` the
client was given. This module imports nothing from the app at import time, because
logging is configured before the apps are loaded.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import traceback
from typing import Any

_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:/@+-]+$")


def new_error_id() -> str:
    """A reference a client can quote and an operator can grep for."""
    return secrets.token_hex(8)


def logfmt(fields: dict[str, Any]) -> str:
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        text = str(value)
        if not _SAFE_VALUE.match(text):
            # JSON string quoting escapes quotes, backslashes and every control
            # character, so a hostile value can never forge a second log line.
            text = json.dumps(text)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def append_line(line: str) -> None:
    from market.conf import market_conf

    path = market_conf().server_log
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line.replace("\n", " ") + "\n").encode("utf-8"))
    finally:
        os.close(fd)


def now_iso() -> str:
    from django.utils import timezone

    from market.clock import iso

    return iso(timezone.now()) or ""


class ServerLogHandler(logging.Handler):
    """Writes a log record as one ``event=server.error`` line, traceback included."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            request = getattr(record, "request", None)
            exc_type = exc_text = None
            if record.exc_info and record.exc_info[0] is not None:
                exc_type = record.exc_info[0].__name__
                exc_text = "".join(traceback.format_exception(*record.exc_info))
            fields = {
                "event": "server.error"
                if record.levelno >= logging.ERROR
                else "server.warning",
                "error_id": getattr(record, "error_id", None)
                or getattr(request, "error_id", None),
                "logger": record.name,
                "status": getattr(record, "status_code", None),
                "method": getattr(request, "method", None),
                "path": getattr(request, "path", None),
                "message": record.getMessage(),
                "exc_type": exc_type,
                "traceback": exc_text,
                "ts": now_iso(),
            }
            append_line(logfmt(fields))
        except Exception:
            self.handleError(record)
