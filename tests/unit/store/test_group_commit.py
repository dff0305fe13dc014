"""GroupCommitJournal: submission order, batching under load, all-or-nothing batches, close."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from pinbroker.reservation import (
    DeleteSessions,
    JournalReceipt,
    JournalRecord,
    PutReservation,
    Reservation,
    ReservationId,
)
from pinbroker.store import GroupCommitJournal, MemoryStore, SqliteStore, Store
from pinbroker.types import SessionName

JOIN_TIMEOUT = 30.0  # a safety net for helper threads, never a sleep


def _put(reservation_id: int, *names: str) -> PutReservation:
    return PutReservation(
        Reservation(
            ReservationId(reservation_id), tuple(SessionName(n) for n in names), "alice", {}, 1.0
        )
    )


def _delete(*names: str) -> DeleteSessions:
    return DeleteSessions(tuple(SessionName(n) for n in names))


class GatedStore:
    """Records each batch; the first batch waits at a gate; fails batches when told to."""

    def __init__(self, *, gated: bool = True) -> None:
        self.batches: list[list[JournalRecord]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.fail_with: Exception | None = None

    def apply_journal(self, records: Sequence[JournalRecord]) -> None:
        self.entered.set()
        assert self.gate.wait(JOIN_TIMEOUT)
        if self.fail_with is not None:
            raise self.fail_with
        self.batches.append(list(records))


def _waiting(receipt: JournalReceipt) -> threading.Thread:
    """Wait for the receipt on a helper thread (keeping a failure for the test to see)."""

    def run() -> None:
        with contextlib.suppress(OSError):
            receipt.wait()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive()


@pytest.fixture
def gated() -> GatedStore:
    return GatedStore()


@pytest.fixture
def journal(gated: GatedStore) -> Iterator[GroupCommitJournal]:
    journal = GroupCommitJournal(gated)
    yield journal
    gated.gate.set()
    journal.close()


def test_records_pending_while_a_batch_is_written_go_into_one_next_batch(
    journal: GroupCommitJournal, gated: GatedStore
) -> None:
    first = journal.submit(_put(1, "A"))
    leader = _waiting(first)  # finds nobody writing, so writes its batch itself
    assert gated.entered.wait(JOIN_TIMEOUT)  # the leader is inside the first batch
    rest = [journal.submit(_delete("A")), journal.submit(_put(2, "B")), journal.submit(_put(3))]
    followers = [_waiting(receipt) for receipt in rest]
    gated.gate.set()

    _join([leader, *followers])
    for receipt in [first, *rest]:
        receipt.wait()  # complete, without error
    assert [len(batch) for batch in gated.batches] == [1, 3]
    assert gated.batches[1] == [_delete("A"), _put(2, "B"), _put(3)]


def test_records_from_many_threads_are_applied_in_submission_order() -> None:
    store = GatedStore(gated=False)
    journal = GroupCommitJournal(store)
    order_lock = threading.Lock()  # plays the table's lock: submission order is known
    submitted: list[JournalRecord] = []
    receipts: list[JournalReceipt] = []

    def submit_many(thread: int) -> None:
        for i in range(50):
            record = _put(thread * 1000 + i, f"S{thread}-{i}")
            with order_lock:
                submitted.append(record)
                receipts.append(journal.submit(record))

    threads = [threading.Thread(target=submit_many, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    for receipt in receipts:
        receipt.wait()
    journal.close()

    assert [record for batch in store.batches for record in batch] == submitted


def test_a_failed_batch_fails_every_receipt_of_it_and_the_next_batch_is_written(
    journal: GroupCommitJournal, gated: GatedStore
) -> None:
    before = journal.submit(_put(1, "A"))
    leader = _waiting(before)
    assert gated.entered.wait(JOIN_TIMEOUT)
    failing = [journal.submit(_put(2, "B")), journal.submit(_delete("A"))]
    followers = [_waiting(receipt) for receipt in failing]
    gated.fail_with = OSError("disk full")
    gated.gate.set()
    _join([leader, *followers])

    for receipt in failing:
        with pytest.raises(OSError, match="disk full"):
            receipt.wait()
    with pytest.raises(OSError, match="disk full"):
        before.wait()  # its batch was still at the gate when the failure was set up
    gated.fail_with = None
    after = journal.submit(_put(3, "C"))
    after.wait()
    assert gated.batches == [[_put(3, "C")]]


def test_close_writes_what_nobody_waits_for_and_refuses_more(
    journal: GroupCommitJournal, gated: GatedStore
) -> None:
    receipts = [journal.submit(_put(1, "A"))]
    leader = _waiting(receipts[0])
    assert gated.entered.wait(JOIN_TIMEOUT)
    receipts += [journal.submit(_put(2, "B")), journal.submit(_delete("A"))]  # nobody waits
    closer = threading.Thread(target=journal.close)
    closer.start()
    gated.gate.set()
    _join([leader, closer])

    assert [record for batch in gated.batches for record in batch] == [
        _put(1, "A"),
        _put(2, "B"),
        _delete("A"),
    ]
    for receipt in receipts:
        receipt.wait()  # all complete, none failed
    with pytest.raises(ValueError, match="closed"):
        journal.submit(_put(4, "D"))
    journal.close()  # twice is harmless


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.db")
    yield store
    store.close()


def test_apply_journal_applies_records_in_order(store: Store) -> None:
    store.apply_journal([_put(1, "A", "B"), _delete("A"), _put(2, "A"), _delete("B")])

    assert [(r.id, r.session_names) for r in store.load_reservations()] == [(2, ("A",))]


def test_apply_journal_is_all_or_nothing(store: Store) -> None:
    store.apply_journal([_put(1, "A")])

    with pytest.raises(ValueError, match="belongs to reservation 2"):
        store.apply_journal([_delete("A"), _put(2, "B"), _put(3, "B")])

    assert [(r.id, r.session_names) for r in store.load_reservations()] == [(1, ("A",))]


def test_group_commit_over_a_real_store_survives_reopening(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    journal = GroupCommitJournal(store)
    receipts = [journal.submit(_put(1, "A", "B")), journal.submit(_delete("B"))]
    journal.close()
    store.close()
    for receipt in receipts:
        receipt.wait()

    reopened = SqliteStore(tmp_path / "s.db")
    try:
        assert [(r.id, r.session_names) for r in reopened.load_reservations()] == [(1, ("A",))]
    finally:
        reopened.close()
