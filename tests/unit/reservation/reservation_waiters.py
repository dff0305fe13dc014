"""A waiter thread for reservation table tests: runs ``table.wait`` and keeps the outcome."""

from __future__ import annotations

import threading
from collections.abc import Callable

from pinbroker.reservation import Reservation, ReservationTable, Ticket

# Real seconds a test is willing to wait for a helper thread (a safety net, never a sleep).
JOIN_TIMEOUT = 30.0


class Waiter:
    """Runs ``table.wait(ticket, timeout)`` on its own thread and keeps the outcome."""

    def __init__(self, table: ReservationTable, ticket: Ticket, timeout: float | None) -> None:
        self.ticket = ticket
        self.result: Reservation | None = None
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(table, timeout), name=f"waiter-{ticket.id}", daemon=True
        )
        self._thread.start()

    def _run(self, table: ReservationTable, timeout: float | None) -> None:
        try:
            self.result = table.wait(self.ticket, timeout)
        except BaseException as exc:  # reported to the test
            self.error = exc
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def join(self) -> None:
        assert self._done.wait(JOIN_TIMEOUT), f"waiter {self.ticket.id} did not finish"
        self._thread.join(JOIN_TIMEOUT)

    def reservation(self) -> Reservation:
        self.join()
        assert self.error is None, f"waiter {self.ticket.id} failed: {self.error!r}"
        assert self.result is not None
        return self.result

    def failure(self) -> BaseException:
        self.join()
        assert self.error is not None, f"waiter {self.ticket.id} got {self.result!r}"
        return self.error


StartWaiter = Callable[[Ticket, "float | None"], Waiter]
