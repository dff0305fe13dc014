"""Clocks for the reservation table: the real monotonic clock and a fake one for tests.

The table never reads time or blocks by itself; it asks its :class:`Clock`. Deadlines are
absolute readings of ``Clock.now()`` (monotonic), so a fake clock can move time and wake
waiters deterministically, as trio's ``MockClock`` does.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "MonotonicClock"]


class Clock(Protocol):
    """Time source and blocking primitive of a :class:`~pinbroker.reservation.ReservationTable`."""

    def now(self) -> float:
        """Return the monotonic time in seconds; only differences and deadlines are meaningful."""
        ...

    def wall_time(self) -> float:
        """Return wall-clock seconds since the epoch, for display and persistence only."""
        ...

    def wait_until(self, condition: threading.Condition, deadline: float | None) -> None:
        """Block on ``condition`` until notified, until ``now() >= deadline``, or spuriously.

        The caller holds ``condition``'s lock, as for ``Condition.wait``, and re-checks its state
        and the deadline after every return.

        Args:
            condition: The condition to wait on; its lock is held by the caller.
            deadline: Absolute ``now()`` reading at which to stop waiting; None waits until
                notified.
        """
        ...


class MonotonicClock:
    """The real clock: ``time.monotonic`` for deadlines, ``Condition.wait`` for blocking."""

    def now(self) -> float:
        """Return ``time.monotonic()``."""
        return time.monotonic()

    def wall_time(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    def wait_until(self, condition: threading.Condition, deadline: float | None) -> None:
        """Wait on ``condition`` with the time left until ``deadline`` (forever if None).

        Args:
            condition: The condition to wait on; its lock is held by the caller.
            deadline: Absolute ``time.monotonic()`` reading; None waits until notified.
        """
        if deadline is None:
            condition.wait()
            return
        remaining = deadline - time.monotonic()
        if remaining > 0:
            condition.wait(min(remaining, threading.TIMEOUT_MAX))  # callers re-check


class FakeClock:
    """A clock that moves only when told to, for tests that never sleep.

    Threads that block in :meth:`wait_until` are *parked*: they stay blocked until the condition
    is notified (for example by the table) or until :meth:`advance` moves the time, whatever
    their deadline (real ``Condition.wait`` may return early too; callers re-check). Tests use
    :meth:`wait_for_parked` / :meth:`wait_for_parks` to know that a thread has reached its wait
    before moving the time.

    A thread that would park with a deadline already reached returns at once, so no wake-up is
    lost between a waiter computing its deadline and :meth:`advance` moving the time.
    """

    def __init__(self, start: float = 0.0, wall_start: float = 1_700_000_000.0) -> None:
        """Create a fake clock.

        Args:
            start: The initial ``now()`` reading.
            wall_start: The initial ``wall_time()`` reading; it moves together with ``now()``.
        """
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._start = start
        self._now = start
        self._wall_start = wall_start
        self._parked: dict[int, threading.Condition] = {}
        self._parks = 0

    def now(self) -> float:
        """Return the fake monotonic time."""
        with self._lock:
            return self._now

    def wall_time(self) -> float:
        """Return the fake wall-clock time (``wall_start`` plus the time advanced so far)."""
        with self._lock:
            return self._wall_start + (self._now - self._start)

    @property
    def parked(self) -> int:
        """Number of threads currently parked in :meth:`wait_until`."""
        with self._lock:
            return len(self._parked)

    @property
    def parks(self) -> int:
        """Total number of times a thread has parked in :meth:`wait_until` so far."""
        with self._lock:
            return self._parks

    def wait_until(self, condition: threading.Condition, deadline: float | None) -> None:
        """Park on ``condition`` until notified or until :meth:`advance` moves the time.

        Args:
            condition: The condition to wait on; its lock is held by the caller.
            deadline: Absolute fake ``now()``; if already reached, return at once without
                parking. None parks until notified.
        """
        token = threading.get_ident()
        with self._lock:
            if deadline is not None and self._now >= deadline:
                return
            self._parked[token] = condition
            self._parks += 1
            self._changed.notify_all()
        try:
            # Woken by the owner of the condition or by advance(); the caller re-checks.
            condition.wait()
        finally:
            with self._lock:
                del self._parked[token]
                self._changed.notify_all()

    def advance(self, seconds: float) -> None:
        """Move the time forward and wake every parked thread to re-check its deadline.

        Each woken thread either finishes (its deadline is reached, or its state changed) or
        parks again, which :meth:`wait_for_parks` can observe.

        Args:
            seconds: How far to move; must be >= 0.

        Raises:
            ValueError: If ``seconds`` is negative or NaN (a monotonic clock never goes back).
        """
        if not seconds >= 0:
            raise ValueError(f"a monotonic clock cannot move by {seconds!r} seconds")
        with self._lock:
            self._now += seconds
            parked = {id(condition): condition for condition in self._parked.values()}
        for condition in parked.values():
            with condition:
                condition.notify_all()

    def wait_for_parked(self, count: int, timeout: float = 30.0) -> None:
        """Block until at least ``count`` threads are parked at the same time.

        Args:
            count: How many parked threads to wait for.
            timeout: Real seconds after which to give up (a safety net for broken tests).

        Raises:
            TimeoutError: If that many threads did not park within ``timeout`` real seconds.
        """
        with self._lock:
            if not self._changed.wait_for(lambda: len(self._parked) >= count, timeout):
                raise TimeoutError(
                    f"{len(self._parked)} thread(s) parked, expected at least {count}"
                )

    def wait_for_parks(self, total: int, timeout: float = 30.0) -> None:
        """Block until threads have parked at least ``total`` times in all (see :attr:`parks`).

        Args:
            total: The park count to wait for.
            timeout: Real seconds after which to give up (a safety net for broken tests).

        Raises:
            TimeoutError: If the count did not reach ``total`` within ``timeout`` real seconds.
        """
        with self._lock:
            if not self._changed.wait_for(lambda: self._parks >= total, timeout):
                raise TimeoutError(f"threads parked {self._parks} time(s), expected {total}")
