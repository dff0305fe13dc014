"""Client of pinbroker's admin service (``pinbroker.admin.v1``): status, events, force release.

The protobuf messages stop here: every method returns the frozen values of
:mod:`pinbroker.client._admin_values` (times as UTC datetimes, "none" as None).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from datetime import datetime, timezone

import grpc

from pinbroker._proto.pinbroker.admin.v1 import admin_pb2 as pb
from pinbroker._proto.pinbroker.admin.v1 import admin_pb2_grpc as pb_grpc
from pinbroker.client._admin_values import (
    AdminEvent,
    AdminEventBatch,
    AdminStatus,
    ForceReleaseResult,
    HeldSession,
    LeaseInfo,
    LeaseKind,
    OwnerInfo,
    WaitingRequest,
)

__all__ = ["ADMIN_TOKEN_METADATA", "AdminClient"]

ADMIN_TOKEN_METADATA = "pinbroker-admin-token"
"""gRPC metadata key carrying the admin token (``serve --admin-token-file``)."""


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _owner(message: pb.Owner) -> OwnerInfo:
    return OwnerInfo(
        peer=message.peer,
        hostname=message.hostname,
        username=message.username,
        pid=message.pid or None,
    )


def _lease(message: pb.Lease) -> LeaseInfo:
    if message.kind == pb.LEASE_KIND_CLIENT:
        return LeaseInfo(
            kind=LeaseKind.CLIENT,
            id=message.lease_id or None,
            state=message.state or "unknown",
            remaining_seconds=message.remaining_seconds if message.state == "active" else None,
        )
    return LeaseInfo(kind=LeaseKind.NONE, state=message.state or "none")


def status_from_pb(message: pb.GetStatusResponse) -> AdminStatus:
    """Convert a GetStatus answer."""
    held = tuple(
        HeldSession(
            session_name=h.session_name,
            reservation_id=h.reservation_id,
            fence=h.fence,
            since=_time(h.since),
            owner=_owner(h.owner),
            lease=_lease(h.lease),
            annotations=tuple(sorted(h.annotations.items())),
        )
        for h in message.held
    )
    waiting = tuple(
        WaitingRequest(
            position=w.position,
            request_id=w.request_id,
            session_names=tuple(w.session_names),
            since=_time(w.since),
            deadline=_time(w.deadline) if w.deadline else None,
            owner=_owner(w.owner),
            blocked_by=tuple(w.blocked_by),
            lease=_lease(w.lease),
        )
        for w in message.waiting
    )
    return AdminStatus(held=held, waiting=waiting, revision=message.revision)


def event_from_pb(message: pb.Event) -> AdminEvent:
    """Convert one event."""
    return AdminEvent(
        revision=message.revision,
        time=_time(message.time),
        kind=message.kind,
        session_names=tuple(message.session_names),
        reservation_id=message.reservation_id or None,
        owner=_owner(message.owner) if message.HasField("owner") else None,
        reason=message.reason,
    )


class AdminClient:
    """Client of a pinbroker's ``pinbroker.admin.v1.AdminService``.

    Example::

        channel = grpc.insecure_channel("127.0.0.1:50051")
        admin = AdminClient(channel)
        for held in admin.status().held:
            print(held.session_name, held.owner.username)

    Calls raise :class:`grpc.RpcError` as gRPC does: UNAVAILABLE when the server cannot be
    reached, PERMISSION_DENIED for a force release from another host without the admin token,
    INVALID_ARGUMENT for a force release without a reason or session names.
    """

    def __init__(self, grpc_channel: grpc.Channel) -> None:
        """Use ``grpc_channel`` (the caller keeps owning and closes it)."""
        self._stub = pb_grpc.AdminServiceStub(grpc_channel)

    def status(self, *, timeout: float | None = 30.0) -> AdminStatus:
        """Return who holds which session and who waits, as one consistent snapshot.

        Args:
            timeout: Seconds the call may take; None = no limit.
        """
        return status_from_pb(self._stub.GetStatus(pb.GetStatusRequest(), timeout=timeout))

    def events(
        self, since: int = 0, *, follow: bool = False, timeout: float | None = None
    ) -> Generator[AdminEventBatch, None, None]:
        """Yield the events after revision ``since`` in batches, oldest first.

        Without ``follow`` the iteration ends after the events the server retains now (at
        least one, possibly empty, batch); with it, it goes on with each new event until the
        generator is closed, which cancels the call.

        Args:
            since: Revision to start after; 0 = from the oldest retained event.
            follow: Keep waiting for new events.
            timeout: Seconds the whole call may take; None = no limit.

        Raises:
            grpc.RpcError: INVALID_ARGUMENT for a negative ``since``; UNAVAILABLE when the
                server cannot be reached or goes away.
        """
        call = self._stub.WatchEvents(
            pb.WatchEventsRequest(since_revision=since, follow=follow), timeout=timeout
        )
        try:
            for message in call:
                yield AdminEventBatch(
                    events=tuple(event_from_pb(e) for e in message.events),
                    oldest_revision=message.oldest_revision,
                )
        finally:
            call.cancel()  # type: ignore[no-untyped-call]  # grpc-stubs: RpcContext.cancel

    def force_release(
        self,
        session_names: Sequence[str],
        reason: str,
        token: str | None = None,
        *,
        timeout: float | None = 30.0,
    ) -> ForceReleaseResult:
        """Release the named sessions, whoever holds them. Destructive.

        Allowed from the server's own host, or with ``token`` (the contents of the server's
        ``--admin-token-file``).

        Args:
            session_names: Sessions to release.
            reason: Why, for people; recorded in the ``force_released`` event.
            token: The admin token, sent as ``pinbroker-admin-token`` metadata; None = none.
            timeout: Seconds the call may take; None = no limit.

        Raises:
            grpc.RpcError: PERMISSION_DENIED from another host without a valid token;
                INVALID_ARGUMENT if ``reason`` is blank or no (or an empty) name is given.
        """
        metadata = ((ADMIN_TOKEN_METADATA, token),) if token is not None else None
        response = self._stub.ForceRelease(
            pb.ForceReleaseRequest(session_names=list(session_names), reason=reason),
            timeout=timeout,
            metadata=metadata,
        )
        return ForceReleaseResult(
            released=tuple(response.released), not_held=tuple(response.not_held)
        )
