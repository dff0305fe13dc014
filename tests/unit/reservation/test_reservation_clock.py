"""The clocks: the fake one moves only when told and never loses a wake-up; the real one waits."""

from __future__ import annotations

import math
import threading

import pytest

from pinbroker.reservation import Clock, FakeClock, MonotonicClock


def test_fake_clock_moves_only_when_advanced() -> None:
    clock = FakeClock(start=10.0, wall_start=1000.0)

    assert (clock.now(), clock.wall_time()) == (10.0, 1000.0)
    clock.advance(2.5)
    assert (clock.now(), clock.wall_time()) == (12.5, 1002.5)


@pytest.mark.parametrize("seconds", [-1.0, math.nan])
def test_fake_clock_never_goes_back(seconds: float) -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="cannot move"):
        clock.advance(seconds)
    assert clock.now() == 0.0


def test_wait_until_a_reached_deadline_returns_without_parking() -> None:
    clock = FakeClock()
    condition = threading.Condition()
    clock.advance(5.0)

    with condition:
        clock.wait_until(condition, 5.0)

    assert clock.parks == 0


def test_a_parked_thread_wakes_on_advance_and_on_notify() -> None:
    clock = FakeClock()
    condition = threading.Condition()
    returns: list[float] = []
    done = threading.Event()

    def park_twice() -> None:
        with condition:
            clock.wait_until(condition, 1.0)
            returns.append(clock.now())
            clock.wait_until(condition, None)
            returns.append(clock.now())
        done.set()

    thread = threading.Thread(target=park_twice)
    thread.start()
    clock.wait_for_parks(1)
    assert clock.parked == 1

    clock.advance(1.0)
    clock.wait_for_parks(2)
    with condition:
        condition.notify_all()
    assert done.wait(30)
    thread.join()

    assert returns == [1.0, 1.0]
    assert clock.parked == 0


def test_wait_for_parked_gives_up_after_its_real_timeout() -> None:
    clock = FakeClock()
    with pytest.raises(TimeoutError, match="expected at least 1"):
        clock.wait_for_parked(1, timeout=0.01)
    with pytest.raises(TimeoutError, match="expected 1"):
        clock.wait_for_parks(1, timeout=0.01)


def test_monotonic_clock_is_monotonic_and_waits_on_the_condition() -> None:
    clock: Clock = MonotonicClock()
    condition = threading.Condition()
    before = clock.now()

    with condition:
        clock.wait_until(condition, clock.now() + 0.001)  # returns on its own deadline
        clock.wait_until(condition, clock.now() - 1.0)  # past deadline: returns at once

    assert clock.now() >= before + 0.001
    assert clock.wall_time() > 1_600_000_000


def test_monotonic_clock_without_deadline_waits_for_notify() -> None:
    clock = MonotonicClock()
    condition = threading.Condition()
    woke = threading.Event()
    ready = threading.Event()
    flag: list[bool] = []

    def wait_forever() -> None:
        with condition:
            ready.set()
            while not flag:
                clock.wait_until(condition, None)
        woke.set()

    thread = threading.Thread(target=wait_forever)
    thread.start()
    assert ready.wait(30)
    with condition:
        flag.append(True)
        condition.notify_all()
    assert woke.wait(30)
    thread.join()


def test_monotonic_clock_accepts_a_deadline_beyond_the_platform_maximum() -> None:
    clock = MonotonicClock()
    condition = threading.Condition()
    ready = threading.Event()
    errors: list[BaseException] = []
    flag: list[bool] = []

    def wait_far() -> None:
        try:
            with condition:
                ready.set()
                while not flag:
                    clock.wait_until(condition, clock.now() + 1e20)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=wait_far)
    thread.start()
    assert ready.wait(30)
    with condition:
        flag.append(True)
        condition.notify_all()
    thread.join(30)

    assert not thread.is_alive()
    assert errors == []
