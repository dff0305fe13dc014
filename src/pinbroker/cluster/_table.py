"""The reservation table shared by every server on one PostgreSQL database.

The same contract as :class:`pinbroker.reservation.ReservationTable` (all-or-nothing grants,
first come first served among conflicting requests, fencing counters, leases, events), with
the database as the only arbiter:

- **Every decision is one transaction**, one call of a database function (schema version
  2: ``pinbroker_request``, ``pinbroker_attempt``, ``pinbroker_release``,
  ``pinbroker_withdraw``; one round trip, committed in autocommit). Each first locks the
  ``session_state`` rows of the sessions concerned, in session-name order (``SELECT ... ORDER
  BY session_name FOR UPDATE``), then waiter rows, then lease rows, and last the event
  counter. All transactions take locks in that one global order, so none can deadlock. READ
  COMMITTED suffices: each statement after the row locks sees every transaction that held
  them before.
- **Grant**: none of the sessions is held and no older waiter of a live server wants any of
  them; the holder and fence are written, the reservation inserted, the waiter row (if any)
  deleted, a ``reserved`` event recorded — all or nothing. Request ids come from one sequence,
  taken *after* the row locks, so among conflicting requests id order is arrival order.
- **Waiters** are rows (every server sees every queue) and, here, a local record with the
  caller's wake-up. A server tries its own waiters again when a release or withdrawal anywhere
  notifies ``pinbroker_changed`` with the sessions concerned (LISTEN/NOTIFY, milliseconds), after
  its listener reconnects (notifications are not replayed), and every :data:`SAFETY_POLL`
  seconds.
- **Dead servers**: a waiter counts only while its server's heartbeat is younger than that
  server's lease TTL (see :mod:`pinbroker.cluster._servers`), so a server that died blocks
  nobody longer than that.
"""

from __future__ import annotations

import enum
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pinbroker._annotations import EMPTY_ANNOTATIONS, freeze_annotations
from pinbroker.cluster import _sql as sql
from pinbroker.cluster._calls import Calls
from pinbroker.cluster._db import Cursor, Database
from pinbroker.cluster._events import SharedEventLog
from pinbroker.cluster._rows import RESERVATION_COLUMNS, reservation_of
from pinbroker.errors import (
    CancelledError,
    DatabaseUnavailableError,
    InvalidSessionError,
    LeaseNotFoundError,
    ReservationTimeoutError,
    ShuttingDownError,
)
from pinbroker.events import EventKind
from pinbroker.reservation import (
    ClientIdentity,
    FenceToken,
    Reservation,
    ReservationId,
    TableSnapshot,
    Ticket,
    check_timeout,
    sort_by_token,
    timeout_message,
    unique_names,
)
from pinbroker.types import SessionName

__all__ = ["SAFETY_POLL", "SharedReservationTable"]

_logger = logging.getLogger(__name__)

SAFETY_POLL: Final = 1.0
"""Seconds between tries of every local waiter without a notification (a lost one, a dead
server whose waiters stopped counting)."""


class _State(enum.Enum):
    WAITING = "waiting"
    GRANTED = "granted"  # committed, not yet taken by its caller
    FAILED = "failed"


@dataclass(eq=False)
class _Local:
    """A request of this server that its caller has not finished yet."""

    ticket: Ticket
    annotations: Mapping[str, str]
    since: float
    on_change: Callable[[], None] | None
    state: _State = _State.WAITING
    reservation: Reservation | None = None
    error: Exception | None = None
    busy: threading.Lock = field(default_factory=threading.Lock)  # one database action at a time


class SharedReservationTable:
    """Reserves sessions for one owner at a time across every server on the database.

    Thread-safe. Same public methods and errors as
    :class:`~pinbroker.reservation.ReservationTable` (except ``restore``: the state lives in
    the database); each may also raise :class:`~pinbroker.errors.DatabaseUnavailableError`.
    """

    def __init__(
        self,
        database: Database,
        events: SharedEventLog,
        *,
        server_id: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = database
        self._events = events
        self._server_id = server_id
        self._calls = Calls(database, server_id=server_id, keep=events.capacity)
        self._wall = clock
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._local: dict[ReservationId, _Local] = {}
        self._withdrawn: dict[int, str] = {}  # why other servers withdrew our waiters
        self._orphans: set[ReservationId] = set()  # waiter rows to delete once the database is back
        self._wanted: set[str] | None = set()  # sessions to try local waiters for; None = all
        self._wake = threading.Event()
        self._shutting_down = False
        self._closed = False
        self._dispatcher = threading.Thread(
            target=self._dispatch_loop, name="pinbroker-dispatch", daemon=True
        )
        self._dispatcher.start()

    @property
    def server_id(self) -> int:
        """This server's row in ``servers``."""
        return self._server_id

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
        """Queue a request; granted at once if nothing stands in its way (see ReservationTable)."""
        names = unique_names(session_names)
        if any(not name for name in names):
            raise InvalidSessionError("a session name to reserve is empty")
        frozen = freeze_annotations(annotations)
        who = client if client is not None else ClientIdentity()
        with self._lock:
            if self._shutting_down:
                raise ShuttingDownError("the session manager is shutting down")
        now = self._wall()
        if not names:
            rid = self._calls.next_id()
            ticket = Ticket(rid, names, owner, lease_id, who, timeout)
            local = _Local(ticket, frozen, now, on_change, _State.GRANTED)
            local.reservation = Reservation(rid, (), owner, frozen, now, lease_id, who)
            self._admit(local)
            return ticket
        with self._events.recording():
            decision = self._calls.request(
                names,
                owner=owner,
                annotations=frozen,
                now=now,
                lease_id=lease_id,
                client=who,
                timeout=timeout,
            )
            if decision.event is not None:
                self._events.offer([decision.event])
        if decision.outcome == "lease":
            assert lease_id is not None
            raise LeaseNotFoundError(lease_id, decision.reason)
        ticket = Ticket(decision.request_id, names, owner, lease_id, who, timeout)
        local = _Local(ticket, frozen, now, on_change)
        if decision.outcome == "granted":
            local.state = _State.GRANTED
            local.reservation = Reservation(
                ticket.id, names, owner, frozen, now, lease_id, who, decision.fences
            )
        self._admit(local)
        if decision.outcome != "granted":
            self._want(names)  # a release may have come between its commit and _admit
        return ticket

    def wait(self, ticket: Ticket, timeout: float | None) -> Reservation:
        """Wait until granted (see ReservationTable.wait)."""
        return self._take(ticket, timeout, now=False)

    def finish(self, ticket: Ticket, timeout: float | None) -> Reservation:
        """Take the outcome without waiting any longer (see ReservationTable.finish)."""
        return self._take(ticket, timeout, now=True)

    def reserve(
        self,
        session_names: Iterable[str],
        *,
        owner: str,
        timeout: float | None,
        annotations: Mapping[str, str] | None = None,
    ) -> Reservation:
        """Request and wait in one call."""
        ticket = self.request(session_names, owner=owner, annotations=annotations)
        return self.wait(ticket, timeout)

    def cancel(self, ticket: Ticket) -> bool:
        """Withdraw a request; its wait raises ``CancelledError`` (see ReservationTable.cancel)."""
        with self._lock:
            local = self._local.get(ticket.id)
            if local is None or local.ticket != ticket or local.state is _State.FAILED:
                return False
        with local.busy:
            if not self._take_back(
                local, "the caller went away", "its caller went away as it was granted"
            ):
                return False
            self._settle(local, error=CancelledError(f"request {ticket.id} was cancelled"))
        return True

    # ------------------------------------------------------------------ releasing

    def release(self, session_names: Iterable[str]) -> tuple[SessionName, ...]:
        """Release sessions by name, whoever holds them (UnreserveSessions)."""
        return self._release(dict.fromkeys(unique_names(session_names)), EventKind.RELEASED, "")

    def release_reservation(
        self,
        reservation_id: ReservationId,
        session_names: Iterable[str],
        reason: str = "",
        kind: EventKind = EventKind.RELEASED,
    ) -> tuple[SessionName, ...]:
        """Release those of the sessions that the reservation still holds."""
        wanted = dict.fromkeys(unique_names(session_names), reservation_id)
        return self._release(wanted, kind, reason)

    def release_owned(
        self, sessions: Iterable[tuple[str, FenceToken | None]], *, strict: bool = False
    ) -> tuple[tuple[SessionName, ...], tuple[SessionName, ...]]:
        """Release sessions on behalf of their holder, by fencing token (see ReservationTable)."""
        given = list(sessions)
        if not strict:  # one statement: the database checks the tokens under its locks
            tokens = {SessionName(name): token for name, token in given}
            return self._release_tokens(tokens, EventKind.RELEASED, "")
        names = [name for name, _ in given]
        holders, reservations = self._db.run(lambda cursor: sql.holders_of(cursor, names))
        wanted, stale = sort_by_token(given, holders, reservations, strict)
        return self._release(wanted, EventKind.RELEASED, ""), tuple(stale)

    def force_release(self, session_names: Iterable[str], reason: str) -> tuple[SessionName, ...]:
        """Release sessions whoever holds them, recording ``force_released``."""
        wanted = dict.fromkeys(unique_names(session_names))
        return self._release(wanted, EventKind.FORCE_RELEASED, reason)

    def release_lease(self, lease_id: int, reason: str) -> tuple[SessionName, ...]:
        """Withdraw every server's waiters bound to an ended lease and free its sessions."""
        self._calls.withdraw_lease(lease_id, reason, self._wall())
        with self._lock:
            bound = [
                local
                for local in self._local.values()
                if local.ticket.lease_id == lease_id and local.state is _State.WAITING
            ]
        for local in bound:
            with local.busy:
                if local.state is _State.WAITING:
                    self._settle(
                        local, error=CancelledError(f"request {local.ticket.id}: {reason}")
                    )

        return self._release(self._calls.lease_holds(lease_id), EventKind.EXPIRED, reason)

    def shutdown(self) -> None:
        """Fail every outstanding and future request of this server with ``ShuttingDownError``."""
        with self._lock:
            self._shutting_down = True
            outstanding = list(self._local.values())
        error = ShuttingDownError("the session manager is shutting down")
        for local in outstanding:
            with local.busy:
                try:
                    reason = "the server is stopping"
                    if not self._take_back(local, reason, reason):
                        continue
                except DatabaseUnavailableError as exc:
                    _logger.warning("request %s not withdrawn: %s", local.ticket.id, exc)
                self._settle(local, error=error)
        self.close()

    def close(self) -> None:
        """Stop the dispatcher thread (after :meth:`shutdown`)."""
        with self._lock:
            self._closed = True
        self._wake.set()
        if threading.current_thread() is not self._dispatcher:
            self._dispatcher.join(timeout=5)

    # ------------------------------------------------------------------ notifications

    def on_changed(self, payload: str) -> None:
        """A ``pinbroker_changed`` notification arrived (the listener's thread; quick)."""
        try:
            value: Any = json.loads(payload)
            names = [str(n) for n in value["s"]]
            withdrawn = {int(k): str(v) for k, v in value["w"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            self._want(None)
            return
        with self._lock:
            for rid, reason in withdrawn.items():
                if rid in self._local:
                    self._withdrawn[rid] = reason
            self._changed.notify_all()
        self._want(names)

    def on_reconnect(self) -> None:
        """The listener reconnected: notifications may have been missed; try every waiter."""
        self._want(None)

    # ------------------------------------------------------------------ introspection

    def is_reserved(self, session_name: str) -> bool:
        """Return whether a reservation holds the session."""
        return self.holder_of(session_name) is not None

    def holder_of(self, session_name: str) -> Reservation | None:
        """Return the reservation holding the session, or None."""
        rows = self._db.call(
            f"SELECT {RESERVATION_COLUMNS} FROM session_state s "
            "JOIN reservations r ON r.id = s.holder WHERE s.session_name = %s",
            (session_name,),
        )
        return reservation_of(rows[0]) if rows else None

    def annotations_of(self, session_name: str) -> Mapping[str, str]:
        """Return the annotations of the reservation holding the session (empty if free)."""
        holder = self.holder_of(session_name)
        return EMPTY_ANNOTATIONS if holder is None else holder.annotations

    def held_longer_than(self, seconds: float) -> tuple[Reservation, ...]:
        """Reservations held for more than ``seconds`` (by the database's clock), by id."""
        condition = "r.held_since < clock_timestamp() - make_interval(secs => %s)"
        return self._db.run(lambda cursor: sql.reservations_where(cursor, condition, (seconds,)))

    def granted_here(self) -> tuple[Reservation, ...]:
        """The held reservations granted through this server (their holders connected here)."""
        args = (self._server_id,)
        return self._db.run(lambda cursor: sql.reservations_where(cursor, "r.server_id = %s", args))

    def wait_for_waiting(self, count: int, timeout: float) -> bool:
        """Block until at least ``count`` requests wait on any server (observers and tests)."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.snapshot().waiting) >= count:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._lock:  # woken by any notification; re-checked at least every 50 ms
                self._changed.wait(min(remaining, 0.05))

    def snapshot(self, *, waiting: bool = True) -> TableSnapshot:
        """Who holds which session and who waits (waiters of live servers), at one instant.

        Args:
            waiting: Also read the queue; False leaves ``waiting`` empty (one query less).
        """

        def work(cursor: Cursor) -> TableSnapshot:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return sql.snapshot(cursor, shutting_down=self._shutting_down, waiting=waiting)

        return self._db.run(work)

    # ------------------------------------------------------------------ internals

    def _admit(self, local: _Local) -> None:
        with self._lock:
            self._local[local.ticket.id] = local
            self._changed.notify_all()
        if local.state is not _State.WAITING and local.on_change is not None:
            local.on_change()

    def _settle(
        self,
        local: _Local,
        *,
        reservation: Reservation | None = None,
        error: Exception | None = None,
    ) -> None:
        """Mark a request granted or failed, wake its caller (``local.busy`` held)."""
        with self._lock:
            if error is not None:
                local.state = _State.FAILED
                local.error = error
            else:
                local.state = _State.GRANTED
                local.reservation = reservation
            self._changed.notify_all()
        if local.on_change is not None:
            local.on_change()

    def _take(self, ticket: Ticket, timeout: float | None, *, now: bool) -> Reservation:
        with self._lock:
            local = self._local.get(ticket.id)
            if local is None or local.ticket != ticket:
                raise ValueError(f"request {ticket.id} is unknown or was waited on already")
        try:
            seconds = check_timeout(timeout)
        except Exception:
            self._give_up(local, None)
            raise
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            with self._lock:
                while local.state is _State.WAITING and not now:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        break
                    self._changed.wait(remaining)
                if local.state is not _State.WAITING:
                    del self._local[ticket.id]
                    self._withdrawn.pop(ticket.id, None)
                    if local.state is _State.FAILED:
                        assert local.error is not None
                        raise local.error
                    assert local.reservation is not None
                    return local.reservation
            message = self._give_up(local, seconds)
            if message is not None:
                raise ReservationTimeoutError(message)
            # granted or failed while giving up: take that outcome

    def _give_up(self, local: _Local, seconds: float | None) -> str | None:
        """Withdraw a waiting request whose caller stops waiting; the timeout message, or None."""
        with local.busy:
            if local.state is not _State.WAITING:
                return None
            message = self._obstacles(local, seconds)
            self._withdraw_waiter(local, EventKind.TIMED_OUT, message)
            with self._lock:
                self._local.pop(local.ticket.id, None)
                self._withdrawn.pop(local.ticket.id, None)
            return message

    def _withdraw_waiter(self, local: _Local, kind: EventKind, reason: str) -> None:
        """Delete the request's waiter row, record why, notify (``local.busy`` held)."""
        ticket = local.ticket
        try:
            with self._events.recording():
                event = self._calls.withdraw(ticket, kind, reason, self._wall())
                if event is not None:  # else withdrawn by another server already
                    self._events.offer([event])
        except DatabaseUnavailableError:
            with self._lock:
                self._orphans.add(ticket.id)
            raise

    def _take_back(self, local: _Local, if_waiting: str, if_granted: str) -> bool:
        """Withdraw a waiting request, or release a grant its caller has not taken.

        ``local.busy`` held. The reasons go into the ``cancelled`` or ``released`` event.

        Returns:
            False if the request was neither (taken or failed already).
        """
        if local.state is _State.WAITING:
            self._withdraw_waiter(local, EventKind.CANCELLED, if_waiting)
            return True
        if local.state is _State.GRANTED and local.reservation is not None:
            grant = local.reservation
            wanted = dict.fromkeys(grant.session_names, grant.id)
            self._release(wanted, EventKind.RELEASED, f"withdrawn: {if_granted}")
            return True
        return False

    def _obstacles(self, local: _Local, seconds: float | None) -> str:
        """Say who stands in the request's way (the message of its timeout)."""
        try:
            return self._db.run(lambda cursor: sql.obstacles(cursor, local.ticket, seconds))
        except DatabaseUnavailableError as exc:
            ticket = local.ticket
            found = timeout_message(ticket.id, ticket.owner, seconds, (), {}, {})
            return f"{found}who holds them is unknown: {exc}"

    def _release(
        self,
        wanted: Mapping[SessionName, ReservationId | None],
        kind: EventKind,
        reason: str,
    ) -> tuple[SessionName, ...]:
        """Free each wanted session held by the given reservation (None: by anyone)."""
        if not wanted:
            return ()
        return self._release_tokens(
            {name: (None if by is None else FenceToken(by, 0)) for name, by in wanted.items()},
            kind,
            reason,
        )[0]

    def _release_tokens(
        self,
        wanted: Mapping[SessionName, FenceToken | None],
        kind: EventKind,
        reason: str,
    ) -> tuple[tuple[SessionName, ...], tuple[SessionName, ...]]:
        """Free each session held under its token (fence 0: any fence; None: by anyone).

        Returns:
            The sessions freed, and those held under another grant (stale tokens).
        """
        with self._events.recording():
            released, refused, events = self._calls.release(wanted, kind, reason, self._wall())
            self._events.offer(events)
        if released:
            self._want(released)
        return released, refused

    def _want(self, names: Iterable[str] | None) -> None:
        with self._lock:
            if names is None:
                self._wanted = None
            elif self._wanted is not None:
                self._wanted.update(names)
        self._wake.set()

    def _dispatch_loop(self) -> None:
        while True:
            woken = self._wake.wait(SAFETY_POLL)
            self._wake.clear()
            with self._lock:
                if self._closed:
                    return
                wanted, self._wanted = (self._wanted if woken else None), set()
                candidates = sorted(
                    (
                        local
                        for local in self._local.values()
                        if local.state is _State.WAITING
                        and (wanted is None or not wanted.isdisjoint(local.ticket.session_names))
                    ),
                    key=lambda local: local.ticket.id,
                )
                orphans, self._orphans = self._orphans, set()
            try:
                if orphans:
                    self._calls.delete_waiters(orphans)
                if not woken and candidates:  # the safety poll: only those that may go now
                    blocked = self._calls.blocked()
                    candidates = [c for c in candidates if not blocked.get(c.ticket.id, False)]
                for local in candidates:
                    self._attempt(local)
            except DatabaseUnavailableError as exc:
                _logger.warning("waiters not tried: %s (tried again when it is back)", exc)
                with self._lock:
                    self._orphans |= orphans
                self._want(None)
                self._wake.clear()  # wait for the safety poll, not a busy loop
            except Exception:
                _logger.exception("trying waiters failed; tried again at the next change")

    def _attempt(self, local: _Local) -> None:
        """Grant a local waiter if nothing stands in its way now."""
        ticket = local.ticket
        with local.busy:
            if local.state is not _State.WAITING:
                return

            now = self._wall()
            with self._events.recording():
                decision = self._calls.attempt(ticket, local.annotations, now)
                if decision.event is not None:
                    self._events.offer([decision.event])
            if decision.outcome == "waiting":
                return
            if decision.outcome == "granted":
                reservation = Reservation(
                    ticket.id,
                    ticket.session_names,
                    ticket.owner,
                    local.annotations,
                    now,
                    ticket.lease_id,
                    ticket.client,
                    decision.fences,
                )
                self._settle(local, reservation=reservation)
                return
            with self._lock:
                why = self._withdrawn.pop(
                    ticket.id, "its lease ended or its server's heartbeat lapsed"
                )
            self._settle(local, error=CancelledError(f"request {ticket.id} was withdrawn: {why}"))
