"""The table records delivered grants and releases in its journal, before changing itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from reservation_waiters import Waiter

from pinbroker.errors import CancelledError, ReservationTimeoutError
from pinbroker.reservation import FakeClock, ReservationId, ReservationTable
from pinbroker.types import SessionName

Call = tuple[object, ...]


class RecordingJournal:
    """Records calls; fails the next put or delete when told to; checks the table's lock is held."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.fail_put = False
        self.fail_delete = False
        self.table: ReservationTable | None = None

    def _assert_table_locked(self) -> None:
        if self.table is not None:
            assert self.table._lock.locked()

    def put_reservation(
        self,
        reservation_id: ReservationId,
        session_names: Sequence[SessionName],
        owner: str,
        annotations: Mapping[str, str],
        acquired_at_wall: float,
    ) -> None:
        self._assert_table_locked()
        if self.fail_put:
            self.fail_put = False  # only the next one
            raise OSError("disk full")
        self.calls.append(
            (
                "put",
                reservation_id,
                tuple(session_names),
                owner,
                dict(annotations),
                acquired_at_wall,
            )
        )

    def delete_reservation_sessions(self, session_names: Sequence[SessionName]) -> None:
        self._assert_table_locked()
        if self.fail_delete:
            self.fail_delete = False  # only the next one
            raise OSError("disk gone")
        self.calls.append(("delete", tuple(session_names)))


@pytest.fixture
def journal() -> RecordingJournal:
    return RecordingJournal()


@pytest.fixture
def journaled(clock: FakeClock, journal: RecordingJournal) -> ReservationTable:
    table = ReservationTable(clock=clock, journal=journal)
    journal.table = table
    return table


def test_grant_and_release_are_journaled_in_order(
    journaled: ReservationTable, journal: RecordingJournal, clock: FakeClock
) -> None:
    reservation = journaled.reserve(["A", "B"], owner="alice", timeout=0, annotations={"k": "v"})
    journaled.release(["B", "Z"])
    journaled.release(["A"])

    assert journal.calls == [
        ("put", reservation.id, ("A", "B"), "alice", {"k": "v"}, clock.wall_time()),
        ("delete", ("B",)),
        ("delete", ("A",)),
    ]


def test_releasing_nothing_held_journals_nothing(
    journaled: ReservationTable, journal: RecordingJournal
) -> None:
    assert journaled.release(["A"]) == ()
    assert journal.calls == []


def test_failed_and_cancelled_requests_are_never_journaled(
    journaled: ReservationTable, journal: RecordingJournal
) -> None:
    journaled.reserve(["A"], owner="alice", timeout=0)
    journal.calls.clear()

    with pytest.raises(ReservationTimeoutError):
        journaled.reserve(["A"], owner="bob", timeout=0)
    granted_undelivered = journaled.request(["B"], owner="carol")
    journaled.cancel(granted_undelivered)
    with pytest.raises(CancelledError):
        journaled.wait(granted_undelivered, 0)

    assert journal.calls == []


def test_grant_is_journaled_on_delivery_so_a_release_before_it_is_not(
    journaled: ReservationTable, journal: RecordingJournal
) -> None:
    ticket = journaled.request(["A", "B"], owner="alice")  # granted, not yet delivered

    assert journaled.release(["A"]) == ("A",)
    assert journal.calls == []

    reservation = journaled.wait(ticket, 0)
    assert reservation.session_names == ("B",)
    assert [call[:3] for call in journal.calls] == [("put", ticket.id, ("B",))]


def test_a_failing_put_undoes_the_grant_and_reaches_the_waiter(
    journaled: ReservationTable, journal: RecordingJournal, clock: FakeClock
) -> None:
    journaled.reserve(["A"], owner="alice", timeout=0)
    bob_ticket = journaled.request(["A", "B"], owner="bob")
    carol_ticket = journaled.request(["B"], owner="carol")
    bob = Waiter(journaled, bob_ticket, None)
    carol = Waiter(journaled, carol_ticket, None)
    clock.wait_for_parked(2)
    journal.fail_put = True

    journaled.release(["A"])
    error = bob.failure()
    assert isinstance(error, OSError)
    assert "disk full" in str(error)
    assert not journaled.is_reserved("A")

    # Carol was behind bob; once bob's grant is undone she gets B.
    assert carol.reservation().session_names == ("B",)


def test_a_failing_delete_changes_nothing(
    journaled: ReservationTable, journal: RecordingJournal
) -> None:
    reservation = journaled.reserve(["A", "B"], owner="alice", timeout=0)
    journal.fail_delete = True

    with pytest.raises(OSError, match="disk gone"):
        journaled.release(["A"])

    assert journaled.holder_of("A") == reservation
    assert journaled.holder_of("B") == reservation


def test_restore_journals_nothing_but_release_of_restored_sessions_does(
    journaled: ReservationTable, journal: RecordingJournal
) -> None:
    from pinbroker.reservation import Reservation

    journaled.restore([Reservation(ReservationId(4), (SessionName("A"),), "old", {"k": "v"}, 99.0)])
    assert journal.calls == []

    journaled.release(["A"])
    assert journal.calls == [("delete", ("A",))]
