"""SqliteStore specifics: reopening, WAL, schema versions and migration, threads, kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pinbroker.errors import StateDatabaseError
from pinbroker.pinmap._results import ChannelMapping
from pinbroker.registry import MultiplexerRecord, SessionRecord
from pinbroker.reservation import Reservation, ReservationId
from pinbroker.store import SCHEMA_VERSION, SqliteStore, migrate
from pinbroker.store import _sqlite_schema as schema_module
from pinbroker.types import InstrumentTypeId, PinMapId, SessionName


def session(name: str) -> SessionRecord:
    return SessionRecord(
        SessionName(name),
        f"{name}-res",
        "0",
        InstrumentTypeId("niDMM"),
        (ChannelMapping("P", 0, "0", "Mux", "r0", "t"),),
        {"a": "b"},
    )


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_reopening_the_file_shows_everything(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = SqliteStore(path)
    store.put_pin_map(PinMapId("p"), "<PinMap/>")
    store.add_sessions([session("s1"), session("s2")])
    store.add_multiplexer_sessions([MultiplexerRecord(SessionName("m"), "m", "niSwitch")])
    store.put_reservation(
        ReservationId(5), [SessionName("s1"), SessionName("x")], "alice", {"k": "v"}, 12.5
    )
    store.close()

    reopened = SqliteStore(path)
    try:
        assert reopened.path == path
        assert reopened.load_pin_maps() == [("p", "<PinMap/>")]
        assert reopened.load_sessions() == [session("s1"), session("s2")]
        assert reopened.load_multiplexer_sessions() == [
            MultiplexerRecord(SessionName("m"), "m", "niSwitch")
        ]
        assert reopened.load_reservations() == [
            Reservation(
                ReservationId(5), (SessionName("s1"), SessionName("x")), "alice", {"k": "v"}, 12.5
            )
        ]
    finally:
        reopened.close()


def test_the_file_is_in_wal_mode_at_the_current_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    SqliteStore(path, synchronous="FULL").close()

    connection = raw(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    finally:
        connection.close()


def test_synchronous_must_be_normal_or_full(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'OFF'"):
        SqliteStore(tmp_path / "s.db", synchronous="OFF")  # type: ignore[arg-type]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    SqliteStore(path).close()
    connection = raw(path)
    connection.execute("PRAGMA user_version = 99")
    connection.close()

    with pytest.raises(StateDatabaseError, match="schema version 99, newer than the 2"):
        SqliteStore(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is not a database" * 100)

    with pytest.raises(StateDatabaseError, match=r"is damaged \(file is not a database"):
        SqliteStore(path)


def test_migration_steps_are_transactional(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.sqlite3"
    SqliteStore(path).close()

    def broken_step(connection: sqlite3.Connection) -> None:
        connection.execute("CREATE TABLE half_done (x)")
        raise sqlite3.OperationalError("step 3 failed")

    monkeypatch.setattr(schema_module, "_MIGRATIONS", (*schema_module._MIGRATIONS, broken_step))
    monkeypatch.setattr(schema_module, "SCHEMA_VERSION", 3)
    connection = raw(path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="step 3 failed"):
            migrate(connection)
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 2
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        assert "half_done" not in tables
        assert not connection.in_transaction
    finally:
        connection.close()


def test_migrate_reports_the_version_it_found(tmp_path: Path) -> None:
    connection = raw(tmp_path / "fresh.sqlite3")
    try:
        assert migrate(connection) == 0
        assert migrate(connection) == 2
    finally:
        connection.close()


def test_a_failed_write_rolls_back_and_the_store_stays_usable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    try:
        store.add_sessions([session("a")])
        with pytest.raises(Exception, match="already registered"):
            store.add_sessions([session("b"), session("a")])
        store.add_sessions([session("b")])
        assert [r.session_name for r in store.load_sessions()] == ["a", "b"]
    finally:
        store.close()


def test_many_threads_write_through_one_store(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    threads, per_thread = 8, 40
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                store.put_pin_map(PinMapId(f"{index}-{i}"), "<PinMap/>")
                store.put_reservation(
                    ReservationId(index * 1000 + i), [SessionName(f"{index}-{i}")], "t", {}, 0.0
                )
                store.load_reservations()
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=100)
    store.close()

    assert errors == []
    reopened = SqliteStore(path)
    try:
        assert len(reopened.load_pin_maps()) == threads * per_thread
        assert len(reopened.load_reservations()) == threads * per_thread
    finally:
        reopened.close()


# ---------------------------------------------------------------------------- kill -9

CHILD_PRELUDE = textwrap.dedent(
    """
    import sqlite3, sys
    from pinbroker.reservation import ReservationId
    from pinbroker.store import SqliteStore
    from pinbroker.types import PinMapId, SessionName
    store = SqliteStore(sys.argv[1])
    """
)


def run_child(path: Path, body: str, until: Callable[[list[str]], bool]) -> list[str]:
    """Run ``body`` in a child writing to ``path``, read its lines until ``until``, kill -9."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_PRELUDE + textwrap.dedent(body), str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    lines: list[str] = []
    try:
        while not until(lines):
            line = child.stdout.readline()
            assert line, f"child ended early after {lines[-3:]}"
            lines.append(line.strip())
    finally:
        os.kill(child.pid, signal.SIGKILL)
        returncode = child.wait()
        child.stdout.close()
        assert child.stdin is not None
        child.stdin.close()
    assert returncode == -signal.SIGKILL
    return lines


def test_kill_9_keeps_committed_and_drops_uncommitted_transactions(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    body = """
        for i in range(20):
            store.put_pin_map(PinMapId(f"committed-{i}"), "<PinMap/>")
        store.put_reservation(ReservationId(1), [SessionName("A")], "alice", {"k": "v"}, 1.0)
        other = sqlite3.connect(sys.argv[1], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO pin_maps (pin_map_id, xml) VALUES ('uncommitted', 'x')")
        other.execute("DELETE FROM reservations")
        print("in the middle of a transaction", flush=True)
        sys.stdin.readline()
    """
    run_child(path, body, until=lambda lines: bool(lines))

    store = SqliteStore(path)
    try:
        assert [p for p, _ in store.load_pin_maps()] == [f"committed-{i}" for i in range(20)]
        assert [r.owner for r in store.load_reservations()] == ["alice"]
        store.put_pin_map(PinMapId("after"), "<PinMap/>")  # writable again: no stale lock
    finally:
        store.close()
    connection = raw(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        connection.close()


def test_kill_9_during_a_stream_of_writes_loses_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    body = """
        i = 0
        while True:
            store.put_pin_map(PinMapId(f"p{i}"), "<PinMap/>" * 50)
            store.put_reservation(ReservationId(i + 1), [SessionName(f"s{i}")], "w", {}, 0.0)
            if i % 3 == 0:
                store.delete_reservation_sessions([SessionName(f"s{i}")])
            print(i, flush=True)
            i += 1
    """
    lines = run_child(path, body, until=lambda lines: len(lines) >= 200)
    committed = [int(line) for line in lines]

    store = SqliteStore(path)
    try:
        stored = sorted(int(p[1:]) for p, _ in store.load_pin_maps())
        reserved = {int(r.id) for r in store.load_reservations()}
    finally:
        store.close()
    # Everything printed was committed before; the child may have committed more before it died.
    assert stored == list(range(len(stored)))
    assert len(stored) >= len(committed)
    for i in stored[:-1]:  # the last one may have died between its transactions
        assert (i + 1 in reserved) == (i % 3 != 0), i
    connection = raw(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        connection.close()
