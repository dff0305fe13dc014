"""Statements the SQLite store runs inside a transaction it holds (one caller: ``_sqlite``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from pinbroker.errors import SessionAlreadyRegisteredError
from pinbroker.reservation import Reservation
from pinbroker.store._codec import encode_annotations, encode_client_identity
from pinbroker.store._sqlite_schema import RESERVATION_ID_HIGH
from pinbroker.types import SessionName

__all__ = [
    "check_new_names",
    "delete_reservation_sessions",
    "put_reservation",
    "raise_meta",
    "read_meta",
]

_IN_CHUNK = 500
"""Names bound in one ``IN (...)`` (far below SQLite's variable limit)."""


def check_new_names(
    db: sqlite3.Connection, table: str, names: Sequence[SessionName], kind: str
) -> None:
    """Raise ``SessionAlreadyRegisteredError`` for a name stored already or repeated."""
    seen: set[str] = set()
    for name in names:
        stored = db.execute(f"SELECT 1 FROM {table} WHERE session_name = ?", (name,)).fetchone()
        if stored is not None or name in seen:
            raise SessionAlreadyRegisteredError(name, kind=kind)
        seen.add(name)


def read_meta(db: sqlite3.Connection, key: str) -> int:
    """Return a ``meta`` value; 0 if it was never set."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return 0 if row is None else int(row[0])


def raise_meta(db: sqlite3.Connection, key: str, value: int) -> None:
    """Raise a ``meta`` high-water mark to at least ``value`` inside the caller's transaction."""
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
        (key, value),
    )


def put_reservation(db: sqlite3.Connection, reservation: Reservation) -> None:
    """Insert or replace a reservation and raise its high-water marks, in the transaction."""
    reservation_id = reservation.id
    names = list(dict.fromkeys(reservation.session_names))
    if not names:
        raise ValueError(f"reservation {reservation_id} holds no session")
    # One statement per chunk (not one per session): the rows of these sessions and this id.
    holders: dict[str, int] = {}
    replacing = False
    for start in range(0, len(names), _IN_CHUNK):
        chunk = names[start : start + _IN_CHUNK]
        for name, holder in db.execute(
            "SELECT session_name, reservation_id FROM reservation_sessions "
            f"WHERE session_name IN ({_marks(chunk)}) OR reservation_id = ?",
            (*chunk, reservation_id),
        ):
            replacing = replacing or holder == reservation_id
            if holder != reservation_id:
                holders[name] = holder
    for name in names:
        if name in holders:
            raise ValueError(
                f"session '{name}' belongs to reservation {holders[name]}, not {reservation_id}"
            )
    db.execute(
        "INSERT INTO reservations (reservation_id, owner, annotations, acquired_at_wall, "
        "lease_id, client) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (reservation_id) DO UPDATE SET "
        "owner = excluded.owner, annotations = excluded.annotations, "
        "acquired_at_wall = excluded.acquired_at_wall, lease_id = excluded.lease_id, "
        "client = excluded.client",
        (
            reservation_id,
            reservation.owner,
            encode_annotations(reservation.annotations),
            reservation.acquired_at,
            reservation.lease_id,
            encode_client_identity(reservation.client),
        ),
    )
    fences = [(name, reservation.fences.get(name, 0)) for name in names]
    if replacing:
        db.execute("DELETE FROM reservation_sessions WHERE reservation_id = ?", (reservation_id,))
    db.executemany(
        "INSERT INTO reservation_sessions (session_name, reservation_id, position, fence) "
        "VALUES (?, ?, ?, ?)",
        [(name, reservation_id, position, fence) for position, (name, fence) in enumerate(fences)],
    )
    db.executemany(
        "INSERT INTO session_fences (session_name, fence) VALUES (?, ?) "
        "ON CONFLICT (session_name) DO UPDATE SET fence = max(fence, excluded.fence)",
        [(name, fence) for name, fence in fences if fence],
    )
    raise_meta(db, RESERVATION_ID_HIGH, reservation_id)


def delete_reservation_sessions(
    db: sqlite3.Connection, session_names: Sequence[SessionName]
) -> None:
    """Remove sessions from their reservations inside the caller's transaction.

    Looks only at the reservations of those sessions (by index), never at all reservations:
    the cost follows the sessions released, not the number held.
    """
    names = list(dict.fromkeys(session_names))
    for start in range(0, len(names), _IN_CHUNK):
        chunk = names[start : start + _IN_CHUNK]
        marks = _marks(chunk)
        # First the reservations left without a session (their rows go by ON DELETE CASCADE;
        # sessions of earlier chunks are gone already), then the rest of the sessions.
        db.execute(
            "DELETE FROM reservations WHERE reservation_id IN (SELECT reservation_id FROM "
            f"reservation_sessions WHERE session_name IN ({marks})) AND NOT EXISTS (SELECT 1 "
            "FROM reservation_sessions AS other WHERE other.reservation_id = "
            f"reservations.reservation_id AND other.session_name NOT IN ({marks}))",
            (*chunk, *chunk),
        )
        db.execute(f"DELETE FROM reservation_sessions WHERE session_name IN ({marks})", chunk)


def _marks(values: Sequence[object]) -> str:
    """``?, ?, ...``: one parameter per value."""
    return ", ".join("?" * len(values))
