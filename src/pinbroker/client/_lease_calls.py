"""Reserve calls under a lease: the metadata, the reply-lost retry, the check on release.

Used by the drop-in ``SessionManagementClient`` (and so by every client derived from it) for
ReserveSessions and ReserveAllRegisteredSessions.

Against a server without pinbroker's lease service (NI's own: GrantLease answers UNIMPLEMENTED)
:func:`reserve_under_lease` sends exactly what NI's 1.2 client sends: no metadata, no retry.
The only difference is the one GrantLease call on the channel's first reserve that finds out.

Against pinbroker each call carries ``pinbroker-lease-id`` (the channel's lease, see
:mod:`pinbroker.client._lease`) and ``pinbroker-request-id`` (a fresh uuid4 per logical call,
the same on its retries).

Retry rule (only under a lease, where the request id makes a retry safe):

* A call is retried, with the same request id, when it failed with UNAVAILABLE and gRPC's
  message names a broken or refused connection (:func:`is_connection_failure`: "Socket closed",
  "Stream removed", "Connection reset", "failed to connect", "GOAWAY", ...). Those messages come
  from the transport, never from pinbroker's service, whose own UNAVAILABLE answers (reservation
  timeout: "sessions for request ..."; shutdown: "the session manager is shutting down") are
  never retried. Either the request never reached the server (a retry is a first try) or its
  reply was lost (the server returns the same grant again, if it still holds); a retry never
  makes a second reservation.
* At most :data:`MAX_TRIES` tries in all. Before a retry the client keeps the lease alive with a
  KeepAlive that waits for the connection to come back, at most until the lease would expire
  (past that the lease, and with it the grant, is gone); if the server does not answer by
  then, the last error is raised. If the lease has ended meanwhile, the retry goes out under a
  new lease. A retry waits for sessions only what is left of the caller's ``timeout`` (0 stays
  0, "forever" stays forever).
* A call answered NOT_FOUND is checked against the lease (a KeepAlive at once): if the lease
  has ended, the call is sent once more under a new lease; otherwise NOT_FOUND was about the
  request (an unknown pin map) and is raised.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, TypeVar

import grpc

from ni_measurementlink_service._timeout import ni_timeout_to_milliseconds
from pinbroker.client._lease import Renewal
from pinbroker.client._lease_registry import existing_lease_keeper, lease_keeper_for

__all__ = [
    "LEASE_ID_ANNOTATION",
    "LEASE_ID_METADATA",
    "MAX_TRIES",
    "REQUEST_ID_METADATA",
    "check_leases_of",
    "is_connection_failure",
    "reserve_under_lease",
]

LEASE_ID_METADATA = "pinbroker-lease-id"
"""Call metadata key binding a reservation to a lease (``pinbroker.lease.v1``)."""

REQUEST_ID_METADATA = "pinbroker-request-id"
"""Call metadata key identifying one logical reserve call across its retries."""

LEASE_ID_ANNOTATION = "pinbroker/lease_id"
"""Annotation of a reserved session naming the lease it was granted under."""

MAX_TRIES = 3
"""Tries of one reserve call whose connection broke (the first one included)."""

_CONNECTION_FAILURES = (
    "socket closed",
    "stream removed",
    "connection reset",
    "connection refused",
    "connection aborted",
    "broken pipe",
    "failed to connect",
    "goaway",
    "endpoint closing",
    "keepalive watchdog",
)
"""Lower-case fragments of gRPC core's messages for a broken or refused connection."""

_SERVICE_ANSWERS = ("sessions for request", "the session manager is shutting down")
"""Starts of pinbroker's own UNAVAILABLE messages: answers, never retried."""

_R = TypeVar("_R")


class _ReserveRequest(Protocol):
    timeout_in_milliseconds: int

    def CopyFrom(self, other: _ReserveRequest, /) -> None: ...


class _AnnotatedSession(Protocol):
    @property
    def annotations(self) -> Mapping[str, str]: ...


def is_connection_failure(error: grpc.RpcError) -> bool:
    """Whether ``error`` is a broken or refused connection rather than an answer of the service.

    True for UNAVAILABLE whose message names a transport failure (see the module docstring),
    never for pinbroker's reservation timeout or shutdown.
    """
    if not isinstance(error, grpc.Call) or error.code() is not grpc.StatusCode.UNAVAILABLE:
        return False
    details = (error.details() or "").strip().lower()
    if details.startswith(_SERVICE_ANSWERS):
        return False
    return any(fragment in details for fragment in _CONNECTION_FAILURES)


def _code(error: grpc.RpcError) -> grpc.StatusCode | None:
    return error.code() if isinstance(error, grpc.Call) else None


def reserve_under_lease(
    channel: grpc.Channel,
    method: Callable[..., _R],
    request: _ReserveRequest,
    timeout: float | None,
) -> _R:
    """Send a reserve call bound to the channel's lease, retrying a lost reply (module doc).

    Args:
        channel: The channel ``method`` belongs to.
        method: ``stub.ReserveSessions`` or ``stub.ReserveAllRegisteredSessions``.
        request: The request; its ``timeout_in_milliseconds`` is already set from ``timeout``.
        timeout: The caller's timeout in seconds, as given (the retry budget).

    Raises:
        grpc.RpcError: The service's error, or the last connection failure.
        ValueError: If the channel is closed.
    """
    keeper = lease_keeper_for(channel)
    lease_id = keeper.acquire()
    if lease_id is None:
        return method(request)  # no lease service: exactly what 1.2 sends
    request_id = uuid.uuid4().hex
    started = time.monotonic()
    tries = 0
    renewed = False
    while True:
        tries += 1
        try:
            if lease_id is None:  # the server lost its lease service meanwhile
                return method(request)
            return method(
                request,
                metadata=((LEASE_ID_METADATA, str(lease_id)), (REQUEST_ID_METADATA, request_id)),
            )
        except grpc.RpcError as error:
            if lease_id is None:
                raise
            if _code(error) is grpc.StatusCode.NOT_FOUND:
                if renewed or keeper.renew_now(lease_id) is not Renewal.LOST:
                    raise  # about the request (e.g. an unknown pin map), not the lease
                renewed = True
                lease_id = keeper.acquire()
                continue
            if tries >= MAX_TRIES or not is_connection_failure(error):
                raise
            # Wait for the server to come back (a keep-alive that waits for the connection,
            # at most until the lease would expire), then send the same call again.
            outcome = keeper.renew_now(lease_id)
            if outcome is Renewal.UNREACHABLE:
                raise
            if outcome is Renewal.LOST:  # the grant, if any, ended with the lease
                lease_id = keeper.acquire()
            request = _with_remaining_timeout(request, timeout, started)


def _with_remaining_timeout(
    request: _ReserveRequest, timeout: float | None, started: float
) -> _ReserveRequest:
    """The request to retry with: the same, waiting only what is left of ``timeout``."""
    milliseconds = ni_timeout_to_milliseconds(timeout)
    if milliseconds <= 0 or timeout is None:  # 0: do not wait; -1: wait forever
        return request
    retry = type(request)()
    retry.CopyFrom(request)
    remaining = max(0.0, timeout - (time.monotonic() - started))
    retry.timeout_in_milliseconds = ni_timeout_to_milliseconds(remaining)
    return retry


def check_leases_of(channel: grpc.Channel, sessions: Iterable[_AnnotatedSession]) -> None:
    """After an unreserve: raise if a session was granted under a lease known to be lost.

    Raises:
        LeaseLostError: If the lease named by a session's ``pinbroker/lease_id`` annotation was
            lost (expired or revoked), as far as the channel's keeper knows.
    """
    keeper = existing_lease_keeper(channel)
    if keeper is None:
        return
    lease_ids: set[int] = set()
    for session in sessions:
        raw = session.annotations.get(LEASE_ID_ANNOTATION)
        if raw is not None:
            try:
                lease_ids.add(int(raw))
            except ValueError:
                continue
    for lease_id in sorted(lease_ids):
        keeper.check(lease_id)
