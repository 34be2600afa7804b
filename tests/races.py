"""API clients racing: one thread per client, all let go at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections


def race(
    clients: list[Any], rounds: int, request: Callable[[Any, int, int], Any]
) -> list[int]:
    """Run ``request(client, n, i)`` for ``i`` in ``range(rounds)`` on one thread per
    client (``n`` its index), every thread starting at the same moment; return the
    status codes after checking that no thread crashed and nothing answered 5xx."""
    statuses: list[int] = []
    errors: list[str] = []
    crashes: list[BaseException] = []
    barrier = threading.Barrier(len(clients))

    def worker(n: int) -> None:
        client = clients[n]
        client.raise_request_exception = False
        try:
            barrier.wait(timeout=30)
            for i in range(rounds):
                response = request(client, n, i)
                statuses.append(response.status_code)
                if response.status_code >= 500:
                    errors.append(response.content.decode())
        except BaseException as exc:  # surfaced by the assertion below
            crashes.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not crashes, crashes
    assert not errors, errors
    assert len(statuses) == len(clients) * rounds
    return statuses
