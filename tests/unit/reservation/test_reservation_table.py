"""Behaviour of the reservation table on a fake clock: grants, fairness, timeouts, cancellation."""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Mapping, Sequence

import pytest
from reservation_waiters import StartWaiter

from pinbroker.errors import (
    CancelledError,
    InvalidSessionError,
    InvalidTimeoutError,
    ReservationTimeoutError,
    ShuttingDownError,
)
from pinbroker.reservation import (
    FakeClock,
    Reservation,
    ReservationId,
    ReservationTable,
    Ticket,
)
from pinbroker.types import SessionName


def held(table: ReservationTable) -> dict[str, int]:
    return {name: int(r.id) for name, r in table.snapshot().held.items()}


def waiting(table: ReservationTable) -> list[int]:
    return [int(w.id) for w in table.snapshot().waiting]


# ---------------------------------------------------------------------------- granting


def test_free_sessions_are_granted_at_once(table: ReservationTable, clock: FakeClock) -> None:
    reservation = table.reserve(["A", "B"], owner="alice", timeout=0, annotations={"k": "v"})

    assert reservation.session_names == ("A", "B")
    assert reservation.owner == "alice"
    assert reservation.annotations == {"k": "v"}
    assert reservation.acquired_at == clock.wall_time()
    assert table.is_reserved("A")
    assert table.is_reserved("B")
    assert not table.is_reserved("C")
    assert table.holder_of("B") == reservation
    assert table.holder_of("C") is None
    assert clock.parks == 0


def test_duplicate_names_in_a_request_count_once(table: ReservationTable) -> None:
    reservation = table.reserve(["A", "B", "A"], owner="alice", timeout=0)

    assert reservation.session_names == ("A", "B")


def test_empty_request_is_granted_and_holds_nothing(table: ReservationTable) -> None:
    reservation = table.reserve([], owner="alice", timeout=0)

    assert reservation.session_names == ()
    assert table.snapshot().reservations == ()


def test_empty_session_name_is_rejected(table: ReservationTable) -> None:
    with pytest.raises(InvalidSessionError, match="empty"):
        table.request(["A", ""], owner="alice")

    assert not table.is_reserved("A")
    assert waiting(table) == []


def test_non_string_annotations_are_rejected(table: ReservationTable) -> None:
    bad: Mapping[str, str] = {"k": 1}  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="'k'"):
        table.request(["A"], owner="alice", annotations=bad)


def test_same_owner_is_not_reentrant(table: ReservationTable) -> None:
    table.reserve(["A"], owner="alice", timeout=0)

    with pytest.raises(ReservationTimeoutError, match=r"'A' is held by 'alice' \(reservation 1\)"):
        table.reserve(["A"], owner="alice", timeout=0)


def test_all_or_nothing_leaves_the_free_sessions_to_others(table: ReservationTable) -> None:
    table.reserve(["B"], owner="alice", timeout=0)

    with pytest.raises(ReservationTimeoutError):
        table.reserve(["A", "B"], owner="bob", timeout=0)

    assert not table.is_reserved("A")
    assert table.reserve(["A"], owner="carol", timeout=0).session_names == ("A",)


def test_a_waiting_request_holds_nothing(
    table: ReservationTable, clock: FakeClock, start_waiter: StartWaiter
) -> None:
    alice = table.reserve(["B"], owner="alice", timeout=0)
    bob = start_waiter(table.request(["A", "B"], owner="bob"), None)
    clock.wait_for_parked(1)

    assert held(table) == {"B": alice.id}
    assert table.reserve(["C", "D"], owner="carol", timeout=0).session_names == ("C", "D")

    table.release(["B"])
    assert bob.reservation().session_names == ("A", "B")


# ---------------------------------------------------------------------------- fairness


def test_conflicting_waiters_are_served_first_come_first_served(
    table: ReservationTable, clock: FakeClock, start_waiter: StartWaiter
) -> None:
    table.reserve(["A"], owner="alice", timeout=0)
    bob_ticket = table.request(["A"], owner="bob")
    carol_ticket = table.request(["A"], owner="carol")
    # Start the later request's waiter first: the order of waiting threads must not matter.
    carol = start_waiter(carol_ticket, None)
    bob = start_waiter(bob_ticket, None)
    clock.wait_for_parked(2)

    table.release(["A"])
    assert bob.reservation().owner == "bob"
    assert not carol.done
    assert waiting(table) == [carol_ticket.id]

    table.release(["A"])
    assert carol.reservation().owner == "carol"


def test_later_request_does_not_overtake_a_conflicting_earlier_waiter(
    table: ReservationTable, clock: FakeClock, start_waiter: StartWaiter
) -> None:
    table.reserve(["A"], owner="alice", timeout=0)
    bob = start_waiter(table.request(["A", "B"], owner="bob"), None)
    clock.wait_for_parked(1)

    # B is free, but bob asked for it first.
    with pytest.raises(
        ReservationTimeoutError, match=r"'B' is wanted by earlier request 2 of 'bob'"
    ):
        table.reserve(["B"], owner="carol", timeout=0)

    carol_ticket = table.request(["B"], owner="carol")
    carol = start_waiter(carol_ticket, None)
    clock.wait_for_parked(2)
    assert not table.is_reserved("B")

    table.release(["A"])
    bob_reservation = bob.reservation()
    assert bob_reservation.session_names == ("A", "B")
    assert waiting(table) == [carol_ticket.id]

    table.release(["A", "B"])
    assert carol.reservation().session_names == ("B",)


def test_blocking_is_transitive_through_earlier_waiters(
    table: ReservationTable, clock: FakeClock, start_waiter: StartWaiter
) -> None:
    table.reserve(["X"], owner="alice", timeout=0)
    table.request(["X", "Y"], owner="bob")
    table.request(["Y", "Z"], owner="carol")

    # Z is free, but carol (earlier, waiting) wants it.
    with pytest.raises(ReservationTimeoutError, match="'Z' is wanted by earlier request 3"):
        table.reserve(["Z"], owner="dave", timeout=0)


def test_later_request_without_conflict_is_granted_past_waiters(
    table: ReservationTable, clock: FakeClock, start_waiter: StartWaiter
) -> None:
    table.reserve(["A"], owner="alice", timeout=0)
    start_waiter(table.request(["A"], owner="bob"), None)
    clock.wait_for_parked(1)

    assert table.reserve(["B"], owner="carol", timeout=0).session_names == ("B",)


def test_disjoint_requests_proceed_independently(
    table: ReservationTable, clock: FakeClock, start_waiter: StartWaiter
) -> None:
    table.reserve(["A"], owner="alice", timeout=0)
    table.reserve(["B"], owner="alice", timeout=0)
    on_a = start_waiter(table.request(["A"], owner="bob"), None)
    on_b = start_waiter(table.request(["B"], owner="carol"), None)
    clock.wait_for_parked(2)

    table.release(["B"])
    assert on_b.reservation().session_names == ("B",)
    assert not on_a.done
    assert held(table)["A"] == 1

    table.release(["A"])
    assert on_a.reservation().session_names == ("A",)


def test_one_release_can_grant_several_waiters(
    table: ReservationTable, clock: FakeClock, start_waiter: StartWaiter
) -> None:
    table.reserve(["A", "B"], owner="alice", timeout=0)
    on_a = start_waiter(table.request(["A"], owner="bob"), None)
    on_b = start_waiter(table.request(["B"], owner="carol"), None)
    clock.wait_for_parked(2)

    table.release(["A", "B"])

    assert on_a.reservation().owner == "bob"
    assert on_b.reservation().owner == "carol"


# ---------------------------------------------------------------------------- timeouts


def test_zero_timeout_fails_at_once_without_waiting(
    table: ReservationTable, clock: FakeClock
) -> None:
    table.reserve(["A"], owner="alice", timeout=0)

    with pytest.raises(ReservationTimeoutError, match="not available at once"):
        table.reserve(["A", "B"], owner="bob", timeout=0)

    assert clock.parks == 0
    assert waiting(table) == []


def test_positive_timeout_expires_exactly_at_the_deadline_never_early(
    table: ReservationTable, clock: FakeClock, start_waiter: StartWaiter
) -> None:
    table.reserve(["A"], owner="alice", timeout=0)
    bob = start_waiter(table.request(["A"], owner="bob"), 2.0)
    clock.wait_for_parks(1)

    clock.advance(1.5)
    clock.wait_for_parks(2)  # woke at 1.5, re-checked, parked again
    assert not bob.done
    clock.advance(0.25)
    clock.wait_for_parks(3)
    assert not bob.done

    clock.advance(0.25)
    error = bob.failure()
    assert isinstance(error, ReservationTimeoutError)
    assert "within 2 s" in str(error)
    assert "'A' is held by 'alice' (reservation 1)" in str(error)
    assert clock.now() == 2.0
    assert waiting(table) == []
    assert held(table) == {"A": 1}


def test_positive_timeout_succeeds_when_released_in_time(
    table: ReservationTable, clock: FakeClock, start_waiter: StartWaiter
) -> None:
    table.reserve(["A"], owner="alice", timeout=0)
    bob = start_waiter(table.request(["A"], owner="bob"), 2.0)
    clock.wait_for_parks(1)
    clock.advance(1.0)
    clock.wait_for_parks(2)

    table.release(["A"])

    assert bob.reservation().owner == "bob"


def test_no_timeout_waits_until_release(
    table: ReservationTable, clock: FakeClock, start_waiter: StartWaiter
) -> None:
    table.reserve(["A"], owner="alice", timeout=0)
    bob = start_waiter(table.request(["A"], owner="bob"), None)
    clock.wait_for_parks(1)

    clock.advance(10.0**9)
    clock.wait_for_parks(2)
    assert not bob.done

    table.release(["A"])
    assert bob.reservation().owner == "bob"


def test_infinite_timeout_means_forever(
    table: ReservationTable, clock: FakeClock, start_waiter: StartWaiter
) -> None:
    table.reserve(["A"], owner="alice", timeout=0)
    bob = start_waiter(table.request(["A"], owner="bob"), math.inf)
    clock.wait_for_parks(1)
    clock.advance(10.0**9)
    clock.wait_for_parks(2)
    assert not bob.done

    table.release(["A"])
    assert bob.reservation().owner == "bob"


@pytest.mark.parametrize("timeout", [-0.001, -1.0, math.nan])
def test_invalid_timeout_withdraws_the_request(table: ReservationTable, timeout: float) -> None:
    table.reserve(["A"], owner="alice", timeout=0)
    ticket = table.request(["A", "B"], owner="bob")

    with pytest.raises(InvalidTimeoutError, match="invalid"):
        table.wait(ticket, timeout)

    assert waiting(table) == []
    assert table.reserve(["B"], owner="carol", timeout=0).owner == "carol"


def test_a_timed_out_waiter_lets_those_behind_it_through(
    table: ReservationTable, clock: FakeClock, start_waiter: StartWaiter
) -> None:
    table.reserve(["A"], owner="alice", timeout=0)
    bob = start_waiter(table.request(["A", "B"], owner="bob"), 1.0)
    carol = start_waiter(table.request(["B"], owner="carol"), None)
    clock.wait_for_parked(2)

    clock.advance(1.0)

    assert isinstance(bob.failure(), ReservationTimeoutError)
    assert carol.reservation().session_names == ("B",)


def test_timeout_message_names_every_obstacle(table: ReservationTable) -> None:
    table.reserve(["A"], owner="alice@host1", timeout=0)
    table.reserve(["B"], owner="bob@host2", timeout=0)

    with pytest.raises(ReservationTimeoutError) as info:
        table.reserve(["A", "C", "B"], owner="carol", timeout=0)

    message = str(info.value)
    assert "request 3 of 'carol'" in message
    assert "'A' is held by 'alice@host1' (reservation 1)" in message
    assert "'B' is held by 'bob@host2' (reservation 2)" in message
    assert "'C'" not in message


# ---------------------------------------------------------------------------- cancellation


def test_cancel_from_another_thread_removes_the_waiter_and_lets_the_next_through(
    table: ReservationTable, clock: FakeClock, start_waiter: StartWaiter
) -> None:
    table.reserve(["A"], owner="alice", timeout=0)
    bob_ticket = table.request(["A", "B"], owner="bob")
    bob = start_waiter(bob_ticket, None)
    carol = start_waiter(table.request(["B"], owner="carol"), None)
    clock.wait_for_parked(2)

    results: list[bool] = []
    canceller = threading.Thread(target=lambda: results.append(table.cancel(bob_ticket)))
    canceller.start()
    canceller.join()

    assert results == [True]
    error = bob.failure()
    assert isinstance(error, CancelledError)
    assert "request 2 was cancelled" in str(error)
    assert carol.reservation().session_names == ("B",)
    assert held(table) == {"A": 1, "B": 3}


def test_cancel_before_wait_makes_wait_raise(table: ReservationTable) -> None:
    table.reserve(["A"], owner="alice", timeout=0)
    ticket = table.request(["A"], owner="bob")

    assert table.cancel(ticket) is True
    assert table.cancel(ticket) is False
    assert waiting(table) == []
    with pytest.raises(CancelledError):
        table.wait(ticket, None)


def test_cancel_of_a_granted_undelivered_request_gives_the_sessions_back(
    table: ReservationTable,
) -> None:
    ticket = table.request(["A"], owner="bob")
    assert table.is_reserved("A")

    assert table.cancel(ticket) is True

    assert not table.is_reserved("A")
    with pytest.raises(CancelledError):
        table.wait(ticket, 0)


def test_cancel_after_delivery_is_a_no_op(table: ReservationTable) -> None:
    ticket = table.request(["A"], owner="bob")
    reservation = table.wait(ticket, 0)

    assert table.cancel(ticket) is False
    assert table.holder_of("A") == reservation


def test_a_ticket_is_waited_on_once(table: ReservationTable) -> None:
    ticket = table.request(["A"], owner="bob")
    table.wait(ticket, 0)

    with pytest.raises(ValueError, match="unknown or was waited on already"):
        table.wait(ticket, 0)


# ---------------------------------------------------------------------------- shutdown


def test_shutdown_wakes_every_waiter_and_refuses_new_requests(
    table: ReservationTable, clock: FakeClock, start_waiter: StartWaiter
) -> None:
    alice = table.reserve(["A", "B"], owner="alice", timeout=0)
    waiters = [
        start_waiter(table.request(["A"], owner="bob"), None),
        start_waiter(table.request(["B"], owner="carol"), 5.0),
        start_waiter(table.request(["A", "B"], owner="dave"), None),
    ]
    undelivered = table.request(["C"], owner="erin")
    clock.wait_for_parked(3)

    table.shutdown()

    for waiter in waiters:
        assert isinstance(waiter.failure(), ShuttingDownError)
    with pytest.raises(ShuttingDownError):
        table.wait(undelivered, 0)
    assert not table.is_reserved("C")
    with pytest.raises(ShuttingDownError):
        table.request(["D"], owner="frank")
    snapshot = table.snapshot()
    assert snapshot.shutting_down
    assert snapshot.waiting == ()
    assert snapshot.reservations == (alice,)
    assert table.release(["A", "B"]) == ("A", "B")


# ---------------------------------------------------------------------------- release


def test_releasing_what_is_not_held_is_not_an_error(table: ReservationTable) -> None:
    assert table.release(["nope"]) == ()
    assert table.release([]) == ()


def test_partial_release_keeps_the_rest_of_the_reservation(table: ReservationTable) -> None:
    reservation = table.reserve(["A", "B", "C"], owner="alice", timeout=0, annotations={"k": "v"})

    assert table.release(["B", "X", "B"]) == ("B",)

    rest = table.holder_of("A")
    assert rest is not None
    assert rest.id == reservation.id
    assert rest.session_names == ("A", "C")
    assert table.annotations_of("C") == {"k": "v"}
    assert table.annotations_of("B") == {}
    assert not table.is_reserved("B")


def test_annotations_belong_to_the_reservation_and_are_read_only(
    table: ReservationTable,
) -> None:
    annotations = {"ni/reserved.username": "alice"}
    table.reserve(["A"], owner="alice", timeout=0, annotations=annotations)
    annotations["ni/reserved.username"] = "mallory"

    seen = table.annotations_of("A")
    assert seen == {"ni/reserved.username": "alice"}
    with pytest.raises(TypeError):
        seen["x"] = "y"  # type: ignore[index]

    table.release(["A"])
    assert table.annotations_of("A") == {}


# ---------------------------------------------------------------------------- snapshot


def test_snapshot_shows_holders_and_the_queue_as_frozen_values(
    table: ReservationTable, clock: FakeClock
) -> None:
    alice = table.reserve(["A"], owner="alice", timeout=0, annotations={"who": "alice"})
    clock.advance(3.0)
    bob_ticket = table.request(["A", "B"], owner="bob", annotations={"who": "bob"})

    snapshot = table.snapshot()

    assert dict(snapshot.held) == {"A": alice}
    assert snapshot.reservations == (alice,)
    assert not snapshot.shutting_down
    (bob,) = snapshot.waiting
    assert (bob.id, bob.owner, bob.session_names) == (bob_ticket.id, "bob", ("A", "B"))
    assert bob.annotations == {"who": "bob"}
    assert bob.waiting_since == alice.acquired_at + 3.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        bob.owner = "mallory"  # type: ignore[misc]
    with pytest.raises(TypeError):
        snapshot.held["B"] = alice  # type: ignore[index]

    table.release(["A"])
    assert dict(snapshot.held) == {"A": alice}  # a snapshot does not change afterwards


# ---------------------------------------------------------------------------- restore


def restored(
    reservation_id: int, names: Sequence[str], owner: str = "old", **annotations: str
) -> Reservation:
    return Reservation(
        ReservationId(reservation_id),
        tuple(SessionName(n) for n in names),
        owner,
        annotations,
        1234.5,
    )


def test_restored_reservations_hold_their_sessions(table: ReservationTable) -> None:
    table.restore([restored(7, ["A", "B"], user="alice"), restored(3, ["C"])])

    assert held(table) == {"A": 7, "B": 7, "C": 3}
    assert table.annotations_of("B") == {"user": "alice"}
    with pytest.raises(ReservationTimeoutError, match="'A' is held by 'old' \\(reservation 7\\)"):
        table.reserve(["A"], owner="bob", timeout=0)
    assert table.reserve(["D"], owner="bob", timeout=0).id > 7

    assert table.release(["A", "B"]) == ("A", "B")
    assert table.reserve(["A"], owner="bob", timeout=0).owner == "bob"


@pytest.mark.parametrize(
    ("reservations", "message"),
    [
        ([restored(1, ["A"]), restored(2, ["B", "A"])], "'A' is held by reservation 1"),
        ([restored(1, ["A"]), restored(1, ["B"])], "reservation 1 is restored twice"),
        ([restored(1, [])], "no sessions"),
        ([restored(1, ["A", ""])], "empty session name"),
    ],
)
def test_inconsistent_restore_restores_nothing(
    table: ReservationTable, reservations: list[Reservation], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        table.restore(reservations)

    assert table.snapshot().reservations == ()


def test_restore_cannot_take_a_held_session(table: ReservationTable) -> None:
    table.reserve(["A"], owner="alice", timeout=0)

    with pytest.raises(ValueError, match="'A' is held by reservation 1 and reservation 5"):
        table.restore([restored(5, ["A"])])
    with pytest.raises(ValueError, match="reservation 1 is restored twice"):
        table.restore([restored(1, ["Z"])])


def test_restore_after_shutdown_is_refused(table: ReservationTable) -> None:
    table.shutdown()
    with pytest.raises(ShuttingDownError):
        table.restore([restored(1, ["A"])])


# ---------------------------------------------------------------------------- interruption


class Interrupted(BaseException):
    """Stands for KeyboardInterrupt and the like, raised while a waiter is blocked."""


class InterruptingClock(FakeClock):
    def wait_until(self, condition: threading.Condition, deadline: float | None) -> None:
        raise Interrupted


def test_an_interrupted_waiter_leaves_nothing_behind() -> None:
    table = ReservationTable(clock=InterruptingClock())
    table.reserve(["A"], owner="alice", timeout=0)
    bob = table.request(["A", "B"], owner="bob")
    carol = table.request(["B"], owner="carol")  # behind bob

    with pytest.raises(Interrupted):
        table.wait(bob, None)

    assert waiting(table) == []
    assert table.wait(carol, 0).session_names == ("B",)
    assert table.cancel(bob) is False
    with pytest.raises(ValueError, match="unknown or was waited on already"):
        table.wait(bob, 0)


def test_request_states_only_move_forward() -> None:
    from pinbroker.reservation._request import Request, State

    request = Request(Ticket(ReservationId(1), (SessionName("A"),), "o"), {}, 0.0)
    request.move_to(State.GRANTED)
    with pytest.raises(AssertionError, match="granted -> waiting is not allowed"):
        request.move_to(State.WAITING)
    request.move_to(State.FAILED)
    with pytest.raises(AssertionError, match="failed -> granted is not allowed"):
        request.move_to(State.GRANTED)


def test_timeout_message_names_the_first_ten_obstacles_and_counts_the_rest(
    table: ReservationTable,
) -> None:
    names = [f"session{i:03}" for i in range(300)]
    for name in names:
        table.reserve([name], owner=f"holder-of-{name}", timeout=0)

    with pytest.raises(ReservationTimeoutError) as info:
        table.reserve(names, owner="x" * 5000, timeout=0)

    message = str(info.value)
    assert "'session000' is held by 'holder-of-session000'" in message
    assert "'session009' is held by" in message
    assert "'session010'" not in message
    assert message.endswith("; ... and 290 more")
    assert len(message) < 2000  # the 5,000-character owner is cut too
