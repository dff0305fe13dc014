"""Values the admin client returns: who holds, who waits, what happened. All frozen.

Times are timezone-aware :class:`~datetime.datetime` values in UTC (the wire's Unix seconds,
for display); the wire's ``0`` for "none" becomes ``None``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "AdminEvent",
    "AdminEventBatch",
    "AdminStatus",
    "ForceReleaseResult",
    "HeldSession",
    "LeaseInfo",
    "LeaseKind",
    "OwnerInfo",
    "WaitingRequest",
]


class LeaseKind(enum.Enum):
    """Whether a reservation or request is tied to a client lease."""

    CLIENT = "client"  # made under a client lease: released when the lease ends
    NONE = "none"  # made without a lease: held until unreserved (or force released)


@dataclass(frozen=True, slots=True)
class OwnerInfo:
    """Who holds or waits, as far as the server knows.

    Attributes:
        peer: The gRPC peer of the call, e.g. ``ipv4:127.0.0.1:50512``.
        hostname: The client's host name; empty if unknown.
        username: The user running the client; empty if unknown.
        pid: The client's process id, or None if unknown.
    """

    peer: str
    hostname: str = ""
    username: str = ""
    pid: int | None = None


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """The lease behind a reservation or request.

    Attributes:
        kind: Whether there is a client lease at all.
        id: The client lease id, or None for :attr:`LeaseKind.NONE`.
        state: ``"active"``, ``"expired"``, ``"revoked"``, ``"unknown"``, or ``"none"`` (no
            lease); a newer server may send other words, which are passed through.
        remaining_seconds: Seconds until an active lease expires unless kept alive; None
            unless ``state`` is ``"active"``.
    """

    kind: LeaseKind
    id: int | None = None
    state: str = "none"
    remaining_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class HeldSession:
    """One session that is reserved now.

    Attributes:
        session_name: The session.
        reservation_id: The reservation holding it (one can hold several sessions).
        fence: The session's fencing token (grows each time the session changes hands).
        since: When it was granted.
        owner: Who holds it.
        lease: The lease the reservation is tied to.
        annotations: Key/value pairs recorded with the reservation.
    """

    session_name: str
    reservation_id: int
    fence: int
    since: datetime
    owner: OwnerInfo
    lease: LeaseInfo
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class WaitingRequest:
    """One reservation request waiting for sessions held (or wanted first) by others.

    Attributes:
        position: Place in the queue; 1 = next to be granted.
        request_id: The request's id.
        session_names: The sessions it waits for (granted all at once).
        since: When it started waiting.
        deadline: When it gives up, or None if it waits without a deadline.
        owner: Who waits.
        blocked_by: Ids of the reservations holding, or requests queued ahead for, any of its
            sessions.
        lease: The lease the request is tied to.
    """

    position: int
    request_id: int
    session_names: tuple[str, ...]
    since: datetime
    deadline: datetime | None
    owner: OwnerInfo
    blocked_by: tuple[int, ...]
    lease: LeaseInfo


@dataclass(frozen=True, slots=True)
class AdminStatus:
    """A consistent snapshot of a server's reservations.

    Attributes:
        held: Every reserved session, sorted by session name.
        waiting: Every waiting request, first in line first.
        revision: The revision of the last event reflected here; follow events from it
            without a gap.
    """

    held: tuple[HeldSession, ...]
    waiting: tuple[WaitingRequest, ...]
    revision: int


@dataclass(frozen=True, slots=True)
class AdminEvent:
    """Something that happened on the server.

    Attributes:
        revision: Its number: one more than the previous event's.
        time: When it happened.
        kind: What happened, e.g. ``"reserved"``, ``"force_released"``, ``"expired"`` (see
            ``proto/pinbroker/admin/v1/admin.proto``); newer servers may add kinds.
        session_names: The sessions concerned.
        reservation_id: The reservation or request concerned, or None.
        owner: Who caused it or held the sessions, or None.
        reason: Why, for people; may be empty.
    """

    revision: int
    time: datetime
    kind: str
    session_names: tuple[str, ...]
    reservation_id: int | None
    owner: OwnerInfo | None
    reason: str


@dataclass(frozen=True, slots=True)
class AdminEventBatch:
    """Events as the server sent them in one message.

    Attributes:
        events: Oldest first.
        oldest_revision: The oldest revision the server still retains (0 = none yet). If the
            first batch's is greater than ``since + 1``, the events in between were dropped
            from the server's bounded history.
    """

    events: tuple[AdminEvent, ...]
    oldest_revision: int


@dataclass(frozen=True, slots=True)
class ForceReleaseResult:
    """What a force release did.

    Attributes:
        released: Sessions that were held and are free now.
        not_held: Named sessions that were not held (nothing was done for them).
    """

    released: tuple[str, ...]
    not_held: tuple[str, ...]
