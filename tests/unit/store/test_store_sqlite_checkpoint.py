"""The SQLite store checkpoints its write-ahead log off the writers' path and at close."""

from __future__ import annotations

from pathlib import Path

from pinbroker.reservation import ReservationId
from pinbroker.store import SqliteStore
from pinbroker.types import PinMapId, SessionName


def test_writes_do_not_checkpoint_inline_and_close_truncates_the_log(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = SqliteStore(path, checkpoint_interval=3600.0)  # the background pass never runs here
    wal = Path(f"{path}-wal")
    for index in range(200):
        store.put_pin_map(PinMapId(f"p{index}"), "x" * 4096)
        store.put_reservation(
            ReservationId(index + 1), [SessionName(f"s{index}")], "owner", {}, 0.0
        )
    # 200 commits of 4 KiB pages pass SQLite's default 1000-page auto-checkpoint threshold;
    # with auto-checkpointing off the log keeps growing until the checkpointer or close runs.
    assert wal.stat().st_size > 1000 * 4096
    store.close()
    assert not wal.exists() or wal.stat().st_size == 0
    reopened = SqliteStore(path)
    try:
        assert len(reopened.load_pin_maps()) == 200
        assert len(reopened.load_reservations()) == 200
    finally:
        reopened.close()
