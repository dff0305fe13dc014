"""Frozen values the reservation table hands out, and the journal hook it writes through."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NewType, Protocol

from pinbroker._annotations import EMPTY_ANNOTATIONS, freeze_annotations
from pinbroker.events import EventOwner
from pinbroker.reservation._leases import ClientIdentity
from pinbroker.types import SessionName

_NO_CLIENT = ClientIdentity()
_NO_FENCES: Mapping[SessionName, int] = MappingProxyType({})

__all__ = [
    "FenceToken",
    "Reservation",
    "ReservationId",
    "ReservationJournal",
    "TableSnapshot",
    "Ticket",
    "WaitingRequest",
]

ReservationId = NewType("ReservationId", int)
"""Id of a request and, once granted, of its reservation (the same number)."""


def unique_names(session_names: Iterable[str]) -> tuple[SessionName, ...]:
    """Return the names in first-seen order without duplicates."""
    return tuple(SessionName(name) for name in dict.fromkeys(session_names))


@dataclass(frozen=True, slots=True)
class FenceToken:
    """Proof of which grant a client holds a session under (Chubby's sequencer).

    A client gets it in the session's annotations (``pinbroker/reservation_id`` and
    ``pinbroker/fence``) and sends it back on unreserve; a token that is not the current
    holder's is stale.

    Attributes:
        reservation_id: The reservation the session was granted in.
        fence: The session's fencing counter for that grant.
    """

    reservation_id: ReservationId
    fence: int


def event_owner(client: ClientIdentity, owner: str) -> EventOwner:
    """The owner of an event, from a request's client identity (peer falls back to ``owner``)."""
    return EventOwner(
        peer=client.peer or owner,
        hostname=client.hostname,
        username=client.username,
        pid=client.pid,
    )


@dataclass(frozen=True, slots=True)
class Ticket:
    """A request's place in the table, returned by ``ReservationTable.request``.

    Pass it to ``ReservationTable.wait`` exactly once, and to ``ReservationTable.cancel`` from
    any thread to withdraw the request.

    Attributes:
        id: The request's id; the reservation gets the same id when granted.
        session_names: The requested sessions, de-duplicated, in request order.
        owner: Who asked (free text shown in errors and snapshots, e.g. a peer address).
        lease_id: The lease the request and its reservation are bound to; None = no lease
            (held until released, as NI does).
        client: Who asked, as the client described itself (display only).
        timeout: The timeout the caller waits with (seconds, None = forever); display only.
    """

    id: ReservationId
    session_names: tuple[SessionName, ...]
    owner: str
    lease_id: int | None = None
    client: ClientIdentity = field(default=_NO_CLIENT)
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    """A granted reservation: sessions held together by one owner.

    Attributes:
        id: The reservation's id (that of the request that obtained it).
        session_names: The sessions still held, in request order; releasing some of them by
            name leaves a reservation with the rest.
        owner: Who holds them.
        annotations: Annotations attached to each held session for the reservation's lifetime
            (read-only; excluded from hashing).
        acquired_at: Wall-clock seconds since the epoch when it was granted; for display and
            persistence only, never for deadlines.
        lease_id: The lease it is bound to (released when the lease ends); None = no lease.
        client: Who holds it, as the client described itself (display only).
        fences: Each session's fencing counter for this grant: it only grows from one grant of
            the session to the next (read-only; excluded from hashing).
    """

    id: ReservationId
    session_names: tuple[SessionName, ...]
    owner: str
    annotations: Mapping[str, str] = field(default_factory=lambda: EMPTY_ANNOTATIONS, hash=False)
    acquired_at: float = 0.0
    lease_id: int | None = None
    client: ClientIdentity = field(default=_NO_CLIENT)
    fences: Mapping[SessionName, int] = field(default_factory=lambda: _NO_FENCES, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "session_names", tuple(self.session_names))
        object.__setattr__(self, "annotations", freeze_annotations(self.annotations))
        if self.fences is not _NO_FENCES:
            object.__setattr__(self, "fences", MappingProxyType(dict(self.fences)))


@dataclass(frozen=True, slots=True)
class WaitingRequest:
    """A request in the queue, as shown by ``ReservationTable.snapshot``.

    Attributes:
        id: The request's id (``Ticket.id``).
        session_names: The requested sessions.
        owner: Who asked.
        annotations: The annotations the reservation will carry (excluded from hashing).
        waiting_since: Wall-clock seconds since the epoch when the request was made.
        lease_id: The lease it is bound to, or None.
        client: Who asked, as the client described itself.
        deadline: Wall-clock seconds when it times out; None = waits until granted.
        blocked_by: Ids of the reservations and earlier requests that stand in its way.
    """

    id: ReservationId
    session_names: tuple[SessionName, ...]
    owner: str
    annotations: Mapping[str, str] = field(default_factory=lambda: EMPTY_ANNOTATIONS, hash=False)
    waiting_since: float = 0.0
    lease_id: int | None = None
    client: ClientIdentity = field(default=_NO_CLIENT)
    deadline: float | None = None
    blocked_by: tuple[ReservationId, ...] = ()


@dataclass(frozen=True, slots=True)
class TableSnapshot:
    """Who holds and who waits, at one instant.

    Attributes:
        held: Each held session and the reservation holding it, in grant order (read-only).
        reservations: Every reservation holding at least one session, in grant order.
        waiting: The queue, first come first.
        shutting_down: Whether ``ReservationTable.shutdown`` has been called.
    """

    held: Mapping[SessionName, Reservation] = field(hash=False)
    reservations: tuple[Reservation, ...]
    waiting: tuple[WaitingRequest, ...]
    shutting_down: bool


class ReservationJournal(Protocol):
    """Where the table records each change it must survive a restart with (e.g. a Store).

    Written synchronously: the table calls it while holding its lock, *before* the change is
    complete, so the journal sees changes in the table's order; if a call raises, the change
    does not happen and the exception reaches the caller whose call caused it. A grant is
    recorded when it is delivered to its waiter, so a request that is cancelled or fails is
    never recorded. (A ``DeferredJournal``, e.g. ``pinbroker.store.GroupCommitJournal``, keeps
    the I/O off the lock with the same guarantees, except that a grant cancelled while its
    record is being written is recorded and then deleted.)
    """

    def put_reservation(
        self,
        reservation_id: ReservationId,
        session_names: Sequence[SessionName],
        owner: str,
        annotations: Mapping[str, str],
        acquired_at_wall: float,
    ) -> None:
        """Record a granted reservation (replacing any record with the same id)."""
        ...

    def delete_reservation_sessions(self, session_names: Sequence[SessionName]) -> None:
        """Record that these sessions were released; a reservation left empty is gone."""
        ...
