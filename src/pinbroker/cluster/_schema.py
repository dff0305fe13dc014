"""The shared database's schema and its versioned migrations.

The version lives in ``pinbroker_schema``; ``_MIGRATIONS[n]`` takes a database from version
``n`` to ``n + 1``. A step, once released, never changes: a new schema is a new step. Servers
migrate under a transaction-scoped advisory lock, so several starting at once migrate once; a
server refuses a database whose version is newer than it knows.

Tables (all deadlines and heartbeats use the database's clock, ``clock_timestamp()``, so the
hosts' clocks never need to agree):

- ``servers``: one row per running server: its heartbeat and lease TTL. A server whose
  heartbeat is older than its TTL is dead: its waiters no longer block anyone.
- ``pin_maps``, ``sessions``, ``multiplexer_sessions``: as in the SQLite store.
- ``session_state``: one row per session ever reserved: its fencing counter and holder. These
  rows are the locks every reservation decision takes, in session-name order.
- ``reservations``: held reservations; ``waiters``: queued requests of every server, FIFO by id.
- ``leases`` (active) and ``ended_leases`` (why a lease ended, for error messages).
- ``events`` and ``counters`` (``event_revision``: taken last in a transaction, it orders
  events by commit, so readers see revisions without gaps).
"""

from __future__ import annotations

from typing import Final

from pinbroker.cluster._db import Cursor, Database
from pinbroker.errors import StateDatabaseError

__all__ = ["SCHEMA_VERSION", "migrate"]

_MIGRATION_LOCK: Final = 0x50424B52  # "PBKR"

_V1: Final = (
    """CREATE TABLE pinbroker_schema (
        only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
        version integer NOT NULL)""",
    "INSERT INTO pinbroker_schema (version) VALUES (0)",
    """CREATE TABLE servers (
        id bigserial PRIMARY KEY,
        hostname text NOT NULL,
        pid integer NOT NULL,
        address text NOT NULL,
        ttl double precision NOT NULL,
        started timestamptz NOT NULL DEFAULT clock_timestamp(),
        heartbeat timestamptz NOT NULL DEFAULT clock_timestamp())""",
    """CREATE TABLE pin_maps (
        id text PRIMARY KEY,
        position bigserial NOT NULL,
        xml text NOT NULL)""",
    """CREATE TABLE sessions (
        session_name text PRIMARY KEY,
        position bigserial NOT NULL,
        resource_name text NOT NULL,
        channel_list text NOT NULL,
        instrument_type_id text NOT NULL,
        channel_mappings text NOT NULL,
        annotations text NOT NULL)""",
    """CREATE TABLE multiplexer_sessions (
        session_name text PRIMARY KEY,
        position bigserial NOT NULL,
        resource_name text NOT NULL,
        multiplexer_type_id text NOT NULL,
        annotations text NOT NULL)""",
    "CREATE SEQUENCE reservation_ids",
    """CREATE TABLE session_state (
        session_name text PRIMARY KEY,
        fence bigint NOT NULL DEFAULT 0,
        holder bigint)""",
    """CREATE TABLE reservations (
        id bigint PRIMARY KEY,
        session_names text[] NOT NULL,
        owner text NOT NULL,
        annotations text NOT NULL,
        acquired_at double precision NOT NULL,
        lease_id bigint,
        client text NOT NULL,
        fences text NOT NULL,
        server_id bigint,
        held_since timestamptz NOT NULL DEFAULT clock_timestamp())""",
    "CREATE INDEX reservations_lease ON reservations (lease_id) WHERE lease_id IS NOT NULL",
    """CREATE TABLE waiters (
        id bigint PRIMARY KEY,
        server_id bigint NOT NULL,
        session_names text[] NOT NULL,
        owner text NOT NULL,
        annotations text NOT NULL,
        since double precision NOT NULL,
        lease_id bigint,
        client text NOT NULL,
        timeout double precision)""",
    "CREATE INDEX waiters_sessions ON waiters USING gin (session_names)",
    "CREATE INDEX waiters_server ON waiters (server_id)",
    "CREATE SEQUENCE lease_ids",
    """CREATE TABLE leases (
        id bigint PRIMARY KEY,
        ttl double precision NOT NULL,
        identity text NOT NULL,
        granted_at double precision NOT NULL,
        deadline timestamptz NOT NULL)""",
    "CREATE INDEX leases_deadline ON leases (deadline)",
    """CREATE TABLE ended_leases (
        id bigint PRIMARY KEY,
        ttl double precision NOT NULL,
        identity text NOT NULL,
        granted_at double precision NOT NULL,
        state text NOT NULL,
        reason text NOT NULL,
        ended timestamptz NOT NULL DEFAULT clock_timestamp())""",
    """CREATE TABLE events (
        revision bigint PRIMARY KEY,
        time double precision NOT NULL,
        kind text NOT NULL,
        session_names text[] NOT NULL,
        reservation_id bigint,
        owner text,
        reason text NOT NULL)""",
    "CREATE TABLE counters (name text PRIMARY KEY, value bigint NOT NULL)",
    "INSERT INTO counters (name, value) VALUES ('event_revision', 0)",
)

_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (_V1,)
"""``_MIGRATIONS[n]``: the statements that take the schema from version ``n`` to ``n + 1``."""

SCHEMA_VERSION: Final = len(_MIGRATIONS)
"""The schema version this pinbroker writes."""


def migrate(database: Database) -> int:
    """Bring the database up to :data:`SCHEMA_VERSION` in one transaction; return the old version.

    Raises:
        StateDatabaseError: If the database's schema is newer than this pinbroker knows, or
            it holds tables that are not pinbroker's under its names.
    """

    def work(cursor: Cursor) -> int:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        found = _version(cursor)
        if found > SCHEMA_VERSION:
            raise StateDatabaseError(
                f"database {database.display} has pinbroker schema version {found}, newer than "
                f"the {SCHEMA_VERSION} this pinbroker knows: upgrade pinbroker"
            )
        for version in range(found, SCHEMA_VERSION):
            for statement in _MIGRATIONS[version]:
                cursor.execute(statement.encode())
            cursor.execute("UPDATE pinbroker_schema SET version = %s", (version + 1,))
        return found

    return database.run(work)


def _version(cursor: Cursor) -> int:
    cursor.execute("SELECT to_regclass('pinbroker_schema') IS NOT NULL")
    row = cursor.fetchone()
    if row is None or not row[0]:
        cursor.execute("SELECT to_regclass('servers') IS NOT NULL")
        other = cursor.fetchone()
        if other is not None and other[0]:
            raise StateDatabaseError(
                "the database has a table 'servers' but no pinbroker schema: it is not "
                "pinbroker's; give pinbroker a database of its own"
            )
        return 0
    cursor.execute("SELECT version FROM pinbroker_schema")
    version = cursor.fetchone()
    return 0 if version is None else int(version[0])
