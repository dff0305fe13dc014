"""The lease table: grants, keep-alives, expiry exactly at the deadline, revocation, restore.

Time moves only through the fake clock; no test sleeps. (Imports come from the private module
until ``pinbroker.reservation`` re-exports the lease names.)
"""

from __future__ import annotations

import dataclasses
import math
import threading

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pinbroker.errors import LeaseNotFoundError, NotFoundError
from pinbroker.reservation import (
    ClientIdentity,
    FakeClock,
    Lease,
    LeaseId,
    LeaseRecord,
    LeaseState,
    LeaseTable,
)

TTL = 10.0
ALICE = ClientIdentity(hostname="bench-1", username="alice", pid=4242, program="pytest")
BOB = ClientIdentity(hostname="bench-2", username="bob", peer="ipv4:10.0.0.7:51234")


@pytest.fixture
def leases(clock: FakeClock) -> LeaseTable:
    return LeaseTable(ttl=TTL, clock=clock)


def record(lease_id: int, ttl: float = TTL, identity: ClientIdentity = ALICE) -> LeaseRecord:
    return LeaseRecord(id=LeaseId(lease_id), ttl=ttl, identity=identity, granted_at=1_600_000_000.0)


# ---------------------------------------------------------------------- construction and grant


@pytest.mark.parametrize("ttl", [0.0, -1.0, math.nan, math.inf])
def test_the_ttl_must_be_positive_and_finite(ttl: float) -> None:
    with pytest.raises(ValueError, match="lease TTL must be a positive, finite number"):
        LeaseTable(ttl=ttl, clock=FakeClock())


def test_remember_ended_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="remember_ended must be >= 0"):
        LeaseTable(ttl=TTL, clock=FakeClock(), remember_ended=-1)


def test_a_table_without_a_clock_uses_the_monotonic_clock() -> None:
    table = LeaseTable(ttl=TTL)
    lease = table.grant(ALICE)
    assert 0.0 < lease.remaining <= TTL
    assert table.is_active(lease.id)


def test_grant_hands_out_ids_1_2_3_with_the_ttl_and_the_wall_time(
    leases: LeaseTable, clock: FakeClock
) -> None:
    first = leases.grant(ALICE)
    clock.advance(2.0)
    second = leases.grant(BOB)
    third = leases.grant(ALICE)

    assert [first.id, second.id, third.id] == [1, 2, 3]
    assert first == Lease(
        id=LeaseId(1),
        ttl=TTL,
        identity=ALICE,
        granted_at=clock.wall_time() - 2.0,
        state=LeaseState.ACTIVE,
        remaining=TTL,
        reason="",
    )
    assert second.granted_at == clock.wall_time()
    assert second.identity == BOB
    assert leases.next_id == 4
    assert leases.ttl == TTL


def test_values_are_frozen(leases: LeaseTable) -> None:
    lease = leases.grant(ALICE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        lease.state = LeaseState.REVOKED  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ALICE.pid = 1  # type: ignore[misc]


# ---------------------------------------------------------------------- keep-alive and expiry


def test_a_lease_expires_exactly_at_its_deadline(leases: LeaseTable, clock: FakeClock) -> None:
    lease = leases.grant(ALICE)

    clock.advance(9.5)
    assert leases.expire_due() == ()
    assert leases.is_active(lease.id)
    remaining = leases.get(lease.id)
    assert remaining is not None
    assert remaining.remaining == 0.5

    clock.advance(0.5)  # now == deadline
    expired = leases.expire_due()

    assert [e.id for e in expired] == [lease.id]
    assert expired[0].state is LeaseState.EXPIRED
    assert expired[0].remaining == 0.0
    assert expired[0].reason == "not kept alive for 10 s"
    assert not leases.is_active(lease.id)
    assert leases.expire_due() == ()  # reported once


def test_keep_alive_moves_the_deadline_to_ttl_from_now(
    leases: LeaseTable, clock: FakeClock
) -> None:
    lease = leases.grant(ALICE)
    clock.advance(9.0)

    kept = leases.keep_alive(lease.id)

    assert kept.remaining == TTL
    assert kept.state is LeaseState.ACTIVE
    clock.advance(9.0)  # 18 s after the grant, 9 s after the keep-alive
    assert leases.expire_due() == ()
    assert leases.is_active(lease.id)
    clock.advance(1.0)
    assert [e.id for e in leases.expire_due()] == [lease.id]


def test_expire_due_returns_leases_in_deadline_order(leases: LeaseTable, clock: FakeClock) -> None:
    a = leases.grant(ALICE)  # deadline 10
    clock.advance(1.0)
    b = leases.grant(BOB)  # deadline 11
    clock.advance(1.0)
    c = leases.grant(ALICE)  # deadline 12
    clock.advance(2.5)
    leases.keep_alive(a.id)  # deadline 14.5
    clock.advance(20.0)

    assert [e.id for e in leases.expire_due()] == [b.id, c.id, a.id]


def test_leases_with_the_same_deadline_expire_in_grant_order(
    leases: LeaseTable, clock: FakeClock
) -> None:
    ids = [leases.grant(ALICE).id for _ in range(5)]
    clock.advance(TTL)
    assert [e.id for e in leases.expire_due()] == ids


def test_a_lease_past_its_deadline_is_expired_before_the_reaper_runs(
    leases: LeaseTable, clock: FakeClock
) -> None:
    lease = leases.grant(ALICE)
    clock.advance(TTL)

    assert not leases.is_active(lease.id)
    with pytest.raises(LeaseNotFoundError, match="lease 1 expired: not kept alive for 10 s"):
        leases.keep_alive(lease.id)
    assert leases.revoke(lease.id) is None
    seen = leases.get(lease.id)
    assert seen is not None
    assert seen.state is LeaseState.EXPIRED
    # The reaper still learns of it, once.
    assert [e.id for e in leases.expire_due()] == [lease.id]
    assert leases.expire_due() == ()


def test_keep_alive_of_an_expired_lease_says_it_expired_and_why(
    leases: LeaseTable, clock: FakeClock
) -> None:
    leases.grant(ALICE)
    lease = leases.grant(ALICE)
    clock.advance(TTL)
    leases.expire_due()

    with pytest.raises(LeaseNotFoundError) as caught:
        leases.keep_alive(lease.id)

    assert str(caught.value) == "lease 2 expired: not kept alive for 10 s"
    assert caught.value.lease_id == 2
    assert isinstance(caught.value, NotFoundError)
    assert caught.value.status == "NOT_FOUND"


def test_keep_alive_of_a_revoked_lease_says_it_was_revoked_and_why(leases: LeaseTable) -> None:
    lease = leases.grant(ALICE)
    leases.revoke(lease.id, "force-released by admin 'carol'")

    with pytest.raises(LeaseNotFoundError) as caught:
        leases.keep_alive(lease.id)

    assert str(caught.value) == "lease 1 revoked: force-released by admin 'carol'"


@pytest.mark.parametrize("lease_id", [0, -3, 2, 99])
def test_keep_alive_of_a_lease_never_granted_says_so(leases: LeaseTable, lease_id: int) -> None:
    leases.grant(ALICE)
    with pytest.raises(LeaseNotFoundError, match=f"^lease {lease_id} was never granted$"):
        leases.keep_alive(LeaseId(lease_id))


def test_keep_alive_of_a_forgotten_lease_says_it_ended_earlier(clock: FakeClock) -> None:
    leases = LeaseTable(ttl=TTL, clock=clock, remember_ended=1)
    first = leases.grant(ALICE)
    second = leases.grant(ALICE)
    leases.revoke(first.id)
    leases.revoke(second.id)  # pushes the first out of memory

    with pytest.raises(LeaseNotFoundError, match=r"^lease 1 is not active .*no longer remembered"):
        leases.keep_alive(first.id)
    with pytest.raises(LeaseNotFoundError, match=r"^lease 2 revoked: revoked by its client$"):
        leases.keep_alive(second.id)


# ---------------------------------------------------------------------- revoke and memory


def test_revoke_ends_an_active_lease_once(leases: LeaseTable, clock: FakeClock) -> None:
    lease = leases.grant(ALICE)
    clock.advance(3.0)

    revoked = leases.revoke(lease.id)

    assert revoked is not None
    assert (revoked.id, revoked.state, revoked.remaining, revoked.reason) == (
        lease.id,
        LeaseState.REVOKED,
        0.0,
        "revoked by its client",
    )
    assert not leases.is_active(lease.id)
    assert leases.revoke(lease.id) is None
    assert leases.revoke(LeaseId(42)) is None
    assert leases.get(lease.id) == revoked


def test_an_empty_revoke_reason_becomes_the_default(leases: LeaseTable) -> None:
    lease = leases.grant(ALICE)
    revoked = leases.revoke(lease.id, "")
    assert revoked is not None
    assert revoked.reason == "revoked by its client"


def test_a_revoked_lease_never_expires(leases: LeaseTable, clock: FakeClock) -> None:
    lease = leases.grant(ALICE)
    leases.revoke(lease.id, "done")
    clock.advance(2 * TTL)

    assert leases.expire_due() == ()
    ended = leases.get(lease.id)
    assert ended is not None
    assert (ended.state, ended.reason) == (LeaseState.REVOKED, "done")
    assert leases.next_deadline() is None


def test_get_remembers_only_the_newest_ended_leases(clock: FakeClock) -> None:
    leases = LeaseTable(ttl=TTL, clock=clock, remember_ended=2)
    ids = [leases.grant(ALICE).id for _ in range(3)]
    leases.revoke(ids[0])
    clock.advance(TTL)  # ids[1] and ids[2] expire
    leases.expire_due()

    assert leases.get(ids[0]) is None
    assert [leases.get(i).state for i in ids[1:]] == [LeaseState.EXPIRED] * 2  # type: ignore[union-attr]
    assert leases.get(LeaseId(99)) is None


def test_remember_ended_zero_forgets_at_once(clock: FakeClock) -> None:
    leases = LeaseTable(ttl=TTL, clock=clock, remember_ended=0)
    lease = leases.grant(ALICE)
    assert leases.revoke(lease.id) is not None
    assert leases.get(lease.id) is None


def test_get_of_an_active_lease_shows_the_time_left(leases: LeaseTable, clock: FakeClock) -> None:
    lease = leases.grant(BOB)
    clock.advance(4.0)
    seen = leases.get(lease.id)
    assert seen is not None
    assert (seen.state, seen.remaining, seen.identity) == (LeaseState.ACTIVE, 6.0, BOB)


# ---------------------------------------------------------------------- snapshot and records


def test_snapshot_and_records_list_the_active_leases_by_id(
    leases: LeaseTable, clock: FakeClock
) -> None:
    a = leases.grant(ALICE)
    b = leases.grant(BOB)
    c = leases.grant(ALICE)
    leases.revoke(b.id)
    leases.restore([record(9, ttl=30.0, identity=BOB), record(7)])
    clock.advance(1.0)

    assert [lease.id for lease in leases.snapshot()] == [a.id, c.id, 7, 9]
    assert [lease.remaining for lease in leases.snapshot()] == [9.0, 9.0, 9.0, 29.0]
    assert leases.records() == (
        LeaseRecord(id=a.id, ttl=TTL, identity=ALICE, granted_at=a.granted_at),
        LeaseRecord(id=c.id, ttl=TTL, identity=ALICE, granted_at=c.granted_at),
        record(7),
        record(9, ttl=30.0, identity=BOB),
    )


def test_records_leave_out_leases_past_their_deadline(leases: LeaseTable, clock: FakeClock) -> None:
    leases.grant(ALICE)
    clock.advance(5.0)
    kept = leases.grant(BOB)
    clock.advance(5.0)
    assert [r.id for r in leases.records()] == [kept.id]
    assert [lease.id for lease in leases.snapshot()] == [kept.id]


# ---------------------------------------------------------------------- restore


def test_restore_gives_fresh_deadlines_and_keeps_ids_unique(clock: FakeClock) -> None:
    clock.advance(5_000.0)  # a new process: monotonic time starts somewhere else
    leases = LeaseTable(ttl=TTL, clock=clock)

    leases.restore([record(3), record(7, ttl=20.0, identity=BOB)])

    restored = leases.get(LeaseId(7))
    assert restored is not None
    assert (restored.state, restored.remaining, restored.ttl) == (LeaseState.ACTIVE, 20.0, 20.0)
    assert (restored.identity, restored.granted_at) == (BOB, 1_600_000_000.0)
    assert leases.next_id == 8
    assert leases.grant(ALICE).id == 8
    assert leases.next_deadline() == 5_000.0 + TTL


def test_restore_honours_a_persisted_next_id(leases: LeaseTable) -> None:
    leases.restore([record(3)], next_id=20)
    assert leases.grant(ALICE).id == 20
    leases.restore([], next_id=5)  # never goes back
    assert leases.grant(ALICE).id == 21


def test_restore_never_moves_ids_back(leases: LeaseTable) -> None:
    for _ in range(5):
        leases.grant(ALICE)
    leases.revoke(LeaseId(2))

    leases.restore([record(2)], next_id=1)

    assert leases.is_active(LeaseId(2))
    got = leases.get(LeaseId(2))
    assert got is not None
    assert got.state is LeaseState.ACTIVE  # no longer the remembered revoked lease
    assert leases.grant(ALICE).id == 6


def test_a_restored_lease_not_reattached_expires_with_its_own_reason(
    leases: LeaseTable, clock: FakeClock
) -> None:
    leases.restore([record(1), record(2)])
    clock.advance(1.0)
    leases.keep_alive(LeaseId(2))  # its client came back
    clock.advance(TTL)

    expired = leases.expire_due()

    assert [(e.id, e.reason) for e in expired] == [
        (1, "restored lease not re-attached within 10 s after restart"),
        (2, "not kept alive for 10 s"),
    ]
    with pytest.raises(LeaseNotFoundError, match=r"^lease 1 expired: restored lease not re-att"):
        leases.keep_alive(LeaseId(1))


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([record(1), record(1)], "lease 1 is restored twice"),
        ([record(0)], "lease 0: a lease id must be >= 1"),
        ([record(4, ttl=0.0)], "lease 4's TTL must be a positive"),
        ([record(4, ttl=math.nan)], "lease 4's TTL must be a positive"),
        ([record(5), record(1)], "lease 1 is restored but already active"),
    ],
)
def test_restore_rejects_bad_records_and_restores_nothing(
    leases: LeaseTable, records: list[LeaseRecord], message: str
) -> None:
    leases.grant(ALICE)  # lease 1 is active

    with pytest.raises(ValueError, match=message):
        leases.restore(records)

    assert [lease.id for lease in leases.snapshot()] == [1]
    assert leases.next_id == 2


def test_records_round_trip_through_restore(leases: LeaseTable, clock: FakeClock) -> None:
    leases.grant(ALICE)
    leases.grant(BOB)
    leases.revoke(LeaseId(1))
    saved, next_id = leases.records(), leases.next_id

    after_restart = LeaseTable(ttl=TTL, clock=FakeClock(start=77.0))
    after_restart.restore(saved, next_id=next_id)

    assert after_restart.records() == saved
    assert after_restart.grant(ALICE).id == 3


# ---------------------------------------------------------------------- next_deadline


def test_next_deadline_follows_grants_keep_alives_and_revokes(
    leases: LeaseTable, clock: FakeClock
) -> None:
    assert leases.next_deadline() is None
    a = leases.grant(ALICE)
    clock.advance(2.0)
    b = leases.grant(BOB)
    assert leases.next_deadline() == 10.0

    clock.advance(1.0)
    leases.keep_alive(a.id)  # a: 13, b: 12
    assert leases.next_deadline() == 12.0

    leases.revoke(b.id)
    assert leases.next_deadline() == 13.0

    leases.revoke(a.id)
    assert leases.next_deadline() is None


def test_next_deadline_stays_due_until_expiries_are_reported(
    leases: LeaseTable, clock: FakeClock
) -> None:
    first = leases.grant(ALICE)
    clock.advance(5.0)
    leases.grant(BOB)  # deadline 15
    clock.advance(5.0)
    assert not leases.is_active(first.id)  # expired by another call, not yet reported

    assert leases.next_deadline() == 10.0  # the reaper must still run now
    assert [e.id for e in leases.expire_due()] == [first.id]
    assert leases.next_deadline() == 15.0


def test_many_keep_alives_leave_a_small_heap(leases: LeaseTable, clock: FakeClock) -> None:
    # Lazy deletion must not let stale heap items pile up (memory and O(log n)).
    lease = leases.grant(ALICE)
    other = leases.grant(BOB)
    for _ in range(10_000):
        clock.advance(0.0005)  # 5 s in all
        leases.keep_alive(lease.id)

    assert len(leases._heap) <= 2 * 2 + 64 + 1
    assert leases.next_deadline() == 10.0  # other's deadline: the earliest
    assert [e.id for e in leases.expire_due()] == []
    clock.advance(6.0)
    assert [e.id for e in leases.expire_due()] == [other.id]
    assert leases.is_active(lease.id)


# ---------------------------------------------------------------------- threads


def test_concurrent_grants_get_distinct_consecutive_ids(leases: LeaseTable) -> None:
    granted: list[list[int]] = [[] for _ in range(8)]
    start = threading.Barrier(len(granted))

    def grant_many(mine: list[int]) -> None:
        start.wait()
        for _ in range(200):
            mine.append(leases.grant(ALICE).id)

    threads = [threading.Thread(target=grant_many, args=(mine,)) for mine in granted]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    all_ids = sorted(i for mine in granted for i in mine)
    assert all_ids == list(range(1, 8 * 200 + 1))
    assert all(mine == sorted(mine) for mine in granted)
    assert len(leases.snapshot()) == 8 * 200


# ---------------------------------------------------------------------- model-based


class LeaseMachine(RuleBasedStateMachine):
    """Random grant / keep-alive / revoke / advance / expire sequences against a naive model.

    The model keeps plain deadlines and finds the earliest by scanning; the table's lazy heap
    must agree on which leases are active, what expires when, and the next deadline.
    """

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.table = LeaseTable(ttl=TTL, clock=self.clock, remember_ended=5)
        self.deadlines: dict[int, tuple[float, int]] = {}  # id -> (deadline, schedule order)
        self.unreported: list[tuple[float, int, int]] = []  # (deadline, order, id)
        self.ended: set[int] = set()
        self.order = 0
        self.next_id = 1

    def _schedule(self, lease_id: int) -> None:
        self.order += 1
        self.deadlines[lease_id] = (self.clock.now() + TTL, self.order)

    def _model_expire(self) -> None:
        now = self.clock.now()
        due = sorted(
            (deadline, order, i)
            for i, (deadline, order) in self.deadlines.items()
            if deadline <= now
        )
        for _, _, i in due:
            del self.deadlines[i]
            self.ended.add(i)
        self.unreported.extend(due)

    @rule()
    def grant(self) -> None:
        self._model_expire()
        lease = self.table.grant(ALICE)
        assert lease.id == self.next_id
        self.next_id += 1
        self._schedule(lease.id)

    @rule(pick=st.integers(min_value=0, max_value=40))
    def keep_alive(self, pick: int) -> None:
        self._model_expire()
        lease_id = LeaseId(pick % self.next_id)
        if lease_id in self.deadlines:
            assert self.table.keep_alive(lease_id).remaining == TTL
            self._schedule(lease_id)
        else:
            with pytest.raises(LeaseNotFoundError):
                self.table.keep_alive(lease_id)

    @rule(pick=st.integers(min_value=0, max_value=40))
    def revoke(self, pick: int) -> None:
        self._model_expire()
        lease_id = LeaseId(pick % self.next_id)
        revoked = self.table.revoke(lease_id)
        if lease_id in self.deadlines:
            assert revoked is not None
            assert revoked.state is LeaseState.REVOKED
            del self.deadlines[lease_id]
            self.ended.add(lease_id)
        else:
            assert revoked is None

    @rule(seconds=st.sampled_from([0.0, 0.5, 1.0, 3.0, 9.5, 10.0, 12.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: bool(self.deadlines))
    @rule()
    def advance_to_next_deadline(self) -> None:
        earliest = min(deadline for deadline, _ in self.deadlines.values())
        self.clock.advance(max(0.0, earliest - self.clock.now()))

    @rule()
    def expire_due(self) -> None:
        self._model_expire()
        expired = self.table.expire_due()
        assert [e.id for e in expired] == [i for _, _, i in self.unreported]
        assert all(e.state is LeaseState.EXPIRED for e in expired)
        self.unreported.clear()

    @invariant()
    def next_deadline_agrees(self) -> None:
        # next_deadline does not expire anything, so compare before the model expires.
        if self.unreported:
            expected: float | None = self.unreported[0][0]
        elif self.deadlines:
            expected = min(deadline for deadline, _ in self.deadlines.values())
        else:
            expected = None
        assert self.table.next_deadline() == expected

    @invariant()
    def active_leases_agree(self) -> None:
        self._model_expire()
        assert [lease.id for lease in self.table.snapshot()] == sorted(self.deadlines)
        for lease in self.table.snapshot():
            assert lease.remaining == self.deadlines[lease.id][0] - self.clock.now()


LeaseMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=50, deadline=None)
test_lease_table_agrees_with_a_naive_model = LeaseMachine.TestCase
