"""Client leases: one pinbroker lease per gRPC channel, kept alive by a background thread.

A :class:`LeaseKeeper` is the client half of ``pinbroker.lease.v1.LeaseService``. The session
management clients (the drop-in ``SessionManagementClient`` and
:class:`~pinbroker.client.PinbrokerSessionClient`) get the keeper of their channel when they
first reserve; the keeper asks for a lease (GrantLease, with this process's host, user, pid and
command line), and a daemon thread keeps it alive every third of its TTL. The clients bind
their reservations to it with the ``pinbroker-lease-id`` call metadata, so when this process
dies its reservations are released by the server once the TTL has passed.

Life of a keeper (``_State``)::

    NEW --grant--> ACTIVE --KeepAlive NOT_FOUND--> LOST --next reserve: grant--> ACTIVE
     |                |                                                     |
     |                +--close() (RevokeLease) / channel closed or gone--> CLOSED --grant--> ACTIVE
     +--GrantLease UNIMPLEMENTED (NI's own server)--> NO_SERVICE (for good: no lease, no thread)

* Renewal: ``threading.Condition.wait(timeout)`` is the timer; nothing polls. A renewal that
  fails with anything but NOT_FOUND (UNAVAILABLE, DEADLINE_EXCEEDED, ...) is retried at the
  next tick, and each KeepAlive waits for the channel to reconnect (``wait_for_ready``) until
  the lease would expire: a server that comes back within the TTL keeps the lease.
* Loss: KeepAlive answers NOT_FOUND once the lease expired or was revoked; the keeper records
  why (from GetLease) and marks it lost. The next reserve takes a new lease, so the client
  recovers; reservations granted under the lost lease raise :class:`LeaseLostError` when they
  are released (see ``SessionManagementClient.lease``).
* End: :meth:`LeaseKeeper.close` revokes the lease (best effort, short timeout) so its
  reservations are free at once; it runs for every keeper at interpreter exit (``atexit``) and
  from :meth:`pinbroker.client.Clients.close`. A closed or garbage-collected channel stops the
  thread (no revoke is possible then: the TTL frees the reservations). A crash relies on the TTL.

One keeper per channel: :mod:`pinbroker.client._lease_registry`. The keeper and its thread hold
the channel only weakly.
"""

from __future__ import annotations

import enum
import getpass
import logging
import os
import socket
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from pinbroker._proto.pinbroker.lease.v1 import lease_pb2, lease_pb2_grpc
from pinbroker.errors import NotFoundError

__all__ = ["LeaseKeeper", "LeaseLostError", "Renewal", "client_identity"]

_logger = logging.getLogger(__name__)

GRANT_TIMEOUT = 10.0
"""Seconds a GrantLease call may take."""

EXIT_REVOKE_TIMEOUT = 1.0
"""Seconds RevokeLease may take when a keeper closes (at exit it must not hold the process)."""

GET_LEASE_TIMEOUT = 2.0
"""Seconds the GetLease call that asks why a lease ended may take."""

PROGRAM_MAX_CHARS = 200
"""The command line sent as the identity's ``program`` is cut to this length."""

_STATE_NAMES = {
    lease_pb2.LEASE_STATE_EXPIRED: "expired",
    lease_pb2.LEASE_STATE_REVOKED: "was revoked",
    lease_pb2.LEASE_STATE_UNKNOWN: "is unknown to the server",
}


class LeaseLostError(NotFoundError):
    """Raised when a reservation was made under a lease that has since been lost.

    Raised by ``unreserve()`` and by leaving the ``with`` block of a reservation (after the
    unreserve was sent; the server ignores it, the sessions were released already) whose lease
    expired or was revoked, once the client knows it: the lease's keeper learns it at its next
    keep-alive, at most a third of the TTL later. Also raised by :meth:`LeaseKeeper.check`.
    The sessions may have been reserved by someone else in the meantime.

    Attributes:
        lease_id: The lease that was lost.
        reason: Why, as the server tells it (e.g. ``lease 7 expired: not kept alive for 10 s``).
    """

    def __init__(self, lease_id: int, reason: str) -> None:
        self.lease_id = lease_id
        self.reason = reason
        super().__init__(
            f"lease {lease_id} was lost ({reason}); the sessions reserved under it were "
            "released by the server and may be held by someone else now"
        )


class Renewal(enum.Enum):
    """Outcome of one keep-alive."""

    RENEWED = "renewed"
    LOST = "the lease has ended"
    UNREACHABLE = "no answer from the server (or the channel is closed)"


class _State(enum.Enum):
    NEW = "no lease yet"
    ACTIVE = "active"
    LOST = "lost"
    NO_SERVICE = "the server has no lease service"
    CLOSED = "closed"


@dataclass(slots=True)
class _Lease:
    """The current lease (mutable: renewals move its times; guarded by the keeper's lock)."""

    id: int
    ttl: float
    renew_at: float
    expires_at: float
    renewals: int = 0


def client_identity() -> lease_pb2.ClientIdentity:
    """Who this process is: host, user (empty if unknown), pid, command line (cut)."""
    try:
        username = getpass.getuser()
    except (OSError, KeyError, ImportError):  # no user name in the environment or passwd
        username = ""
    return lease_pb2.ClientIdentity(
        hostname=socket.gethostname(),
        username=username,
        pid=os.getpid(),
        program=" ".join(getattr(sys, "argv", ()))[:PROGRAM_MAX_CHARS],
    )


class LeaseKeeper:
    """The lease of one gRPC channel, granted on demand and kept alive in the background.

    Use ``pinbroker.client._lease_registry.lease_keeper_for`` (what the clients do) rather
    than building one: one keeper per channel. Read its state through :attr:`lease_id`,
    :attr:`lost`, :attr:`lost_reason` and :meth:`check`; :meth:`acquire` is what a reserve
    calls.

    Args:
        channel: Channel to the server (held weakly).
        identity: Who this process is; default :func:`client_identity`.
        clock: Monotonic clock in seconds (for tests).
    """

    def __init__(
        self,
        channel: grpc.Channel,
        *,
        identity: lease_pb2.ClientIdentity | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._channel = weakref.ref(channel)
        self._identity = identity if identity is not None else client_identity()
        self._clock = clock
        self._cond = threading.Condition()  # guards everything below; the renewal timer
        self._grant_lock = threading.Lock()  # one GrantLease at a time
        self._state = _State.NEW
        self._lease: _Lease | None = None
        self._lost: dict[int, str] = {}
        self._thread: threading.Thread | None = None
        weakref.finalize(channel, self._channel_gone)

    # ------------------------------------------------------------------ public state

    @property
    def lease_id(self) -> int | None:
        """The current lease (also while it is lost, until a new one is taken); None if none."""
        with self._cond:
            return None if self._lease is None else self._lease.id

    @property
    def lost(self) -> bool:
        """True once the current lease is known to have ended (expired or revoked)."""
        with self._cond:
            return self._state is _State.LOST

    @property
    def lost_reason(self) -> str:
        """Why the current lease ended, as the server tells it; "" while it is not lost."""
        with self._cond:
            if self._state is not _State.LOST or self._lease is None:
                return ""
            return self._lost.get(self._lease.id, "")

    @property
    def has_lease_service(self) -> bool | None:
        """Whether the server offers pinbroker's lease service.

        False against a server without it (NI's), True once a lease was granted, None before.
        """
        with self._cond:
            if self._state is _State.NO_SERVICE:
                return False
            return None if self._lease is None else True

    @property
    def renewals(self) -> int:
        """How many times the current lease has been kept alive so far."""
        with self._cond:
            return 0 if self._lease is None else self._lease.renewals

    def wait_lost(self, timeout: float | None = None) -> bool:
        """Block until the current lease is known to be lost (like etcd's ``Session.Done()``).

        Args:
            timeout: Seconds to wait at most; None waits for ever.

        Returns:
            True if the lease is lost, False if ``timeout`` passed first.
        """
        with self._cond:
            return self._cond.wait_for(lambda: self._state is _State.LOST, timeout)

    def wait_renewals(self, count: int, timeout: float | None = None) -> bool:
        """Block until the current lease has been kept alive ``count`` times in all.

        Args:
            count: Renewals of the current lease to wait for.
            timeout: Seconds to wait at most; None waits for ever.

        Returns:
            True once there were that many, False if the lease was lost or ``timeout`` passed.
        """

        def done() -> bool:
            lease = self._lease
            return self._state is not _State.ACTIVE or (
                lease is not None and lease.renewals >= count
            )

        with self._cond:
            return (
                self._cond.wait_for(done, timeout)
                and self._state is _State.ACTIVE
                and self._lease is not None
                and self._lease.renewals >= count
            )

    def check(self, lease_id: int | None = None) -> None:
        """Raise if a lease is known to be lost.

        Args:
            lease_id: The lease to check; None for the current one.

        Raises:
            LeaseLostError: If the lease expired or was revoked: as the keeper learnt it at a
                keep-alive, or, when the last successful keep-alive is a whole TTL old (the
                process was stopped, the network was down), as the server says now.
        """
        with self._cond:
            if lease_id is None:
                if self._state is not _State.LOST or self._lease is None:
                    return
                lease_id = self._lease.id
            reason = self._lost.get(lease_id)
            lease = self._lease
            overdue = (
                reason is None
                and self._state is _State.ACTIVE
                and lease is not None
                and lease.id == lease_id
                and self._clock() >= lease.expires_at
            )
        if overdue and self.renew_now(lease_id) is Renewal.LOST:
            # Not renewed for a whole TTL (the process was stopped, the network was down): the
            # server may have ended it, so ask now rather than trust the last renewal.
            with self._cond:
                reason = self._lost.get(lease_id)
        if reason is not None:
            raise LeaseLostError(lease_id, reason)

    # ------------------------------------------------------------------ used by the clients

    def acquire(self) -> int | None:
        """The lease id to attach to a reserve call, granting a new lease if there is none.

        Returns:
            The active lease's id, or None if the server has no lease service.

        Raises:
            grpc.RpcError: If GrantLease fails with anything but UNIMPLEMENTED (e.g. UNAVAILABLE
                when the server cannot be reached).
            ValueError: If the channel is closed.
        """
        with self._grant_lock:
            with self._cond:
                if self._state is _State.ACTIVE and self._lease is not None:
                    return self._lease.id
                if self._state is _State.NO_SERVICE:
                    return None
            channel = self._require_channel()
            sent = self._clock()
            try:
                response = lease_pb2_grpc.LeaseServiceStub(channel).GrantLease(
                    lease_pb2.GrantLeaseRequest(identity=self._identity), timeout=GRANT_TIMEOUT
                )
            except grpc.RpcError as error:
                if _code(error) is grpc.StatusCode.UNIMPLEMENTED:
                    with self._cond:
                        self._state = _State.NO_SERVICE
                    _logger.debug("the server has no lease service: reserving without leases")
                    return None
                raise
            ttl = response.ttl_seconds
            with self._cond:
                self._lease = _Lease(
                    id=response.lease_id,
                    ttl=ttl,
                    renew_at=sent + ttl / 3,
                    expires_at=sent + ttl,
                )
                self._state = _State.ACTIVE
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name=f"pinbroker-lease-{response.lease_id}", daemon=True
                    )
                    self._thread.start()
                self._cond.notify_all()
            _logger.debug("lease %d granted (TTL %.1f s)", response.lease_id, ttl)
            return response.lease_id

    def renew_now(self, lease_id: int) -> Renewal:
        """Keep ``lease_id`` alive now, waiting for the channel to reconnect until it would expire.

        Used by the reserve calls: after NOT_FOUND (which also means an unknown pin map) to tell
        whether the lease ended, and after a broken connection to wait for the server to come
        back before a retry.

        Returns:
            What the server said, or that it could not be reached.
        """
        with self._cond:
            if lease_id in self._lost:
                return Renewal.LOST
            lease = self._lease
            if self._state is not _State.ACTIVE or lease is None or lease.id != lease_id:
                return Renewal.UNREACHABLE
        return self._renew(lease)

    def close(self, timeout: float = EXIT_REVOKE_TIMEOUT) -> None:
        """Revoke the lease (best effort) and stop the keep-alive thread.

        The reservations made under the lease are released by the server at once. A later
        reserve on the same channel takes a new lease.

        Args:
            timeout: Seconds the RevokeLease call may take.
        """
        with self._cond:
            lease = self._lease if self._state is _State.ACTIVE else None
            if self._state is not _State.NO_SERVICE:
                self._state = _State.CLOSED
            self._cond.notify_all()
        channel = self._channel()
        if lease is None or channel is None:
            return
        try:
            lease_pb2_grpc.LeaseServiceStub(channel).RevokeLease(
                lease_pb2.RevokeLeaseRequest(lease_id=lease.id), timeout=timeout
            )
        except (grpc.RpcError, ValueError) as error:  # ValueError: the channel is closed
            _logger.debug("revoking lease %d failed (its TTL will end it): %s", lease.id, error)

    # ------------------------------------------------------------------ the keep-alive thread

    def _run(self) -> None:
        while True:
            with self._cond:
                lease = self._next_due()
                if lease is None:
                    return
            try:
                self._renew(lease)
            except Exception:  # never let the thread die: the lease would silently expire
                _logger.exception("keeping lease %d alive failed", lease.id)
                with self._cond:
                    lease.renew_at = self._clock() + lease.ttl / 3

    def _next_due(self) -> _Lease | None:
        """Wait (lock held) until the active lease is due for renewal; None once closed."""
        while True:
            if self._state is _State.CLOSED or self._state is _State.NO_SERVICE:
                return None
            lease = self._lease
            if self._state is not _State.ACTIVE or lease is None:
                self._cond.wait()  # lost: woken by the next grant or by close
                continue
            delay = lease.renew_at - self._clock()
            if delay <= 0:
                return lease
            self._cond.wait(delay)

    def _renew(self, lease: _Lease) -> Renewal:
        """KeepAlive once; on success schedule the next, on NOT_FOUND mark the lease lost."""
        channel = self._channel()
        if channel is None:
            self._channel_gone()
            return Renewal.UNREACHABLE
        sent = self._clock()
        stub = lease_pb2_grpc.LeaseServiceStub(channel)
        del channel  # the thread must not keep the channel alive between ticks
        try:
            response = stub.KeepAlive(
                lease_pb2.KeepAliveRequest(lease_id=lease.id),
                timeout=max(lease.expires_at - sent, lease.ttl / 3),
                wait_for_ready=True,  # a reconnecting channel: send as soon as it is back
            )
        except ValueError:  # the channel was closed
            self._channel_gone()
            return Renewal.UNREACHABLE
        except grpc.RpcError as error:
            code = _code(error)
            if code is grpc.StatusCode.NOT_FOUND:
                self._mark_lost(lease, _why_ended(stub, lease.id, error))
                return Renewal.LOST
            if code is grpc.StatusCode.UNIMPLEMENTED:
                self._mark_lost(lease, f"lease {lease.id}: the server has no lease service now")
                return Renewal.LOST
            level = logging.DEBUG if code is grpc.StatusCode.CANCELLED else logging.WARNING
            _logger.log(level, "lease %d keep-alive failed, retrying: %s", lease.id, error)
            with self._cond:
                if self._lease is lease:
                    lease.renew_at = self._clock() + lease.ttl / 6
            return Renewal.UNREACHABLE
        with self._cond:
            if self._lease is lease:
                lease.ttl = response.ttl_seconds
                lease.renew_at = sent + lease.ttl / 3
                lease.expires_at = sent + lease.ttl
                lease.renewals += 1
                self._cond.notify_all()
        return Renewal.RENEWED

    def _mark_lost(self, lease: _Lease, reason: str) -> None:
        with self._cond:
            self._lost[lease.id] = reason
            if self._lease is lease and self._state is _State.ACTIVE:
                self._state = _State.LOST
            self._cond.notify_all()
        _logger.warning("lease %d lost: %s", lease.id, reason)

    def _channel_gone(self) -> None:
        with self._cond:
            if self._state is not _State.NO_SERVICE:
                self._state = _State.CLOSED
            self._cond.notify_all()

    def _require_channel(self) -> grpc.Channel:
        channel = self._channel()
        if channel is None:  # cannot happen while a client calls through it
            raise ValueError("Cannot invoke RPC on closed channel!")
        return channel


def _code(error: grpc.RpcError) -> grpc.StatusCode | None:
    return error.code() if isinstance(error, grpc.Call) else None


def _why_ended(stub: lease_pb2_grpc.LeaseServiceStub, lease_id: int, error: grpc.RpcError) -> str:
    """Why the server says the lease ended (GetLease), else the KeepAlive error's message."""
    details = error.details() if isinstance(error, grpc.Call) else None
    fallback = details or f"lease {lease_id} is not active"
    try:
        response = stub.GetLease(
            lease_pb2.GetLeaseRequest(lease_id=lease_id), timeout=GET_LEASE_TIMEOUT
        )
    except (grpc.RpcError, ValueError):
        return fallback
    if not response.reason:
        return fallback
    state = _STATE_NAMES.get(response.state, "ended")
    return f"lease {lease_id} {state}: {response.reason}"
