"""Client leases kept in the shared database: any server grants, renews, revokes and reaps them.

A client's lease lives in ``leases`` with a deadline by the database's clock, so a client
whose server died re-attaches by keeping its lease alive through another server. Any server's
reaper may expire a lease; ``DELETE ... RETURNING`` hands each expired lease to exactly one of
them, which then releases what is bound to it (``LeaseManager``). Ended leases are remembered
in ``ended_leases`` (the newest :data:`REMEMBER_ENDED`) for the messages of late keep-alives.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, Final

from pinbroker.cluster._db import Cursor, Database
from pinbroker.errors import LeaseNotFoundError
from pinbroker.reservation import ClientIdentity, Lease, LeaseId, LeaseRecord, LeaseState
from pinbroker.store._codec import decode_client_identity, encode_client_identity

__all__ = ["REMEMBER_ENDED", "SharedLeaseTable"]

REMEMBER_ENDED: Final = 10_000

_COLUMNS: Final = "id, ttl, identity, granted_at, EXTRACT(EPOCH FROM deadline - clock_timestamp())"


def _active(row: Sequence[Any]) -> Lease:
    lease_id, ttl, identity, granted_at, remaining = row
    return Lease(
        id=LeaseId(int(lease_id)),
        ttl=float(ttl),
        identity=decode_client_identity(identity),
        granted_at=float(granted_at),
        state=LeaseState.ACTIVE,
        remaining=max(0.0, float(remaining)),
        reason="",
    )


def _ended(row: Sequence[Any]) -> Lease:
    lease_id, ttl, identity, granted_at, state, reason = row
    return Lease(
        id=LeaseId(int(lease_id)),
        ttl=float(ttl),
        identity=decode_client_identity(identity),
        granted_at=float(granted_at),
        state=LeaseState(state),
        remaining=0.0,
        reason=reason,
    )


class SharedLeaseTable:
    """The lease table of :class:`~pinbroker.reservation.LeaseTable`'s contract, in the database.

    ``next_deadline`` is a ``time.monotonic()`` reading of this host, converted from the
    database's clock at the call.
    """

    def __init__(self, database: Database, *, ttl: float) -> None:
        self._db = database
        self._ttl = float(ttl)

    @property
    def ttl(self) -> float:
        """Seconds a newly granted lease lives after each keep-alive."""
        return self._ttl

    def grant(self, identity: ClientIdentity) -> Lease:
        """Grant a new active lease that expires :attr:`ttl` seconds from now."""
        ((row),) = self._db.call(
            "INSERT INTO leases (id, ttl, identity, granted_at, deadline) VALUES "
            "(nextval('lease_ids'), %s, %s, %s, clock_timestamp() + make_interval(secs => %s)) "
            f"RETURNING {_COLUMNS}",
            (self._ttl, encode_client_identity(identity), time.time(), self._ttl),
        )
        return _active(row)

    def keep_alive(self, lease_id: LeaseId) -> Lease:
        """Extend an active lease by its TTL (through any server).

        Raises:
            LeaseNotFoundError: If it is not active; the message says why.
        """
        rows = self._db.call(
            "UPDATE leases SET deadline = clock_timestamp() + make_interval(secs => ttl) "
            f"WHERE id = %s AND deadline > clock_timestamp() RETURNING {_COLUMNS}",
            (lease_id,),
        )
        if rows:
            return _active(rows[0])
        why = self._db.run(lambda cursor: _why_not_active(cursor, lease_id))
        raise LeaseNotFoundError(lease_id, why)

    def revoke(self, lease_id: LeaseId, reason: str = "revoked by its client") -> Lease | None:
        """End an active lease; return it as ended, or None if it was not active."""
        ended = self._end(
            "DELETE FROM leases WHERE id = %s AND deadline > clock_timestamp()",
            (lease_id,),
            LeaseState.REVOKED,
            lambda _ttl: reason,
        )
        return ended[0] if ended else None

    def expire_due(self) -> tuple[Lease, ...]:
        """Expire every lease past its deadline (each handed to exactly one server)."""
        return self._end(
            "DELETE FROM leases WHERE deadline <= clock_timestamp()",
            (),
            LeaseState.EXPIRED,
            lambda ttl: f"not kept alive for {ttl:g} s",
        )

    def _end(
        self,
        delete: str,
        args: tuple[Any, ...],
        state: LeaseState,
        reason: Any,
    ) -> tuple[Lease, ...]:
        def work(cursor: Cursor) -> tuple[Lease, ...]:
            cursor.execute(delete + " RETURNING id, ttl, identity, granted_at", args)
            rows = cursor.fetchall()
            ended = tuple(
                _ended((lease_id, ttl, identity, granted_at, state.value, reason(float(ttl))))
                for lease_id, ttl, identity, granted_at in sorted(rows)
            )
            if ended:
                cursor.executemany(
                    "INSERT INTO ended_leases (id, ttl, identity, granted_at, state, reason) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                    [
                        (
                            lease.id,
                            lease.ttl,
                            encode_client_identity(lease.identity),
                            lease.granted_at,
                            lease.state.value,
                            lease.reason,
                        )
                        for lease in ended
                    ],
                )
                cursor.execute(
                    "DELETE FROM ended_leases WHERE id <= (SELECT max(id) FROM ended_leases) - %s",
                    (REMEMBER_ENDED,),
                )
            return ended

        return self._db.run(work)

    def restore(self, records: Iterable[LeaseRecord], *, next_id: int = 1) -> None:
        """Nothing to restore: the leases live in the database (here for the contract)."""
        del records, next_id

    def get(self, lease_id: LeaseId) -> Lease | None:
        """Return the lease as it is now: active, or ended and remembered; else None."""
        rows = self._db.call(
            f"SELECT {_COLUMNS}, NULL, NULL FROM leases "
            "WHERE id = %s AND deadline > clock_timestamp() "
            "UNION ALL SELECT id, ttl, identity, granted_at, 0, state, reason FROM ended_leases "
            "WHERE id = %s",
            (lease_id, lease_id),
        )
        if not rows:
            return None
        lease_id_, ttl, identity, granted_at, remaining, state, reason = rows[0]
        if state is None:
            return _active((lease_id_, ttl, identity, granted_at, remaining))
        return _ended((lease_id_, ttl, identity, granted_at, state, reason))

    def is_active(self, lease_id: LeaseId) -> bool:
        """Return whether the lease is active (its deadline not yet reached)."""
        lease = self.get(lease_id)
        return lease is not None and lease.state is LeaseState.ACTIVE

    def next_deadline(self) -> float | None:
        """When a reaper should next call :meth:`expire_due` (``time.monotonic()``), or None."""
        ((remaining,),) = self._db.call(
            "SELECT EXTRACT(EPOCH FROM min(deadline) - clock_timestamp()) FROM leases", ()
        )
        if remaining is None:
            return None
        return time.monotonic() + max(0.0, float(remaining))

    def snapshot(self) -> tuple[Lease, ...]:
        """Return the active leases, by id."""
        rows = self._db.call(
            f"SELECT {_COLUMNS} FROM leases WHERE deadline > clock_timestamp() ORDER BY id", ()
        )
        return tuple(_active(row) for row in rows)


def _why_not_active(cursor: Cursor, lease_id: int) -> str:
    cursor.execute("SELECT state, reason FROM ended_leases WHERE id = %s", (lease_id,))
    ended = cursor.fetchone()
    if ended is not None:
        return f"{ended[0]}: {ended[1]}"
    cursor.execute("SELECT 1 FROM leases WHERE id = %s", (lease_id,))
    if cursor.fetchone() is not None:
        return "expired: its deadline passed"
    cursor.execute("SELECT last_value, is_called FROM lease_ids")
    row = cursor.fetchone()
    issued = 0 if row is None or not row[1] else int(row[0])
    if lease_id < 1 or lease_id > issued:
        return "was never granted"
    return "is not active (it ended earlier and is no longer remembered)"
