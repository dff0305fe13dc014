"""With a deferred journal the table queues records under its lock and waits outside it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import pytest
from reservation_waiters import JOIN_TIMEOUT, Waiter

from pinbroker.errors import CancelledError
from pinbroker.reservation import (
    DeleteSessions,
    FakeClock,
    JournalReceipt,
    JournalRecord,
    PutReservation,
    Reservation,
    ReservationTable,
)
from pinbroker.store import GroupCommitJournal, MemoryStore


class ManualReceipt:
    """Completed by the test."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._error: Exception | None = None

    def complete(self, error: Exception | None = None) -> None:
        self._error = error
        self._done.set()

    def wait(self) -> None:
        assert self._done.wait(JOIN_TIMEOUT), "the test never completed this record"
        if self._error is not None:
            raise self._error


class ManualJournal:
    """A deferred journal whose records the test makes durable (or fails) one by one."""

    def __init__(self) -> None:
        self.records: list[tuple[JournalRecord, ManualReceipt]] = []
        self._changed = threading.Condition()
        self.table: ReservationTable | None = None

    def submit(self, record: JournalRecord) -> JournalReceipt:
        assert self.table is not None
        assert self.table._lock.locked()  # queued in the table's order
        receipt = ManualReceipt()
        with self._changed:
            self.records.append((record, receipt))
            self._changed.notify_all()
        return receipt

    def wait_for_records(self, count: int) -> list[JournalRecord]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.records) >= count, JOIN_TIMEOUT)
            return [record for record, _ in self.records]

    def complete(self, index: int, error: Exception | None = None) -> None:
        self.wait_for_records(index + 1)
        self.records[index][1].complete(error)


class Call:
    """Runs a table call on its own thread and keeps the outcome."""

    def __init__(self, call: Callable[[], object]) -> None:
        self.result: object = None
        self.error: BaseException | None = None
        self._done = threading.Event()

        def run() -> None:
            try:
                self.result = call()
            except BaseException as exc:  # reported to the test
                self.error = exc
            finally:
                self._done.set()

        threading.Thread(target=run, daemon=True).start()

    def outcome(self) -> object:
        assert self._done.wait(JOIN_TIMEOUT), "the call did not finish"
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def done(self) -> bool:
        return self._done.is_set()


@pytest.fixture
def journal() -> ManualJournal:
    return ManualJournal()


@pytest.fixture
def table(clock: FakeClock, journal: ManualJournal) -> Iterator[ReservationTable]:
    table = ReservationTable(clock=clock, journal=journal)
    journal.table = table
    yield table
    table.shutdown()


def test_a_grant_holds_its_sessions_while_recorded_and_is_returned_once_durable(
    table: ReservationTable, journal: ManualJournal
) -> None:
    alice = Call(lambda: table.reserve(["A"], owner="alice", timeout=0))
    [record] = journal.wait_for_records(1)
    assert isinstance(record, PutReservation)
    assert record.reservation.session_names == ("A",)

    bob = table.request(["A"], owner="bob")  # the table lock is free; A is held
    assert table.is_reserved("A")
    assert [w.id for w in table.snapshot().waiting] == [bob.id]
    assert not alice.done

    journal.complete(0)
    reservation = alice.outcome()
    assert reservation == record.reservation
    assert table.cancel(bob)


def test_a_failed_grant_record_undoes_the_grant(
    table: ReservationTable, journal: ManualJournal
) -> None:
    alice = Call(lambda: table.reserve(["A", "B"], owner="alice", timeout=0))
    journal.wait_for_records(1)
    bob_ticket = table.request(["B"], owner="bob")
    bob = Waiter(table, bob_ticket, None)

    journal.complete(0, OSError("disk full"))
    with pytest.raises(OSError, match="disk full"):
        alice.outcome()
    assert not table.is_reserved("A")
    journal.complete(1)  # bob's grant, queued after the undo
    assert bob.reservation().session_names == ("B",)
    assert [type(r) for r in journal.wait_for_records(2)] == [PutReservation, PutReservation]


def test_cancel_while_recording_wins_the_record_is_deleted_and_sessions_freed(
    table: ReservationTable, journal: ManualJournal
) -> None:
    ticket = table.request(["A"], owner="alice")
    alice = Waiter(table, ticket, None)
    journal.wait_for_records(1)

    assert table.cancel(ticket)
    assert table.is_reserved("A")  # until the record is withdrawn
    journal.complete(0)
    records = journal.wait_for_records(2)
    assert records[1] == DeleteSessions(ticket.session_names)
    journal.complete(1)

    assert isinstance(alice.failure(), CancelledError)
    assert not table.is_reserved("A")


def test_cancel_while_recording_then_a_failed_record_is_a_cancellation(
    table: ReservationTable, journal: ManualJournal
) -> None:
    ticket = table.request(["A"], owner="alice")
    alice = Waiter(table, ticket, None)
    journal.wait_for_records(1)
    assert table.cancel(ticket)

    journal.complete(0, OSError("disk full"))
    assert isinstance(alice.failure(), CancelledError)
    assert not table.is_reserved("A")
    assert len(journal.records) == 1  # nothing to withdraw


def test_a_release_keeps_its_sessions_until_durable_then_frees_them(
    table: ReservationTable, journal: ManualJournal
) -> None:
    held = Call(lambda: table.reserve(["A", "B"], owner="alice", timeout=0))
    journal.complete(0)
    held.outcome()

    release = Call(lambda: table.release(["A", "Z"]))
    assert journal.wait_for_records(2)[1] == DeleteSessions(("A",))
    bob_ticket = table.request(["A"], owner="bob")  # the lock is free, but A is still held
    bob = Waiter(table, bob_ticket, None)
    assert [w.id for w in table.snapshot().waiting] == [bob_ticket.id]

    journal.complete(1)
    assert release.outcome() == ("A",)
    record = journal.wait_for_records(3)[2]
    assert isinstance(record, PutReservation)
    assert (record.reservation.id, record.reservation.session_names) == (bob_ticket.id, ("A",))
    journal.complete(2)
    assert bob.reservation() == record.reservation


def test_a_failed_release_record_changes_nothing(
    table: ReservationTable, journal: ManualJournal
) -> None:
    held = Call(lambda: table.reserve(["A", "B"], owner="alice", timeout=0))
    journal.complete(0)
    reservation = held.outcome()

    release = Call(lambda: table.release(["A"]))
    journal.complete(1, OSError("disk gone"))
    with pytest.raises(OSError, match="disk gone"):
        release.outcome()
    assert table.holder_of("A") == reservation
    assert table.holder_of("B") == reservation


def test_a_release_during_recording_is_queued_after_the_grant(
    table: ReservationTable, journal: ManualJournal
) -> None:
    alice = Call(lambda: table.reserve(["A", "B"], owner="alice", timeout=0))
    journal.wait_for_records(1)
    release = Call(lambda: table.release(["A"]))
    records = journal.wait_for_records(2)
    assert [type(r) for r in records] == [PutReservation, DeleteSessions]

    journal.complete(0)
    reservation = alice.outcome()  # the release is not durable yet: A is still held
    assert isinstance(reservation, Reservation)
    assert reservation.session_names == ("A", "B")
    journal.complete(1)
    assert release.outcome() == ("A",)
    assert not table.is_reserved("A")
    holder = table.holder_of("B")
    assert holder is not None
    assert holder.session_names == ("B",)


def test_a_ticket_being_recorded_cannot_be_waited_on_again(
    table: ReservationTable, journal: ManualJournal
) -> None:
    ticket = table.request(["A"], owner="alice")
    alice = Waiter(table, ticket, None)
    journal.wait_for_records(1)

    with pytest.raises(ValueError, match="waited on already"):
        table.wait(ticket, 0)
    journal.complete(0)
    assert alice.reservation().session_names == ("A",)


def test_shutdown_lets_a_grant_being_recorded_complete(
    table: ReservationTable, journal: ManualJournal
) -> None:
    alice = Call(lambda: table.reserve(["A"], owner="alice", timeout=0))
    journal.wait_for_records(1)
    table.shutdown()

    journal.complete(0)
    reservation = alice.outcome()
    assert isinstance(reservation, Reservation)
    assert table.is_reserved("A")


class BlockingStore(MemoryStore):
    """A store whose journal writes wait at a gate (a very slow disk)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def apply_journal(self, records: Sequence[JournalRecord]) -> None:
        self.entered.set()
        assert self.gate.wait(JOIN_TIMEOUT)
        super().apply_journal(records)


def test_journal_io_does_not_hold_the_table_lock_while_another_thread_spins() -> None:
    store = BlockingStore()
    journal = GroupCommitJournal(store)
    table = ReservationTable(journal=journal)
    stop = threading.Event()

    def spin() -> None:
        count = 0
        while not stop.is_set():
            count += 1

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        cycle = Call(
            lambda: table.release(table.reserve(["A"], owner="a", timeout=0).session_names)
        )
        assert store.entered.wait(JOIN_TIMEOUT)  # the grant's write is stuck at the gate

        # Meanwhile another thread works on unrelated sessions; with the journal under the
        # table's lock this would wait for the gate (and time out).
        other = Call(
            lambda: (
                table.request(["B"], owner="b"),
                table.release(["C"]),
                table.is_reserved("A"),
                len(table.snapshot().reservations),
            )
        )
        ticket, released, a_held, count = other.outcome()  # type: ignore[misc]
        assert (released, a_held, count) == ((), True, 2)
        assert not cycle.done

        store.gate.set()
        assert cycle.outcome() == ("A",)
        assert table.cancel(ticket)
    finally:
        stop.set()
        store.gate.set()
        spinner.join(JOIN_TIMEOUT)
        table.shutdown()
        journal.close()
    assert store.load_reservations() == []
