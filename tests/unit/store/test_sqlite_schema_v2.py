"""The SQLite file at schema v2: migration from v1, reopening, forward-compatible events."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from pinbroker.events import Event, EventKind, EventOwner
from pinbroker.reservation import (
    ClientIdentity,
    LeaseId,
    LeaseRecord,
    PutReservation,
    Reservation,
    ReservationId,
)
from pinbroker.store import SqliteStore
from pinbroker.store import _sqlite_schema as schema_module
from pinbroker.types import SessionName

SN = SessionName


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def make_v1_file(path: Path, reservations: list[tuple[int, str, list[str]]]) -> None:
    """Write a file as pinbroker with schema v1 did: its statements, its columns."""
    connection = raw(path)
    try:
        for statement in schema_module._SCHEMA_V1:
            connection.execute(statement)
        for rid, owner, names in reservations:
            connection.execute(
                "INSERT INTO reservations (reservation_id, owner, annotations, acquired_at_wall) "
                "VALUES (?, ?, ?, ?)",
                (rid, owner, '{"u":"ü"}', 12.5),
            )
            connection.executemany(
                "INSERT INTO reservation_sessions (session_name, reservation_id, position) "
                "VALUES (?, ?, ?)",
                [(name, rid, position) for position, name in enumerate(names)],
            )
        connection.execute("PRAGMA user_version = 1")
    finally:
        connection.close()


def test_a_v1_file_migrates_and_keeps_its_reservations(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    make_v1_file(path, [(4, "alice", ["B", "A"]), (11, "bob", ["C"])])

    store = SqliteStore(path)
    try:
        assert store.load_reservations() == [
            Reservation(ReservationId(4), (SN("B"), SN("A")), "alice", {"u": "ü"}, 12.5),
            Reservation(ReservationId(11), (SN("C"),), "bob", {"u": "ü"}, 12.5),
        ]
        first = store.load_reservations()[0]
        assert (first.lease_id, first.client, dict(first.fences)) == (None, ClientIdentity(), {})
        assert store.load_reservation_id_high() == 11  # taken from the migrated reservations
        assert store.load_fences() == {}
        assert (store.load_leases(), store.load_lease_id_high()) == ([], 0)
        assert store.load_events(10) == []

        # The migrated file takes v2 records next to the old ones.
        store.apply_journal(
            [PutReservation(Reservation(ReservationId(12), (SN("D"),), "c", fences={SN("D"): 1}))]
        )
        assert store.load_fences() == {"D": 1}
        assert store.load_reservation_id_high() == 12
    finally:
        store.close()
    connection = raw(path)
    try:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 2
    finally:
        connection.close()


def test_an_empty_v1_file_migrates_with_no_reservation_id_high(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    make_v1_file(path, [])

    store = SqliteStore(path)
    try:
        assert store.load_reservations() == []
        assert store.load_reservation_id_high() == 0
    finally:
        store.close()


def test_reopening_keeps_leases_events_fences_and_high_water_marks(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    lease = LeaseRecord(LeaseId(3), 10.0, ClientIdentity("h", "u", 1, "p", "peer"), 5.0)
    reservation = Reservation(
        ReservationId(6), (SN("A"),), "o", {}, 1.0, 3, lease.identity, {SN("A"): 2}
    )
    events = [
        Event(1, 1.0, EventKind.RESERVED, ("A",), 6, EventOwner("peer", "h", "u", 1), "why"),
        Event(2, 2.0, EventKind.RELEASED, ("A",)),
    ]
    store = SqliteStore(path)
    store.put_lease(lease)
    store.put_lease(LeaseRecord(LeaseId(8), 1.0, ClientIdentity(), 0.0))
    store.delete_leases([8])
    store.apply_journal([PutReservation(reservation)])
    store.append_events(events, keep=10)
    store.close()

    reopened = SqliteStore(path)
    try:
        assert reopened.load_leases() == [lease]
        assert reopened.load_lease_id_high() == 8
        assert reopened.load_reservations() == [reservation]
        assert reopened.load_fences() == {"A": 2}
        assert reopened.load_reservation_id_high() == 6
        assert reopened.load_events(10) == events
    finally:
        reopened.close()


def test_an_event_of_an_unknown_kind_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite3"
    store = SqliteStore(path)
    try:
        store.append_events([Event(1, 1.0, EventKind.RESERVED)], keep=10)
        connection = raw(path)
        try:
            connection.execute(
                "INSERT INTO events (revision, time, kind, session_names, reservation_id, "
                "owner, reason) VALUES (2, 2.0, 'teleported', '[\"A\"]', NULL, NULL, '')"
            )
        finally:
            connection.close()
        store.append_events([Event(3, 3.0, EventKind.RELEASED)], keep=10)

        with caplog.at_level(logging.WARNING, logger="pinbroker.store"):
            loaded = store.load_events(10)
    finally:
        store.close()

    assert [(e.revision, e.kind) for e in loaded] == [
        (1, EventKind.RESERVED),
        (3, EventKind.RELEASED),
    ]
    assert any("unknown kind 'teleported'" in r.getMessage() for r in caplog.records)
