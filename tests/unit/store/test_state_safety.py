"""State safety in the store: the directory lock, identifying and checking the file, full disk.

A full disk is simulated with SQLite's ``PRAGMA max_page_count``, which fails writes with the
same ``SQLITE_FULL`` a full file system gives (the real tmpfs is in tests/e2e).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest

from pinbroker.errors import (
    StateDatabaseError,
    StateDiskFullError,
    StateInUseError,
    StateNotWritableError,
)
from pinbroker.events import Event, EventKind
from pinbroker.registry import SessionRecord
from pinbroker.store import (
    APPLICATION_ID,
    LOCK_FILE_NAME,
    STORE_FILE_NAME,
    EventWriter,
    SqliteStore,
    open_store,
)
from pinbroker.types import InstrumentTypeId, PinMapId, SessionName


def _record(name: str, annotation: str = "") -> SessionRecord:
    return SessionRecord(
        SessionName(name), "DMM1", "", InstrumentTypeId("niDMM"), (), {"a": annotation}
    )


def _fill(store: SqliteStore) -> None:
    """Let the database grow by no more page (as a full disk would)."""
    connection = store._connection
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages}")


def _free(store: SqliteStore) -> None:
    store._connection.execute("PRAGMA max_page_count = 1073741823")


def test_a_second_open_of_a_state_directory_names_the_holder(tmp_path: Path) -> None:
    first = open_store(tmp_path)
    try:
        assert (tmp_path / LOCK_FILE_NAME).read_text().strip() == str(os.getpid())
        with pytest.raises(StateInUseError) as raised:
            open_store(tmp_path)
        assert str(raised.value) == (
            f"state directory {tmp_path} is in use by pinbroker process {os.getpid()} "
            f"(lock file {tmp_path / LOCK_FILE_NAME})"
        )
    finally:
        first.close()
    open_store(tmp_path).close()  # released on close


def test_a_failed_open_releases_the_lock(tmp_path: Path) -> None:
    (tmp_path / STORE_FILE_NAME).write_bytes(b"")
    with pytest.raises(StateDatabaseError):
        open_store(tmp_path)
    (tmp_path / STORE_FILE_NAME).unlink()
    open_store(tmp_path).close()


def test_a_new_database_carries_the_application_id(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "s.db").close()
    connection = sqlite3.connect(tmp_path / "s.db")
    try:
        assert connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    finally:
        connection.close()
    assert not (tmp_path / "s.db.new").exists()


def test_an_empty_file_is_refused_not_started_empty(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"")
    with pytest.raises(StateDatabaseError, match=r"s\.db is empty \(0 bytes\).*restore it"):
        SqliteStore(path)
    assert path.stat().st_size == 0  # untouched


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    store.put_pin_map(PinMapId("big"), "x" * 200_000)
    store.close()
    data = path.read_bytes()
    for size in (50, len(data) // 2):
        path.write_bytes(data[:size])
        with pytest.raises(
            StateDatabaseError, match=r"is damaged \(.*\); restore it from a backup"
        ):
            SqliteStore(path)


def test_a_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE photos (id INTEGER)")
    connection.commit()
    connection.close()
    with pytest.raises(StateDatabaseError, match=r"not a pinbroker database \(tables 'photos'"):
        SqliteStore(path)

    connection = sqlite3.connect(path)
    connection.execute("PRAGMA application_id = 1234")
    connection.commit()
    connection.close()
    with pytest.raises(StateDatabaseError, match="application id 0x000004d2"):
        SqliteStore(path)


def test_a_file_of_ours_from_before_the_application_id_is_stamped(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    store.put_pin_map(PinMapId("kept"), "<xml/>")
    store.close()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA application_id = 0")
    connection.commit()
    connection.close()

    store = SqliteStore(path)
    try:
        assert store.load_pin_maps() == [(PinMapId("kept"), "<xml/>")]
        assert store._connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    finally:
        store.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files (see tests/e2e)")
def test_a_read_only_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SqliteStore(path).close()
    path.chmod(0o400)
    with pytest.raises(StateNotWritableError, match="is not writable"):
        SqliteStore(path)


def test_a_full_disk_refuses_the_write_and_recovers(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    try:
        store.add_sessions([_record("before")])
        _fill(store)
        with pytest.raises(StateDiskFullError, match="the state disk is full") as raised:
            store.add_sessions([_record("big", "x" * 100_000)])
        assert raised.value.status == "RESOURCE_EXHAUSTED"
        with pytest.raises(StateDiskFullError):
            store.put_pin_map(PinMapId("big"), "x" * 100_000)
        assert not store._connection.in_transaction
        assert [r.session_name for r in store.load_sessions()] == ["before"]  # reads work
        _free(store)
        store.add_sessions([_record("big", "x" * 100_000)])
        assert [r.session_name for r in store.load_sessions()] == ["before", "big"]
    finally:
        store.close()


def test_the_event_writer_drops_a_batch_on_a_full_disk_and_keeps_going(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteStore(tmp_path / "s.db")
    writer = EventWriter(store, keep=100)
    try:
        _fill(store)
        big = Event(1, 0.0, EventKind.RESERVED, (SessionName("x" * 200_000),), 1, None, "")
        with caplog.at_level(logging.WARNING):
            writer.submit([big])
            writer.close()  # writes what is pending: fails, logged, dropped
        assert "1 event(s) not stored, dropped: the state disk is full" in caplog.text
        assert "Traceback" not in caplog.text
        _free(store)
        writer = EventWriter(store, keep=100)
        writer.submit([Event(2, 0.0, EventKind.RESERVED, (SessionName("s"),), 2, None, "")])
    finally:
        writer.close()
    assert [e.revision for e in store.load_events(10)] == [2]
    store.close()
