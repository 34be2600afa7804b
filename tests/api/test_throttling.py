"""The install budget holds when requests arrive together (one atomic counter)."""

from __future__ import annotations

import threading
import uuid
from types import SimpleNamespace

import pytest

from market.api.throttling import AtomicScopedRateThrottle


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# Each test spends its own scope's counters (a shared Redis is never flushed).
VIEW = SimpleNamespace(throttle_scope="")


@pytest.fixture(autouse=True)
def _own_scope():
    VIEW.throttle_scope = f"test-{uuid.uuid4().hex}"


def _throttle(rate: str | None, clock: _Clock) -> AtomicScopedRateThrottle:
    throttle = AtomicScopedRateThrottle()
    throttle.THROTTLE_RATES = {VIEW.throttle_scope: rate}
    throttle.timer = clock
    return throttle


def _request(user_id: int) -> SimpleNamespace:
    user = SimpleNamespace(is_authenticated=True, pk=user_id)
    return SimpleNamespace(user=user, META={"REMOTE_ADDR": "127.0.0.1"})


def test_simultaneous_requests_spend_one_budget():
    clock = _Clock(1_000_020.0)
    results: list[bool] = []
    barrier = threading.Barrier(24)

    def knock() -> None:
        throttle = _throttle("5/min", clock)
        barrier.wait()
        results.append(throttle.allow_request(_request(7), VIEW))

    threads = [threading.Thread(target=knock) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 5
    assert results.count(False) == 19


def test_refused_requests_spend_nothing_and_budgets_are_per_user():
    clock = _Clock(1_000_020.0)
    throttle = _throttle("2/min", clock)
    assert [throttle.allow_request(_request(1), VIEW) for _ in range(5)] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert throttle.wait() > 0
    assert throttle.allow_request(_request(2), VIEW) is True
    # Two windows later the first user's budget is whole again, not reduced by refusals.
    clock.now += 120
    assert [throttle.allow_request(_request(1), VIEW) for _ in range(3)] == [
        True,
        True,
        False,
    ]


def test_the_window_slides():
    # 4/min: four requests at the end of one minute still count early in the next.
    clock = _Clock(1_000_000.0 - 1_000_000.0 % 60 + 50)
    throttle = _throttle("4/min", clock)
    assert all(throttle.allow_request(_request(3), VIEW) for _ in range(4))
    clock.now += 15  # 5 s into the next window: the previous one weighs 55/60
    assert throttle.allow_request(_request(3), VIEW) is False
    assert 0 < throttle.wait() <= 60
    clock.now += 45  # 50 s in: the previous one weighs 10/60 of 4 = 0.67
    assert throttle.allow_request(_request(3), VIEW) is True
    assert throttle.allow_request(_request(3), VIEW) is True
    assert throttle.allow_request(_request(3), VIEW) is True
    assert throttle.allow_request(_request(3), VIEW) is False


def test_unthrottled_views_and_rates_pass():
    clock = _Clock(1_000_000.0)
    throttle = _throttle("1/min", clock)
    assert throttle.allow_request(_request(1), SimpleNamespace()) is True
    throttle = _throttle(None, clock)
    assert all(throttle.allow_request(_request(1), VIEW) for _ in range(3))
