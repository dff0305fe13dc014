"""The default Store: one SQLite file, one connection, one transaction per change.

Durability settings (and why):

* ``journal_mode=WAL``: a commit appends to the write-ahead log, readers never block the
  writer, and a process killed at any instant (``kill -9``) leaves every committed transaction
  in the file and no trace of an uncommitted one; SQLite replays or ignores the log on the next
  open.
* ``synchronous=NORMAL`` by default: with WAL this never corrupts the database; it only skips
  the fsync at each commit, so after an *operating-system* crash or power loss the last few
  commits may be rolled back (a process crash loses nothing). Every grant and release waits
  for its commit (group commit, off the table's lock), so an fsync per batch would add a disk
  flush to every reserve and unreserve; and after a power
  loss the clients holding reservations are gone too. Pass ``synchronous="FULL"`` to fsync every
  commit when the host can lose power with pinbroker's clients surviving. If the file system
  cannot do WAL, the store uses the rollback journal with ``FULL``.
* Checkpoints run in a background thread (``wal_autocheckpoint=0`` on the writing connection, a
  ``PASSIVE`` checkpoint every ``checkpoint_interval`` seconds on a second connection, and a
  final one at close). Left to SQLite, the commit that crosses the auto-checkpoint threshold
  copies the log into the database and fsyncs it inline: up to tens of milliseconds, which
  every request whose record is in that batch (or queued behind it) would wait for (measured
  in docs/performance.md). A passive checkpoint never blocks the writer.

The schema version lives in ``PRAGMA user_version``; :func:`migrate` brings an older file up to
:data:`SCHEMA_VERSION`, one transaction per step, and refuses a newer one. Nested fields
(channel mappings, annotations) are JSON text.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final, Literal

from pinbroker.errors import SessionAlreadyRegisteredError
from pinbroker.registry import MultiplexerRecord, SessionRecord
from pinbroker.reservation import JournalRecord, PutReservation, Reservation, ReservationId
from pinbroker.store._codec import (
    decode_annotations,
    decode_channel_mappings,
    encode_annotations,
    encode_channel_mappings,
)
from pinbroker.types import InstrumentTypeId, PinMapId, SessionName

__all__ = ["SCHEMA_VERSION", "SqliteStore", "migrate"]

_logger = logging.getLogger(__name__)

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


def _migrate_to_v1(connection: sqlite3.Connection) -> None:
    for statement in _SCHEMA_V1:
        connection.execute(statement)


_MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_migrate_to_v1,)
"""``_MIGRATIONS[n]`` takes a database from schema version ``n`` to ``n + 1``."""

SCHEMA_VERSION: Final = len(_MIGRATIONS)
"""The schema version this pinbroker writes (``PRAGMA user_version``)."""


def migrate(connection: sqlite3.Connection) -> int:
    """Bring the database up to :data:`SCHEMA_VERSION`, one transaction per version step.

    Args:
        connection: A connection in autocommit mode (``isolation_level=None``).

    Returns:
        The schema version the database had before.

    Raises:
        ValueError: If the database's schema is newer than this pinbroker knows.
        sqlite3.Error: If a step fails; that step is rolled back, earlier steps stay.
    """
    found = _user_version(connection)
    if found > SCHEMA_VERSION:
        raise ValueError(
            f"the state database has schema version {found}, newer than the {SCHEMA_VERSION} "
            "this pinbroker understands; upgrade pinbroker or use another state directory"
        )
    for version in range(found, SCHEMA_VERSION):
        connection.execute("BEGIN IMMEDIATE")
        try:
            if _user_version(connection) == version:  # another process may have migrated
                _MIGRATIONS[version](connection)
                connection.execute(f"PRAGMA user_version = {version + 1:d}")
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
    return found


def _user_version(connection: sqlite3.Connection) -> int:
    row = connection.execute("PRAGMA user_version").fetchone()
    return int(row[0])


class SqliteStore:
    """:class:`~pinbroker.store.Store` in one SQLite file (see the module docstring for why WAL).

    Thread-safe: one connection, opened with ``check_same_thread=False``, guarded by a lock.
    See :class:`~pinbroker.store.Store` for what each method does and raises; every method
    raises ``ValueError`` once the store is closed, and ``sqlite3.Error`` if SQLite fails (the
    transaction is rolled back).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        checkpoint_interval: float = 1.0,
    ) -> None:
        """Open (creating if needed) and migrate the database file.

        Args:
            path: The database file; its directory must exist.
            synchronous: ``"NORMAL"`` (default) or ``"FULL"``; see the module docstring.
            checkpoint_interval: Seconds between background WAL checkpoints.

        Raises:
            ValueError: If ``synchronous`` is neither, or the file's schema is newer than
                this pinbroker knows.
            sqlite3.Error: If the file cannot be opened or is not a database.
        """
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        self._path = Path(path)
        self._lock = threading.Lock()
        self._closed = False
        self._connection = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, timeout=10.0
        )
        try:
            mode = self._connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                synchronous = "FULL"
            self._connection.execute(f"PRAGMA synchronous = {synchronous}")
            self._connection.execute("PRAGMA foreign_keys = ON")
            migrate(self._connection)
            self._wal = str(mode).lower() == "wal"
            if self._wal:
                self._connection.execute("PRAGMA wal_autocheckpoint = 0")
        except BaseException:
            self._connection.close()
            raise
        self._stop_checkpoints = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if self._wal:
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop,
                args=(checkpoint_interval,),
                name="pinbroker-sqlite-checkpoint",
                daemon=True,
            )
            self._checkpointer.start()

    def _checkpoint_loop(self, interval: float) -> None:
        """Copy the write-ahead log into the database now and then, off the writers' path."""
        connection = sqlite3.connect(self._path, isolation_level=None, timeout=10.0)
        try:
            while not self._stop_checkpoints.wait(interval):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:
                    _logger.exception("background WAL checkpoint of %s failed", self._path)
        finally:
            connection.close()

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and one write transaction; commit on success, roll back on error."""
        with self._lock:
            self._check_open()
            db = self._connection
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and one read transaction, so a load sees one committed state."""
        with self._lock:
            self._check_open()
            db = self._connection
            db.execute("BEGIN")
            try:
                yield db
            finally:
                if db.in_transaction:
                    db.execute("ROLLBACK")  # nothing was written

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"the store {self._path} is closed")

    # ------------------------------------------------------------------ pin maps

    def put_pin_map(self, pin_map_id: PinMapId, xml: str) -> None:
        """Store a pin map's XML, replacing any under the same id (which keeps its position)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO pin_maps (pin_map_id, xml) VALUES (?, ?) "
                "ON CONFLICT (pin_map_id) DO UPDATE SET xml = excluded.xml",
                (pin_map_id, xml),
            )

    def delete_pin_map(self, pin_map_id: PinMapId) -> None:
        """Forget a pin map; an unknown id is ignored."""
        with self._transaction() as db:
            db.execute("DELETE FROM pin_maps WHERE pin_map_id = ?", (pin_map_id,))

    def load_pin_maps(self) -> list[tuple[PinMapId, str]]:
        """Return ``(pin_map_id, xml)`` of every stored pin map, in order of first insertion."""
        with self._reading() as db:
            rows = db.execute("SELECT pin_map_id, xml FROM pin_maps ORDER BY seq").fetchall()
        return [(PinMapId(pin_map_id), xml) for pin_map_id, xml in rows]

    # ------------------------------------------------------------------ sessions

    def add_sessions(self, records: Sequence[SessionRecord]) -> None:
        """Store new sessions in one transaction.

        Raises:
            SessionAlreadyRegisteredError: If a name is stored already or repeated; nothing
                is written.
        """
        with self._transaction() as db:
            _check_new_names(db, "sessions", [r.session_name for r in records], "session")
            db.executemany(
                "INSERT INTO sessions (session_name, resource_name, channel_list, "
                "instrument_type_id, channel_mappings, annotations) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.session_name,
                        r.resource_name,
                        r.channel_list,
                        r.instrument_type_id,
                        encode_channel_mappings(r.channel_mappings),
                        encode_annotations(r.annotations),
                    )
                    for r in records
                ],
            )

    def remove_sessions(self, session_names: Sequence[SessionName]) -> None:
        """Forget sessions in one transaction; unknown names are ignored."""
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM sessions WHERE session_name = ?", [(n,) for n in session_names]
            )

    def load_sessions(self) -> list[SessionRecord]:
        """Return every stored session in registration order.

        Raises:
            ValueError: If a stored JSON field is malformed.
        """
        with self._reading() as db:
            rows = db.execute(
                "SELECT session_name, resource_name, channel_list, instrument_type_id, "
                "channel_mappings, annotations FROM sessions ORDER BY seq"
            ).fetchall()
        return [
            SessionRecord(
                SessionName(row[0]),
                row[1],
                row[2],
                InstrumentTypeId(row[3]),
                decode_channel_mappings(row[4]),
                decode_annotations(row[5]),
            )
            for row in rows
        ]

    def add_multiplexer_sessions(self, records: Sequence[MultiplexerRecord]) -> None:
        """Store new multiplexer sessions in one transaction.

        Raises:
            SessionAlreadyRegisteredError: If a name is stored already or repeated; nothing
                is written.
        """
        with self._transaction() as db:
            _check_new_names(
                db,
                "multiplexer_sessions",
                [r.session_name for r in records],
                "multiplexer session",
            )
            db.executemany(
                "INSERT INTO multiplexer_sessions (session_name, resource_name, "
                "multiplexer_type_id, annotations) VALUES (?, ?, ?, ?)",
                [
                    (
                        r.session_name,
                        r.resource_name,
                        r.multiplexer_type_id,
                        encode_annotations(r.annotations),
                    )
                    for r in records
                ],
            )

    def remove_multiplexer_sessions(self, session_names: Sequence[SessionName]) -> None:
        """Forget multiplexer sessions in one transaction; unknown names are ignored."""
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM multiplexer_sessions WHERE session_name = ?",
                [(n,) for n in session_names],
            )

    def load_multiplexer_sessions(self) -> list[MultiplexerRecord]:
        """Return every stored multiplexer session in registration order.

        Raises:
            ValueError: If a stored JSON field is malformed.
        """
        with self._reading() as db:
            rows = db.execute(
                "SELECT session_name, resource_name, multiplexer_type_id, annotations "
                "FROM multiplexer_sessions ORDER BY seq"
            ).fetchall()
        return [
            MultiplexerRecord(SessionName(name), resource_name, type_id, decode_annotations(ann))
            for name, resource_name, type_id, ann in rows
        ]

    # ------------------------------------------------------------------ reservations

    def put_reservation(
        self,
        reservation_id: ReservationId,
        session_names: Sequence[SessionName],
        owner: str,
        annotations: Mapping[str, str],
        acquired_at_wall: float,
    ) -> None:
        """Insert or replace a reservation in one transaction.

        Raises:
            ValueError: If it has no session, or a session belongs to another reservation;
                nothing is written.
        """
        with self._transaction() as db:
            _put_reservation(
                db, reservation_id, session_names, owner, annotations, acquired_at_wall
            )

    def delete_reservation(self, reservation_id: ReservationId) -> None:
        """Forget a reservation with all its sessions; an unknown id is ignored."""
        with self._transaction() as db:
            db.execute("DELETE FROM reservations WHERE reservation_id = ?", (reservation_id,))

    def delete_reservation_sessions(self, session_names: Sequence[SessionName]) -> None:
        """Remove sessions from their reservations; reservations left empty are dropped."""
        with self._transaction() as db:
            _delete_reservation_sessions(db, session_names)

    def apply_journal(self, records: Sequence[JournalRecord]) -> None:
        """Apply journal records in order, in one transaction (all or nothing).

        Raises:
            ValueError: If a ``PutReservation`` would be refused by :meth:`put_reservation`;
                nothing is written.
        """
        with self._transaction() as db:
            for record in records:
                if isinstance(record, PutReservation):
                    r = record.reservation
                    _put_reservation(
                        db, r.id, r.session_names, r.owner, r.annotations, r.acquired_at
                    )
                else:
                    _delete_reservation_sessions(db, record.session_names)

    def load_reservations(self) -> list[Reservation]:
        """Return every stored reservation by increasing id, sessions in their stored order.

        Raises:
            ValueError: If a stored JSON field is malformed.
        """
        with self._reading() as db:
            heads = db.execute(
                "SELECT reservation_id, owner, annotations, acquired_at_wall "
                "FROM reservations ORDER BY reservation_id"
            ).fetchall()
            members = db.execute(
                "SELECT reservation_id, session_name FROM reservation_sessions "
                "ORDER BY reservation_id, position"
            ).fetchall()
        names: dict[int, list[SessionName]] = {}
        for reservation_id, name in members:
            names.setdefault(reservation_id, []).append(SessionName(name))
        return [
            Reservation(
                ReservationId(reservation_id),
                tuple(names.get(reservation_id, ())),
                owner,
                decode_annotations(annotations),
                acquired_at_wall,
            )
            for reservation_id, owner, annotations, acquired_at_wall in heads
        ]

    def close(self) -> None:
        """Close the connection (checkpointing the log); closing twice is harmless."""
        self._stop_checkpoints.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        with self._lock:
            if not self._closed:
                self._closed = True
                if self._wal:
                    with contextlib.suppress(sqlite3.Error):
                        self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                self._connection.close()


def _check_new_names(
    db: sqlite3.Connection, table: str, names: Sequence[SessionName], kind: str
) -> None:
    """Raise ``SessionAlreadyRegisteredError`` for a name stored already or repeated."""
    seen: set[str] = set()
    for name in names:
        stored = db.execute(f"SELECT 1 FROM {table} WHERE session_name = ?", (name,)).fetchone()
        if stored is not None or name in seen:
            raise SessionAlreadyRegisteredError(name, kind=kind)
        seen.add(name)


def _put_reservation(
    db: sqlite3.Connection,
    reservation_id: ReservationId,
    session_names: Sequence[SessionName],
    owner: str,
    annotations: Mapping[str, str],
    acquired_at_wall: float,
) -> None:
    """Insert or replace a reservation inside the caller's transaction."""
    names = list(dict.fromkeys(session_names))
    if not names:
        raise ValueError(f"reservation {reservation_id} holds no session")
    for name in names:
        row = db.execute(
            "SELECT reservation_id FROM reservation_sessions "
            "WHERE session_name = ? AND reservation_id != ?",
            (name, reservation_id),
        ).fetchone()
        if row is not None:
            raise ValueError(
                f"session '{name}' belongs to reservation {row[0]}, not {reservation_id}"
            )
    db.execute(
        "INSERT INTO reservations (reservation_id, owner, annotations, acquired_at_wall) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (reservation_id) DO UPDATE SET "
        "owner = excluded.owner, annotations = excluded.annotations, "
        "acquired_at_wall = excluded.acquired_at_wall",
        (reservation_id, owner, encode_annotations(annotations), acquired_at_wall),
    )
    db.execute("DELETE FROM reservation_sessions WHERE reservation_id = ?", (reservation_id,))
    db.executemany(
        "INSERT INTO reservation_sessions (session_name, reservation_id, position) "
        "VALUES (?, ?, ?)",
        [(name, reservation_id, position) for position, name in enumerate(names)],
    )


def _delete_reservation_sessions(
    db: sqlite3.Connection, session_names: Sequence[SessionName]
) -> None:
    """Remove sessions from their reservations inside the caller's transaction."""
    db.executemany(
        "DELETE FROM reservation_sessions WHERE session_name = ?", [(n,) for n in session_names]
    )
    db.execute(
        "DELETE FROM reservations WHERE reservation_id NOT IN "
        "(SELECT reservation_id FROM reservation_sessions)"
    )
