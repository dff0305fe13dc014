"""Hypothesis: random request/wait/cancel/release sequences keep the table's promises.

The state machine drives one table from one thread (``wait`` with timeout 0 never blocks) and
checks after every step that:

* no session is held twice and every reservation's sessions are held by it (safety);
* no waiting request could be granted: each has a held session or shares one with an earlier
  waiting request (all-or-nothing, work-conserving, first come first served);
* the table agrees with a plain reference model of the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pinbroker.errors import CancelledError, ReservationTimeoutError
from pinbroker.reservation import FakeClock, ReservationTable, Ticket

SESSIONS = ("A", "B", "C", "D", "E")
names_strategy = st.lists(st.sampled_from(SESSIONS), min_size=1, max_size=4)


@dataclass
class Model:
    """Reference: the rules written as plainly as possible."""

    holders: dict[str, int] = field(default_factory=dict)
    queue: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)

    def dispatch(self) -> None:
        still_waiting: list[tuple[int, tuple[str, ...]]] = []
        for request_id, names in self.queue:
            free = all(name not in self.holders for name in names)
            behind = any(set(names) & set(other) for _, other in still_waiting)
            if free and not behind:
                self.holders.update(dict.fromkeys(names, request_id))
            else:
                still_waiting.append((request_id, names))
        self.queue = still_waiting

    def is_waiting(self, request_id: int) -> bool:
        return any(request_id == queued for queued, _ in self.queue)

    def withdraw(self, request_id: int) -> None:
        self.queue = [entry for entry in self.queue if entry[0] != request_id]
        for name in [n for n, holder in self.holders.items() if holder == request_id]:
            del self.holders[name]
        self.dispatch()


class TableMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.table = ReservationTable(clock=FakeClock())
        self.model = Model()
        self.outstanding: list[Ticket] = []  # requested, not yet waited on

    @rule(owner=st.sampled_from(["alice", "bob", "carol"]), names=names_strategy)
    def request(self, owner: str, names: list[str]) -> None:
        ticket = self.table.request(names, owner=owner)
        self.outstanding.append(ticket)
        self.model.queue.append((ticket.id, tuple(dict.fromkeys(names))))
        self.model.dispatch()

    @rule(index=st.integers(min_value=0))
    def wait_without_blocking(self, index: int) -> None:
        if not self.outstanding:
            return
        ticket = self.outstanding.pop(index % len(self.outstanding))
        if self.model.is_waiting(ticket.id):
            with pytest.raises(ReservationTimeoutError):
                self.table.wait(ticket, 0)
            self.model.withdraw(ticket.id)
        else:
            reservation = self.table.wait(ticket, 0)
            expected = tuple(
                n for n in ticket.session_names if self.model.holders.get(n) == ticket.id
            )
            assert reservation.session_names == expected

    @rule(index=st.integers(min_value=0))
    def cancel(self, index: int) -> None:
        if not self.outstanding:
            return
        ticket = self.outstanding.pop(index % len(self.outstanding))
        assert self.table.cancel(ticket) is True
        assert self.table.cancel(ticket) is False
        with pytest.raises(CancelledError):
            self.table.wait(ticket, 0)
        self.model.withdraw(ticket.id)

    @rule(names=names_strategy)
    def release(self, names: list[str]) -> None:
        released = self.table.release(names)
        expected = tuple(n for n in dict.fromkeys(names) if n in self.model.holders)
        assert released == expected
        for name in expected:
            del self.model.holders[name]
        self.model.dispatch()

    @invariant()
    def no_session_is_held_twice(self) -> None:
        snapshot = self.table.snapshot()
        seen: set[str] = set()
        for reservation in snapshot.reservations:
            assert reservation.session_names, "an empty reservation is kept"
            assert seen.isdisjoint(reservation.session_names)
            seen.update(reservation.session_names)
            for name in reservation.session_names:
                assert snapshot.held[name] == reservation
        assert seen == set(snapshot.held)

    @invariant()
    def no_waiting_request_could_be_granted(self) -> None:
        snapshot = self.table.snapshot()
        earlier: set[str] = set()
        for request in snapshot.waiting:
            blocked_by_holder = any(name in snapshot.held for name in request.session_names)
            blocked_by_earlier = not earlier.isdisjoint(request.session_names)
            assert blocked_by_holder or blocked_by_earlier, f"request {request.id} starves"
            earlier.update(request.session_names)

    @invariant()
    def agrees_with_the_model(self) -> None:
        snapshot = self.table.snapshot()
        assert {name: int(r.id) for name, r in snapshot.held.items()} == self.model.holders
        assert [int(w.id) for w in snapshot.waiting] == [rid for rid, _ in self.model.queue]

    def teardown(self) -> None:
        self.table.shutdown()


TableMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
test_reservation_table_state_machine = TableMachine.TestCase
