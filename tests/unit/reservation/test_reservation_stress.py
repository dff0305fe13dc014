"""Many threads, random overlapping requests, the real clock: no session is ever held twice.

16 threads obtain 2,000 reservations in all of random overlapping session sets, some with
timeout 0 (which may fail), some cancelled. Hold intervals are stamped with a shared logical
clock and must never overlap per session; a journal checks the same under the table's lock, and
every thread must finish (no deadlock, no lost wake-up). Nothing sleeps.
"""

from __future__ import annotations

import itertools
import random
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence

import pytest

from pinbroker.errors import CancelledError, ReservationTimeoutError
from pinbroker.reservation import MonotonicClock, ReservationId, ReservationTable
from pinbroker.types import SessionName

THREADS = 16
GRANTS_PER_THREAD = 125  # 2,000 in all
SESSIONS = [f"S{i}" for i in range(12)]


class CountingClock(MonotonicClock):
    def __init__(self) -> None:
        self.waits = 0

    def wait_until(self, condition: threading.Condition, deadline: float | None) -> None:
        self.waits += 1  # under the table's lock
        super().wait_until(condition, deadline)


class ExclusiveJournal:
    """Fails the test if a session is journaled as held by two reservations at once."""

    def __init__(self) -> None:
        self.held: dict[str, int] = {}
        self.violations: list[str] = []
        self.puts = 0

    def put_reservation(
        self,
        reservation_id: ReservationId,
        session_names: Sequence[SessionName],
        owner: str,
        annotations: Mapping[str, str],
        acquired_at_wall: float,
    ) -> None:
        self.puts += 1
        for name in session_names:
            if name in self.held:
                self.violations.append(f"{name}: {self.held[name]} and {reservation_id}")
            self.held[name] = reservation_id

    def delete_reservation_sessions(self, session_names: Sequence[SessionName]) -> None:
        for name in session_names:
            self.held.pop(name, None)


@pytest.fixture
def fast_thread_switching() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # interleave threads often, to provoke races
    yield
    sys.setswitchinterval(previous)


@pytest.mark.usefixtures("fast_thread_switching")
def test_no_session_is_ever_held_by_two_grants_at_once() -> None:
    clock = CountingClock()
    journal = ExclusiveJournal()
    table = ReservationTable(clock=clock, journal=journal)
    stamps = itertools.count()
    stamp_lock = threading.Lock()
    intervals: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    failures: list[BaseException] = []
    outcomes: dict[str, int] = defaultdict(int)
    start = threading.Barrier(THREADS)

    def stamp() -> int:
        with stamp_lock:
            return next(stamps)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait()
            granted = 0
            while granted < GRANTS_PER_THREAD:
                names = rng.sample(SESSIONS, rng.randint(1, 4))
                mode = rng.random()
                ticket = table.request(names, owner=f"worker-{seed}")
                if mode < 0.05:
                    table.cancel(ticket)
                try:
                    reservation = table.wait(ticket, 0 if mode < 0.2 else None)
                except (CancelledError, ReservationTimeoutError) as exc:
                    with stamp_lock:
                        outcomes[type(exc).__name__] += 1
                    continue
                begin = stamp()
                end = stamp()
                with stamp_lock:
                    for name in reservation.session_names:
                        intervals[name].append((begin, end, reservation.id))
                table.release(reservation.session_names)
                granted += 1
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=100)
    assert not any(thread.is_alive() for thread in threads), "a worker is stuck: deadlock?"

    assert failures == []
    assert journal.violations == []
    assert journal.puts == THREADS * GRANTS_PER_THREAD
    assert sum(len(v) for v in intervals.values()) > THREADS * GRANTS_PER_THREAD
    for name, spans in intervals.items():
        spans.sort()
        for (_, end, first), (begin, _, second) in itertools.pairwise(spans):
            assert end < begin, f"{name} held by reservations {first} and {second} at once"
    assert clock.waits > 0, "no request ever waited: the test exercised no contention"
    assert outcomes["CancelledError"] > 0
    snapshot = table.snapshot()
    assert snapshot.held == {}
    assert snapshot.waiting == ()
