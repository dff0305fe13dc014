"""Admin Service servicer (``pinbroker.admin.v1``): who holds, who waits, events, force release.

Read-only calls are open to everyone. ForceRelease is accepted from local callers (loopback,
Unix socket) or with the admin token in the ``pinbroker-admin-token`` metadata.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Sequence

import grpc
import grpc.aio

from pinbroker._local_callers import is_local_peer
from pinbroker._proto.pinbroker.admin.v1 import admin_pb2 as pb
from pinbroker._proto.pinbroker.admin.v1 import admin_pb2_grpc as pb_grpc
from pinbroker.errors import InvalidArgumentError, PermissionDeniedError
from pinbroker.events import Event, EventLog, EventOwner
from pinbroker.reservation import (
    ClientIdentity,
    LeaseId,
    LeaseTableLike,
    ReservationTableLike,
    event_owner,
)

__all__ = [
    "ADMIN_TOKEN_METADATA",
    "AdminServicer",
    "audited_force_release",
    "is_local_peer",
    "status_pb",
]

_logger = logging.getLogger(__name__)

ADMIN_TOKEN_METADATA = "pinbroker-admin-token"

_BATCH = 500  # events per WatchEventsResponse


def _event_owner_pb(owner: EventOwner) -> pb.Owner:
    return pb.Owner(
        peer=owner.peer, hostname=owner.hostname, username=owner.username, pid=owner.pid or 0
    )


def _owner_pb(client: ClientIdentity, owner: str) -> pb.Owner:
    return _event_owner_pb(event_owner(client, owner))


def event_to_pb(event: Event) -> pb.Event:
    """One event as the admin API sends it."""
    return pb.Event(
        revision=event.revision,
        time=event.time,
        kind=event.kind.value,
        session_names=event.session_names,
        reservation_id=event.reservation_id or 0,
        owner=None if event.owner is None else _event_owner_pb(event.owner),
        reason=event.reason,
    )


def _lease_pb(leases: LeaseTableLike, lease_id: int | None) -> pb.Lease:
    if lease_id is None:
        return pb.Lease(kind=pb.LEASE_KIND_NONE, state="none")
    lease = leases.get(LeaseId(lease_id))
    if lease is None:
        return pb.Lease(kind=pb.LEASE_KIND_CLIENT, lease_id=lease_id, state="unknown")
    return pb.Lease(
        kind=pb.LEASE_KIND_CLIENT,
        lease_id=lease_id,
        state=lease.state.value,
        remaining_seconds=lease.remaining,
    )


def status_pb(
    table: ReservationTableLike, leases: LeaseTableLike, events: EventLog
) -> pb.GetStatusResponse:
    """Held sessions (by name) and the queue (first = next), as GetStatus answers."""
    revision = events.latest_revision
    snapshot = table.snapshot()
    held = [
        pb.HeldSession(
            session_name=name,
            reservation_id=r.id,
            fence=r.fences.get(name, 0),
            since=r.acquired_at,
            owner=_owner_pb(r.client, r.owner),
            lease=_lease_pb(leases, r.lease_id),
            annotations=dict(r.annotations),
        )
        for name, r in sorted(snapshot.held.items())
    ]
    waiting = [
        pb.WaitingRequest(
            position=position,
            session_names=w.session_names,
            since=w.waiting_since,
            deadline=w.deadline or 0.0,
            owner=_owner_pb(w.client, w.owner),
            blocked_by=w.blocked_by,
            request_id=w.id,
            lease=_lease_pb(leases, w.lease_id),
        )
        for position, w in enumerate(snapshot.waiting, start=1)
    ]
    return pb.GetStatusResponse(held=held, waiting=waiting, revision=revision)


def audited_force_release(
    table: ReservationTableLike, session_names: Sequence[str], reason: str, peer: str
) -> tuple[list[str], list[str]]:
    """Force release ``session_names`` on behalf of ``peer``; log it; return (released, not held).

    Raises:
        InvalidArgumentError: If the reason is blank or no (or an empty) session name is given.
    """
    if not reason.strip():
        raise InvalidArgumentError("a force release needs a reason")
    names = list(dict.fromkeys(session_names))
    if not names or not all(names):
        raise InvalidArgumentError("name at least one session to release (none empty)")
    released = table.force_release(names, f"{reason} (by {peer})")
    _logger.warning(
        "force release by %s (%s): released %s",
        peer,
        reason,
        ", ".join(repr(n) for n in released) or "nothing",
    )
    freed = set(released)
    return list(released), [n for n in names if n not in freed]


class AdminServicer(pb_grpc.AdminServiceServicer):
    """Implements ``pinbroker.admin.v1.AdminService``."""

    def __init__(
        self,
        table: ReservationTableLike,
        leases: LeaseTableLike,
        events: EventLog,
        *,
        admin_token: str | None = None,
    ) -> None:
        self._table = table
        self._leases = leases
        self._events = events
        self._admin_token = admin_token

    def GetStatus(
        self, request: pb.GetStatusRequest, context: grpc.ServicerContext
    ) -> pb.GetStatusResponse:
        """Held sessions (by name) and the queue (first = next)."""
        return status_pb(self._table, self._leases, self._events)

    async def WatchEvents(
        self, request: pb.WatchEventsRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> AsyncIterator[pb.WatchEventsResponse]:
        """The retained events after ``since_revision``; with ``follow``, then every new one."""
        if request.since_revision < 0:
            raise InvalidArgumentError(
                f"since_revision must be 0 or more, not {request.since_revision}"
            )
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(woken.set)

        remove = self._events.add_listener(wake)
        try:
            # A log mirrored from a shared database reads what other servers recorded first,
            # so a caller sees what it did through any server (a no-op on one host).
            await asyncio.to_thread(self._events.catch_up)
            last = request.since_revision
            while True:
                woken.clear()
                events = self._events.since(last)
                for start in range(0, len(events), _BATCH):
                    yield self._batch(events[start : start + _BATCH])
                if events:
                    last = events[-1].revision
                elif not request.follow:
                    yield self._batch(())  # an empty history: say where it starts
                if not request.follow:
                    return
                if self._events.latest_revision <= last:
                    await woken.wait()
        finally:
            remove()

    def _batch(self, events: Sequence[Event]) -> pb.WatchEventsResponse:
        return pb.WatchEventsResponse(
            events=[event_to_pb(e) for e in events],
            oldest_revision=self._events.oldest_revision,
        )

    def ForceRelease(
        self, request: pb.ForceReleaseRequest, context: grpc.ServicerContext
    ) -> pb.ForceReleaseResponse:
        """Release sessions whoever holds them (local callers or the admin token only)."""
        self._authorize(context)
        released, not_held = audited_force_release(
            self._table, request.session_names, request.reason, context.peer()
        )
        return pb.ForceReleaseResponse(released=released, not_held=not_held)

    def _authorize(self, context: grpc.ServicerContext) -> None:
        if is_local_peer(context.peer()):
            return
        if self._admin_token is not None:
            for key, value in context.invocation_metadata() or ():
                if key == ADMIN_TOKEN_METADATA and hmac.compare_digest(
                    str(value), self._admin_token
                ):
                    return
        raise PermissionDeniedError(
            f"force release is refused for {context.peer()}: call from this host, or send "
            f"the admin token (--admin-token-file) in the {ADMIN_TOKEN_METADATA} metadata"
        )
