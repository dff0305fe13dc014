"""A history test in the style of etcd's robustness tests: many clients, random faults, checks.

Three ``pinbroker serve --database`` processes share one database (``--lease-ttl 2``). Eight
client processes (``_history_client.py``) each run a bounded number of random operations through
randomly chosen servers with NI's client API: reserve random subsets of six sessions with random
timeouts (0, or 0.1-1 s), hold briefly, unreserve; register and unregister sessions of their
own. Every operation is recorded with its wall-clock invoke and return times and its outcome.
Meanwhile a chaos thread SIGKILLs a random server and starts it again (on the same port) a few
times.

Afterwards:

* **Authoritative history**: the event history (numbered in the database, mirrored in every
  server: all three show the same events) has, per session, reserved -> released / expired /
  force released by the same reservation, never a second grant in between. Every queued
  request was answered (granted, timed out or cancelled), nobody waits and nothing is held.
* **Client view**: every acknowledged grant is a ``reserved`` event of that reservation with
  exactly those sessions; the client saw it after the event and released it before the event
  that ended it. The holds as the clients saw them (from the reserve's return to the
  unreserve's invoke, or to the expiry that ended the hold first) never overlap for a session.
* **Registrations**: every acknowledged registration is still registered at the end unless
  its client unregistered it (acknowledged); acknowledged unregistrations are gone.
* **Every waiter answered**: no reserve call took longer than its timeout plus a bound (the
  client's retries after a server died wait at most for the lease, 3 tries).
"""

from __future__ import annotations

import collections
import itertools
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from _servers import PINS, SESSIONS, Node, events, status, wait_for, write_pin_map
from ni.measurementlink.pinmap.v1.client import PinMapClient

from ni_measurementlink_service import session_management as sm
from pinbroker.client import AdminEvent

pytestmark = pytest.mark.timeout(180)

TTL = 2.0
SERVERS = 3
CLIENTS = 8
OPERATIONS = 40
KILLS = 3
ANSWER_BOUND = 3 * (TTL + 5.0)
"""Seconds a reserve may take beyond its timeout: the drop-in retries a call whose connection
broke (up to 3 tries), each after a keep-alive that waits for the server at most until the
lease would expire (TTL), plus the time a server takes to start again."""

CLIENT_SCRIPT = Path(__file__).with_name("_history_client.py")

Record = dict[str, Any]


def _chaos(nodes: list[Node], rng: random.Random, stop: threading.Event, log: list[str]) -> None:
    """Kill a random server and start it again, ``KILLS`` times, one server down at a time."""
    for _ in range(KILLS):
        if stop.wait(rng.uniform(2.0, 4.0)):
            return
        node = rng.choice(nodes)
        log.append(f"{time.time():.3f} kill {node.name}")
        node.kill()
        if stop.wait(rng.uniform(0.0, 1.5)):
            node.start()
            return
        node.start()
        log.append(f"{time.time():.3f} started {node.name}")


def _run_clients(
    nodes: list[Node], pin_map_id: str, directory: Path, seed: int
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    servers = {node.name: node.address for node in nodes}
    for client in range(CLIENTS):
        out = directory / f"client-{client}.jsonl"
        config = {
            "client": client,
            "servers": servers,
            "pin_map_id": pin_map_id,
            "pins": list(PINS),
            "seed": seed * 100 + client,
            "operations": OPERATIONS,
            "out": str(out),
        }
        stderr = (directory / f"client-{client}.stderr").open("wb")
        process = subprocess.Popen(
            [sys.executable, str(CLIENT_SCRIPT), json.dumps(config)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        stderr.close()
        yield process, out


def _read(paths: list[Path]) -> list[Record]:
    records: list[Record] = []
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            records.extend(json.loads(line) for line in lines)
    return records


def test_random_clients_and_server_kills(
    start_servers: Callable[..., list[Node]], tmp_path: Path
) -> None:
    seed = random.randrange(1_000_000)
    print(f"history test seed {seed}")  # shown when it fails: rerun with it to reproduce
    rng = random.Random(seed)
    nodes = start_servers(SERVERS, ttl=TTL)
    with nodes[0].channel() as channel:
        pin_map_id = str(PinMapClient(grpc_channel=channel).update_pin_map(write_pin_map(tmp_path)))
    clients = list(_run_clients(nodes, pin_map_id, tmp_path, seed))
    stop = threading.Event()
    chaos_log: list[str] = []
    chaos = threading.Thread(target=_chaos, args=(nodes, rng, stop, chaos_log), daemon=True)
    chaos.start()
    try:
        deadline = time.monotonic() + 120
        for number, (process, _) in enumerate(clients):
            code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
            stderr = (tmp_path / f"client-{number}.stderr").read_text(errors="replace")
            assert code == 0, f"client {number} exited with {code}: {stderr}"
    finally:
        stop.set()
        chaos.join(timeout=60)
        for process, _ in clients:
            if process.poll() is None:
                process.kill()
                process.wait()
    print("\n".join(chaos_log))
    assert len([line for line in chaos_log if " kill " in line]) >= 1
    records = _read([out for _, out in clients])
    with nodes[0].channel() as a, nodes[1].channel() as b, nodes[2].channel() as c:
        # Nothing stays held or waiting: clients released, or their leases ended (at the
        # latest TTL after they exited, when their keepers could not revoke them).
        wait_for(lambda: not status(a).held or None, TTL + 15, "nothing held", interval=0.2)
        assert status(a).waiting == ()
        history = events(a)
        for other in (b, c):  # every server mirrors the same history
            wait_for(
                lambda: (
                    [e.revision for e in events(other)]  # noqa: B023
                    == [e.revision for e in history]
                    or None
                ),
                10,
                "the mirrors to agree",
            )
            assert events(other) == history
        with sm.SessionManagementClient(grpc_channel=b).reserve_all_registered_sessions(
            timeout=10
        ) as all_registered:
            registered = {i.session_name for i in all_registered.session_info}
    with (tmp_path / "events.jsonl").open("w", encoding="utf-8") as dump:  # for post-mortems
        for e in history:
            fields = (e.revision, e.time.timestamp(), e.kind, e.session_names, e.reservation_id)
            dump.write(json.dumps([*fields, e.reason]) + "\n")
    assert [e.revision for e in history] == list(range(1, len(history) + 1))  # none dropped
    ends = _check_authoritative_history(history)
    _check_client_view(records, history, ends)
    _check_registrations(records, registered)
    _check_answers(records)
    kinds = collections.Counter(r["op"] + ("" if r["ok"] else f":{r['code']}") for r in records)
    print(sorted(kinds.items()))
    assert kinds["reserve"] >= CLIENTS * OPERATIONS // 10  # the clients did get work done


def _check_authoritative_history(history: list[AdminEvent]) -> dict[tuple[int, str], AdminEvent]:
    """Check the event history; return (reservation, session) -> the event that freed it."""
    holder: dict[str, int | None] = {}
    ends: dict[tuple[int, str], AdminEvent] = {}
    answered: set[int] = set()
    queued: set[int] = set()
    for event in history:
        rid = event.reservation_id
        if rid is not None and event.kind == "queued":
            queued.add(rid)
        elif rid is not None and event.kind in ("reserved", "timed_out", "cancelled"):
            answered.add(rid)
        for name in event.session_names:
            if event.kind == "reserved":
                assert name not in holder, (
                    f"#{event.revision}: {name} granted to {rid} while "
                    f"reservation {holder[name]} holds it"
                )
                holder[name] = rid
            elif event.kind in ("released", "expired", "force_released"):
                assert holder.pop(name, None) == rid, f"#{event.revision}: {event} {holder}"
                assert rid is not None
                ends[(rid, name)] = event
    assert holder == {}, f"held at the end: {holder}"
    assert queued <= answered, f"queued but never answered: {sorted(queued - answered)}"
    return ends


def _check_client_view(
    records: list[Record],
    history: list[AdminEvent],
    ends: dict[tuple[int, str], AdminEvent],
) -> None:
    reserved = {e.reservation_id: e for e in history if e.kind == "reserved"}
    released_by_client = {
        (r["client"], r["reservation_id"]): r for r in records if r["op"] == "unreserve"
    }
    holds: dict[str, list[tuple[float, float, int]]] = collections.defaultdict(list)
    for record in records:
        if record["op"] != "reserve" or not record["ok"]:
            continue
        names = sorted(s["name"] for s in record["sessions"])
        assert set(names) <= set(SESSIONS)
        (rid,) = {s["reservation_id"] for s in record["sessions"]}
        event = reserved.get(rid)
        assert event is not None, f"acknowledged grant {rid} has no reserved event: {record}"
        assert sorted(event.session_names) == names, (event, record)
        assert event.time.timestamp() <= record["return"], (event, record)
        unreserve = released_by_client.get((record["client"], rid))
        assert unreserve is not None, record  # the client always unreserves what it got
        for name in names:
            end = ends[(rid, name)]
            # The hold as the client saw it ended when it unreserved, or before that if its
            # lease ended first (expired) or it was force released.
            until = unreserve["invoke"]
            if end.kind == "released" and unreserve["ok"]:
                assert end.time.timestamp() >= unreserve["invoke"], (end, unreserve)
            until = min(until, end.time.timestamp())
            holds[name].append((record["return"], until, rid))
    for name, spans in holds.items():
        spans.sort()
        for (_, first_end, first), (second_start, _, second) in itertools.pairwise(spans):
            assert first_end <= second_start, (
                f"{name}: the holds of reservations {first} and {second} overlap "
                f"({first_end} > {second_start})"
            )


def _check_registrations(records: list[Record], registered: set[str]) -> None:
    """Acknowledged registrations are kept, acknowledged unregistrations gone; unknown: either."""
    state: dict[str, str] = {}
    for record in sorted(records, key=lambda r: (r["client"], r["invoke"])):
        if record["op"] == "register":
            known = record["ok"] or record["code"] == "ALREADY_EXISTS"
            state[record["name"]] = "present" if known else "unknown"
        elif record["op"] == "unregister":
            state[record["name"]] = "absent" if record["ok"] else "unknown"
    ours = {name for name in registered if name.startswith("reg-")}
    lost = sorted(n for n, s in state.items() if s == "present" and n not in ours)
    assert not lost, f"acknowledged registrations lost: {lost}"
    kept = sorted(n for n, s in state.items() if s == "absent" and n in ours)
    assert not kept, f"acknowledged unregistrations still registered: {kept}"
    assert ours <= set(state), f"registered by nobody: {sorted(ours - set(state))}"


def _check_answers(records: list[Record]) -> None:
    for record in records:
        if record["op"] == "reserve":
            took = record["return"] - record["invoke"]
            assert took <= record["timeout"] + ANSWER_BOUND, record
            if not record["ok"]:
                assert record["code"] in (
                    grpc.StatusCode.UNAVAILABLE.name,
                    grpc.StatusCode.CANCELLED.name,
                    grpc.StatusCode.NOT_FOUND.name,  # a lease that ended under the call
                ), record
