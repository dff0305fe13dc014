"""One contract, two implementations: the reservation and lease tables in memory and on PostgreSQL.

Every test here runs against the pure core's :class:`ReservationTable` (with its
:class:`LeaseTable`) and against ``pinbroker.cluster``'s shared tables on a fresh database; the
shared-only tests at the end use two clusters (two servers) on one database. Waiting requests
run in threads; the tests synchronise on ``wait_for_waiting`` and on the outcomes, never on
sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
import pytest

from pinbroker.cluster import Cluster
from pinbroker.errors import (
    CancelledError,
    LeaseNotFoundError,
    ReservationTimeoutError,
    StaleTokenError,
)
from pinbroker.events import EventKind, EventLog
from pinbroker.reservation import (
    ClientIdentity,
    FenceToken,
    LeaseId,
    LeaseTable,
    LeaseTableLike,
    Reservation,
    ReservationTable,
    ReservationTableLike,
)
from pinbroker.store._codec import encode_annotations, encode_client_identity

WAIT = 10.0
"""Seconds any wait in these tests may take at most: far above what they need (milliseconds),
so only a real hang fails them on a loaded machine."""


@dataclass
class Tables:
    table: ReservationTableLike
    leases: LeaseTableLike
    events: EventLog


@pytest.fixture(params=["memory", "postgres"])
def tables(request: pytest.FixtureRequest) -> Iterator[Tables]:
    if request.param == "memory":
        leases = LeaseTable(ttl=30)
        events = EventLog()
        table = ReservationTable(
            events=events, lease_alive=lambda lease_id: leases.is_active(LeaseId(lease_id))
        )
        yield Tables(table, leases, events)
        table.shutdown()
        return
    url = request.getfixturevalue("postgres_url")
    cluster = Cluster(url, lease_ttl=30, address="test", event_history=1000)
    cluster.start()
    try:
        yield Tables(cluster.table, cluster.leases, cluster.events)
    finally:
        cluster.table.shutdown()
        cluster.stop()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=8) as executor:
        yield executor


def _wait_in_thread(
    pool: ThreadPoolExecutor, table: ReservationTableLike, names: list[str], owner: str
) -> Future[Reservation]:
    return pool.submit(table.reserve, names, owner=owner, timeout=WAIT)


def _kinds(events: EventLog) -> list[EventKind]:
    return [event.kind for event in events.since(0)]


def test_grants_at_once_with_growing_fences(tables: Tables) -> None:
    first = tables.table.reserve(["a", "b"], owner="alice", timeout=0)
    assert first.session_names == ("a", "b")
    assert dict(first.fences) == {"a": 1, "b": 1}
    assert tables.table.release(["a", "b"]) == ("a", "b")
    second = tables.table.reserve(["b"], owner="bob", timeout=0)
    assert dict(second.fences) == {"b": 2}
    assert second.id > first.id


def test_all_or_nothing(tables: Tables, pool: ThreadPoolExecutor) -> None:
    tables.table.reserve(["b"], owner="alice", timeout=0)
    waiter = _wait_in_thread(pool, tables.table, ["a", "b"], "bob")
    assert tables.table.wait_for_waiting(1, WAIT)
    assert not tables.table.is_reserved("a")  # nothing held while waiting for the rest
    other = tables.table.reserve(["c"], owner="carol", timeout=0)  # unrelated: at once
    assert other.session_names == ("c",)
    tables.table.release(["b"])
    assert waiter.result(WAIT).session_names == ("a", "b")


def test_first_come_first_served(tables: Tables, pool: ThreadPoolExecutor) -> None:
    holder = tables.table.reserve(["x"], owner="alice", timeout=0)
    older = _wait_in_thread(pool, tables.table, ["x", "y"], "bob")
    assert tables.table.wait_for_waiting(1, WAIT)
    # y is free, but the older waiter wants it: the younger request must wait its turn.
    with pytest.raises(ReservationTimeoutError, match="wanted by earlier request"):
        tables.table.reserve(["y"], owner="carol", timeout=0)
    younger = _wait_in_thread(pool, tables.table, ["y"], "dave")
    assert tables.table.wait_for_waiting(2, WAIT)
    snapshot = tables.table.snapshot()
    assert [w.owner for w in snapshot.waiting] == ["bob", "dave"]
    assert snapshot.waiting[0].blocked_by == (holder.id,)
    assert snapshot.waiting[1].blocked_by == (snapshot.waiting[0].id,)
    tables.table.release(["x"])
    granted = older.result(WAIT)
    assert granted.session_names == ("x", "y")
    assert not younger.done() or younger.exception() is not None
    tables.table.release(["x", "y"])
    assert younger.result(WAIT).session_names == ("y",)


def test_timeout_names_the_holder(tables: Tables) -> None:
    tables.table.reserve(["s"], owner="alice", timeout=0)
    started = time.monotonic()
    with pytest.raises(ReservationTimeoutError, match=r"'s' is held by 'alice'"):
        tables.table.reserve(["s"], owner="bob", timeout=0.2)
    assert time.monotonic() - started >= 0.2
    assert tables.table.snapshot().waiting == ()
    assert EventKind.TIMED_OUT in _kinds(tables.events)


def test_cancel_withdraws_and_lets_the_next_through(
    tables: Tables, pool: ThreadPoolExecutor
) -> None:
    tables.table.reserve(["s"], owner="alice", timeout=0)
    ticket = tables.table.request(["s", "t"], owner="bob")
    younger = _wait_in_thread(pool, tables.table, ["t"], "carol")
    assert tables.table.wait_for_waiting(2, WAIT)
    assert tables.table.cancel(ticket)
    with pytest.raises(CancelledError):
        tables.table.wait(ticket, WAIT)
    assert younger.result(WAIT).session_names == ("t",)
    assert EventKind.CANCELLED in _kinds(tables.events)


def test_fencing_tokens(tables: Tables) -> None:
    first = tables.table.reserve(["s"], owner="alice", timeout=0)
    stale = FenceToken(first.id, first.fences["s"])
    tables.table.release(["s"])
    second = tables.table.reserve(["s"], owner="bob", timeout=0)
    released, ignored = tables.table.release_owned([("s", stale)])
    assert (released, ignored) == ((), ("s",))
    assert tables.table.holder_of("s") == second
    with pytest.raises(StaleTokenError):
        tables.table.release_owned([("s", stale)], strict=True)
    current = FenceToken(second.id, second.fences["s"])
    assert tables.table.release_owned([("s", current)], strict=True) == (("s",), ())
    assert tables.table.holder_of("s") is None


def test_force_release_is_recorded(tables: Tables) -> None:
    tables.table.reserve(["s", "t"], owner="alice", timeout=0)
    assert tables.table.force_release(["s"], "stuck test cell") == ("s",)
    assert tables.table.is_reserved("t")
    forced = [e for e in tables.events.since(0) if e.kind is EventKind.FORCE_RELEASED]
    assert [(e.session_names, e.reason) for e in forced] == [(("s",), "stuck test cell")]


def test_lease_binds_holds_and_waits(tables: Tables, pool: ThreadPoolExecutor) -> None:
    lease = tables.leases.grant(ClientIdentity(username="alice"))
    ticket = tables.table.request(["s"], owner="alice", lease_id=lease.id)
    held = tables.table.wait(ticket, 0)
    assert held.lease_id == lease.id
    waiting = tables.table.request(["s"], owner="alice again", lease_id=lease.id)
    assert tables.table.wait_for_waiting(1, WAIT)
    assert tables.leases.revoke(lease.id) is not None
    assert tables.table.release_lease(lease.id, "lease ended") == ("s",)
    with pytest.raises(CancelledError):
        tables.table.wait(waiting, WAIT)
    with pytest.raises(LeaseNotFoundError):
        tables.table.request(["s"], owner="late", lease_id=lease.id)
    assert not tables.leases.is_active(lease.id)


def test_lease_keep_alive_and_expiry(tables: Tables) -> None:
    lease = tables.leases.grant(ClientIdentity(username="u"))
    kept = tables.leases.keep_alive(lease.id)
    assert kept.id == lease.id
    assert tables.leases.get(lease.id) is not None
    assert [ended.id for ended in tables.leases.expire_due()] == []
    with pytest.raises(LeaseNotFoundError, match="never granted"):
        tables.leases.keep_alive(LeaseId(lease.id + 1000))


def test_held_longer_than(tables: Tables) -> None:
    held = tables.table.reserve(["s"], owner="alice", timeout=0)
    assert tables.table.held_longer_than(3600) == ()
    assert [r.id for r in tables.table.held_longer_than(0)] == [held.id]


# ---------------------------------------------------------------------------- two servers


@pytest.fixture
def two(postgres_url: str) -> Iterator[tuple[Cluster, Cluster]]:
    first = Cluster(postgres_url, lease_ttl=30, address="a", event_history=1000)
    second = Cluster(postgres_url, lease_ttl=30, address="b", event_history=1000)
    first.start()
    second.start()
    try:
        yield first, second
    finally:
        for cluster in (first, second):
            cluster.table.shutdown()
            cluster.stop()


def _until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)  # polling a condition with a bound, not synchronising on time
    return condition()


def test_held_on_one_server_is_not_granted_by_another(two: tuple[Cluster, Cluster]) -> None:
    a, b = two
    a.table.reserve(["s"], owner="alice", timeout=0)
    with pytest.raises(ReservationTimeoutError, match="held by 'alice'"):
        b.table.reserve(["s", "t"], owner="bob", timeout=0)
    assert b.table.holder_of("t") is None


def test_release_on_one_server_wakes_a_waiter_on_another(
    two: tuple[Cluster, Cluster], pool: ThreadPoolExecutor
) -> None:
    a, b = two
    a.table.reserve(["s"], owner="alice", timeout=0)
    waiter = _wait_in_thread(pool, b.table, ["s"], "bob")
    assert a.table.wait_for_waiting(1, WAIT)
    a.table.release(["s"])
    assert waiter.result(WAIT).owner == "bob"
    assert _until(lambda: EventKind.RESERVED in _kinds(a.events)[2:])


def test_fifo_across_servers(two: tuple[Cluster, Cluster], pool: ThreadPoolExecutor) -> None:
    a, b = two
    a.table.reserve(["x"], owner="alice", timeout=0)
    older = _wait_in_thread(pool, b.table, ["x", "y"], "bob")
    assert a.table.wait_for_waiting(1, WAIT)
    with pytest.raises(ReservationTimeoutError, match="wanted by earlier request"):
        a.table.reserve(["y"], owner="carol", timeout=0)
    a.table.release(["x"])
    assert older.result(WAIT).session_names == ("x", "y")


def test_shared_events_and_registry(two: tuple[Cluster, Cluster]) -> None:
    a, b = two
    a.events.append(EventKind.PIN_MAP_LOADED, reason="map")
    assert _until(lambda: any(e.reason == "map" for e in b.events.since(0)))
    assert a.events.latest_revision == b.events.latest_revision or _until(
        lambda: a.events.latest_revision == b.events.latest_revision
    )


def _ghost_waiter(url: str, names: list[str], *, heartbeat_age: float) -> tuple[int, int]:
    """A server row with a heartbeat that old and one waiter of it: (server id, waiter id)."""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "INSERT INTO servers (hostname, pid, address, ttl, heartbeat) VALUES "
            "('ghost', 1, '', 1, clock_timestamp() - make_interval(secs => %s)) RETURNING id",
            (heartbeat_age,),
        ).fetchone()
        assert row is not None
        waiter = connection.execute("SELECT nextval('reservation_ids')").fetchone()
        assert waiter is not None
        connection.execute(
            "INSERT INTO waiters (id, server_id, session_names, owner, annotations, since, "
            "client) VALUES (%s, %s, %s, 'ghost', %s, 0, %s)",
            (
                waiter[0],
                row[0],
                names,
                encode_annotations({}),
                encode_client_identity(ClientIdentity()),
            ),
        )
        return int(row[0]), int(waiter[0])


def test_waiters_of_live_servers_count_and_of_dead_ones_do_not(
    two: tuple[Cluster, Cluster], postgres_url: str
) -> None:
    a, _ = two
    _ghost_waiter(postgres_url, ["y"], heartbeat_age=0)  # alive for about a second
    with pytest.raises(ReservationTimeoutError, match="wanted by earlier request"):
        a.table.reserve(["y"], owner="carol", timeout=0)
    server, waiter = _ghost_waiter(postgres_url, ["z"], heartbeat_age=60)  # long dead
    assert a.table.reserve(["z"], owner="carol", timeout=0).session_names == ("z",)

    def reaped() -> bool:
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            row = connection.execute("SELECT count(*) FROM servers WHERE id = %s", (server,))
            return row.fetchone() == (0,)

    assert _until(reaped)  # the next heartbeat of a live server deletes it and its waiter
    cancelled = [e for e in a.events.since(0) if e.kind is EventKind.CANCELLED]
    assert _until(lambda: any(e.reservation_id == waiter for e in a.events.since(0)))
    del cancelled
