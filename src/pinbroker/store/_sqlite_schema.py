"""The SQLite store's schema: numbered migrations, and :func:`migrate` to run them.

The schema version lives in ``PRAGMA user_version``; ``_MIGRATIONS[n]`` takes a file from
version ``n`` to ``n + 1``. A step, once released, never changes: a new schema is a new step.
``PRAGMA application_id`` is :data:`APPLICATION_ID` ("PBKR"), stamped by :func:`migrate` on
every file it brings up to date (files from before it carry 0), so a foreign SQLite file in
the state directory is told apart from ours.

1. pin maps, sessions, multiplexer sessions, reservations and their sessions.
2. reservations gain ``lease_id`` and ``client``, their sessions a ``fence`` (0 = none; existing
   rows get no lease, an empty client and fence 0); ``session_fences`` and ``meta`` keep
   high-water marks (fences per session, ``reservation_id_high``, ``lease_id_high``) that
   survive deletes; ``leases`` and ``events`` are new.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Final

from pinbroker.errors import StateDatabaseError

__all__ = ["APPLICATION_ID", "LEASE_ID_HIGH", "RESERVATION_ID_HIGH", "SCHEMA_VERSION", "migrate"]

APPLICATION_ID: Final = 0x50424B52
"""``PRAGMA application_id`` of pinbroker's state database: ASCII "PBKR"."""

_SCHEMA_V1: Final = (
    """CREATE TABLE pin_maps (
        seq INTEGER PRIMARY KEY,
        pin_map_id TEXT NOT NULL UNIQUE,
        xml TEXT NOT NULL
    )""",
    """CREATE TABLE sessions (
        seq INTEGER PRIMARY KEY,
        session_name TEXT NOT NULL UNIQUE,
        resource_name TEXT NOT NULL,
        channel_list TEXT NOT NULL,
        instrument_type_id TEXT NOT NULL,
        channel_mappings TEXT NOT NULL,
        annotations TEXT NOT NULL
    )""",
    """CREATE TABLE multiplexer_sessions (
        seq INTEGER PRIMARY KEY,
        session_name TEXT NOT NULL UNIQUE,
        resource_name TEXT NOT NULL,
        multiplexer_type_id TEXT NOT NULL,
        annotations TEXT NOT NULL
    )""",
    """CREATE TABLE reservations (
        reservation_id INTEGER PRIMARY KEY,
        owner TEXT NOT NULL,
        annotations TEXT NOT NULL,
        acquired_at_wall REAL NOT NULL
    )""",
    """CREATE TABLE reservation_sessions (
        session_name TEXT PRIMARY KEY,
        reservation_id INTEGER NOT NULL
            REFERENCES reservations (reservation_id) ON DELETE CASCADE,
        position INTEGER NOT NULL
    )""",
    "CREATE INDEX reservation_sessions_by_reservation "
    "ON reservation_sessions (reservation_id, position)",
)


_SCHEMA_V2: Final = (
    "ALTER TABLE reservations ADD COLUMN lease_id INTEGER",
    "ALTER TABLE reservations ADD COLUMN client TEXT NOT NULL DEFAULT '{}'",
    "ALTER TABLE reservation_sessions ADD COLUMN fence INTEGER NOT NULL DEFAULT 0",
    """CREATE TABLE session_fences (
        session_name TEXT PRIMARY KEY,
        fence INTEGER NOT NULL
    )""",
    """CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    )""",
    "INSERT INTO meta (key, value) "
    "SELECT 'reservation_id_high', max(reservation_id) FROM reservations HAVING count(*) > 0",
    """CREATE TABLE leases (
        lease_id INTEGER PRIMARY KEY,
        ttl REAL NOT NULL,
        identity TEXT NOT NULL,
        granted_at REAL NOT NULL
    )""",
    """CREATE TABLE events (
        revision INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        kind TEXT NOT NULL,
        session_names TEXT NOT NULL,
        reservation_id INTEGER,
        owner TEXT,
        reason TEXT NOT NULL
    )""",
)

RESERVATION_ID_HIGH: Final = "reservation_id_high"
"""``meta`` key of the largest reservation id ever put."""

LEASE_ID_HIGH: Final = "lease_id_high"
"""``meta`` key of the largest lease id ever put."""


def _migrate_to_v1(connection: sqlite3.Connection) -> None:
    for statement in _SCHEMA_V1:
        connection.execute(statement)


def _migrate_to_v2(connection: sqlite3.Connection) -> None:
    for statement in _SCHEMA_V2:
        connection.execute(statement)


_MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_migrate_to_v1, _migrate_to_v2)
"""``_MIGRATIONS[n]`` takes a database from schema version ``n`` to ``n + 1``."""

SCHEMA_VERSION: Final = len(_MIGRATIONS)
"""The schema version this pinbroker writes (``PRAGMA user_version``)."""


def migrate(connection: sqlite3.Connection) -> int:
    """Bring the database up to :data:`SCHEMA_VERSION`, one transaction per version step.

    Args:
        connection: A connection in autocommit mode (``isolation_level=None``).

    Returns:
        The schema version the database had before.

    The last step (or, when none is due, a step of its own) also stamps
    :data:`APPLICATION_ID`.

    Raises:
        StateDatabaseError: If the database's schema is newer than this pinbroker knows.
        sqlite3.Error: If a step fails; that step is rolled back, earlier steps stay.
    """
    found = _user_version(connection)
    if found > SCHEMA_VERSION:
        raise StateDatabaseError(
            f"the state database has schema version {found}, newer than the {SCHEMA_VERSION} "
            "this pinbroker understands; upgrade pinbroker or use another state directory"
        )
    for version in range(found, SCHEMA_VERSION):
        connection.execute("BEGIN IMMEDIATE")
        try:
            if _user_version(connection) == version:  # another process may have migrated
                _MIGRATIONS[version](connection)
                connection.execute(f"PRAGMA user_version = {version + 1:d}")
                if version + 1 == SCHEMA_VERSION:
                    connection.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
    if _application_id(connection) != APPLICATION_ID:  # ours from before the application id
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")
    return found


def _application_id(connection: sqlite3.Connection) -> int:
    row = connection.execute("PRAGMA application_id").fetchone()
    return int(row[0])


def _user_version(connection: sqlite3.Connection) -> int:
    row = connection.execute("PRAGMA user_version").fetchone()
    return int(row[0])
