"""The lease table: etcd-style leases that live only while their client keeps them alive.

A client is granted a lease with a TTL and must call :meth:`LeaseTable.keep_alive` at least
once per TTL; a lease not kept alive *expires*, and its client may also *revoke* it. Whatever a
lease held is released by the table's owner, which learns of expiries from
:meth:`LeaseTable.expire_due`. Identity is the lease id, never a peer address (etcd
``client/v3/concurrency/session.go``; labgrid PR #1884).

A lease's life is a :class:`LeaseState` with guarded transitions::

    ACTIVE ──> EXPIRED   its deadline passed without a keep-alive
       └─────> REVOKED   revoked by its client (or by an administrator)

Deadlines are ``Clock.now()`` readings (monotonic). A lease is expired as soon as its deadline
is reached, whether or not anyone has called :meth:`LeaseTable.expire_due` yet: every method
first expires the leases that are due (as etcd refuses to renew a lease past its TTL), and
:meth:`LeaseTable.expire_due` hands each expired lease to its caller exactly once. A reaper
sleeps until :meth:`LeaseTable.next_deadline` and then calls :meth:`LeaseTable.expire_due`.

Pure: no I/O, no threads of its own; one lock makes every method thread-safe.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NewType

from pinbroker.errors import LeaseNotFoundError
from pinbroker.reservation._clock import Clock, MonotonicClock

__all__ = [
    "ClientIdentity",
    "Lease",
    "LeaseId",
    "LeaseRecord",
    "LeaseState",
    "LeaseTable",
]

LeaseId = NewType("LeaseId", int)
"""Id of a lease: 1, 2, 3, ... in grant order, never reused (also not across restarts)."""

_REVOKED_BY_CLIENT = "revoked by its client"  # the default reason of LeaseTable.revoke


class LeaseState(enum.Enum):
    """Where a lease is in its life; only ACTIVE -> EXPIRED and ACTIVE -> REVOKED happen."""

    ACTIVE = "active"  # kept alive; it may hold reservations
    EXPIRED = "expired"  # its deadline passed without a keep-alive
    REVOKED = "revoked"  # ended on purpose, by its client or an administrator


_TRANSITIONS: Mapping[LeaseState, frozenset[LeaseState]] = {
    LeaseState.ACTIVE: frozenset({LeaseState.EXPIRED, LeaseState.REVOKED}),
    LeaseState.EXPIRED: frozenset(),
    LeaseState.REVOKED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """Who a lease belongs to, as the client described itself; for display only.

    Nothing here identifies the client to the table (the lease id does), so every field may be
    empty.

    Attributes:
        hostname: The client's host name.
        username: The user running the client.
        pid: The client's process id, or None if not given.
        program: The client program's name (e.g. ``python my_measurement.py``).
        peer: The transport's peer address at grant time (e.g. ``ipv4:10.0.0.7:51234``).
    """

    hostname: str = ""
    username: str = ""
    pid: int | None = None
    program: str = ""
    peer: str = ""


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease as seen at one instant (a snapshot; the table's own record stays private).

    Attributes:
        id: The lease's id.
        ttl: Seconds the lease lives after each keep-alive.
        identity: Who the lease was granted to.
        granted_at: Wall-clock seconds since the epoch when it was granted; for display and
            persistence only, never for deadlines.
        state: Whether it is active, expired or revoked.
        remaining: Seconds left before it expires, at the time of the snapshot; 0 when not
            active.
        reason: Why it ended, e.g. ``not kept alive for 10 s``; empty while active.
    """

    id: LeaseId
    ttl: float
    identity: ClientIdentity
    granted_at: float
    state: LeaseState
    remaining: float
    reason: str


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """What persistence stores of an active lease, to :meth:`LeaseTable.restore` it after a restart.

    Attributes:
        id: The lease's id.
        ttl: Seconds the lease lives after each keep-alive.
        identity: Who the lease was granted to.
        granted_at: Wall-clock seconds since the epoch when it was granted.
    """

    id: LeaseId
    ttl: float
    identity: ClientIdentity
    granted_at: float


@dataclass(slots=True, eq=False)
class _Entry:
    """The table's private, mutable record of an active lease (guarded by the table's lock).

    Attributes:
        deadline: ``Clock.now()`` reading at which the lease expires.
        generation: Tag of the heap item that carries the current deadline; older heap items
            of this lease are stale and skipped.
        restored: Whether it was restored and has not been kept alive since.
    """

    id: LeaseId
    ttl: float
    identity: ClientIdentity
    granted_at: float
    deadline: float
    generation: int
    restored: bool
    state: LeaseState = LeaseState.ACTIVE
    reason: str = ""

    def move_to(self, state: LeaseState, reason: str) -> None:
        """Move to ``state`` for ``reason``.

        Raises:
            AssertionError: If the table's logic attempts a transition that is not allowed.
        """
        if state not in _TRANSITIONS[self.state]:
            raise AssertionError(
                f"lease {self.id}: {self.state.value} -> {state.value} is not allowed"
            )
        self.state = state
        self.reason = reason

    def expiry_reason(self) -> str:
        """Return why this lease expires if its deadline passes now."""
        if self.restored:
            return f"restored lease not re-attached within {self.ttl:g} s after restart"
        return f"not kept alive for {self.ttl:g} s"

    def snapshot(self, now: float) -> Lease:
        """Return the public view of this lease at ``now``."""
        active = self.state is LeaseState.ACTIVE
        return Lease(
            id=self.id,
            ttl=self.ttl,
            identity=self.identity,
            granted_at=self.granted_at,
            state=self.state,
            remaining=max(0.0, self.deadline - now) if active else 0.0,
            reason=self.reason,
        )


_HeapItem = tuple[float, int, LeaseId]  # (deadline, generation, lease id)

_COMPACT_SLACK = 64
"""Stale heap items tolerated beyond one per active lease before the heap is rebuilt."""


def _check_ttl(ttl: float, what: str) -> None:
    if not (math.isfinite(ttl) and ttl > 0):
        raise ValueError(f"{what} must be a positive, finite number of seconds, not {ttl!r}")


class LeaseTable:
    """Active leases, their deadlines, and a bounded memory of the leases that ended.

    Deadlines live in a heap with lazy deletion: a keep-alive pushes a new item and leaves the
    old one to be skipped, so :meth:`keep_alive` and :meth:`next_deadline` are O(log n)
    amortised; the heap is rebuilt when stale items outnumber active leases.
    """

    def __init__(
        self, *, ttl: float, clock: Clock | None = None, remember_ended: int = 10_000
    ) -> None:
        """Create an empty table.

        Args:
            ttl: Seconds a lease granted by :meth:`grant` lives after each keep-alive.
            clock: Time source (:class:`~pinbroker.reservation.MonotonicClock` if None).
            remember_ended: How many ended (expired or revoked) leases :meth:`get` and
                :meth:`keep_alive` still know, newest kept; 0 forgets them at once.

        Raises:
            ValueError: If ``ttl`` is not a positive, finite number or ``remember_ended`` is
                negative.
        """
        _check_ttl(ttl, "the lease TTL")
        if remember_ended < 0:
            raise ValueError(f"remember_ended must be >= 0, not {remember_ended}")
        self._ttl = float(ttl)
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._remember_ended = remember_ended
        self._lock = threading.Lock()
        self._next_id = 1
        self._generations = itertools.count()
        self._active: dict[LeaseId, _Entry] = {}
        self._heap: list[_HeapItem] = []
        self._ended: OrderedDict[LeaseId, Lease] = OrderedDict()
        self._unreported: list[tuple[float, Lease]] = []  # (deadline, lease), deadline order

    @property
    def ttl(self) -> float:
        """Seconds a newly granted lease lives after each keep-alive."""
        return self._ttl

    @property
    def next_id(self) -> int:
        """The id the next :meth:`grant` hands out."""
        with self._lock:
            return self._next_id

    # ------------------------------------------------------------------ changes

    def grant(self, identity: ClientIdentity) -> Lease:
        """Grant a new active lease that expires :attr:`ttl` seconds from now.

        Args:
            identity: Who asks, for display.

        Returns:
            The new lease; its id is larger than every id handed out or restored before.
        """
        with self._lock:
            now = self._clock.now()
            self._expire(now)
            entry = _Entry(
                id=LeaseId(self._next_id),
                ttl=self._ttl,
                identity=identity,
                granted_at=self._clock.wall_time(),
                deadline=now,
                generation=0,
                restored=False,
            )
            self._next_id += 1
            self._active[entry.id] = entry
            self._schedule(entry, now)
            return entry.snapshot(now)

    def keep_alive(self, lease_id: LeaseId) -> Lease:
        """Extend an active lease: it now expires its TTL from now.

        A restored lease kept alive counts as re-attached by its client.

        Args:
            lease_id: The lease to keep alive.

        Returns:
            The lease, with ``remaining`` equal to its TTL.

        Raises:
            LeaseNotFoundError: If the lease is not active: it expired (also if its deadline
                has passed and :meth:`expire_due` has not run yet), was revoked, was never
                granted, or ended so long ago that it is no longer remembered. The message
                says which and why, e.g. ``lease 7 expired: not kept alive for 10 s``.
        """
        with self._lock:
            now = self._clock.now()
            self._expire(now)
            entry = self._active.get(lease_id)
            if entry is None:
                raise LeaseNotFoundError(lease_id, self._why_not_active(lease_id))
            entry.restored = False
            self._schedule(entry, now)
            return entry.snapshot(now)

    def revoke(self, lease_id: LeaseId, reason: str = _REVOKED_BY_CLIENT) -> Lease | None:
        """End an active lease now.

        Args:
            lease_id: The lease to revoke.
            reason: Why, for :attr:`Lease.reason` and the event log; empty means
                ``"revoked by its client"``.

        Returns:
            The revoked lease, or None if it was not active (nothing changes then).
        """
        with self._lock:
            now = self._clock.now()
            self._expire(now)
            entry = self._active.pop(lease_id, None)
            if entry is None:
                return None
            entry.move_to(LeaseState.REVOKED, reason or _REVOKED_BY_CLIENT)
            lease = entry.snapshot(now)
            self._remember(lease)
            return lease

    def expire_due(self) -> tuple[Lease, ...]:
        """Expire every active lease whose deadline is reached, and report each expiry once.

        Returns:
            Every lease that expired since the previous call (including those found expired
            by other methods meanwhile), in deadline order; empty if none.
        """
        with self._lock:
            self._expire(self._clock.now())
            expired = tuple(lease for _, lease in self._unreported)
            self._unreported.clear()
            return expired

    def restore(self, records: Iterable[LeaseRecord], *, next_id: int = 1) -> None:
        """Re-install leases loaded from persistence (at start-up) as active.

        Monotonic time does not survive a restart, so each lease gets a fresh deadline: its
        own TTL (the one its client was told) from now, as etcd refreshes leases on
        promotion. If its client does not keep it alive by then, it expires with the reason
        ``restored lease not re-attached within <ttl> s after restart``. A restored lease's
        deadline may come before :meth:`next_deadline` did, so a reaper should (re)read it
        after restoring.

        Args:
            records: The active leases as persistence recorded them.
            next_id: The smallest id new grants may use (e.g. persisted from before the
                restart, so that ids of leases that ended are not reused either). New ids are
                also larger than every restored id and every id handed out so far.

        Raises:
            ValueError: If a record's id is not positive, appears twice or is already
                active, or its TTL is not a positive, finite number; nothing is restored.
        """
        incoming = list(records)
        seen: set[LeaseId] = set()
        for record in incoming:
            if record.id < 1:
                raise ValueError(f"lease {record.id}: a lease id must be >= 1")
            if record.id in seen:
                raise ValueError(f"lease {record.id} is restored twice")
            seen.add(record.id)
            _check_ttl(record.ttl, f"lease {record.id}'s TTL")
        with self._lock:
            now = self._clock.now()
            self._expire(now)
            for record in incoming:
                if record.id in self._active:
                    raise ValueError(f"lease {record.id} is restored but already active")
            for record in incoming:
                entry = _Entry(
                    id=record.id,
                    ttl=float(record.ttl),
                    identity=record.identity,
                    granted_at=record.granted_at,
                    deadline=now,
                    generation=0,
                    restored=True,
                )
                self._active[entry.id] = entry
                self._ended.pop(entry.id, None)
                self._schedule(entry, now)
            self._next_id = max(self._next_id, next_id, *(record.id + 1 for record in incoming))

    # ------------------------------------------------------------------ introspection

    def get(self, lease_id: LeaseId) -> Lease | None:
        """Return the lease as it is now: active, or ended and still remembered; else None."""
        with self._lock:
            now = self._clock.now()
            self._expire(now)
            entry = self._active.get(lease_id)
            if entry is not None:
                return entry.snapshot(now)
            return self._ended.get(lease_id)

    def is_active(self, lease_id: LeaseId) -> bool:
        """Return whether the lease is active (its deadline not yet reached)."""
        with self._lock:
            self._expire(self._clock.now())
            return lease_id in self._active

    def next_deadline(self) -> float | None:
        """Return when a reaper should next call :meth:`expire_due`, or None if never.

        Returns:
            The earliest deadline (a ``Clock.now()`` reading) of an active lease, or an
            already reached one if expired leases wait to be reported; None when no lease is
            active and none waits. Granting or keeping alive a lease never brings it forward
            (every lease granted by this table has the same TTL); :meth:`restore` may.
        """
        with self._lock:
            if self._unreported:
                return self._unreported[0][0]
            self._drop_stale()
            return self._heap[0][0] if self._heap else None

    def snapshot(self) -> tuple[Lease, ...]:
        """Return the active leases, by id."""
        with self._lock:
            now = self._clock.now()
            self._expire(now)
            return tuple(self._active[i].snapshot(now) for i in sorted(self._active))

    def records(self) -> tuple[LeaseRecord, ...]:
        """Return the active leases as persistence stores them, by id."""
        with self._lock:
            self._expire(self._clock.now())
            return tuple(
                LeaseRecord(id=e.id, ttl=e.ttl, identity=e.identity, granted_at=e.granted_at)
                for e in (self._active[i] for i in sorted(self._active))
            )

    # ------------------------------------------------------------------ internals (locked)

    def _schedule(self, entry: _Entry, now: float) -> None:
        """Set the entry's deadline to its TTL from ``now`` and push it on the heap."""
        entry.deadline = now + entry.ttl
        entry.generation = next(self._generations)
        heapq.heappush(self._heap, (entry.deadline, entry.generation, entry.id))
        if len(self._heap) > 2 * len(self._active) + _COMPACT_SLACK:
            self._heap = [(e.deadline, e.generation, e.id) for e in self._active.values()]
            heapq.heapify(self._heap)

    def _drop_stale(self) -> None:
        """Pop heap items that no longer carry an active lease's current deadline."""
        heap = self._heap
        while heap:
            _, generation, lease_id = heap[0]
            entry = self._active.get(lease_id)
            if entry is not None and entry.generation == generation:
                return
            heapq.heappop(heap)

    def _expire(self, now: float) -> None:
        """Expire every active lease whose deadline is <= ``now``, in deadline order."""
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                return
            deadline, _, lease_id = heapq.heappop(self._heap)
            entry = self._active.pop(lease_id)
            entry.move_to(LeaseState.EXPIRED, entry.expiry_reason())
            lease = entry.snapshot(now)
            self._remember(lease)
            self._unreported.append((deadline, lease))

    def _remember(self, lease: Lease) -> None:
        """Keep an ended lease for :meth:`get`, forgetting the oldest beyond the bound."""
        if self._remember_ended == 0:
            return
        self._ended[lease.id] = lease
        while len(self._ended) > self._remember_ended:
            self._ended.popitem(last=False)

    def _why_not_active(self, lease_id: LeaseId) -> str:
        """Return why ``lease_id`` is not active, to follow ``lease <id>`` in a message."""
        ended = self._ended.get(lease_id)
        if ended is not None:
            return f"{ended.state.value}: {ended.reason}"
        if lease_id < 1 or lease_id >= self._next_id:
            return "was never granted"
        return "is not active (it ended earlier and is no longer remembered)"
