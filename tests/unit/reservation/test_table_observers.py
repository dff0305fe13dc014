"""ReservationTable.wait_for_waiting: observers block on the table, never poll."""

from __future__ import annotations

import threading

from pinbroker.reservation import ReservationTable


def test_wait_for_waiting_sees_a_queued_request() -> None:
    table = ReservationTable()
    assert not table.wait_for_waiting(1, timeout=0)
    table.reserve(["A"], owner="first", timeout=0)
    ticket = table.request(["A"], owner="second")
    assert table.wait_for_waiting(1, timeout=10)
    assert not table.wait_for_waiting(2, timeout=0)
    table.cancel(ticket)
    assert not table.wait_for_waiting(1, timeout=0)


def test_wait_for_waiting_wakes_when_another_thread_queues() -> None:
    table = ReservationTable()
    table.reserve(["A"], owner="first", timeout=0)
    started = threading.Event()
    seen: list[bool] = []

    def observe() -> None:
        started.set()
        seen.append(table.wait_for_waiting(1, timeout=30))

    observer = threading.Thread(target=observe)
    observer.start()
    assert started.wait(10)
    ticket = table.request(["A"], owner="second")
    observer.join(30)
    assert seen == [True]
    table.cancel(ticket)
