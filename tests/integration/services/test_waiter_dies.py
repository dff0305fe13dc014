"""A waiting NI client that dies never becomes a holder, including as its sessions free up.

NI's published client waits in a child process; the test kills it with SIGKILL (or SIGSTOPs it
and lets its gRPC deadline pass) while the holder releases, in both orders, many times. A
caller that went away before its grant was handed over must not hold anything afterwards.

The one case where a dead waiter ends up holding is when the server had handed the grant over
(the reply was written) before the kill landed: then the caller *did* become a holder and died
holding, which is NI's semantics for clients without a lease (``--release-on-disconnect``
covers it). The test tells the cases apart with the server's event log: a reservation that is
still held must have a ``reserved`` event and no ``cancelled`` or ``released`` one.

Waiting for the outcome uses the server's event log with a generous 30 s bound (it only
guards against a hang).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from ni.measurementlink.pinmap.v1.client import PinMapClient
from ni.measurementlink.sessionmanagement.v1 import client as ni_client

from pinbroker.events import EventKind
from pinbroker.server.app import RunningServer

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "two_site.pinmap"
WAIT_BOUND = 30.0
ROUNDS = 20

WAITER = textwrap.dedent(
    """
    import sys, grpc
    from ni.measurementlink.sessionmanagement.v1 import client as sm
    channel = grpc.insecure_channel(sys.argv[1])
    client = sm.SessionManagementClient(grpc_channel=channel)
    context = sm.PinMapContext(pin_map_id=sys.argv[2], sites=[0])
    print("ready", flush=True)
    reservation = client.reserve_sessions(context, ["VDD"], timeout=float(sys.argv[3]))
    print("granted", flush=True)
    sys.stdin.read()
    """
)


def _start_waiter(address: str, timeout: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", WAITER, address, str(EXAMPLE), str(timeout)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def _finish(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.communicate()


def _settle(server: RunningServer, ours: set[int]) -> int:
    """Wait until the dead waiter's request has ended; return how many of its grants are held.

    It ends when nobody waits and every reservation that is not ours is either gone or was
    handed over (``reserved``) without being cancelled. A reservation that stays held although
    it was cancelled, or never handed over, is a zombie: then this times out.
    """
    table = server.sessions.table
    with server.events.subscribe(after=0) as subscription:
        while True:
            snapshot = table.snapshot()
            events = server.events.since(0)
            others = [r for r in snapshot.reservations if r.id not in ours]
            unsettled = [
                r
                for r in others
                if not _handed_over({e.kind for e in events if e.reservation_id == r.id})
            ]
            if not snapshot.waiting and not unsettled:
                return len(others)
            subscription.poll()
            assert subscription.wait(WAIT_BOUND), f"zombie reservations: {unsettled}"


def _handed_over(kinds: set[EventKind]) -> bool:
    return EventKind.RESERVED in kinds and not kinds & {EventKind.CANCELLED, EventKind.RELEASED}


@pytest.fixture
def server(start_pinbroker: Callable[..., RunningServer]) -> RunningServer:
    server = start_pinbroker()
    with grpc.insecure_channel(server.address) as channel:
        PinMapClient(grpc_channel=channel).update_pin_map(str(EXAMPLE))
    return server


@pytest.mark.parametrize("release_first", [True, False], ids=["release-then-kill", "kill-first"])
def test_a_killed_waiter_never_holds(server: RunningServer, release_first: bool) -> None:
    table = server.sessions.table
    ours: set[int] = set()
    delivered_to_dead = 0
    with grpc.insecure_channel(server.address) as channel:
        client = ni_client.SessionManagementClient(grpc_channel=channel)
        context = ni_client.PinMapContext(pin_map_id=str(EXAMPLE), sites=[0])
        for _ in range(ROUNDS):
            held = client.reserve_sessions(context, ["VDD"], timeout=10)
            ours |= {table.holder_of(i.session_name).id for i in held.session_info}  # type: ignore[union-attr]
            waiter = _start_waiter(server.address, 30)
            assert table.wait_for_waiting(1, WAIT_BOUND)
            releaser = threading.Thread(target=held.__exit__, args=(None, None, None))
            if release_first:
                releaser.start()
                waiter.send_signal(signal.SIGKILL)
            else:
                waiter.send_signal(signal.SIGKILL)
                releaser.start()
            releaser.join()
            _finish(waiter)
            if _settle(server, ours):  # handed over, then the caller died (NI's semantics)
                delivered_to_dead += 1
                for reservation in table.snapshot().reservations:
                    table.release_reservation(reservation.id, reservation.session_names)
    # Most rounds must have gone through the race itself, not around it: the waiter's request
    # was granted (or was about to be) when it died.
    assert delivered_to_dead < ROUNDS


def test_a_stopped_waiter_whose_deadline_passes_never_holds(server: RunningServer) -> None:
    """SIGSTOP: the process hangs, its gRPC deadline (the reserve timeout) passes on the server."""
    table = server.sessions.table
    with grpc.insecure_channel(server.address) as channel:
        client = ni_client.SessionManagementClient(grpc_channel=channel)
        context = ni_client.PinMapContext(pin_map_id=str(EXAMPLE), sites=[0])
        held = client.reserve_sessions(context, ["VDD"], timeout=10)
        names = [i.session_name for i in held.session_info]
        before = server.events.latest_revision
        waiter = _start_waiter(server.address, 1.0)
        try:
            assert table.wait_for_waiting(1, WAIT_BOUND)
            waiter.send_signal(signal.SIGSTOP)
            with server.events.subscribe(after=before) as subscription:
                while not any(
                    e.kind in (EventKind.TIMED_OUT, EventKind.CANCELLED)
                    for e in server.events.since(before)
                ):
                    assert subscription.wait(WAIT_BOUND), "the stopped waiter never timed out"
                    subscription.poll()
            held.__exit__(None, None, None)
            assert not any(table.is_reserved(n) for n in names)
        finally:
            waiter.send_signal(signal.SIGCONT)
            _finish(waiter)
