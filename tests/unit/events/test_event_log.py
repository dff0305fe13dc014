"""The event log: revisions, the retained window, restore, on_append, listeners, subscriptions.

No test sleeps: threads are joined or woken through the log itself, with a real-time safety
net only for broken code.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
from collections.abc import Callable, Sequence

import pytest

from pinbroker.events import (
    Event,
    EventBatch,
    EventKind,
    EventLog,
    EventOwner,
    Subscription,
)

JOIN_TIMEOUT = 30.0  # real seconds; a safety net, never a sleep
ALICE = EventOwner(peer="ipv4:10.0.0.7:51234", hostname="bench-1", username="alice", pid=42)


def ticking_clock(start: float = 1_700_000_000.0) -> Callable[[], float]:
    """A wall clock that moves one second per reading."""
    counter = itertools.count()
    return lambda: start + next(counter)


def filled(count: int, capacity: int = 10_000) -> EventLog:
    log = EventLog(capacity=capacity, clock=ticking_clock())
    for index in range(count):
        log.append(EventKind.RESERVED, session_names=[f"s{index}"], reservation_id=index)
    return log


def revisions(events: Sequence[Event]) -> list[int]:
    return [event.revision for event in events]


def event(revision: int) -> Event:
    return Event(revision=revision, time=1.0, kind=EventKind.RELEASED, session_names=("A",))


def lock_is_free(log: EventLog) -> bool:
    """Return whether another thread can take the log's lock (read a property) right now."""
    reader = threading.Thread(target=lambda: log.latest_revision)
    reader.start()
    reader.join(JOIN_TIMEOUT)
    return not reader.is_alive()


def run_in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(target()))
    thread.start()
    return thread, results


# ---------------------------------------------------------------------- append and values


def test_append_numbers_events_1_2_3_and_records_what_happened() -> None:
    log = EventLog(clock=ticking_clock(1000.0))

    first = log.append(
        EventKind.RESERVED,
        session_names=["DCPower1", "DMM1"],
        reservation_id=7,
        owner=ALICE,
        reason="granted at once",
    )
    second = log.append(EventKind.RELEASED, session_names=("DCPower1",))
    third = log.append(EventKind.PIN_MAP_LOADED)

    assert first == Event(
        revision=1,
        time=1000.0,
        kind=EventKind.RESERVED,
        session_names=("DCPower1", "DMM1"),
        reservation_id=7,
        owner=ALICE,
        reason="granted at once",
    )
    assert (second.revision, second.time, second.reservation_id, second.owner) == (
        2,
        1001.0,
        None,
        None,
    )
    assert (third.revision, third.session_names, third.reason) == (3, (), "")
    assert log.latest_revision == 3
    assert log.oldest_revision == 1


def test_events_are_frozen_and_revisions_start_at_1() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        event(1).reason = "changed"  # type: ignore[misc]
    with pytest.raises(ValueError, match="revision must be >= 1, not 0"):
        event(0)
    assert Event(
        revision=1, time=0.0, kind=EventKind.QUEUED, session_names=["A"]
    ).session_names == (  # type: ignore[arg-type]
        "A",
    )


def test_an_empty_log_is_at_revision_0() -> None:
    log = EventLog()
    assert (log.latest_revision, log.oldest_revision) == (0, 1)
    assert log.since(0) == ()
    assert log.capacity == 10_000


def test_every_event_kind_has_a_stable_wire_name() -> None:
    assert {kind.value for kind in EventKind} == {
        "reserved",
        "released",
        "force_released",
        "expired",
        "queued",
        "timed_out",
        "cancelled",
        "registered",
        "unregistered",
        "pin_map_loaded",
    }


@pytest.mark.parametrize("capacity", [0, -1])
def test_capacity_must_be_at_least_1(capacity: int) -> None:
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        EventLog(capacity=capacity)


def test_the_log_keeps_only_the_newest_capacity_events() -> None:
    log = filled(5, capacity=3)

    assert revisions(log.since(0)) == [3, 4, 5]
    assert (log.oldest_revision, log.latest_revision) == (3, 5)


# ---------------------------------------------------------------------- since


@pytest.mark.parametrize(
    ("revision", "expected"),
    [
        (-5, [4, 5, 6, 7]),  # below everything
        (0, [4, 5, 6, 7]),
        (2, [4, 5, 6, 7]),  # before the oldest retained: what is left
        (3, [4, 5, 6, 7]),  # just before the oldest
        (4, [5, 6, 7]),  # at the oldest
        (6, [7]),
        (7, []),  # at the latest
        (8, []),  # beyond the latest
        (1_000, []),
    ],
)
def test_since_returns_retained_events_after_a_revision(revision: int, expected: list[int]) -> None:
    log = filled(7, capacity=4)
    answer = log.since(revision)
    assert revisions(answer) == expected
    assert isinstance(answer, tuple)


def test_since_returns_the_events_themselves_oldest_first() -> None:
    log = filled(3)
    assert [e.session_names for e in log.since(1)] == [("s1",), ("s2",)]


# ---------------------------------------------------------------------- restore


def test_restore_continues_after_the_largest_restored_revision() -> None:
    log = EventLog()
    log.restore([event(12), event(10), event(11)])  # any order

    assert (log.oldest_revision, log.latest_revision) == (10, 12)
    assert revisions(log.since(0)) == [10, 11, 12]
    assert log.append(EventKind.RESERVED).revision == 13


def test_restore_keeps_the_newest_capacity_events() -> None:
    log = EventLog(capacity=2)
    log.restore(event(r) for r in range(1, 6))
    assert revisions(log.since(0)) == [4, 5]
    assert log.append(EventKind.RESERVED).revision == 6


def test_restore_keeps_the_newest_run_when_persistence_has_a_gap() -> None:
    log = EventLog()
    log.restore([event(1), event(2), event(5), event(6)])
    assert revisions(log.since(0)) == [5, 6]
    assert log.oldest_revision == 5


def test_restore_of_nothing_changes_nothing() -> None:
    log = EventLog()
    log.restore([])
    assert log.latest_revision == 0
    assert log.append(EventKind.RESERVED).revision == 1


def test_restore_rejects_duplicate_revisions() -> None:
    log = EventLog()
    with pytest.raises(ValueError, match="revision 2 is restored twice"):
        log.restore([event(1), event(2), event(2)])
    assert log.latest_revision == 0


def test_restore_must_come_before_the_first_append() -> None:
    log = filled(1)
    with pytest.raises(ValueError, match=r"before the first append .*at revision 1"):
        log.restore([event(5)])
    assert revisions(log.since(0)) == [1]


def test_restore_does_not_call_on_append_or_listeners() -> None:
    delivered: list[Sequence[Event]] = []
    log = EventLog(on_append=delivered.append)
    calls: list[int] = []
    log.add_listener(lambda: calls.append(1))
    log.restore([event(1)])
    assert (delivered, calls) == ([], [])


# ---------------------------------------------------------------------- on_append


def test_on_append_gets_each_event_outside_the_lock() -> None:
    delivered: list[tuple[int, ...]] = []
    free: list[bool] = []
    log: EventLog

    def persist(events: Sequence[Event]) -> None:
        delivered.append(tuple(revisions(events)))
        free.append(lock_is_free(log))

    log = EventLog(on_append=persist)
    log.append(EventKind.RESERVED)
    log.append(EventKind.RELEASED)

    assert delivered == [(1,), (2,)]
    assert free == [True, True]


def test_an_on_append_failure_reaches_the_caller_after_the_event_is_logged() -> None:
    delivered: list[list[int]] = []
    calls: list[int] = []

    def persist(events: Sequence[Event]) -> None:
        delivered.append(revisions(events))
        if len(delivered) == 1:
            raise OSError("disk full")

    log = EventLog(on_append=persist)
    log.add_listener(lambda: calls.append(log.latest_revision))

    with pytest.raises(OSError, match="disk full"):
        log.append(EventKind.RESERVED)
    log.append(EventKind.RELEASED)

    assert revisions(log.since(0)) == [1, 2]
    assert delivered == [[1], [2]]  # the failed event is not offered again
    assert calls == [1, 2]  # listeners still ran


def test_concurrent_appends_reach_on_append_once_each_in_revision_order() -> None:
    delivered: list[int] = []
    log = EventLog(on_append=lambda events: delivered.extend(revisions(events)))
    start = threading.Barrier(6)

    def append_many() -> None:
        start.wait()
        for _ in range(300):
            log.append(EventKind.QUEUED)

    threads = [threading.Thread(target=append_many) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)

    assert delivered == list(range(1, 6 * 300 + 1))
    assert log.latest_revision == 6 * 300


# ---------------------------------------------------------------------- listeners


def test_listeners_run_after_each_append_outside_the_lock() -> None:
    log = EventLog()
    seen: list[tuple[int, bool]] = []
    log.add_listener(lambda: seen.append((log.latest_revision, lock_is_free(log))))

    log.append(EventKind.REGISTERED)
    log.append(EventKind.UNREGISTERED)

    assert seen == [(1, True), (2, True)]


def test_a_removed_listener_is_not_called_again() -> None:
    log = EventLog()
    first: list[int] = []
    second: list[int] = []
    remove_first = log.add_listener(lambda: first.append(log.latest_revision))
    log.add_listener(lambda: second.append(log.latest_revision))

    log.append(EventKind.RESERVED)
    remove_first()
    remove_first()  # idempotent
    log.append(EventKind.RELEASED)

    assert first == [1]
    assert second == [1, 2]


def test_a_failing_listener_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = EventLog()
    called: list[int] = []

    def broken() -> None:
        raise RuntimeError("event loop is closed")

    log.add_listener(broken)
    log.add_listener(lambda: called.append(1))

    with caplog.at_level(logging.ERROR, logger="pinbroker.events._log"):
        appended = log.append(EventKind.EXPIRED)

    assert appended.revision == 1
    assert called == [1]
    assert "event log listener" in caplog.text
    assert "event loop is closed" in caplog.text


# ---------------------------------------------------------------------- subscriptions


def test_a_subscription_starts_now_and_polls_only_new_events() -> None:
    log = filled(2)
    subscription = log.subscribe()

    assert subscription.position == 2
    assert subscription.wait(0) is False
    assert subscription.poll() == EventBatch(events=(), lost=0)

    log.append(EventKind.RESERVED)
    log.append(EventKind.RELEASED)
    assert subscription.wait(0) is True
    batch = subscription.poll()

    assert revisions(batch.events) == [3, 4]
    assert batch.lost == 0
    assert subscription.position == 4
    assert subscription.wait(0) is False


def test_a_subscription_after_a_revision_delivers_the_backlog() -> None:
    log = filled(5)
    subscription = log.subscribe(after=3)
    assert subscription.wait(0) is True
    assert revisions(subscription.poll().events) == [4, 5]


def test_a_subscription_that_fell_behind_learns_how_many_it_lost() -> None:
    log = filled(1, capacity=3)
    subscription = log.subscribe()
    for _ in range(5):
        log.append(EventKind.QUEUED)  # revisions 2..6; only 4..6 retained

    batch = subscription.poll()

    assert revisions(batch.events) == [4, 5, 6]
    assert batch.lost == 2  # revisions 2 and 3
    assert subscription.position == 6
    assert subscription.poll() == EventBatch(events=(), lost=0)


def test_lost_counts_events_before_a_restored_window() -> None:
    log = EventLog(capacity=3)
    log.restore(event(r) for r in range(8, 13))  # keeps 10..12
    subscription = log.subscribe(after=5)

    batch = subscription.poll()

    assert revisions(batch.events) == [10, 11, 12]
    assert batch.lost == 4  # 6..9


def test_a_subscription_ahead_of_the_log_waits_for_newer_revisions() -> None:
    log = filled(2)
    subscription = log.subscribe(after=3)
    log.append(EventKind.RESERVED)  # revision 3: not newer than 3
    assert subscription.wait(0) is False
    assert subscription.poll() == EventBatch(events=(), lost=0)
    log.append(EventKind.RELEASED)
    assert revisions(subscription.poll().events) == [4]


def test_wait_blocks_until_an_append_from_another_thread() -> None:
    log = EventLog()
    subscription = log.subscribe()
    waiter, results = run_in_thread(lambda: subscription.wait(None))

    log.append(EventKind.RESERVED)
    waiter.join(JOIN_TIMEOUT)

    assert results == [True]
    assert revisions(subscription.poll().events) == [1]


def test_close_wakes_a_blocked_waiter_which_returns_false() -> None:
    log = EventLog()
    subscription = log.subscribe()
    waiter, results = run_in_thread(lambda: subscription.wait(None))

    subscription.close()
    waiter.join(JOIN_TIMEOUT)

    assert results == [False]
    assert subscription.closed


def test_a_closed_subscription_stops_waiting_but_can_still_poll() -> None:
    log = EventLog()
    with log.subscribe() as subscription:
        assert isinstance(subscription, Subscription)
        assert not subscription.closed
    assert subscription.closed

    log.append(EventKind.RESERVED)
    assert subscription.wait(None) is False  # returns at once
    assert revisions(subscription.poll().events) == [1]
    subscription.close()  # idempotent
    assert subscription.closed


def test_wait_with_a_timeout_returns_false_when_nothing_arrives() -> None:
    subscription = EventLog().subscribe()
    assert subscription.wait(0.0) is False
    assert subscription.wait(-1.0) is False
