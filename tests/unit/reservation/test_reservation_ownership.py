"""Ownership in the reservation table: leases, fencing tokens, force release, events.

Everything runs on a fake clock; threads appear only where a caller must be blocked in
``wait``, and are synchronised with ``FakeClock.wait_for_parked`` / ``wait_for_waiting``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import pytest
from reservation_waiters import JOIN_TIMEOUT, StartWaiter, Waiter

from pinbroker.errors import (
    CancelledError,
    LeaseNotFoundError,
    ReservationTimeoutError,
    StaleTokenError,
)
from pinbroker.events import Event, EventKind, EventLog, EventOwner
from pinbroker.reservation import (
    ClientIdentity,
    DeleteSessions,
    FakeClock,
    FenceToken,
    JournalRecord,
    Reservation,
    ReservationId,
    ReservationTable,
)
from pinbroker.store import GroupCommitJournal, MemoryStore
from pinbroker.types import SessionName

ALICE = ClientIdentity(
    hostname="bench-1", username="alice", pid=101, program="measure.py", peer="ipv4:10.0.0.1:5001"
)
BOB = ClientIdentity(hostname="bench-2", username="bob", pid=202, peer="ipv4:10.0.0.2:5002")
ALICE_OWNER = EventOwner(peer=ALICE.peer, hostname="bench-1", username="alice", pid=101)
BOB_OWNER = EventOwner(peer=BOB.peer, hostname="bench-2", username="bob", pid=202)

LEASE_A = 7
LEASE_B = 8
DEAD_LEASE = 9


def token(reservation: Reservation, name: str) -> FenceToken:
    """The fencing token a client gets for one session of its grant."""
    return FenceToken(reservation.id, reservation.fences[name])  # type: ignore[index]


def kinds(log: EventLog) -> list[tuple[EventKind, tuple[str, ...], int | None]]:
    return [(e.kind, e.session_names, e.reservation_id) for e in log.since(0)]


def of_kind(log: EventLog, kind: EventKind) -> list[Event]:
    return [e for e in log.since(0) if e.kind is kind]


def holders(table: ReservationTable) -> dict[str, int]:
    return {name: int(r.id) for name, r in table.snapshot().held.items()}


@pytest.fixture
def log(clock: FakeClock) -> EventLog:
    return EventLog(clock=clock.wall_time)


@pytest.fixture
def alive() -> set[int]:
    """The active lease ids; a test ends a lease by removing it."""
    return {LEASE_A, LEASE_B}


@pytest.fixture
def table(clock: FakeClock, log: EventLog, alive: set[int]) -> Iterator[ReservationTable]:
    table = ReservationTable(clock=clock, events=log, lease_alive=alive.__contains__)
    yield table
    table.shutdown()  # frees any waiter a failing test left behind


def grant(
    table: ReservationTable,
    names: Sequence[str],
    owner: str,
    *,
    lease_id: int | None = None,
    client: ClientIdentity | None = None,
) -> Reservation:
    ticket = table.request(names, owner=owner, lease_id=lease_id, client=client)
    return table.wait(ticket, 0)


# ---------------------------------------------------------------------------- leases


def test_a_reservation_carries_its_lease_id_and_client(table: ReservationTable) -> None:
    ticket = table.request(["A", "B"], owner="alice", lease_id=LEASE_A, client=ALICE, timeout=5)
    assert (ticket.lease_id, ticket.client, ticket.timeout) == (LEASE_A, ALICE, 5)

    reservation = table.wait(ticket, 0)

    assert reservation.lease_id == LEASE_A
    assert reservation.client == ALICE
    assert table.holder_of("A") == reservation
    assert table.snapshot().reservations == (reservation,)


def test_without_lease_or_client_a_reservation_has_none(table: ReservationTable) -> None:
    reservation = grant(table, ["A"], "alice")

    assert reservation.lease_id is None
    assert reservation.client == ClientIdentity()


def test_a_request_bound_to_a_dead_lease_is_refused(table: ReservationTable, log: EventLog) -> None:
    with pytest.raises(LeaseNotFoundError, match=f"lease {DEAD_LEASE} is not active") as info:
        table.request(["A"], owner="alice", lease_id=DEAD_LEASE)

    assert info.value.lease_id == DEAD_LEASE
    assert not table.is_reserved("A")
    assert table.snapshot().waiting == ()
    assert log.since(0) == ()


def test_a_request_bound_to_a_dead_lease_is_refused_also_when_it_would_wait(
    table: ReservationTable,
) -> None:
    grant(table, ["A"], "alice")

    with pytest.raises(LeaseNotFoundError):
        table.request(["A"], owner="bob", lease_id=DEAD_LEASE)

    assert table.snapshot().waiting == ()


def test_lease_alive_is_asked_about_the_request_s_lease_only(clock: FakeClock) -> None:
    asked: list[int] = []

    def lease_alive(lease_id: int) -> bool:
        asked.append(lease_id)
        return True

    table = ReservationTable(clock=clock, lease_alive=lease_alive)
    table.wait(table.request(["A"], owner="alice"), 0)  # no lease: not asked
    table.wait(table.request(["B"], owner="bob", lease_id=LEASE_B), 0)

    assert asked == [LEASE_B]


def test_without_lease_alive_every_lease_counts_as_alive(clock: FakeClock) -> None:
    table = ReservationTable(clock=clock)

    reservation = table.wait(table.request(["A"], owner="alice", lease_id=DEAD_LEASE), 0)

    assert reservation.lease_id == DEAD_LEASE


def test_the_lease_is_checked_at_request_time_only(
    table: ReservationTable, alive: set[int]
) -> None:
    reservation = grant(table, ["A"], "alice", lease_id=LEASE_A)
    alive.discard(LEASE_A)  # the lease ended, but release_lease has not run yet

    assert table.holder_of("A") == reservation
    with pytest.raises(LeaseNotFoundError):
        table.request(["B"], owner="alice", lease_id=LEASE_A)


# ---------------------------------------------------------------------------- fencing


def test_the_first_grant_of_each_session_has_fence_one(table: ReservationTable) -> None:
    reservation = grant(table, ["A", "B"], "alice")

    assert dict(reservation.fences) == {"A": 1, "B": 1}
    assert table.holder_of("A").fences == reservation.fences  # type: ignore[union-attr]


def test_each_later_grant_of_a_session_counts_one_more_independently_per_session(
    table: ReservationTable,
) -> None:
    grant(table, ["A", "B"], "alice")
    table.release(["A"])
    second = grant(table, ["A"], "bob")
    table.release(["A", "B"])
    third = grant(table, ["A", "B", "C"], "carol")

    assert dict(second.fences) == {"A": 2}
    assert dict(third.fences) == {"A": 3, "B": 2, "C": 1}


def test_fences_count_grants_after_force_release_and_lease_release(
    table: ReservationTable,
) -> None:
    grant(table, ["A"], "alice", lease_id=LEASE_A)
    table.release_lease(LEASE_A, "lease 7 expired")
    grant(table, ["A"], "bob")
    table.force_release(["A"], "stuck")

    assert dict(grant(table, ["A"], "carol").fences) == {"A": 3}


def test_a_request_that_times_out_or_is_cancelled_while_waiting_uses_no_fence(
    table: ReservationTable,
) -> None:
    grant(table, ["A"], "alice")
    with pytest.raises(ReservationTimeoutError):
        table.wait(table.request(["A"], owner="bob"), 0)
    carol = table.request(["A"], owner="carol")
    assert table.cancel(carol)
    with pytest.raises(CancelledError):
        table.wait(carol, 0)
    table.release(["A"])

    assert dict(grant(table, ["A"], "dave").fences) == {"A": 2}


def test_fences_only_grow_also_past_a_grant_cancelled_before_delivery(
    table: ReservationTable,
) -> None:
    first = grant(table, ["A"], "alice")
    bob = table.request(["A"], owner="bob")  # waits
    table.release(["A"])  # bob is granted, but has not taken the reservation yet
    assert table.cancel(bob)
    with pytest.raises(CancelledError):
        table.wait(bob, 0)

    later = grant(table, ["A"], "carol")

    # The cancelled grant consumed a fence; all that matters is that the counter grew.
    assert later.fences["A"] > first.fences["A"]  # type: ignore[index]


def test_fences_continue_after_those_of_restored_reservations(clock: FakeClock) -> None:
    table = ReservationTable(clock=clock)
    a = SessionName("A")
    table.restore([Reservation(ReservationId(4), (a,), "alice", fences={a: 5})])
    table.release(["A"])

    assert dict(table.wait(table.request(["A"], owner="bob"), 0).fences) == {"A": 6}


def test_an_empty_request_has_no_fences(table: ReservationTable) -> None:
    assert dict(grant(table, [], "alice").fences) == {}


# ---------------------------------------------------------------------------- release_owned


def test_release_owned_with_the_holder_s_tokens_releases(table: ReservationTable) -> None:
    alice = grant(table, ["A", "B"], "alice")

    released, stale = table.release_owned([("A", token(alice, "A")), ("B", token(alice, "B"))])

    assert (released, stale) == (("A", "B"), ())
    assert holders(table) == {}


def test_release_owned_of_some_sessions_leaves_the_rest_held(table: ReservationTable) -> None:
    alice = grant(table, ["A", "B"], "alice")

    assert table.release_owned([("A", token(alice, "A"))]) == (("A",), ())

    assert holders(table) == {"B": alice.id}
    assert table.holder_of("B").session_names == ("B",)  # type: ignore[union-attr]


def test_release_owned_grants_the_next_waiter(table: ReservationTable) -> None:
    alice = grant(table, ["A"], "alice")
    bob = table.request(["A"], owner="bob")

    table.release_owned([("A", token(alice, "A"))])

    assert table.wait(bob, 0).session_names == ("A",)


@pytest.mark.parametrize("end", ["release", "force_release", "release_lease"])
def test_a_stale_token_is_a_no_op_and_the_new_holder_keeps_the_session(
    table: ReservationTable, log: EventLog, end: str
) -> None:
    alice = grant(table, ["A", "B"], "alice", lease_id=LEASE_A)
    if end == "release":
        table.release(["A", "B"])
    elif end == "force_release":
        table.force_release(["A", "B"], "stuck")
    else:
        table.release_lease(LEASE_A, "lease 7 expired")
    bob = grant(table, ["A", "B"], "bob")
    revision = log.latest_revision

    released, stale = table.release_owned([("A", token(alice, "A")), ("B", token(alice, "B"))])

    assert (released, stale) == ((), ("A", "B"))
    assert holders(table) == {"A": bob.id, "B": bob.id}
    assert log.since(revision) == ()  # nothing happened
    # bob's own tokens still work
    assert table.release_owned([("A", token(bob, "A"))]) == (("A",), ())


def test_a_token_of_the_holding_reservation_with_another_fence_is_stale(
    table: ReservationTable,
) -> None:
    alice = grant(table, ["A"], "alice")

    stale_token = FenceToken(alice.id, alice.fences["A"] + 1)  # type: ignore[index]
    assert table.release_owned([("A", stale_token)]) == ((), ("A",))
    assert holders(table) == {"A": alice.id}


def test_stale_and_matching_tokens_in_one_call_release_only_the_matching(
    table: ReservationTable,
) -> None:
    alice = grant(table, ["A", "B"], "alice")
    table.force_release(["A"], "stuck")
    bob = grant(table, ["A"], "bob")

    released, stale = table.release_owned([("A", token(alice, "A")), ("B", token(alice, "B"))])

    assert (released, stale) == (("B",), ("A",))
    assert holders(table) == {"A": bob.id}


def test_no_token_releases_by_name_whoever_holds(table: ReservationTable) -> None:
    grant(table, ["A"], "alice")
    table.force_release(["A"], "stuck")
    grant(table, ["A"], "bob")

    assert table.release_owned([("A", None)]) == (("A",), ())
    assert holders(table) == {}


def test_a_token_for_a_free_session_is_ignored(table: ReservationTable) -> None:
    alice = grant(table, ["A"], "alice")
    table.release(["A"])

    assert table.release_owned([("A", token(alice, "A"))]) == ((), ())
    assert table.release_owned([("A", token(alice, "A"))], strict=True) == ((), ())
    assert table.release_owned([("Z", None)]) == ((), ())


def test_strict_with_the_holder_s_tokens_releases(table: ReservationTable) -> None:
    alice = grant(table, ["A", "B"], "alice")

    result = table.release_owned([("A", token(alice, "A")), ("B", token(alice, "B"))], strict=True)

    assert result == (("A", "B"), ())


def test_strict_refuses_a_stale_token_and_releases_nothing(
    table: ReservationTable, log: EventLog
) -> None:
    alice = grant(table, ["A", "B"], "alice")
    table.force_release(["A"], "stuck")
    bob = grant(table, ["A"], "bob")
    revision = log.latest_revision

    with pytest.raises(StaleTokenError, match="'A' is stale"):
        table.release_owned([("A", token(alice, "A")), ("B", token(alice, "B"))], strict=True)

    assert holders(table) == {"A": bob.id, "B": alice.id}  # B's valid token released nothing
    assert log.since(revision) == ()


def test_strict_refuses_a_missing_token_and_releases_nothing(table: ReservationTable) -> None:
    alice = grant(table, ["A", "B"], "alice")

    with pytest.raises(StaleTokenError, match="'B' was given without") as info:
        table.release_owned([("A", token(alice, "A")), ("B", None)], strict=True)

    assert info.value.status == "FAILED_PRECONDITION"
    assert holders(table) == {"A": alice.id, "B": alice.id}


def test_release_owned_emits_released_with_the_holder(
    table: ReservationTable, log: EventLog
) -> None:
    alice = grant(table, ["A"], "alice", client=ALICE)

    table.release_owned([("A", token(alice, "A"))])

    [event] = of_kind(log, EventKind.RELEASED)
    assert (event.session_names, event.reservation_id, event.owner) == (
        ("A",),
        alice.id,
        ALICE_OWNER,
    )


# ---------------------------------------------------------------------------- force_release


def test_force_release_frees_the_holder_and_grants_the_next_waiter(
    table: ReservationTable, log: EventLog
) -> None:
    alice = grant(table, ["A", "B"], "alice", client=ALICE)
    bob = table.request(["A"], owner="bob", client=BOB)

    assert table.force_release(["A", "B", "C"], "bench 1 is stuck") == ("A", "B")

    bob_reservation = table.wait(bob, 0)
    assert holders(table) == {"A": bob.id}
    [event] = of_kind(log, EventKind.FORCE_RELEASED)
    assert event.session_names == ("A", "B")
    assert event.reservation_id == alice.id
    assert event.owner == ALICE_OWNER  # the holder's, not the next waiter's
    assert event.reason == "bench 1 is stuck"
    assert of_kind(log, EventKind.RESERVED)[-1].reservation_id == bob_reservation.id


def test_force_release_emits_one_event_per_holding_reservation(
    table: ReservationTable, log: EventLog
) -> None:
    alice = grant(table, ["A"], "alice", client=ALICE)
    bob = grant(table, ["B"], "bob", client=BOB)

    table.force_release(["A", "B"], "maintenance")

    events = of_kind(log, EventKind.FORCE_RELEASED)
    assert [(e.reservation_id, e.session_names, e.owner, e.reason) for e in events] == [
        (alice.id, ("A",), ALICE_OWNER, "maintenance"),
        (bob.id, ("B",), BOB_OWNER, "maintenance"),
    ]


def test_force_release_of_free_sessions_does_nothing(
    table: ReservationTable, log: EventLog
) -> None:
    assert table.force_release(["A"], "nothing") == ()
    assert log.since(0) == ()


def test_force_release_wakes_a_blocked_waiter(
    table: ReservationTable, clock: FakeClock, start_waiter: StartWaiter
) -> None:
    grant(table, ["A"], "alice")
    bob = start_waiter(table.request(["A"], owner="bob"), None)
    clock.wait_for_parked(1)

    table.force_release(["A"], "stuck")

    assert bob.reservation().session_names == ("A",)


# ---------------------------------------------------------------------------- release_lease


def test_release_lease_frees_only_the_lease_s_sessions(
    table: ReservationTable, log: EventLog, alive: set[int]
) -> None:
    first = grant(table, ["A", "B"], "alice", lease_id=LEASE_A, client=ALICE)
    other = grant(table, ["C"], "bob", lease_id=LEASE_B, client=BOB)
    unleased = grant(table, ["D"], "carol")
    second = grant(table, ["E"], "alice", lease_id=LEASE_A, client=ALICE)
    alive.discard(LEASE_A)

    freed = table.release_lease(LEASE_A, "lease 7 expired: not kept alive for 10 s")

    assert sorted(freed) == ["A", "B", "E"]
    assert holders(table) == {"C": other.id, "D": unleased.id}
    expired = of_kind(log, EventKind.EXPIRED)
    assert [(e.reservation_id, e.session_names, e.owner, e.reason) for e in expired] == [
        (first.id, ("A", "B"), ALICE_OWNER, "lease 7 expired: not kept alive for 10 s"),
        (second.id, ("E",), ALICE_OWNER, "lease 7 expired: not kept alive for 10 s"),
    ]


def test_release_lease_fails_a_blocked_waiter_bound_to_it(
    table: ReservationTable,
    clock: FakeClock,
    log: EventLog,
    alive: set[int],
    start_waiter: StartWaiter,
) -> None:
    grant(table, ["A"], "bob", lease_id=LEASE_B)
    ticket = table.request(["A"], owner="alice", lease_id=LEASE_A, client=ALICE)
    alice = start_waiter(ticket, None)
    clock.wait_for_parked(1)
    alive.discard(LEASE_A)

    assert table.release_lease(LEASE_A, "lease 7 was revoked") == ()

    error = alice.failure()
    assert isinstance(error, CancelledError)
    assert "lease 7 was revoked" in str(error)
    assert table.snapshot().waiting == ()
    [cancelled] = of_kind(log, EventKind.CANCELLED)
    assert (cancelled.reservation_id, cancelled.session_names) == (ticket.id, ("A",))
    assert (cancelled.owner, cancelled.reason) == (ALICE_OWNER, "lease 7 was revoked")
    assert of_kind(log, EventKind.EXPIRED) == []


def test_release_lease_lets_other_leases_waiters_through(table: ReservationTable) -> None:
    grant(table, ["A"], "alice", lease_id=LEASE_A)
    queued_on_a = table.request(["A", "B"], owner="alice", lease_id=LEASE_A)
    bob = table.request(["B"], owner="bob", lease_id=LEASE_B)  # behind alice's request for B
    carol = table.request(["A"], owner="carol", lease_id=LEASE_B)

    assert table.release_lease(LEASE_A, "expired") == ("A",)

    assert table.wait(bob, 0).session_names == ("B",)
    assert table.wait(carol, 0).session_names == ("A",)
    with pytest.raises(CancelledError):
        table.wait(queued_on_a, 0)


def test_release_lease_fails_a_grant_not_yet_taken_and_frees_it(
    table: ReservationTable,
) -> None:
    ticket = table.request(["A"], owner="alice", lease_id=LEASE_A)  # granted, not taken
    assert table.is_reserved("A")

    table.release_lease(LEASE_A, "expired")

    assert not table.is_reserved("A")
    with pytest.raises(CancelledError, match="expired"):
        table.wait(ticket, 0)


def test_release_lease_calls_on_change_of_its_waiting_requests(
    table: ReservationTable,
) -> None:
    grant(table, ["A"], "bob")
    changes: list[str] = []
    ticket = table.request(
        ["A"], owner="alice", lease_id=LEASE_A, on_change=lambda: changes.append("alice")
    )
    assert changes == []

    table.release_lease(LEASE_A, "expired")

    assert changes == ["alice"]
    with pytest.raises(CancelledError):
        table.finish(ticket, 5)


def test_release_lease_of_a_lease_holding_nothing_does_nothing(
    table: ReservationTable, log: EventLog
) -> None:
    grant(table, ["A"], "bob", lease_id=LEASE_B)
    revision = log.latest_revision

    assert table.release_lease(LEASE_A, "expired") == ()
    assert log.since(revision) == ()


# ---------------------------------------------------------------------------- release_reservation


def test_release_reservation_releases_what_that_reservation_holds(
    table: ReservationTable, log: EventLog
) -> None:
    alice = grant(table, ["A", "B"], "alice")

    assert table.release_reservation(alice.id, ["B", "C"], "done") == ("B",)
    assert holders(table) == {"A": alice.id}
    assert of_kind(log, EventKind.RELEASED)[0].reason == "done"


def test_release_reservation_leaves_a_new_holder_alone(table: ReservationTable) -> None:
    alice = grant(table, ["A", "B"], "alice")
    table.force_release(["A"], "stuck")
    bob = grant(table, ["A"], "bob")

    assert table.release_reservation(alice.id, ["A", "B"]) == ("B",)
    assert holders(table) == {"A": bob.id}


# ---------------------------------------------------------------------------- events


def test_events_follow_the_table_with_strictly_increasing_revisions(
    table: ReservationTable, log: EventLog, clock: FakeClock
) -> None:
    alice = grant(table, ["A"], "alice", client=ALICE)
    bob = table.request(["A"], owner="bob", client=BOB)
    table.release(["A"])
    table.wait(bob, 0)
    carol = table.request(["A"], owner="carol")
    with pytest.raises(ReservationTimeoutError):
        table.wait(carol, 0)
    dave = table.request(["A"], owner="dave")
    assert table.cancel(dave)
    with pytest.raises(CancelledError):
        table.wait(dave, 0)

    assert kinds(log) == [
        (EventKind.RESERVED, ("A",), alice.id),
        (EventKind.QUEUED, ("A",), bob.id),
        (EventKind.RELEASED, ("A",), alice.id),
        (EventKind.RESERVED, ("A",), bob.id),
        (EventKind.QUEUED, ("A",), carol.id),
        (EventKind.TIMED_OUT, ("A",), carol.id),
        (EventKind.QUEUED, ("A",), dave.id),
        (EventKind.CANCELLED, ("A",), dave.id),
    ]
    revisions = [e.revision for e in log.since(0)]
    assert revisions == list(range(1, len(revisions) + 1))
    assert all(e.time == clock.wall_time() for e in log.since(0))


def test_no_queued_event_for_a_request_granted_at_once(
    table: ReservationTable, log: EventLog
) -> None:
    ticket = table.request(["A", "B"], owner="alice", client=ALICE)
    assert log.since(0) == ()  # granted, not yet delivered: nothing to tell yet

    table.wait(ticket, 0)

    [event] = log.since(0)
    assert (event.kind, event.session_names, event.reservation_id, event.owner) == (
        EventKind.RESERVED,
        ("A", "B"),
        ticket.id,
        ALICE_OWNER,
    )


def test_an_empty_grant_emits_no_event(table: ReservationTable, log: EventLog) -> None:
    grant(table, [], "alice")
    assert log.since(0) == ()


def test_the_event_owner_falls_back_to_the_owner_string_as_peer(
    table: ReservationTable, log: EventLog
) -> None:
    grant(table, ["A"], "ipv4:10.0.0.9:6000", client=ClientIdentity(username="eve", pid=5))

    [event] = log.since(0)
    assert event.owner == EventOwner(peer="ipv4:10.0.0.9:6000", username="eve", pid=5)


def test_a_timeout_event_gives_the_timeout_message_as_reason(
    table: ReservationTable, log: EventLog, clock: FakeClock, start_waiter: StartWaiter
) -> None:
    alice = grant(table, ["A"], "alice")
    ticket = table.request(["A"], owner="bob", client=BOB)
    bob = start_waiter(ticket, 5)
    clock.wait_for_parked(1)

    clock.advance(5)

    error = bob.failure()
    assert isinstance(error, ReservationTimeoutError)
    [event] = of_kind(log, EventKind.TIMED_OUT)
    assert (event.reservation_id, event.owner) == (ticket.id, BOB_OWNER)
    assert event.reason == str(error)
    assert f"'A' is held by 'alice' (reservation {alice.id})" in event.reason


def test_cancel_emits_cancelled_with_the_requester(table: ReservationTable, log: EventLog) -> None:
    grant(table, ["A"], "alice")
    ticket = table.request(["A"], owner="bob", client=BOB)

    table.cancel(ticket)
    assert not table.cancel(ticket)  # a second cancel is no event

    [event] = of_kind(log, EventKind.CANCELLED)
    assert (event.reservation_id, event.session_names, event.owner) == (
        ticket.id,
        ("A",),
        BOB_OWNER,
    )
    assert event.reason


def test_release_emits_one_event_per_reservation_with_its_holder(
    table: ReservationTable, log: EventLog
) -> None:
    alice = grant(table, ["A", "B"], "alice", client=ALICE)
    bob = grant(table, ["C"], "bob", client=BOB)

    table.release(["C", "A", "Z"])

    events = of_kind(log, EventKind.RELEASED)
    assert [(e.reservation_id, e.session_names, e.owner, e.reason) for e in events] == [
        (bob.id, ("C",), BOB_OWNER, ""),
        (alice.id, ("A",), ALICE_OWNER, ""),
    ]


def _table_lock_held(table: ReservationTable) -> bool:
    """Whether the calling thread holds the table's lock (single-threaded callers only)."""
    return table._lock.locked()


def test_every_event_is_appended_under_the_table_lock(clock: FakeClock) -> None:
    appended: list[tuple[EventKind, bool]] = []
    table: ReservationTable

    def check(events: Sequence[Event]) -> None:  # runs inside append, in the appending thread
        appended.extend((e.kind, _table_lock_held(table)) for e in events)

    table = ReservationTable(clock=clock, events=EventLog(clock=clock.wall_time, on_append=check))
    grant(table, ["A"], "alice")
    bob = table.request(["A"], owner="bob")
    table.release(["A"])
    table.wait(bob, 0)

    assert [kind for kind, _ in appended] == [
        EventKind.RESERVED,
        EventKind.QUEUED,
        EventKind.RELEASED,
        EventKind.RESERVED,
    ]
    assert [locked for _, locked in appended] == [True, True, True, True]


class GatedLog(EventLog):
    """Holds the append of a RESERVED event at a gate if it runs outside the table's lock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock=clock)
        self.table: ReservationTable | None = None
        self.reached = threading.Event()
        self.gate = threading.Event()

    def append(self, kind: EventKind, **fields: object) -> Event:
        if kind is EventKind.RESERVED and threading.current_thread().name.startswith("waiter"):
            self.reached.set()
            assert self.table is not None
            if not self.table._lock.locked():  # outside the lock: let the test interleave
                assert self.gate.wait(JOIN_TIMEOUT)
        return super().append(kind, **fields)  # type: ignore[arg-type]


def test_a_grant_is_logged_before_its_release(clock: FakeClock) -> None:
    log = GatedLog(clock.wall_time)
    table = ReservationTable(clock=clock, events=log)
    log.table = table
    try:
        ticket = table.request(["A"], owner="alice")  # granted at once
        waiter = Waiter(table, ticket, None)
        assert log.reached.wait(JOIN_TIMEOUT)

        table.release(["A"])  # the table says A is held by request 1 until now
        log.gate.set()
        waiter.join()

        assert [(e.kind, e.reservation_id) for e in log.since(0)] == [
            (EventKind.RESERVED, ticket.id),
            (EventKind.RELEASED, ticket.id),
        ]
    finally:
        log.gate.set()
        table.shutdown()


# ---------------------------------------------------------------------------- on_change + finish


def test_on_change_runs_on_an_immediate_grant_before_request_returns(
    table: ReservationTable,
) -> None:
    changes: list[str] = []

    ticket = table.request(["A"], owner="alice", on_change=lambda: changes.append("granted"))

    assert changes == ["granted"]
    assert table.finish(ticket, 5).session_names == ("A",)
    assert changes == ["granted"]  # delivery is no change


def test_on_change_runs_on_a_later_grant_and_finish_takes_it(
    table: ReservationTable, log: EventLog
) -> None:
    grant(table, ["A"], "alice")
    changes: list[str] = []
    ticket = table.request(
        ["A"], owner="bob", lease_id=LEASE_B, on_change=lambda: changes.append("bob")
    )
    assert changes == []

    table.release(["A"])

    assert changes == ["bob"]
    reservation = table.finish(ticket, 5)
    assert (reservation.session_names, reservation.lease_id) == (("A",), LEASE_B)
    assert of_kind(log, EventKind.RESERVED)[-1].reservation_id == ticket.id


def test_on_change_runs_on_cancel_and_finish_raises_the_cancellation(
    table: ReservationTable,
) -> None:
    grant(table, ["A"], "alice")
    changes: list[str] = []
    ticket = table.request(["A"], owner="bob", on_change=lambda: changes.append("bob"))

    table.cancel(ticket)

    assert changes == ["bob"]
    with pytest.raises(CancelledError):
        table.finish(ticket, 5)


def test_finish_on_a_waiting_request_times_out_naming_the_holder_and_withdraws_it(
    table: ReservationTable, log: EventLog
) -> None:
    alice = grant(table, ["A"], "alice")
    bob = table.request(["A", "B"], owner="bob", on_change=lambda: None)
    carol = table.request(["B"], owner="carol")  # waits behind bob, who wants B first

    with pytest.raises(ReservationTimeoutError) as info:
        table.finish(bob, 5)

    assert f"'A' is held by 'alice' (reservation {alice.id})" in str(info.value)
    assert "within 5 s" in str(info.value)
    assert [w.id for w in table.snapshot().waiting] == []
    assert table.wait(carol, 0).session_names == ("B",)
    assert of_kind(log, EventKind.TIMED_OUT)[0].reservation_id == bob.id
    with pytest.raises(ValueError, match="unknown or was waited on already"):
        table.finish(bob, 5)


# ---------------------------------------------------------------------------- snapshot


def test_a_waiting_request_shows_its_lease_and_client(table: ReservationTable) -> None:
    grant(table, ["A"], "alice")
    ticket = table.request(["A"], owner="bob", lease_id=LEASE_B, client=BOB)

    [waiting] = table.snapshot().waiting

    assert (waiting.id, waiting.owner) == (ticket.id, "bob")
    assert (waiting.lease_id, waiting.client) == (LEASE_B, BOB)


def test_a_waiting_request_shows_its_deadline_and_what_blocks_it(
    table: ReservationTable, clock: FakeClock
) -> None:
    alice = grant(table, ["A"], "alice")
    bob = table.request(["A", "B"], owner="bob", timeout=5)
    carol = table.request(["B", "C"], owner="carol")

    snapshot = table.snapshot()

    assert [(w.id, w.deadline, w.blocked_by) for w in snapshot.waiting] == [
        (bob.id, clock.wall_time() + 5, (alice.id,)),
        (carol.id, None, (bob.id,)),
    ]


# ---------------------------------------------------------------------------- with a journal


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def journaled(
    clock: FakeClock, log: EventLog, alive: set[int], store: MemoryStore
) -> Iterator[ReservationTable]:
    """A table writing through a GroupCommitJournal (single-threaded: each waiter writes)."""
    journal = GroupCommitJournal(store)
    table = ReservationTable(
        clock=clock, journal=journal, events=log, lease_alive=alive.__contains__
    )
    yield table
    table.shutdown()
    journal.close()


def stored(store: MemoryStore) -> dict[str, int]:
    return {n: int(r.id) for r in store.load_reservations() for n in r.session_names}


def test_journaled_grants_store_lease_client_and_fences(
    journaled: ReservationTable, store: MemoryStore
) -> None:
    grant(journaled, ["A"], "alice")
    journaled.release(["A"])
    reservation = grant(journaled, ["A", "B"], "alice", lease_id=LEASE_A, client=ALICE)

    [record] = store.load_reservations()
    assert (record.id, record.lease_id, record.client) == (reservation.id, LEASE_A, ALICE)
    assert dict(record.fences) == {"A": 2, "B": 1}
    assert store.load_fences() == {"A": 2, "B": 1}


def test_journaled_release_owned_with_matching_and_stale_tokens(
    journaled: ReservationTable, store: MemoryStore, log: EventLog
) -> None:
    alice = grant(journaled, ["A", "B"], "alice")
    journaled.force_release(["A"], "stuck")
    bob = grant(journaled, ["A"], "bob")

    released, stale = journaled.release_owned([("A", token(alice, "A")), ("B", token(alice, "B"))])

    assert (released, stale) == (("B",), ("A",))
    assert stored(store) == {"A": bob.id}
    assert holders(journaled) == {"A": bob.id}
    with pytest.raises(StaleTokenError):
        journaled.release_owned([("A", token(alice, "A"))], strict=True)
    assert stored(store) == {"A": bob.id}
    assert journaled.release_owned([("A", token(bob, "A"))], strict=True) == (("A",), ())
    assert stored(store) == {}
    assert [(e.kind, e.reservation_id) for e in log.since(0)] == [
        (EventKind.RESERVED, alice.id),
        (EventKind.FORCE_RELEASED, alice.id),
        (EventKind.RESERVED, bob.id),
        (EventKind.RELEASED, alice.id),
        (EventKind.RELEASED, bob.id),
    ]


def test_journaled_force_release_records_the_release_and_the_next_grant(
    journaled: ReservationTable, store: MemoryStore, log: EventLog
) -> None:
    alice = grant(journaled, ["A", "B"], "alice", client=ALICE)
    bob = journaled.request(["A"], owner="bob", client=BOB)

    assert journaled.force_release(["A", "B"], "bench 1 is stuck") == ("A", "B")
    assert stored(store) == {}

    bob_reservation = journaled.wait(bob, 0)
    assert stored(store) == {"A": bob_reservation.id}
    [event] = of_kind(log, EventKind.FORCE_RELEASED)
    assert (event.reservation_id, event.owner, event.reason) == (
        alice.id,
        ALICE_OWNER,
        "bench 1 is stuck",
    )


def test_journaled_release_lease_deletes_only_the_lease_s_records(
    journaled: ReservationTable, store: MemoryStore, alive: set[int]
) -> None:
    grant(journaled, ["A"], "alice", lease_id=LEASE_A)
    other = grant(journaled, ["B"], "bob", lease_id=LEASE_B)
    waiting = journaled.request(["B"], owner="alice", lease_id=LEASE_A)
    alive.discard(LEASE_A)

    assert journaled.release_lease(LEASE_A, "expired") == ("A",)

    assert stored(store) == {"B": other.id}
    with pytest.raises(CancelledError, match="expired"):
        journaled.wait(waiting, 0)


class FailingDeletes(MemoryStore):
    """A store that refuses to record releases (a full disk, say)."""

    def apply_journal(self, records: Sequence[JournalRecord]) -> None:
        if any(isinstance(record, DeleteSessions) for record in records):
            raise OSError("disk full")
        super().apply_journal(records)


def test_a_release_that_fails_to_be_recorded_emits_no_event(
    clock: FakeClock, log: EventLog
) -> None:
    store = FailingDeletes()
    journal = GroupCommitJournal(store)
    table = ReservationTable(clock=clock, journal=journal, events=log)
    try:
        alice = grant(table, ["A"], "alice")

        with pytest.raises(OSError, match="disk full"):
            table.force_release(["A"], "stuck")

        assert holders(table) == {"A": alice.id}  # documented: the sessions stay held
        assert of_kind(log, EventKind.FORCE_RELEASED) == []
    finally:
        table.shutdown()
        journal.close()
