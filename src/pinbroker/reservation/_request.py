"""A request's life in the reservation table: an Enum of states with guarded transitions."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pinbroker.reservation._values import Ticket

__all__ = ["Request", "State"]


class State(enum.Enum):
    """Life of a request between ``request`` and the end of ``wait``."""

    WAITING = "waiting"  # queued
    GRANTED = "granted"  # holds its sessions; its waiter has not taken the reservation yet
    RECORDING = "recording"  # its waiter is waiting for the grant's record to be durable
    FAILED = "failed"  # cancelled or shut down; its waiter has not seen the error yet


_TRANSITIONS: Mapping[State, frozenset[State]] = {
    State.WAITING: frozenset({State.GRANTED, State.FAILED}),
    State.GRANTED: frozenset({State.RECORDING, State.FAILED}),
    State.RECORDING: frozenset({State.FAILED}),  # cancelled while recording
    State.FAILED: frozenset(),
}


@dataclass(slots=True, eq=False)
class Request:
    """The table's private, mutable record of one request (guarded by the table's lock).

    Attributes:
        ticket: The caller's ticket.
        annotations: The annotations its reservation will carry.
        waiting_since: Wall-clock time of the request, for snapshots.
        state: Where it is in its life; change it only with :meth:`move_to`.
        error: Why it failed, once ``state`` is FAILED.
        on_change: Called (under the table's lock) when the request is granted or fails, so
            a waiter that does not block on the table's condition (an asyncio task) wakes up.
    """

    ticket: Ticket
    annotations: Mapping[str, str]
    waiting_since: float
    state: State = State.WAITING
    error: Exception | None = None
    on_change: Callable[[], None] | None = None

    def move_to(self, state: State) -> None:
        """Move to ``state``.

        Raises:
            AssertionError: If the table's logic attempts a transition that is not allowed.
        """
        if state not in _TRANSITIONS[self.state]:
            raise AssertionError(
                f"request {self.ticket.id}: {self.state.value} -> {state.value} is not allowed"
            )
        self.state = state
        if self.on_change is not None and state in (State.GRANTED, State.FAILED):
            self.on_change()
