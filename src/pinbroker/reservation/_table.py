"""The reservation table: all-or-nothing grants, first-come-first-served waiters, timeouts.

One lock guards the whole table and one condition (on that lock) wakes its waiters; nobody
polls. Every change runs :meth:`ReservationTable._dispatch`, which walks the queue in arrival
order and grants a request when none of its sessions is held *and* none is wanted by an earlier
request that is still waiting. So a request gets all its sessions at once or none (no request
ever holds some while waiting for others, hence no deadlock), a later request never overtakes an
earlier one it conflicts with (no starvation), and a request that conflicts with nobody ahead of
it is granted at once.

A server thread uses it like this (``context.add_callback`` fires from another thread when the
RPC terminates, also after success, when ``cancel`` is a no-op)::

    timeout = timeout_from_milliseconds(request.timeout_in_milliseconds)
    ticket = table.request(names, owner=peer, annotations=annotations)
    if not context.add_callback(lambda: table.cancel(ticket)):
        table.cancel(ticket)  # the RPC is already over
    reservation = table.wait(ticket, timeout)

Persistence goes through a journal (see :mod:`pinbroker.reservation._journal`) without holding
the lock across I/O: under the lock a change is made in memory *and* its record is queued (so
records are queued in the table's order), the durability wait happens outside the lock, and
the lock is taken again to finish. A grant holds its sessions while its record is written and
is undone if the write fails; a release keeps its sessions held until its record is durable and
changes nothing if the write fails.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType

from pinbroker._annotations import EMPTY_ANNOTATIONS, freeze_annotations
from pinbroker.errors import (
    CancelledError,
    InvalidSessionError,
    LeaseNotFoundError,
    ReservationTimeoutError,
    ShuttingDownError,
)
from pinbroker.events import EventKind, EventLog
from pinbroker.reservation._clock import Clock, MonotonicClock
from pinbroker.reservation._fencing import sort_by_token
from pinbroker.reservation._journal import (
    DeferredJournal,
    DeleteSessions,
    JournalReceipt,
    PutReservation,
    as_deferred,
    submit,
)
from pinbroker.reservation._leases import ClientIdentity
from pinbroker.reservation._obstacles import describe_obstacles
from pinbroker.reservation._request import Request as _Request
from pinbroker.reservation._request import State as _State
from pinbroker.reservation._restore import claims_of
from pinbroker.reservation._snapshot import waiting_requests
from pinbroker.reservation._timeout import check_timeout
from pinbroker.reservation._values import (
    FenceToken,
    Reservation,
    ReservationId,
    ReservationJournal,
    TableSnapshot,
    Ticket,
    event_owner,
    unique_names,
)
from pinbroker.types import SessionName

__all__ = ["ReservationTable"]


class ReservationTable:
    """Reserves sessions by name for one owner at a time, thread-safe, free of I/O.

    Sessions are reserved by a request as a whole or not at all; conflicting requests are
    served first come first served; a session is not re-entrant (the same owner asking again
    waits like anyone else). Persistence is the journal's business (see
    :class:`~pinbroker.reservation.ReservationJournal`); the table only calls it.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        journal: ReservationJournal | DeferredJournal | None = None,
        events: EventLog | None = None,
        lease_alive: Callable[[int], bool] | None = None,
    ) -> None:
        """Create an empty table.

        Args:
            clock: Time source and blocking primitive; ``MonotonicClock()`` by default, a
                ``FakeClock`` in tests.
            journal: Records each delivered grant and each release. A
                :class:`~pinbroker.reservation.DeferredJournal` gets the records queued under
                the lock and is waited on outside it; a plain ``ReservationJournal`` is written
                synchronously under the lock. None records nothing.
            events: Where the table appends what happens (queued, reserved, released, ...);
                appended under the table's lock, so in the table's order.
            lease_alive: Tells whether a lease id is active; a request bound to a lease that
                is not is refused with ``LeaseNotFoundError``. Checked under the table's lock,
                so a lease that ends (marked ended first, then :meth:`release_lease`) cannot
                leave a request bound to it behind. None: every lease counts as alive.
        """
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._journal = None if journal is None else as_deferred(journal)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._ids = itertools.count(1)
        self._queue: dict[ReservationId, _Request] = {}  # WAITING, in arrival order
        # Each session's waiting requests in arrival order: only the first of a session's line
        # can be granted it, so a change to a few sessions looks at a few requests, never at the
        # whole queue (1,000 waiters cost one dispatch as much as none).
        self._lines: dict[SessionName, dict[ReservationId, _Request]] = {}
        self._dirty: set[SessionName] = set()  # sessions freed, or whose line changed
        self._requests: dict[ReservationId, _Request] = {}  # every request not yet waited on
        self._holders: dict[SessionName, ReservationId] = {}
        self._reservations: dict[ReservationId, Reservation] = {}  # in grant order
        self._shutting_down = False
        self._events = events
        self._lease_alive = lease_alive
        self._fences: dict[SessionName, int] = {}  # last fence of every session ever granted
        self._held_since: dict[ReservationId, float] = {}  # clock.now() at grant (or restore)

    # ------------------------------------------------------------------ requesting

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
    ) -> Ticket:
        """Queue a request for the sessions; it is granted at once if nothing stands in its way.

        Call :meth:`wait` (or :meth:`finish`) with the ticket exactly once afterwards, also
        when you cancel it.

        Args:
            session_names: Sessions to reserve together; duplicates are ignored. An empty
                request is granted at once and holds nothing.
            owner: Who asks; shown in timeouts and snapshots of others.
            annotations: Attached to each session while the reservation holds it.
            on_change: Called when the request is granted or fails (cancelled, shut down),
                possibly before ``request`` returns; it runs under the table's lock, so it
                must be quick and must not call the table (``loop.call_soon_threadsafe`` is
                what an asyncio waiter passes). Then :meth:`finish` takes the outcome.
            lease_id: Bind the request and its reservation to this lease: when the lease
                ends, :meth:`release_lease` withdraws the one and releases the other.
            client: Who asks, as the client described itself (for status and events).
            timeout: The timeout the caller will wait with, shown as the request's deadline.

        Returns:
            The ticket for :meth:`wait`, :meth:`finish` and :meth:`cancel`.

        Raises:
            InvalidSessionError: If a session name is empty.
            LeaseNotFoundError: If ``lease_id`` names a lease that is not active.
            ShuttingDownError: If :meth:`shutdown` was called.
            TypeError: If an annotation key or value is not a ``str``.
        """
        names = unique_names(session_names)
        if any(not name for name in names):
            raise InvalidSessionError("a session name to reserve is empty")
        frozen = freeze_annotations(annotations)
        with self._lock:
            if self._shutting_down:
                raise ShuttingDownError("the session manager is shutting down")
            if (
                lease_id is not None
                and self._lease_alive is not None
                and not self._lease_alive(lease_id)
            ):
                raise LeaseNotFoundError(lease_id, "is not active: it expired or was revoked")
            ticket = Ticket(
                ReservationId(next(self._ids)),
                names,
                owner,
                lease_id,
                client if client is not None else ClientIdentity(),
                timeout,
            )
            request = _Request(ticket, frozen, self._clock.wall_time(), on_change=on_change)
            self._requests[ticket.id] = request
            self._enqueue(request)
            self._dispatch()
            if ticket.id in self._queue:
                self._event(EventKind.QUEUED, ticket.session_names, ticket, reason=owner)
                self._changed.notify_all()  # observers in wait_for_waiting
            return ticket

    def wait(self, ticket: Ticket, timeout: float | None) -> Reservation:
        """Wait until the ticket's request is granted and return the reservation.

        Args:
            ticket: From :meth:`request`; each ticket can be waited on once.
            timeout: ``0`` = fail at once unless granted already, ``> 0`` = wait up to that
                many seconds, ``None`` = wait until granted, cancelled or shut down.

        Returns:
            The reservation; its ``session_names`` lack any session released by name while
            the waiter was waking up.

        Raises:
            InvalidTimeoutError: If ``timeout`` is negative or NaN (the request is withdrawn).
            ReservationTimeoutError: If the request was not granted before the timeout; the
                message names each session standing in its way and its holder.
            CancelledError: If :meth:`cancel` withdrew the request.
            ShuttingDownError: If :meth:`shutdown` was called while the request was outstanding.
            ValueError: If the ticket is unknown to this table or was waited on already.
            Exception: Whatever the journal raised recording the grant (the grant is undone),
                or withdrawing a grant cancelled while it was recorded (the sessions then stay
                reserved, as after a failed :meth:`release`).
        """
        return self._take(ticket, timeout, now=False)

    def finish(self, ticket: Ticket, timeout: float | None) -> Reservation:
        """Take the outcome of a request without waiting for the grant any longer.

        For waiters that do their waiting elsewhere (an asyncio task woken by ``on_change``,
        with its own deadline): a granted request is delivered as by :meth:`wait` (which may
        block while the grant's record is written), a failed one raises its error, and one
        still waiting is withdrawn and times out.

        Args:
            ticket: From :meth:`request`; each ticket can be finished or waited on once.
            timeout: The timeout the caller waited with (seconds; None = forever), for the
                message of the ``ReservationTimeoutError``.

        Returns:
            The reservation.

        Raises:
            ReservationTimeoutError: If the request is still waiting.
            CancelledError: See :meth:`wait`.
            ShuttingDownError: See :meth:`wait`.
            ValueError: See :meth:`wait`.
            Exception: See :meth:`wait`.
        """
        return self._take(ticket, timeout, now=True)

    def _take(self, ticket: Ticket, timeout: float | None, *, now: bool) -> Reservation:
        granted = self._await_grant(ticket, timeout, now=now)
        if isinstance(granted, Reservation):
            return granted
        error = _outcome(granted)  # the durability wait, outside the lock
        with self._lock:
            request = self._requests.pop(ticket.id)
            reservation = self._recorded(request, error)
            if request.state is not _State.FAILED:
                self._reserved_event(reservation)
                return reservation
            # Cancelled while its record was written: withdraw the record, then the grant.
            assert request.error is not None
            cancelled = request.error
            held = {n: ticket.id for n in reservation.session_names}
            delete = self._submit_delete(tuple(held)) if held else None
        if delete is not None:
            delete.wait()
            with self._lock:  # an event for observers: the held set changes now
                self._released_events(
                    [n for n, rid in held.items() if self._holders.get(n) == rid],
                    EventKind.RELEASED,
                    "withdrawn: its caller went away while the grant was recorded",
                )
                self._take_back_held(held)
                self._dispatch()
        raise cancelled

    def _await_grant(
        self, ticket: Ticket, timeout: float | None, *, now: bool
    ) -> Reservation | JournalReceipt:
        """Wait for the grant; return the reservation, or the receipt of its queued record.

        With ``now`` the deadline has passed already (the caller waited elsewhere).
        """
        with self._lock:
            request = self._requests.get(ticket.id)
            if request is None or request.ticket != ticket or request.state is _State.RECORDING:
                raise ValueError(f"request {ticket.id} is unknown or was waited on already")
            try:
                seconds = check_timeout(timeout)
            except Exception:
                self._withdraw(request)
                raise
            deadline = None if seconds is None else self._clock.now() + seconds
            while True:
                if request.state is _State.GRANTED:
                    return self._deliver(request)
                if request.state is _State.FAILED:
                    del self._requests[ticket.id]
                    assert request.error is not None
                    raise request.error
                if now or (deadline is not None and self._clock.now() >= deadline):
                    message = describe_obstacles(
                        request, seconds, self._queue, self._holders, self._reservations
                    )
                    self._withdraw(request)
                    self._event(EventKind.TIMED_OUT, ticket.session_names, ticket, message)
                    raise ReservationTimeoutError(message)
                try:
                    self._clock.wait_until(self._changed, deadline)
                except BaseException:  # e.g. KeyboardInterrupt: leave nothing behind
                    self._abandon(request)
                    raise

    def reserve(
        self,
        session_names: Iterable[str],
        *,
        owner: str,
        timeout: float | None,
        annotations: Mapping[str, str] | None = None,
    ) -> Reservation:
        """Request and wait in one call (for callers that never cancel).

        Args:
            session_names: As for :meth:`request`.
            owner: As for :meth:`request`.
            timeout: As for :meth:`wait`.
            annotations: As for :meth:`request`.

        Returns:
            The reservation.

        Raises:
            InvalidSessionError: See :meth:`request`.
            InvalidTimeoutError: See :meth:`wait`.
            ReservationTimeoutError: See :meth:`wait`.
            ShuttingDownError: See :meth:`request` and :meth:`wait`.
            TypeError: See :meth:`request`.
        """
        ticket = self.request(session_names, owner=owner, annotations=annotations)
        return self.wait(ticket, timeout)

    def cancel(self, ticket: Ticket) -> bool:
        """Withdraw a request; its :meth:`wait` raises ``CancelledError``. Callable from any thread.

        A queued request leaves the queue (letting those behind it through); a granted request
        whose waiter has not taken the reservation yet gives its sessions back. If its waiter
        is waiting for the grant's record to be durable, the cancellation still wins: once the
        record is written the waiter queues a release of it, waits for that too, frees the
        sessions and raises ``CancelledError`` (the record is written, then deleted).

        Args:
            ticket: From :meth:`request`.

        Returns:
            True if the request was withdrawn; False if :meth:`wait` has already returned or
            raised for it, or it failed already, or the ticket is unknown.
        """
        with self._lock:
            request = self._requests.get(ticket.id)
            if request is None or request.ticket != ticket or request.state is _State.FAILED:
                return False
            self._fail(request, CancelledError(f"request {ticket.id} was cancelled"))
            self._event(EventKind.CANCELLED, ticket.session_names, ticket, "the caller went away")
            self._dispatch()
            return True

    # ------------------------------------------------------------------ releasing

    def release(self, session_names: Iterable[str]) -> tuple[SessionName, ...]:
        """Release sessions by name, whoever holds them (UnreserveSessions).

        Releasing a session that is not held is not an error. A reservation that loses only
        some of its sessions keeps the rest. Waiters that can now proceed are granted.

        Args:
            session_names: Sessions to release.

        Sessions whose grant was recorded stay held until the release's record is durable
        (waited for outside the lock); sessions of a grant not recorded yet (its waiter has not
        taken it) are freed at once, unrecorded.

        Returns:
            The sessions that were held and are now free, in the given order.

        Raises:
            Exception: Whatever the journal raised recording the release; the recorded
                sessions stay held.
        """
        return self._release(dict.fromkeys(unique_names(session_names)), EventKind.RELEASED, "")

    def release_reservation(
        self,
        reservation_id: ReservationId,
        session_names: Iterable[str],
        reason: str = "",
        kind: EventKind = EventKind.RELEASED,
    ) -> tuple[SessionName, ...]:
        """Release those of the sessions that the reservation still holds (no one else's).

        Args:
            reservation_id: The reservation whose sessions to release.
            session_names: Its sessions to release.
            reason: Why, for the event.
            kind: The event to record (``expired`` when a limit ended the hold).

        Returns:
            The sessions that were held by it and are now free, in the given order.

        Raises:
            Exception: As for :meth:`release`.
        """
        wanted = dict.fromkeys(unique_names(session_names), reservation_id)
        return self._release(wanted, kind, reason)

    def release_owned(
        self, sessions: Iterable[tuple[str, FenceToken | None]], *, strict: bool = False
    ) -> tuple[tuple[SessionName, ...], tuple[SessionName, ...]]:
        """Release sessions on behalf of their holder (UnreserveSessions with fencing tokens).

        A session given with the token of the grant that holds it is released; one whose
        token is stale (its reservation ended and the session has a new holder, or it is held
        under a newer fence) is left alone; one given without a token is released by name,
        as NI does, unless ``strict``.

        Args:
            sessions: Each session name with its token (from the grant's annotations), or None.
            strict: Refuse (with nothing released) a stale token or a missing token.

        Returns:
            The released sessions, and the sessions left alone because their token is stale.

        Raises:
            StaleTokenError: If ``strict`` and a token is stale or missing; nothing released.
            Exception: As for :meth:`release`.
        """
        with self._lock:
            wanted, stale = sort_by_token(sessions, self._holders, self._reservations, strict)
        return self._release(wanted, EventKind.RELEASED, ""), tuple(stale)

    def force_release(self, session_names: Iterable[str], reason: str) -> tuple[SessionName, ...]:
        """Release sessions whoever holds them, recording a ``force_released`` event.

        Args:
            session_names: The sessions to free.
            reason: Why (shown in the event and the log).

        Returns:
            The sessions that were held and are now free.

        Raises:
            Exception: As for :meth:`release`.
        """
        wanted = dict.fromkeys(unique_names(session_names))
        return self._release(wanted, EventKind.FORCE_RELEASED, reason)

    def release_lease(self, lease_id: int, reason: str) -> tuple[SessionName, ...]:
        """End everything bound to a lease that ended: withdraw its requests, free its sessions.

        Call it after the lease was marked ended (so no new request binds to it).

        Args:
            lease_id: The lease that ended.
            reason: Why (e.g. ``lease 7 expired: not kept alive for 10 s``).

        Returns:
            The sessions that were held under the lease and are now free.

        Raises:
            Exception: As for :meth:`release`.
        """
        with self._lock:
            for request in list(self._requests.values()):
                if request.ticket.lease_id == lease_id and request.state in (
                    _State.WAITING,
                    _State.GRANTED,
                    _State.RECORDING,
                ):
                    ticket = request.ticket
                    self._fail(request, CancelledError(f"request {ticket.id}: {reason}"))
                    self._event(EventKind.CANCELLED, ticket.session_names, ticket, reason)
            self._dispatch()
            wanted: dict[SessionName, ReservationId | None] = {
                name: r.id
                for r in self._reservations.values()
                if r.lease_id == lease_id
                for name in r.session_names
            }
        return self._release(wanted, EventKind.EXPIRED, reason)

    def _release(
        self,
        wanted: Mapping[SessionName, ReservationId | None],
        kind: EventKind,
        reason: str,
    ) -> tuple[SessionName, ...]:
        """Free each wanted session held by the given reservation (None: by anyone)."""
        with self._lock:
            held = tuple(
                name
                for name, held_by in wanted.items()
                if name in self._holders and (held_by is None or self._holders[name] == held_by)
            )
            if not held:
                return ()
            recorded = {
                name: self._holders[name]
                for name in held
                if not self._undelivered(self._holders[name])
            }
            if not recorded or self._journal is None:
                self._released_events(held, kind, reason)
                self._take_back(held)
                self._dispatch()
                return held
            unrecorded = [name for name in held if name not in recorded]
            if unrecorded:
                self._released_events(unrecorded, kind, reason)
                self._take_back(unrecorded)
                self._dispatch()
            receipt = self._submit_delete(tuple(recorded))
        receipt.wait()  # outside the lock; the recorded sessions stay held meanwhile
        with self._lock:  # recorded: an event for what is freed now (no event if it failed)
            self._released_events(
                [n for n, rid in recorded.items() if self._holders.get(n) == rid], kind, reason
            )
            self._take_back_held(recorded)
            self._dispatch()
        return held

    def shutdown(self) -> None:
        """Fail every outstanding and future request with ``ShuttingDownError``.

        Reservations already delivered stay held (and journaled): they are restored on the
        next start.
        """
        with self._lock:
            self._shutting_down = True
            error = ShuttingDownError("the session manager is shutting down")
            for request in list(self._requests.values()):
                if request.state in (_State.WAITING, _State.GRANTED):  # RECORDING completes
                    self._fail(request, error)
            self._changed.notify_all()

    def restore(
        self,
        reservations: Iterable[Reservation],
        *,
        fences: Mapping[SessionName, int] | None = None,
        next_id: int = 1,
    ) -> None:
        """Re-install reservations loaded from persistence (at start-up); nothing is journaled.

        Args:
            reservations: Reservations as the journal recorded them; new ids continue after
                the largest restored id.
            fences: Each session's largest fence ever granted (fences only grow, also across
                restarts); the restored reservations' own fences count too.
            next_id: New ids start at least here (the largest id ever granted + 1).

        Raises:
            ValueError: If a session would be held twice, a reservation id is in use, or a
                reservation holds no session or an empty session name; nothing is restored.
            ShuttingDownError: If :meth:`shutdown` was called.
        """
        incoming = list(reservations)
        with self._lock:
            if self._shutting_down:
                raise ShuttingDownError("the session manager is shutting down")
            claimed = claims_of(incoming, self._holders, self._reservations)
            for reservation in incoming:
                self._reservations[reservation.id] = reservation
                self._held_since[reservation.id] = self._clock.now()
            self._holders.update(claimed)
            for name, fence in (fences or {}).items():
                session = SessionName(name)
                self._fences[session] = max(self._fences.get(session, 0), fence)
            for reservation in incoming:
                for session, fence in reservation.fences.items():
                    self._fences[session] = max(self._fences.get(session, 0), fence)
            first = max([next_id, next(self._ids), *(r.id + 1 for r in incoming)])
            self._ids = itertools.count(first)

    # ------------------------------------------------------------------ introspection

    def is_reserved(self, session_name: str) -> bool:
        """Return whether a reservation holds the session."""
        with self._lock:
            return SessionName(session_name) in self._holders

    def holder_of(self, session_name: str) -> Reservation | None:
        """Return the reservation holding the session, or None."""
        with self._lock:
            holder = self._holders.get(SessionName(session_name))
            return None if holder is None else self._reservations[holder]

    def annotations_of(self, session_name: str) -> Mapping[str, str]:
        """Return the annotations of the reservation holding the session (empty if free)."""
        with self._lock:
            holder = self._holders.get(SessionName(session_name))
            return EMPTY_ANNOTATIONS if holder is None else self._reservations[holder].annotations

    def held_longer_than(self, seconds: float) -> tuple[Reservation, ...]:
        """Reservations held for more than ``seconds`` (restored ones count from the restore).

        Args:
            seconds: The longest hold allowed.

        Returns:
            The reservations held longer, oldest first.
        """
        with self._lock:
            limit = self._clock.now() - seconds
            return tuple(
                self._reservations[rid]
                for rid, since in self._held_since.items()
                if since < limit and rid in self._reservations
            )

    def wait_for_waiting(self, count: int, timeout: float) -> bool:
        """Block until at least ``count`` requests are queued (for observers and tests).

        Args:
            count: How many waiting requests to wait for.
            timeout: Real seconds to wait at most.

        Returns:
            True if that many requests were queued before the timeout.
        """
        with self._lock:
            return self._changed.wait_for(lambda: len(self._queue) >= count, timeout)

    def snapshot(self, *, waiting: bool = True) -> TableSnapshot:
        """Return who holds which session and who waits, as frozen values.

        Args:
            waiting: Also describe the waiting requests (what blocks each one). False leaves
                ``waiting`` empty, for callers that only want the holders: then the cost
                follows the reservations, not the queue.
        """
        with self._lock:
            reservations = tuple(self._reservations.values())
            held = {name: r for r in reservations for name in r.session_names}
            queue = waiting_requests(self._queue.values(), self._holders) if waiting else ()
            return TableSnapshot(MappingProxyType(held), reservations, queue, self._shutting_down)

    # ------------------------------------------------------------------ internals (lock held)

    def _dispatch(self) -> None:
        """Grant, in arrival order, each waiting request that nothing stands in the way of.

        A request is granted when none of its sessions is held and it is first in line for
        each of them (no earlier waiting request wants any). Only the first in line of a
        session that was freed, or whose line changed, can newly qualify, so only those are
        looked at.
        """
        granted = False
        while self._dirty:
            dirty, self._dirty = self._dirty, set()
            candidates: dict[ReservationId, _Request] = {}
            for name in dirty:
                line = self._lines.get(name)
                if line:
                    first = next(iter(line.values()))
                    candidates[first.ticket.id] = first
            for request_id in sorted(candidates):
                request = candidates[request_id]
                if request.state is _State.WAITING and self._grantable(request):
                    self._grant(request)
                    granted = True
        if granted:
            self._changed.notify_all()

    def _grantable(self, request: _Request) -> bool:
        request_id = request.ticket.id
        for name in request.ticket.session_names:
            if name in self._holders or next(iter(self._lines[name])) != request_id:
                return False
        return True

    def _grant(self, request: _Request) -> None:
        names = request.ticket.session_names
        self._dequeue(request)
        request.move_to(_State.GRANTED)
        fences = {n: self._fences.get(n, 0) + 1 for n in names}
        self._fences.update(fences)
        reservation = Reservation(
            request.ticket.id,
            names,
            request.ticket.owner,
            request.annotations,
            self._clock.wall_time(),
            request.ticket.lease_id,
            request.ticket.client,
            fences,
        )
        if names:  # an empty request holds nothing and is never recorded
            self._reservations[reservation.id] = reservation
            self._held_since[reservation.id] = self._clock.now()
            self._holders.update(dict.fromkeys(names, reservation.id))

    def _enqueue(self, request: _Request) -> None:
        """Put a new request at the end of the queue and of its sessions' lines."""
        request_id = request.ticket.id
        self._queue[request_id] = request
        for name in request.ticket.session_names:
            self._lines.setdefault(name, {})[request_id] = request
        self._dirty.update(request.ticket.session_names)
        if not request.ticket.session_names:
            self._grant(request)  # wants nothing: nothing can stand in its way
            self._changed.notify_all()

    def _dequeue(self, request: _Request) -> None:
        """Take a request out of the queue and its sessions' lines (granted or withdrawn)."""
        request_id = request.ticket.id
        del self._queue[request_id]
        for name in request.ticket.session_names:
            line = self._lines[name]
            del line[request_id]
            if not line:
                del self._lines[name]
        self._dirty.update(request.ticket.session_names)  # the next in line may go now

    def _deliver(self, request: _Request) -> Reservation | JournalReceipt:
        """Hand a granted reservation to its waiter, or queue its record and return the receipt.

        With a journal the request stays (RECORDING, holding its sessions) until its waiter
        has waited for the receipt outside the lock and called :meth:`_recorded`.
        """
        reservation = self._reservations.get(request.ticket.id)
        if reservation is None:  # empty request, or all released by name meanwhile
            del self._requests[request.ticket.id]
            return self._emptied(request)
        if self._journal is None:
            del self._requests[request.ticket.id]
            self._reserved_event(reservation)  # under the lock, in the table's order
            return reservation
        request.move_to(_State.RECORDING)
        return submit(self._journal, PutReservation(reservation))

    def _recorded(self, request: _Request, error: Exception | None) -> Reservation:
        """Finish a grant whose record was written, or undo it if writing failed.

        Raises:
            CancelledError: If writing failed and the request was cancelled meanwhile.
            Exception: ``error``, after the grant is undone.
        """
        reservation = self._reservations.get(request.ticket.id)
        if error is not None:
            if reservation is not None:  # all it still holds; nobody else can have them
                self._take_back(reservation.session_names)
                self._dispatch()
            if request.state is _State.FAILED:
                assert request.error is not None
                raise request.error from error
            raise error
        return self._emptied(request) if reservation is None else reservation

    def _emptied(self, request: _Request) -> Reservation:
        """The reservation of a request that holds nothing (empty, or released by name)."""
        return Reservation(
            request.ticket.id,
            (),
            request.ticket.owner,
            request.annotations,
            self._clock.wall_time(),
            request.ticket.lease_id,
            request.ticket.client,
        )

    def _submit_delete(self, session_names: tuple[SessionName, ...]) -> JournalReceipt:
        """Queue the record of a release (a journal is set)."""
        assert self._journal is not None
        return submit(self._journal, DeleteSessions(session_names))

    def _take_back_held(self, held: Mapping[SessionName, ReservationId]) -> None:
        """Free each session still held by the reservation it was held by when queued."""
        self._take_back([n for n, rid in held.items() if self._holders.get(n) == rid])

    def _fail(self, request: _Request, error: Exception) -> None:
        """Mark a waiting or granted-but-undelivered request failed and free what it holds."""
        if request.state is _State.WAITING:
            self._dequeue(request)
        elif request.state is _State.GRANTED:
            reservation = self._reservations.get(request.ticket.id)
            if reservation is not None:  # never journaled, so nothing to record
                self._take_back(reservation.session_names)
        # RECORDING: its record may be written already; its waiter withdraws it, then frees.
        request.move_to(_State.FAILED)
        request.error = error
        self._changed.notify_all()

    def _abandon(self, request: _Request) -> None:
        """Forget a request whose waiter is interrupted, whatever its state."""
        if request.state is not _State.FAILED:
            self._fail(request, CancelledError(f"request {request.ticket.id} was abandoned"))
        del self._requests[request.ticket.id]
        self._dispatch()

    def _withdraw(self, request: _Request) -> None:
        """Remove a waiting request whose waiter gives up, letting those behind it through."""
        del self._requests[request.ticket.id]
        self._dequeue(request)
        self._dispatch()

    def _take_back(self, session_names: Iterable[SessionName]) -> None:
        """Free held sessions in memory, shrinking or dropping their reservations."""
        by_reservation: dict[ReservationId, set[SessionName]] = {}
        for name in session_names:
            by_reservation.setdefault(self._holders.pop(name), set()).add(name)
            self._dirty.add(name)
        for reservation_id, names in by_reservation.items():
            reservation = self._reservations[reservation_id]
            remaining = tuple(n for n in reservation.session_names if n not in names)
            if remaining:
                self._reservations[reservation_id] = replace(reservation, session_names=remaining)
            else:
                del self._reservations[reservation_id]
                self._held_since.pop(reservation_id, None)

    def _event(
        self,
        kind: EventKind,
        session_names: Iterable[str],
        ticket: Ticket,
        reason: str = "",
    ) -> None:
        if self._events is not None:
            self._events.append(
                kind,
                session_names=session_names,
                reservation_id=ticket.id,
                owner=event_owner(ticket.client, ticket.owner),
                reason=reason,
            )

    def _reserved_event(self, reservation: Reservation) -> None:
        if self._events is not None and reservation.session_names:
            self._events.append(
                EventKind.RESERVED,
                session_names=reservation.session_names,
                reservation_id=reservation.id,
                owner=event_owner(reservation.client, reservation.owner),
            )

    def _released_events(self, held: Iterable[SessionName], kind: EventKind, reason: str) -> None:
        """One event per reservation losing sessions (lock held, before they are freed)."""
        if self._events is None:
            return
        by_reservation: dict[ReservationId, list[SessionName]] = {}
        for name in held:
            by_reservation.setdefault(self._holders[name], []).append(name)
        for reservation_id, names in by_reservation.items():
            reservation = self._reservations[reservation_id]
            self._events.append(
                kind,
                session_names=names,
                reservation_id=reservation_id,
                owner=event_owner(reservation.client, reservation.owner),
                reason=reason,
            )

    def _undelivered(self, reservation_id: ReservationId) -> bool:
        """Whether the reservation is granted but not handed to its waiter (so not recorded)."""
        request = self._requests.get(reservation_id)
        return request is not None and request.state is _State.GRANTED


def _outcome(receipt: JournalReceipt) -> Exception | None:
    """Wait for a receipt; return the write's exception, or None once it is durable."""
    try:
        receipt.wait()
    except Exception as exc:
        return exc
    return None
