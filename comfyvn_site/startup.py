"""Refuse to serve on a configuration that ``manage.py check`` rejects.

``runserver`` runs the system checks before it serves; a WSGI or ASGI server does not.
The entry points call :func:`refuse_on_check_errors` once the application is loaded,
so gunicorn stops at boot, with the checks' own messages, instead of serving with a
missing ``SECRET_KEY`` or a malformed ``MARKET_*`` setting.
"""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def refuse_on_check_errors() -> None:
    serious = [
        message
        for message in checks.run_checks()
        if message.is_serious() and not message.is_silenced()
    ]
    if serious:
        raise ImproperlyConfigured(
            "refusing to start; the system checks found:\n"
            + "\n".join(str(message) for message in serious)
        )
