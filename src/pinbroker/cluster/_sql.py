"""The shared reservation table's SQL besides its functions: notifications and reads.

The decisions themselves (request, attempt, release, withdraw) are the database functions of
schema version 2 (``_schema``), one statement each; what is here runs inside a transaction the
caller holds (``Database.run``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Final

from pinbroker.cluster._db import Cursor
from pinbroker.cluster._events import NewEvent, insert_events
from pinbroker.cluster._rows import (
    RESERVATION_COLUMNS,
    WAITER_COLUMNS,
    reservation_of,
    waiter_of,
)
from pinbroker.events import EventKind
from pinbroker.reservation import (
    Reservation,
    ReservationId,
    TableSnapshot,
    Ticket,
    blocked_by,
    event_owner,
    timeout_message,
)
from pinbroker.types import SessionName

__all__ = [
    "CHANGED_CHANNEL",
    "cancel_waiters",
    "change_payload",
    "holders_of",
    "next_id",
    "notify_changed",
    "obstacles",
    "reservations_where",
    "snapshot",
]

CHANGED_CHANNEL: Final = "pinbroker_changed"
"""Notified when sessions are released or a waiter leaves; payload: :func:`change_payload`."""

_MAX_PAYLOAD: Final = 7000
"""Bytes of a notification payload at most (PostgreSQL's limit is 8000); beyond: "all"."""

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


def cancel_waiters(
    cursor: Cursor,
    condition: str,
    args: tuple[object, ...],
    reason: Callable[[int], str],
    *,
    now: float,
    keep: int,
) -> int:
    """Delete the waiters matching an SQL condition on ``w``, with a ``cancelled`` event each.

    Args:
        cursor: The caller's transaction.
        condition: Which waiter rows (``w``), with ``%s`` for ``args``.
        args: The condition's parameters.
        reason: Why, given the waiter's server id.
        now: The events' time.
        keep: Events kept.

    Returns:
        How many were deleted; their servers are notified (with the reason each).
    """
    cursor.execute(
        f"DELETE FROM waiters w WHERE {condition} RETURNING w.server_id, {WAITER_COLUMNS}", args
    )
    gone = [(reason(int(row[0])), waiter_of(row[1:])) for row in cursor.fetchall()]
    if not gone:
        return 0
    insert_events(
        cursor,
        [
            NewEvent(
                EventKind.CANCELLED, w.session_names, w.id, event_owner(w.client, w.owner), why
            )
            for why, w in gone
        ],
        now=now,
        keep=keep,
    )
    notify_changed(
        cursor,
        {n: None for _, w in gone for n in w.session_names},
        {w.id: why for why, w in gone},
    )
    return len(gone)


# ---------------------------------------------------------------------------- reads


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


def snapshot(cursor: Cursor, *, shutting_down: bool, waiting: bool = True) -> TableSnapshot:
    """Who holds which session and who waits (waiters of live servers), in one snapshot.

    The caller's transaction must be REPEATABLE READ (both reads see one instant).
    """
    cursor.execute(f"SELECT {RESERVATION_COLUMNS} FROM reservations r ORDER BY r.id")
    reservations = tuple(reservation_of(row) for row in cursor.fetchall())
    held = {name: r for r in reservations for name in r.session_names}
    if not waiting:
        return TableSnapshot(MappingProxyType(held), reservations, (), shutting_down)
    cursor.execute(
        f"SELECT {WAITER_COLUMNS} FROM waiters w JOIN servers s ON s.id = w.server_id "
        f"WHERE {_LIVE} ORDER BY w.id"
    )
    plain = [waiter_of(row) for row in cursor.fetchall()]
    holders = {name: r.id for name, r in held.items()}
    queue = tuple(
        replace(w, blocked_by=blockers)
        for w, blockers in zip(plain, blocked_by(plain, holders), strict=True)
    )
    return TableSnapshot(MappingProxyType(held), reservations, queue, shutting_down)


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
    return timeout_message(ticket.id, ticket.owner, seconds, names, held, ahead)
