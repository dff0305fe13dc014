"""The reservation and lease tables' contracts, as Protocols.

:class:`~pinbroker.reservation.ReservationTable` and :class:`~pinbroker.reservation.LeaseTable`
implement them in memory (one server); ``pinbroker.cluster`` implements them on a PostgreSQL
database shared by several servers. Everything above (session manager, services, status page)
is written against these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from pinbroker.events import EventKind
from pinbroker.reservation._leases import ClientIdentity, Lease, LeaseId
from pinbroker.reservation._values import (
    FenceToken,
    Reservation,
    ReservationId,
    TableSnapshot,
    Ticket,
)
from pinbroker.types import SessionName

__all__ = ["LeaseTableLike", "ReservationTableLike"]


class ReservationTableLike(Protocol):
    """What :class:`~pinbroker.reservation.ReservationTable` offers (see its docstrings)."""

    def request(
        self,
        session_names: Iterable[str],
        *,
        owner: str,
        annotations: Mapping[str, str] | None = None,
        on_change: Callable[[], None] | None = None,
        lease_id: int | None = None,
        client: ClientIdentity | None = None,
        timeout: float | None = None,
    ) -> Ticket: ...

    def wait(self, ticket: Ticket, timeout: float | None) -> Reservation: ...

    def finish(self, ticket: Ticket, timeout: float | None) -> Reservation: ...

    def reserve(
        self,
        session_names: Iterable[str],
        *,
        owner: str,
        timeout: float | None,
        annotations: Mapping[str, str] | None = None,
    ) -> Reservation: ...

    def cancel(self, ticket: Ticket) -> bool: ...

    def release(self, session_names: Iterable[str]) -> tuple[SessionName, ...]: ...

    def release_reservation(
        self,
        reservation_id: ReservationId,
        session_names: Iterable[str],
        reason: str = "",
        kind: EventKind = EventKind.RELEASED,
    ) -> tuple[SessionName, ...]: ...

    def release_owned(
        self, sessions: Iterable[tuple[str, FenceToken | None]], *, strict: bool = False
    ) -> tuple[tuple[SessionName, ...], tuple[SessionName, ...]]: ...

    def force_release(
        self, session_names: Iterable[str], reason: str
    ) -> tuple[SessionName, ...]: ...

    def release_lease(self, lease_id: int, reason: str) -> tuple[SessionName, ...]: ...

    def shutdown(self) -> None: ...

    def is_reserved(self, session_name: str) -> bool: ...

    def holder_of(self, session_name: str) -> Reservation | None: ...

    def annotations_of(self, session_name: str) -> Mapping[str, str]: ...

    def held_longer_than(self, seconds: float) -> tuple[Reservation, ...]: ...

    def wait_for_waiting(self, count: int, timeout: float) -> bool: ...

    def snapshot(self, *, waiting: bool = True) -> TableSnapshot: ...


class LeaseTableLike(Protocol):
    """What :class:`~pinbroker.reservation.LeaseTable` offers (see its docstrings)."""

    @property
    def ttl(self) -> float: ...

    def grant(self, identity: ClientIdentity) -> Lease: ...

    def keep_alive(self, lease_id: LeaseId) -> Lease: ...

    def revoke(self, lease_id: LeaseId, reason: str = ...) -> Lease | None: ...

    def expire_due(self) -> tuple[Lease, ...]: ...

    def get(self, lease_id: LeaseId) -> Lease | None: ...

    def is_active(self, lease_id: LeaseId) -> bool: ...

    def next_deadline(self) -> float | None: ...

    def snapshot(self) -> tuple[Lease, ...]: ...
