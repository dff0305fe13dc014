"""Leases of pinbroker's own clients, tied to the reservations bound to them (pure).

:class:`LeaseManager` grants, keeps alive and revokes leases (a
:class:`~pinbroker.reservation.LeaseTable`), persists them, and when a lease ends (expired or
revoked) withdraws the requests and releases the reservations bound to it. The order matters:
the lease is marked ended first, then the table releases what is bound to it, and the table
refuses new requests bound to an ended lease under its own lock, so nothing bound to an ended
lease is left behind.
"""

from __future__ import annotations

import logging
from typing import Protocol

from pinbroker.reservation import (
    ClientIdentity,
    Lease,
    LeaseId,
    LeaseRecord,
    LeaseTable,
    LeaseTableLike,
    ReservationTableLike,
)

__all__ = ["LeaseManager", "LeaseStore"]

_logger = logging.getLogger(__name__)


class LeaseStore(Protocol):
    """What the lease manager needs of a store."""

    def put_lease(self, record: LeaseRecord) -> None: ...

    def delete_leases(self, ids: list[int]) -> None: ...

    def load_leases(self) -> list[LeaseRecord]: ...

    def load_lease_id_high(self) -> int: ...


class LeaseManager:
    """Leases and what is bound to them. Thread-safe."""

    def __init__(
        self, leases: LeaseTableLike, table: ReservationTableLike, store: LeaseStore | None
    ) -> None:
        """Create the manager.

        Args:
            leases: The lease table (its TTL is the server's ``--lease-ttl``).
            table: The reservation table; build it with ``lease_alive=leases.is_active``.
            store: Where leases are persisted; None when the lease table persists them
                itself (the shared database of ``pinbroker.cluster``).
        """
        self._leases = leases
        self._table = table
        self._store = store
        self._unreleased: dict[LeaseId, Lease] = {}  # ended, but releasing failed: retried

    @property
    def leases(self) -> LeaseTableLike:
        """The lease table."""
        return self._leases

    def restore(self) -> None:
        """Re-install persisted leases with a fresh TTL (restart: clients must re-attach)."""
        if self._store is None or not isinstance(self._leases, LeaseTable):
            return  # a shared lease table lives in its database
        self._leases.restore(
            self._store.load_leases(), next_id=self._store.load_lease_id_high() + 1
        )

    def grant(self, identity: ClientIdentity) -> Lease:
        """Grant and persist a new lease.

        Raises:
            Exception: Whatever the store raised; then no lease was granted.
        """
        lease = self._leases.grant(identity)
        if self._store is None:
            return lease
        try:
            self._store.put_lease(LeaseRecord(lease.id, lease.ttl, identity, lease.granted_at))
        except Exception:
            self._leases.revoke(lease.id, "could not be recorded")
            raise
        return lease

    def keep_alive(self, lease_id: int) -> Lease:
        """Extend a lease by its TTL.

        Raises:
            LeaseNotFoundError: If it expired, was revoked or never existed.
        """
        return self._leases.keep_alive(LeaseId(lease_id))

    def revoke(self, lease_id: int) -> bool:
        """End a lease at its client's request; release what is bound to it.

        Returns:
            False if the lease was not active.
        """
        lease = self._leases.revoke(LeaseId(lease_id))
        if lease is None:
            return False
        self._end(lease)
        return True

    def expire_due(self) -> tuple[Lease, ...]:
        """Expire every lease past its deadline and release what is bound to each."""
        expired = self._leases.expire_due()
        for lease in (*self._unreleased.values(), *expired):
            self._end(lease)
        return expired

    def _end(self, lease: Lease) -> None:
        reason = f"lease {lease.id} {lease.state.value}: {lease.reason}"
        try:
            released = self._table.release_lease(lease.id, reason)
        except Exception:
            _logger.exception(
                "releasing the sessions of ended lease %s failed; retried at the next expiry",
                lease.id,
            )
            self._unreleased[lease.id] = lease
            return
        self._unreleased.pop(lease.id, None)
        if released:  # each release is an `expired` event, which pinbroker serve logs
            _logger.debug("%s; released %s", reason, ", ".join(repr(name) for name in released))
        else:
            _logger.info("%s", reason)
        if self._store is None:
            return
        try:
            self._store.delete_leases([lease.id])
        except Exception:
            _logger.exception("forgetting ended lease %s in the store failed", lease.id)
