"""Fixtures for reservation table tests: a fake clock, a table, waiter threads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reservation_waiters import StartWaiter, Waiter

from pinbroker.reservation import FakeClock, ReservationTable, Ticket


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def table(clock: FakeClock) -> Iterator[ReservationTable]:
    table = ReservationTable(clock=clock)
    yield table
    table.shutdown()  # frees any waiter a failing test left behind


@pytest.fixture
def start_waiter(table: ReservationTable) -> Iterator[StartWaiter]:
    waiters: list[Waiter] = []

    def start(ticket: Ticket, timeout: float | None) -> Waiter:
        waiter = Waiter(table, ticket, timeout)
        waiters.append(waiter)
        return waiter

    yield start
    table.shutdown()
    for waiter in waiters:
        waiter.join()
