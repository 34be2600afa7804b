"""gunicorn settings, read automatically by ``gunicorn comfyvn_site.wsgi`` run from the
project root (gunicorn loads ``./gunicorn.conf.py`` by default).

Threaded workers: a connection waiting for its client costs one thread, not a whole
process, and an idle connection costs none (gthread parks it on the poller). Each
worker thread holds at most one database connection, so PostgreSQL needs
``workers * threads`` connections (plus management commands).

Every value can be changed through the environment; command-line flags override it too.
Production serving still belongs behind a buffering proxy (docs/operations.md): gunicorn
reads a request's headers in a worker thread, so only the proxy protects the threads
from clients that send them slowly.
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


if os.environ.get("GUNICORN_BIND"):
    bind = os.environ["GUNICORN_BIND"].split(",")
worker_class = "gthread"
# WEB_CONCURRENCY is the usual name for the process count on hosting platforms.
# Processes for CPU, threads for waiting: a worker accepts connections greedily, so its
# own thread count bounds how many stalled clients it can hold and still answer others.
workers = _int("WEB_CONCURRENCY", min(multiprocessing.cpu_count() + 1, 4))
threads = _int("GUNICORN_THREADS", 16)
# Seconds of silence from a worker before the arbiter restarts it, and of grace for
# in-flight requests on a restart or shutdown.
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Seconds an idle kept-alive connection (or one that has sent nothing yet) may wait.
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Request-line and header limits: small, since the API's requests are small.
limit_request_line = _int("GUNICORN_LIMIT_REQUEST_LINE", 4094)
limit_request_fields = _int("GUNICORN_LIMIT_REQUEST_FIELDS", 64)
limit_request_field_size = _int("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", 8190)
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
errorlog = "-"
