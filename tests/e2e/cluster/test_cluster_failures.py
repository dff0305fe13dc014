"""Failures in a cluster of ``pinbroker serve --database`` processes: servers that die or stall,
a database that restarts, a database that cannot be used.

Each test has a fresh database and servers with ``--lease-ttl 2`` (so a server is dead 2 s
after its last heartbeat, which it renews every 2/3 s; a client's lease ends 2 s after its last
keep-alive). Time bounds are generous multiples of those, explained where they are asserted.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc
import psycopg
import pytest
from _servers import (
    SESSIONS,
    Node,
    events,
    grant_lease,
    holders,
    keep_alive,
    pinbroker_cli,
    queued,
    reservation_id,
    reserve,
    status,
    unreserve,
    wait_for,
    waiting_ids,
    write_pin_map,
)
from ni.measurementlink.pinmap.v1.client import PinMapClient
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import _postgres
from ni_measurementlink_service import session_management as sm
from pinbroker.client import AdminEvent

pytestmark = pytest.mark.timeout(120)

TTL = 2.0
BEAT = TTL / 3
"""A server renews its heartbeat this often (min(TTL/3, 2 s))."""

StartServers = Callable[..., list[Node]]


def _load_pin_map(node: Node, directory: Path) -> str:
    with node.channel() as channel:
        return str(PinMapClient(grpc_channel=channel).update_pin_map(write_pin_map(directory)))


def _fails(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def _with_kind(history: list[AdminEvent], kind: str) -> list[AdminEvent] | None:
    """``history`` if it has an event of ``kind``, else None (for :func:`wait_for`)."""
    return history if any(e.kind == kind for e in history) else None


def _check_no_double_grant(history: Sequence[AdminEvent]) -> None:
    """In revision order, each session goes reserved -> released/expired/... by its holder."""
    holder: dict[str, int | None] = {}
    for event in history:
        rid = event.reservation_id
        for name in event.session_names:
            if event.kind == "reserved":
                assert name not in holder, f"{name} granted to {rid} while {holder[name]} holds it"
                holder[name] = rid
            elif event.kind in ("released", "expired", "force_released"):
                assert holder.pop(name, None) == rid, f"{event.kind} of {name} by {rid}: {holder}"


def test_a_dead_servers_waiter_stops_blocking_after_the_ttl(
    start_servers: StartServers, tmp_path: Path
) -> None:
    a, b = start_servers(2, ttl=TTL)
    pin_map = _load_pin_map(a, tmp_path)
    with a.channel() as ca, b.channel() as cb, concurrent.futures.ThreadPoolExecutor(2) as pool:
        holder = reserve(ca, pin_map, ["P0"], timeout=0)
        older = pool.submit(reserve, cb, pin_map, ["P0"], timeout=60)
        (older_id,) = wait_for(lambda: queued(ca, 1), 10, "B's request queued")
        younger = pool.submit(reserve, ca, pin_map, ["P0"], timeout=60)
        wait_for(lambda: queued(ca, 2), 10, "A's younger request queued")
        b.kill()
        killed = time.monotonic()
        unreserve(ca, holder)
        granted = younger.result(timeout=30)
        waited = time.monotonic() - killed
        assert _fails(lambda: older.result(timeout=30)).code() == grpc.StatusCode.UNAVAILABLE
        # The grant may come first (a dead server's waiter stops counting before it is reaped).
        history = wait_for(lambda: _with_kind(events(ca), "cancelled"), 10, "B's waiter dropped")
    # B's last heartbeat came at most BEAT before the kill, so its waiter kept its place for at
    # least TTL - BEAT after it: the younger request did not overtake it while B counted ...
    assert waited >= TTL - BEAT - 0.1, waited
    # ... and stopped counting TTL after B's last heartbeat; the next heartbeat of A (every
    # BEAT) reaps it and wakes A's waiter (or A's safety poll, every second, finds it). So
    # TTL + 1 s plus scheduling; 3 s more leave room for a loaded CI machine.
    assert waited < TTL + 1 + 3, waited
    assert [s.session.name for s in granted] == [SESSIONS[0]]
    cancelled = [e for e in history if e.kind == "cancelled" and e.reservation_id == older_id]
    assert len(cancelled) == 1
    assert "stopped: no heartbeat" in cancelled[0].reason
    _check_no_double_grant(history)


def test_the_leases_of_a_dead_servers_clients(start_servers: StartServers, tmp_path: Path) -> None:
    a, b = start_servers(2, ttl=TTL)
    pin_map = _load_pin_map(a, tmp_path)
    with a.channel() as ca, b.channel() as cb:
        # Two clients of A, each under a lease: one will vanish with A, one moves to B.
        granted_before = time.monotonic()
        vanishing = grant_lease(ca)
        moving = grant_lease(ca)
        lost = reserve(ca, pin_map, ["P0"], timeout=0, lease_id=vanishing)
        kept = reserve(ca, pin_map, ["P1"], timeout=0, lease_id=moving)
        a.kill()
        killed = time.monotonic()
        # The moving client keeps its lease alive through B, every TTL/4, for 3 TTLs.
        released_after = None
        while time.monotonic() - killed < 3 * TTL:
            keep_alive(cb, moving)
            held = holders(cb)
            if released_after is None and SESSIONS[0] not in held:
                released_after = time.monotonic() - granted_before
            assert held.get(SESSIONS[1]) == reservation_id(kept)
            time.sleep(TTL / 4)  # the client's keep-alive period, not a synchronisation
        # The vanished client's lease was never renewed: it ended TTL after it was granted, and
        # a reaper (B's) released its session soon after (3 s more for a loaded CI machine).
        assert released_after is not None
        assert TTL - 0.05 <= released_after < TTL + 3, released_after
        expired = [e for e in events(cb) if e.kind == "expired"]
        assert [(e.session_names, e.reservation_id) for e in expired] == [
            ((SESSIONS[0],), reservation_id(lost))
        ]
        assert f"lease {vanishing} expired" in expired[0].reason
        # The moved client goes on through B under the same lease, and releases through B.
        more = reserve(cb, pin_map, ["P2"], timeout=0, lease_id=moving)
        lease_of = {h.session_name: h.lease.id for h in status(cb).held}
        assert lease_of == {SESSIONS[1]: moving, SESSIONS[2]: moving}
        unreserve(cb, kept)
        unreserve(cb, more)
        assert holders(cb) == {}


def test_a_stalled_server_loses_its_waiters_and_rejoins(
    start_servers: StartServers, tmp_path: Path
) -> None:
    a, b = start_servers(2, ttl=TTL)
    pin_map = _load_pin_map(a, tmp_path)
    with a.channel() as ca, b.channel() as cb, concurrent.futures.ThreadPoolExecutor(2) as pool:
        holder = reserve(ca, pin_map, ["P0"], timeout=0)
        stalled = pool.submit(reserve, cb, pin_map, ["P0"], timeout=60)
        (stalled_id,) = wait_for(lambda: queued(ca, 1), 10, "B's request queued")
        b.pause()
        try:
            # Once B's heartbeat is older than the TTL its waiter no longer counts (the status
            # leaves it out), and the next heartbeat of A (any live server) drops it.
            wait_for(lambda: _with_kind(events(ca), "cancelled"), TTL + 5, "B's waiter dropped")
            assert waiting_ids(ca) == []
        finally:
            b.resume()
        # B finds its row gone, rejoins, and answers its caller: the request was withdrawn.
        error = _fails(lambda: stalled.result(timeout=TTL + 10))
        assert error.code() == grpc.StatusCode.CANCELLED, error
        assert f"request {stalled_id} was withdrawn" in (error.details() or "")
        # B serves again: it knows who holds what, grants what is free ...
        refused = _fails(lambda: reserve(cb, pin_map, ["P0"], timeout=0))
        assert f"(reservation {reservation_id(holder)})" in (refused.details() or "")
        other = reserve(cb, pin_map, ["P1"], timeout=0)
        # ... and beats again: a new waiter of B keeps its place for longer than the TTL.
        waiter = pool.submit(reserve, cb, pin_map, ["P0"], timeout=60)
        (waiter_id,) = wait_for(lambda: queued(ca, 1), 10, "B's new request queued")
        queued_at = time.monotonic()
        while time.monotonic() - queued_at < 1.5 * TTL:
            assert waiting_ids(ca) == [waiter_id]
            time.sleep(0.1)  # watching that nothing changes for a while
        unreserve(ca, holder)
        granted = waiter.result(timeout=30)
        assert reservation_id(granted) == waiter_id
        unreserve(cb, granted)
        unreserve(ca, other)
        history = events(cb)
    cancelled = [e for e in history if e.kind == "cancelled"]
    assert [e.reservation_id for e in cancelled] == [stalled_id]
    assert "stopped: no heartbeat" in cancelled[0].reason
    _check_no_double_grant(history)


def test_a_database_restart(
    start_servers: StartServers, tmp_path: Path, postgres_cluster: _postgres.LocalCluster
) -> None:
    a, b = start_servers(2, ttl=TTL)
    pin_map = _load_pin_map(a, tmp_path)
    with a.channel() as ca, b.channel() as cb, concurrent.futures.ThreadPoolExecutor(1) as pool:
        client_a = sm.SessionManagementClient(grpc_channel=ca)
        context = sm.PinMapContext(pin_map_id=pin_map, sites=[0])
        # Held without a lease (as NI's clients do): nothing may take it while the database is
        # away or after.
        holder = reserve(ca, pin_map, ["P0"], timeout=0)
        with client_a.reserve_sessions(context, ["P5"], timeout=0) as registering:
            client_a.register_sessions(registering.session_info)
        waiter = pool.submit(reserve, cb, pin_map, ["P0"], timeout=90, call_timeout=100)
        (waiter_id,) = wait_for(lambda: queued(ca, 1), 10, "B's request queued")
        postgres_cluster.stop()
        try:
            for channel in (ca, cb):
                began = time.monotonic()
                error = _fails(lambda: reserve(channel, pin_map, ["P1"], timeout=0))  # noqa: B023
                # A server waits up to 5 s for a database connection, then answers UNAVAILABLE
                # (the time to give up on the old connections is on top; 15 s is generous).
                assert time.monotonic() - began < 15
                assert error.code() == grpc.StatusCode.UNAVAILABLE, error
                assert "database" in (error.details() or ""), error
        finally:
            postgres_cluster.start()
        # Both servers reconnect by themselves and carry on.
        for channel in (ca, cb):
            granted = wait_for(
                lambda: reserve(channel, pin_map, ["P1"], timeout=0),  # noqa: B023
                30,
                "a reserve to work again",
                interval=0.2,
            )
            assert holders(channel) == {
                SESSIONS[0]: reservation_id(holder),
                SESSIONS[1]: reservation_id(granted),
            }
            unreserve(channel, granted)
        refused = _fails(lambda: reserve(cb, pin_map, ["P0"], timeout=0))
        assert f"(reservation {reservation_id(holder)})" in (refused.details() or "")
        with sm.SessionManagementClient(grpc_channel=cb).reserve_all_registered_sessions(
            timeout=0
        ) as registered:
            assert [i.session_name for i in registered.session_info] == [SESSIONS[5]]
        # Leases still end by themselves: one granted after the outage and never renewed.
        granted_before = time.monotonic()
        lease = grant_lease(ca)
        under_lease = reserve(ca, pin_map, ["P2"], timeout=0, lease_id=lease)
        wait_for(lambda: SESSIONS[2] not in holders(cb) or None, TTL + 5, "the lease to expire")
        assert time.monotonic() - granted_before >= TTL - 0.05
        unreserve(cb, holder)
        # B's waiter is answered: granted, or (its server's heartbeat lapsed while the database
        # was away longer than the TTL, and A dropped it when the database came back) cancelled.
        failure = waiter.exception(timeout=30)
        if failure is None:
            assert reservation_id(waiter.result()) == waiter_id
            unreserve(cb, waiter.result())
        else:
            assert isinstance(failure, grpc.RpcError), failure
            assert failure.code() == grpc.StatusCode.CANCELLED, failure
            assert f"request {waiter_id} was withdrawn" in (failure.details() or "")
        history = events(cb)
        assert [e.revision for e in history] == [e.revision for e in events(ca)]
    assert [e.reservation_id for e in history if e.kind == "expired"] == [
        reservation_id(under_lease)
    ]
    _check_no_double_grant(history)


def test_a_killed_server_restarted_on_the_same_database_rejoins(
    start_servers: StartServers, tmp_path: Path
) -> None:
    a, b = start_servers(2, ttl=TTL)
    pin_map = _load_pin_map(a, tmp_path)
    with a.channel() as ca:
        holder = reserve(ca, pin_map, ["P0"], timeout=0)  # no lease: held until unreserved
        client = sm.SessionManagementClient(grpc_channel=ca)
        with client.reserve_sessions(
            sm.PinMapContext(pin_map_id=pin_map, sites=[0]), ["P5"], timeout=0
        ) as registering:
            client.register_sessions(registering.session_info)
        before = [e.revision for e in events(ca)]
    a.kill()
    with b.channel() as cb:  # B carries on meanwhile
        other = reserve(cb, pin_map, ["P1"], timeout=0)
    a.start()  # on its old port
    with a.channel() as ca:
        assert holders(ca) == {
            SESSIONS[0]: reservation_id(holder),
            SESSIONS[1]: reservation_id(other),
        }
        history = events(ca)
        assert [e.revision for e in history][: len(before)] == before
        assert history[-1].kind == "reserved"
        assert history[-1].reservation_id == reservation_id(other)
        with sm.SessionManagementClient(grpc_channel=ca).reserve_all_registered_sessions(
            timeout=0
        ) as registered:
            assert [i.session_name for i in registered.session_info] == [SESSIONS[5]]
        unreserve(ca, other)  # reserved through B, released through the restarted A
        unreserve(ca, holder)
        again = reserve(ca, pin_map, ["P0", "P1"], timeout=0)
        unreserve(ca, again)
        history = events(ca)
    _check_no_double_grant(history)


def _serve_once(args: Sequence[str], env: dict[str, str]) -> tuple[int, list[str]]:
    result = pinbroker_cli("serve", "--port", "0", *args, env=env, timeout=60)
    assert result.stdout == ""
    return result.returncode, result.stderr.splitlines()


def test_an_unreachable_database_stops_the_start_in_one_line(
    cli_env: dict[str, str], postgres_url: str, tmp_path: Path
) -> None:
    state = ("--state-dir", str(tmp_path / "state"))
    secret = "s3cret-Pa55"
    # Nothing listens on port 1.
    code, lines = _serve_once(
        ("--database", f"postgresql://pinbroker:{secret}@127.0.0.1:1/pinbroker", *state), cli_env
    )
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("pinbroker: cannot start: "), lines
    assert "127.0.0.1:1" in lines[0] or "port 1" in lines[0], lines
    assert secret not in lines[0]
    # A real server, a wrong password, given by $PINBROKER_DATABASE.
    params = conninfo_to_dict(postgres_url)
    wrong = f"postgresql://{params['user']}:{secret}@{params['host']}:{params['port']}/"
    env = dict(cli_env, PINBROKER_DATABASE=wrong + str(params["dbname"]))
    code, lines = _serve_once(state, env)
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("pinbroker: cannot start: "), lines
    assert "password" in lines[0], lines
    assert secret not in lines[0]


def test_a_newer_schema_is_refused_in_one_line(
    start_servers: StartServers, postgres_url: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    (a,) = start_servers(1, ttl=TTL)  # creates the schema
    a.terminate()
    conninfo = make_conninfo(postgres_url)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("UPDATE pinbroker_schema SET version = 99")
    code, lines = _serve_once(
        ("--database", postgres_url, "--state-dir", str(tmp_path / "state")), cli_env
    )
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("pinbroker: cannot start: "), lines
    assert "schema version 99" in lines[0], lines
    password = str(conninfo_to_dict(postgres_url)["password"])
    assert password not in lines[0]
