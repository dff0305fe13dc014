"""Crashed and hung clients give their sessions back: real processes, SIGKILL and SIGSTOP.

A child process holds or waits for a session through the drop-in
(``ni_measurementlink_service.session_management``) or ``pinbroker.client``; both keep a lease.
The test kills it (SIGKILL: no unreserve, no revoke) or freezes it (SIGSTOP: alive, but no
keep-alive) and waits for the server's ``expired`` (or ``cancelled``) event. The server runs
with a 1 s lease TTL; the wait is bounded at 30 s only to catch a hang. Nothing sleeps.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from ni.measurementlink.pinmap.v1.client import PinMapClient

from ni_measurementlink_service import session_management as sm
from pinbroker.events import EventKind
from pinbroker.server.app import RunningServer

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "two_site.pinmap"
WAIT_BOUND = 30.0
TTL = 1.0

CLIENTS = {
    "drop-in": """
        import grpc
        from ni_measurementlink_service import session_management as sm
        channel = grpc.insecure_channel(ADDRESS)
        client = sm.SessionManagementClient(grpc_channel=channel)
    """,
    "pinbroker.client": """
        from pinbroker.client import connect
        from ni_measurementlink_service import session_management as sm
        client = connect(ADDRESS).session_management
    """,
}

CHILD = """
import sys
ADDRESS, PIN_MAP, TIMEOUT = sys.argv[1], sys.argv[2], float(sys.argv[3])
{client}
context = sm.PinMapContext(pin_map_id=PIN_MAP, sites=[0])
print("ready", flush=True)
reservation = client.reserve_sessions(context, ["VDD"], timeout=TIMEOUT)
print("|".join(i.session_name for i in reservation.session_info), flush=True)
sys.stdin.readline()  # the test says when to let go
try:
    reservation.unreserve()
    print("unreserved", flush=True)
except Exception as exc:
    print(type(exc).__name__, flush=True)
"""


class Child:
    def __init__(self, kind: str, address: str, timeout: float) -> None:
        script = CHILD.format(client=textwrap.dedent(CLIENTS[kind]))
        self.process = subprocess.Popen(
            [sys.executable, "-c", script, address, str(EXAMPLE), str(timeout)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.readline() == "ready"

    def readline(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def say(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def finish(self) -> None:
        self.process.kill()
        self.process.communicate()


@pytest.fixture
def server(start_pinbroker: Callable[..., RunningServer]) -> RunningServer:
    server = start_pinbroker(lease_ttl=TTL)
    with grpc.insecure_channel(server.address) as channel:
        PinMapClient(grpc_channel=channel).update_pin_map(str(EXAMPLE))
    return server


@pytest.fixture
def child(server: RunningServer) -> Iterator[Callable[[str, float], Child]]:
    started: list[Child] = []

    def start(kind: str, timeout: float) -> Child:
        started.append(Child(kind, server.address, timeout))
        return started[-1]

    yield start
    for process in started:
        process.signal(signal.SIGCONT)
        process.finish()


def _wait_for(server: RunningServer, kind: EventKind, after: int) -> tuple[str, ...]:
    with server.events.subscribe(after=after) as subscription:
        while True:
            found = [e for e in server.events.since(after) if e.kind is kind]
            if found:
                return found[0].session_names
            assert subscription.wait(WAIT_BOUND), f"no {kind.value} event"
            subscription.poll()


@pytest.mark.parametrize("kind", list(CLIENTS))
def test_a_killed_holder_gives_its_sessions_back(
    server: RunningServer, child: Callable[[str, float], Child], kind: str
) -> None:
    holder = child(kind, 10)
    names = holder.readline().split("|")
    assert server.sessions.table.is_reserved(names[0])
    before = server.events.latest_revision

    holder.signal(signal.SIGKILL)

    assert set(_wait_for(server, EventKind.EXPIRED, before)) == set(names)
    assert not any(server.sessions.table.is_reserved(n) for n in names)


@pytest.mark.parametrize("kind", list(CLIENTS))
def test_a_hung_holder_gives_its_sessions_back_and_learns_it_lost_them(
    server: RunningServer, child: Callable[[str, float], Child], kind: str
) -> None:
    holder = child(kind, 10)
    names = holder.readline().split("|")
    before = server.events.latest_revision

    holder.signal(signal.SIGSTOP)  # alive, but silent
    assert set(_wait_for(server, EventKind.EXPIRED, before)) == set(names)
    with grpc.insecure_channel(server.address) as channel:  # someone else can have them now
        other = sm.SessionManagementClient(grpc_channel=channel)
        context = sm.PinMapContext(pin_map_id=str(EXAMPLE), sites=[0])
        with other.reserve_sessions(context, ["VDD"], timeout=WAIT_BOUND):
            holder.signal(signal.SIGCONT)
            holder.say("go")  # the woken holder tries to unreserve what it lost
            assert holder.readline() == "LeaseLostError"
            assert all(server.sessions.table.is_reserved(n) for n in names)  # not ours to free


@pytest.mark.parametrize("kind", list(CLIENTS))
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSTOP], ids=["SIGKILL", "SIGSTOP"])
def test_a_dead_or_hung_waiter_never_gets_the_sessions(
    server: RunningServer, child: Callable[[str, float], Child], kind: str, signum: int
) -> None:
    with grpc.insecure_channel(server.address) as channel:
        client = sm.SessionManagementClient(grpc_channel=channel)
        context = sm.PinMapContext(pin_map_id=str(EXAMPLE), sites=[0])
        held = client.reserve_sessions(context, ["VDD"], timeout=10)
        names = [i.session_name for i in held.session_info]
        waiter = child(kind, -1)  # waits forever, bound to its lease
        assert server.sessions.table.wait_for_waiting(1, WAIT_BOUND)
        before = server.events.latest_revision

        waiter.signal(signum)
        _wait_for(server, EventKind.CANCELLED, before)  # connection gone, or lease expired
        held.unreserve()

    assert not server.sessions.table.snapshot().waiting
    assert not any(server.sessions.table.is_reserved(n) for n in names)
