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
:data:`SCHEMA_VERSION`, one transaction per step, and refuses a newer one. Before that the
file is identified and checked (``_sqlite_check``): empty, damaged, foreign, newer or
read-only files are refused, never started on. Nested fields
(channel mappings, annotations, client identities, event owners, name lists) are JSON text.
The schema and its migrations are in ``_sqlite_schema``.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

from pinbroker.events import Event, EventKind
from pinbroker.registry import MultiplexerRecord, SessionRecord
from pinbroker.reservation import (
    JournalRecord,
    LeaseId,
    LeaseRecord,
    PutReservation,
    Reservation,
    ReservationId,
)
from pinbroker.store import _sqlite_rows as sql
from pinbroker.store._codec import (
    decode_annotations,
    decode_channel_mappings,
    decode_client_identity,
    decode_event_owner,
    decode_names,
    encode_annotations,
    encode_channel_mappings,
    encode_client_identity,
    encode_event_owner,
    encode_names,
)
from pinbroker.store._sqlite_check import disk_full, is_disk_full, open_checked
from pinbroker.store._sqlite_schema import (
    LEASE_ID_HIGH,
    RESERVATION_ID_HIGH,
    SCHEMA_VERSION,
    migrate,
)
from pinbroker.types import InstrumentTypeId, PinMapId, SessionName

__all__ = ["SCHEMA_VERSION", "SqliteStore", "migrate"]

_logger = logging.getLogger(__name__)


class SqliteStore:
    """:class:`~pinbroker.store.Store` in one SQLite file (see the module docstring for why WAL).

    Thread-safe: one connection, opened with ``check_same_thread=False``, guarded by a lock.
    See :class:`~pinbroker.store.Store` for what each method does and raises; every method
    raises ``ValueError`` once the store is closed. A write that fails rolls its transaction
    back and raises :class:`~pinbroker.errors.StateDiskFullError` if the disk (or file) is
    full, else the ``sqlite3.Error``; the store stays usable either way.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        checkpoint_interval: float = 1.0,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        """Open (creating if needed), check and migrate the database file.

        Args:
            path: The database file; its directory must exist.
            synchronous: ``"NORMAL"`` (default) or ``"FULL"``; see the module docstring.
            checkpoint_interval: Seconds between background WAL checkpoints.
            on_close: Called once by :meth:`close` after the connection is closed (the state
                directory's lock is released so); not called if opening fails.

        Raises:
            ValueError: If ``synchronous`` is neither.
            StateDatabaseError: If the file is empty, damaged, foreign, of a newer schema, or
                cannot be opened (see ``_sqlite_check``).
            StateNotWritableError: If the file or its directory cannot be written.
            StateDiskFullError: If the disk is full while the file is created or migrated.
        """
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        self._path = Path(path)
        self._lock = threading.Lock()
        self._closed = False
        self._on_close = on_close
        self._connection = open_checked(self._path, timeout=10.0)
        try:
            mode = self._connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                synchronous = "FULL"
            self._connection.execute(f"PRAGMA synchronous = {synchronous}")
            self._connection.execute("PRAGMA foreign_keys = ON")
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
        failing = False  # log a failure once per run of failures (a full disk lasts a while)
        try:
            while not self._stop_checkpoints.wait(interval):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:
                    if not failing:
                        _logger.warning(
                            "background WAL checkpoint of %s failed (%s); retrying every %g s",
                            self._path,
                            exc,
                            interval,
                        )
                    failing = True
                else:
                    if failing:
                        _logger.info("background WAL checkpoint of %s works again", self._path)
                    failing = False
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
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        try:
                            db.execute("ROLLBACK")
                        except sqlite3.Error:
                            _logger.exception("rolling back a write to %s failed", self._path)
                    raise
            except sqlite3.Error as exc:
                if is_disk_full(exc):
                    raise disk_full(self._path, "the change") from exc
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

    def load_pin_map(self, pin_map_id: PinMapId) -> str | None:
        """Return one stored pin map's XML, or None if no pin map has this id."""
        with self._reading() as db:
            row = db.execute(
                "SELECT xml FROM pin_maps WHERE pin_map_id = ?", (pin_map_id,)
            ).fetchone()
        return None if row is None else str(row[0])

    # ------------------------------------------------------------------ sessions

    def add_sessions(self, records: Sequence[SessionRecord]) -> None:
        """Store new sessions in one transaction.

        Raises:
            SessionAlreadyRegisteredError: If a name is stored already or repeated; nothing
                is written.
        """
        with self._transaction() as db:
            sql.check_new_names(db, "sessions", [r.session_name for r in records], "session")
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
            sql.check_new_names(
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
        """Insert or replace a reservation in one transaction (no lease, client or fences).

        Raises:
            ValueError: If it has no session, or a session belongs to another reservation;
                nothing is written.
        """
        reservation = Reservation(
            reservation_id, tuple(session_names), owner, annotations, acquired_at_wall
        )
        with self._transaction() as db:
            sql.put_reservation(db, reservation)

    def delete_reservation(self, reservation_id: ReservationId) -> None:
        """Forget a reservation with all its sessions; an unknown id is ignored."""
        with self._transaction() as db:
            db.execute("DELETE FROM reservations WHERE reservation_id = ?", (reservation_id,))

    def delete_reservation_sessions(self, session_names: Sequence[SessionName]) -> None:
        """Remove sessions from their reservations; reservations left empty are dropped."""
        with self._transaction() as db:
            sql.delete_reservation_sessions(db, session_names)

    def apply_journal(self, records: Sequence[JournalRecord]) -> None:
        """Apply journal records in order, in one transaction (all or nothing).

        A ``PutReservation`` stores every field of its reservation and raises the fence and
        reservation id high-water marks.

        Raises:
            ValueError: If a ``PutReservation`` would be refused by :meth:`put_reservation`;
                nothing is written.
        """
        with self._transaction() as db:
            for record in records:
                if isinstance(record, PutReservation):
                    sql.put_reservation(db, record.reservation)
                else:
                    sql.delete_reservation_sessions(db, record.session_names)

    def load_reservations(self) -> list[Reservation]:
        """Return every stored reservation by increasing id, sessions in their stored order.

        Raises:
            ValueError: If a stored JSON field is malformed.
        """
        with self._reading() as db:
            heads = db.execute(
                "SELECT reservation_id, owner, annotations, acquired_at_wall, lease_id, client "
                "FROM reservations ORDER BY reservation_id"
            ).fetchall()
            members = db.execute(
                "SELECT reservation_id, session_name, fence FROM reservation_sessions "
                "ORDER BY reservation_id, position"
            ).fetchall()
        names: dict[int, list[SessionName]] = {}
        fences: dict[int, dict[SessionName, int]] = {}
        for reservation_id, name, fence in members:
            names.setdefault(reservation_id, []).append(SessionName(name))
            if fence:
                fences.setdefault(reservation_id, {})[SessionName(name)] = fence
        return [
            Reservation(
                ReservationId(reservation_id),
                tuple(names.get(reservation_id, ())),
                owner,
                decode_annotations(annotations),
                acquired_at_wall,
                lease_id,
                decode_client_identity(client),
                fences.get(reservation_id, {}),
            )
            for reservation_id, owner, annotations, acquired_at_wall, lease_id, client in heads
        ]

    def load_reservation_id_high(self) -> int:
        """Return the largest reservation id ever put (also if deleted since); 0 if none."""
        with self._reading() as db:
            return sql.read_meta(db, RESERVATION_ID_HIGH)

    def load_fences(self) -> dict[SessionName, int]:
        """Return each session's largest non-zero fence ever put (also if released since)."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT session_name, fence FROM session_fences ORDER BY session_name"
            ).fetchall()
        return {SessionName(name): fence for name, fence in rows}

    # ------------------------------------------------------------------ leases

    def put_lease(self, record: LeaseRecord) -> None:
        """Store an active lease, replacing any under the same id; raise the lease id high."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO leases (lease_id, ttl, identity, granted_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (lease_id) DO UPDATE SET ttl = excluded.ttl, "
                "identity = excluded.identity, granted_at = excluded.granted_at",
                (record.id, record.ttl, encode_client_identity(record.identity), record.granted_at),
            )
            sql.raise_meta(db, LEASE_ID_HIGH, record.id)

    def delete_leases(self, ids: Sequence[int]) -> None:
        """Forget leases in one transaction; unknown ids are ignored. The high-water mark stays."""
        with self._transaction() as db:
            db.executemany("DELETE FROM leases WHERE lease_id = ?", [(i,) for i in ids])

    def load_leases(self) -> list[LeaseRecord]:
        """Return every stored lease by increasing id.

        Raises:
            ValueError: If a stored identity is malformed.
        """
        with self._reading() as db:
            rows = db.execute(
                "SELECT lease_id, ttl, identity, granted_at FROM leases ORDER BY lease_id"
            ).fetchall()
        return [
            LeaseRecord(LeaseId(lease_id), ttl, decode_client_identity(identity), granted_at)
            for lease_id, ttl, identity, granted_at in rows
        ]

    def load_lease_id_high(self) -> int:
        """Return the largest lease id ever put (also if deleted since); 0 if none."""
        with self._reading() as db:
            return sql.read_meta(db, LEASE_ID_HIGH)

    # ------------------------------------------------------------------ events

    def append_events(self, events: Sequence[Event], *, keep: int) -> None:
        """Store events, then forget all but the newest ``keep`` revisions; one transaction.

        An event with the revision of a stored one replaces it.

        Raises:
            ValueError: If ``keep`` is negative; nothing is written.
        """
        if keep < 0:
            raise ValueError(f"keep must be >= 0, not {keep}")
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO events (revision, time, kind, session_names, "
                "reservation_id, owner, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.revision,
                        e.time,
                        e.kind.value,
                        encode_names(e.session_names),
                        e.reservation_id,
                        None if e.owner is None else encode_event_owner(e.owner),
                        e.reason,
                    )
                    for e in events
                ],
            )
            newest_dropped = db.execute(
                "SELECT revision FROM events ORDER BY revision DESC LIMIT 1 OFFSET ?", (keep,)
            ).fetchone()
            if newest_dropped is not None:
                db.execute("DELETE FROM events WHERE revision <= ?", (newest_dropped[0],))

    def load_events(self, limit: int) -> list[Event]:
        """Return the newest ``limit`` stored events, oldest first.

        A stored event of a kind this pinbroker does not know (written by a newer one) is
        skipped with a logged warning, so fewer than ``limit`` may be returned.

        Raises:
            ValueError: If ``limit`` is negative, or a stored JSON field is malformed.
        """
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        with self._reading() as db:
            rows = db.execute(
                "SELECT revision, time, kind, session_names, reservation_id, owner, reason "
                "FROM events ORDER BY revision DESC LIMIT ?",
                (limit,),
            ).fetchall()
        events: list[Event] = []
        for revision, time, kind, session_names, reservation_id, owner, reason in reversed(rows):
            try:
                event_kind = EventKind(kind)
            except ValueError:
                _logger.warning(
                    "skipping stored event %d of unknown kind %r (written by a newer pinbroker?)",
                    revision,
                    kind,
                )
                continue
            events.append(
                Event(
                    revision,
                    time,
                    event_kind,
                    decode_names(session_names),
                    reservation_id,
                    None if owner is None else decode_event_owner(owner),
                    reason,
                )
            )
        return events

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
                if self._on_close is not None:
                    self._on_close()
