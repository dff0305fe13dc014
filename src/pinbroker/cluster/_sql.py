"""The shared reservation table's statements, each run inside the caller's transaction.

The lock order every writing transaction follows (see ``docs/design.md``): ``session_state``
rows by session name, then waiter rows, then lease rows, last the event counter (taken by
:func:`pinbroker.cluster._events.insert_events`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Final

from pinbroker.cluster._db import Cursor
from pinbroker.cluster._events import NewEvent
from pinbroker.cluster._rows import (
    RESERVATION_COLUMNS,
    WAITER_COLUMNS,
    annotations_text,
    blocked_by,
    client_text,
    encode_fences,
    reservation_of,
    waiter_of,
)
from pinbroker.errors import LeaseNotFoundError
from pinbroker.events import EventKind
from pinbroker.reservation import (
    Reservation,
    ReservationId,
    TableSnapshot,
    Ticket,
    WaitingRequest,
    event_owner,
)
from pinbroker.types import SessionName

__all__ = [
    "CHANGED_CHANNEL",
    "all_free",
    "change_payload",
    "check_lease",
    "describe",
    "holder_of",
    "holders_of",
    "insert_grant",
    "lock_sessions",
    "next_id",
    "notify_changed",
    "obstacles",
    "older_live_waiter",
    "release_rows",
    "reservations_where",
    "snapshot",
]

CHANGED_CHANNEL: Final = "pinbroker_changed"
"""Notified when sessions are released or a waiter leaves; payload: :func:`change_payload`."""

_MAX_PAYLOAD: Final = 7000
"""Bytes of a notification payload at most (PostgreSQL's limit is 8000); beyond: "all"."""

_MAX_NAMED: Final = 10
"""Obstacles named in a timeout message; the rest are counted."""

_LIVE: Final = "s.heartbeat > clock_timestamp() - make_interval(secs => s.ttl)"
"""A server (aliased ``s``) whose heartbeat is younger than its TTL."""


def change_payload(session_names: Iterable[str], withdrawn: Mapping[int, str] | None = None) -> str:
    """The ``pinbroker_changed`` payload: the sessions, and withdrawn waiters with the reason."""
    text = json.dumps(
        {"s": list(session_names), "w": {str(k): v for k, v in (withdrawn or {}).items()}},
        separators=(",", ":"),
    )
    return text if len(text.encode()) <= _MAX_PAYLOAD else "all"


def notify_changed(
    cursor: Cursor, session_names: Iterable[str], withdrawn: Mapping[int, str] | None = None
) -> None:
    """Notify ``pinbroker_changed`` when the caller's transaction commits."""
    payload = change_payload(session_names, withdrawn)
    cursor.execute("SELECT pg_notify(%s, %s)", (CHANGED_CHANNEL, payload))


def next_id(cursor: Cursor) -> ReservationId:
    """The next request id (one sequence for every server)."""
    cursor.execute("SELECT nextval('reservation_ids')")
    row = cursor.fetchone()
    assert row is not None
    return ReservationId(int(row[0]))


def lock_sessions(cursor: Cursor, names: Iterable[str]) -> None:
    """Lock the sessions' rows in the global order (by name); missing rows lock nothing."""
    cursor.execute(
        "SELECT session_name FROM session_state WHERE session_name = ANY(%s) "
        "ORDER BY session_name FOR UPDATE",
        (sorted(set(names)),),
    )
    cursor.fetchall()


def all_free(cursor: Cursor, names: Sequence[str]) -> bool:
    """Whether none of the sessions is held."""
    cursor.execute(
        "SELECT 1 FROM session_state WHERE session_name = ANY(%s) AND holder IS NOT NULL LIMIT 1",
        (list(names),),
    )
    return cursor.fetchone() is None


def older_live_waiter(cursor: Cursor, request_id: int, names: Sequence[str]) -> bool:
    """Whether a waiter older than ``request_id``, of a live server, wants any of the sessions."""
    cursor.execute(
        "SELECT 1 FROM waiters w JOIN servers s ON s.id = w.server_id "
        f"WHERE w.id < %s AND w.session_names && %s::text[] AND {_LIVE} LIMIT 1",
        (request_id, list(names)),
    )
    return cursor.fetchone() is not None


def check_lease(cursor: Cursor, lease_id: int) -> None:
    """Lock an active lease for sharing, or raise ``LeaseNotFoundError`` saying why not."""
    cursor.execute(
        "SELECT 1 FROM leases WHERE id = %s AND deadline > clock_timestamp() FOR SHARE",
        (lease_id,),
    )
    if cursor.fetchone() is not None:
        return
    cursor.execute("SELECT state, reason FROM ended_leases WHERE id = %s", (lease_id,))
    ended = cursor.fetchone()
    if ended is None:
        raise LeaseNotFoundError(lease_id, "is not active: it expired or was revoked")
    raise LeaseNotFoundError(lease_id, f"{ended[0]}: {ended[1]}")


def insert_grant(
    cursor: Cursor,
    ticket: Ticket,
    annotations: Mapping[str, str],
    *,
    now: float,
    server_id: int,
) -> tuple[Reservation, NewEvent]:
    """Write a grant (session rows locked, all free); return it and its ``reserved`` event."""
    names = ticket.session_names
    cursor.execute(
        "UPDATE session_state SET holder = %s, fence = fence + 1 "
        "WHERE session_name = ANY(%s) RETURNING session_name, fence",
        (ticket.id, list(names)),
    )
    fences = {SessionName(name): int(fence) for name, fence in cursor.fetchall()}
    reservation = Reservation(
        ticket.id, names, ticket.owner, annotations, now, ticket.lease_id, ticket.client, fences
    )
    cursor.execute(
        "INSERT INTO reservations (id, session_names, owner, annotations, acquired_at, "
        "lease_id, client, fences, server_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            ticket.id,
            list(names),
            ticket.owner,
            annotations_text(annotations),
            now,
            ticket.lease_id,
            client_text(ticket.client),
            encode_fences(fences),
            server_id,
        ),
    )
    owner = event_owner(ticket.client, ticket.owner)
    return reservation, NewEvent(EventKind.RESERVED, names, ticket.id, owner)


def release_rows(
    cursor: Cursor,
    wanted: Mapping[SessionName, ReservationId | None],
    kind: EventKind,
    reason: str,
) -> tuple[tuple[SessionName, ...], list[NewEvent]]:
    """Free each wanted session held by the given reservation (None: by anyone).

    Returns:
        The sessions freed (in the order wanted) and one event per reservation losing some.
    """
    names = list(wanted)
    lock_sessions(cursor, names)
    cursor.execute(
        "SELECT session_name, holder FROM session_state WHERE session_name = ANY(%s)", (names,)
    )
    holders = {row[0]: row[1] for row in cursor.fetchall()}
    held = tuple(
        name
        for name, by in wanted.items()
        if holders.get(name) is not None and (by is None or holders[name] == by)
    )
    if not held:
        return (), []
    cursor.execute(
        "UPDATE session_state SET holder = NULL WHERE session_name = ANY(%s)", (list(held),)
    )
    freed: dict[int, set[str]] = {}
    for name in held:
        freed.setdefault(int(holders[name]), set()).add(name)
    cursor.execute(
        f"SELECT {RESERVATION_COLUMNS} FROM reservations r WHERE r.id = ANY(%s) "
        "ORDER BY r.id FOR UPDATE",
        (list(freed),),
    )
    events = []
    for row in cursor.fetchall():
        reservation = reservation_of(row)
        gone = freed[reservation.id]
        remaining = [n for n in reservation.session_names if n not in gone]
        if remaining:
            cursor.execute(
                "UPDATE reservations SET session_names = %s WHERE id = %s",
                (remaining, reservation.id),
            )
        else:
            cursor.execute("DELETE FROM reservations WHERE id = %s", (reservation.id,))
        owner = event_owner(reservation.client, reservation.owner)
        lost = tuple(n for n in held if n in gone)
        events.append(NewEvent(kind, lost, reservation.id, owner, reason))
    return held, events


# ---------------------------------------------------------------------------- reads


def holder_of(cursor: Cursor, session_name: str) -> Reservation | None:
    """The reservation holding the session, or None."""
    cursor.execute(
        f"SELECT {RESERVATION_COLUMNS} FROM session_state s "
        "JOIN reservations r ON r.id = s.holder WHERE s.session_name = %s",
        (session_name,),
    )
    row = cursor.fetchone()
    return None if row is None else reservation_of(row)


def holders_of(
    cursor: Cursor, names: Sequence[str]
) -> tuple[dict[SessionName, ReservationId], dict[ReservationId, Reservation]]:
    """Which reservation holds each of the sessions, and those reservations."""
    cursor.execute(
        f"SELECT s.session_name, {RESERVATION_COLUMNS} FROM session_state s "
        "JOIN reservations r ON r.id = s.holder WHERE s.session_name = ANY(%s)",
        (list(names),),
    )
    holders: dict[SessionName, ReservationId] = {}
    reservations: dict[ReservationId, Reservation] = {}
    for row in cursor.fetchall():
        reservation = reservation_of(row[1:])
        holders[SessionName(row[0])] = reservation.id
        reservations[reservation.id] = reservation
    return holders, reservations


def reservations_where(
    cursor: Cursor, condition: str, args: tuple[object, ...]
) -> tuple[Reservation, ...]:
    """Held reservations matching an SQL condition on ``r``, by id."""
    cursor.execute(
        f"SELECT {RESERVATION_COLUMNS} FROM reservations r WHERE {condition} ORDER BY r.id",
        args,
    )
    return tuple(reservation_of(row) for row in cursor.fetchall())


def snapshot(cursor: Cursor, *, shutting_down: bool) -> TableSnapshot:
    """Who holds which session and who waits (waiters of live servers), in one snapshot.

    The caller's transaction must be REPEATABLE READ (both reads see one instant).
    """
    cursor.execute(f"SELECT {RESERVATION_COLUMNS} FROM reservations r ORDER BY r.id")
    reservations = tuple(reservation_of(row) for row in cursor.fetchall())
    cursor.execute(
        f"SELECT {WAITER_COLUMNS} FROM waiters w JOIN servers s ON s.id = w.server_id "
        f"WHERE {_LIVE} ORDER BY w.id"
    )
    plain = [waiter_of(row) for row in cursor.fetchall()]
    held = {name: r for r in reservations for name in r.session_names}
    holders = {name: r.id for name, r in held.items()}
    waiting = tuple(
        _with_blockers(w, blockers)
        for w, blockers in zip(plain, blocked_by(plain, holders), strict=True)
    )
    return TableSnapshot(MappingProxyType(held), reservations, waiting, shutting_down)


def _with_blockers(waiter: WaitingRequest, blockers: tuple[ReservationId, ...]) -> WaitingRequest:
    return WaitingRequest(
        waiter.id,
        waiter.session_names,
        waiter.owner,
        waiter.annotations,
        waiter.waiting_since,
        waiter.lease_id,
        waiter.client,
        waiter.deadline,
        blockers,
    )


def obstacles(cursor: Cursor, ticket: Ticket, seconds: float | None) -> str:
    """Say which sessions stand in a request's way and who holds or wants them."""
    names = list(ticket.session_names)
    cursor.execute(
        "SELECT s.session_name, r.id, r.owner FROM session_state s "
        "JOIN reservations r ON r.id = s.holder WHERE s.session_name = ANY(%s)",
        (names,),
    )
    held = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
    cursor.execute(
        "SELECT w.id, w.owner, w.session_names FROM waiters w JOIN servers s "
        f"ON s.id = w.server_id WHERE w.id < %s AND w.session_names && %s::text[] AND {_LIVE} "
        "ORDER BY w.id",
        (ticket.id, names),
    )
    ahead: dict[str, tuple[int, str]] = {}
    for rid, owner, wanted in cursor.fetchall():
        for name in wanted:
            ahead.setdefault(name, (rid, owner))
    found = []
    for name in names:
        if name in held:
            rid, owner = held[name]
            found.append(f"'{_short(name)}' is held by '{_short(owner)}' (reservation {rid})")
        elif name in ahead:
            rid, owner = ahead[name]
            found.append(
                f"'{_short(name)}' is wanted by earlier request {rid} of '{_short(owner)}'"
            )
    return describe(ticket, seconds, found)


def describe(ticket: Ticket, seconds: float | None, found: list[str]) -> str:
    """The timeout message: the request, how long it waited, and what stood in its way."""
    if seconds == 0:
        when = "at once"
    elif seconds is not None:
        when = f"within {seconds:g} s"
    else:
        when = "in time"
    named = found[:_MAX_NAMED]
    if len(found) > len(named):
        named.append(f"... and {len(found) - len(named)} more")
    return (
        f"sessions for request {ticket.id} of '{_short(ticket.owner)}' were not "
        f"available {when}: " + "; ".join(named)
    )


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."
