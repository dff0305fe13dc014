"""--release-on-disconnect and --max-hold against a real server, with real client processes.

NI's published client holds sessions in a child process; the child is killed with SIGKILL (no
unreserve, no goodbye). The tests wait for the server's ``expired`` event on its event log (no
sleeps); the bound on that wait is generous (30 s) because it only guards against a hang: the
release itself is due after the grace plus one scan period (well under 2 s here).
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
from ni.measurementlink.sessionmanagement.v1 import client as ni_client

from pinbroker.events import Event, EventKind
from pinbroker.server.app import RunningServer

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "two_site.pinmap"
WAIT_BOUND = 30.0

HOLDER = textwrap.dedent(
    """
    import sys, grpc
    from ni.measurementlink.sessionmanagement.v1 import client as sm
    channel = grpc.insecure_channel(sys.argv[1])
    client = sm.SessionManagementClient(grpc_channel=channel)
    context = sm.PinMapContext(pin_map_id=sys.argv[2], sites=[0])
    reservation = client.reserve_sessions(context, ["VDD"], timeout=10)
    print("|".join(i.session_name for i in reservation.session_info), flush=True)
    sys.stdin.read()  # hold until killed
    """
)


@pytest.fixture
def holder_process(tmp_path: Path) -> Iterator[Callable[[str], tuple[subprocess.Popen[str], str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(address: str) -> tuple[subprocess.Popen[str], str]:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, address, str(EXAMPLE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None
        sessions = process.stdout.readline().strip()
        assert sessions, "the holder process did not reserve"
        return process, sessions

    yield start
    for process in started:
        process.kill()
        process.communicate()  # waits and closes the pipes


def _wait_for_event(server: RunningServer, kind: EventKind, after: int) -> Event:
    with server.events.subscribe(after=after) as subscription:
        while True:
            batch = subscription.poll()
            for event in batch.events:
                if event.kind is kind:
                    return event
            assert subscription.wait(WAIT_BOUND), f"no {kind.value} event within {WAIT_BOUND} s"


def _load_pin_map(address: str) -> None:
    from ni.measurementlink.pinmap.v1.client import PinMapClient

    with grpc.insecure_channel(address) as channel:
        PinMapClient(grpc_channel=channel).update_pin_map(str(EXAMPLE))


def test_a_killed_holder_is_released_after_the_grace(
    start_pinbroker: Callable[..., RunningServer],
    holder_process: Callable[[str], tuple[subprocess.Popen[str], str]],
) -> None:
    server = start_pinbroker(release_on_disconnect=0.5)
    _load_pin_map(server.address)
    process, sessions = holder_process(server.address)
    name = sessions.split("|")[0]
    assert server.sessions.table.is_reserved(name)
    before = server.events.latest_revision

    process.send_signal(signal.SIGKILL)
    process.wait()
    event = _wait_for_event(server, EventKind.EXPIRED, before)

    assert name in event.session_names
    assert "--release-on-disconnect" in event.reason
    assert not server.sessions.table.is_reserved(name)


def test_a_living_holder_without_the_option_keeps_its_sessions(
    start_pinbroker: Callable[..., RunningServer],
    holder_process: Callable[[str], tuple[subprocess.Popen[str], str]],
) -> None:
    """NI's semantics by default: a killed NI client's reservation stays until unreserved."""
    server = start_pinbroker()
    _load_pin_map(server.address)
    process, sessions = holder_process(server.address)
    name = sessions.split("|")[0]
    process.send_signal(signal.SIGKILL)
    process.wait()

    with grpc.insecure_channel(server.address) as channel:
        client = ni_client.SessionManagementClient(grpc_channel=channel)
        context = ni_client.PinMapContext(pin_map_id=str(EXAMPLE), sites=[0])
        with pytest.raises(grpc.RpcError) as error:
            client.reserve_sessions(context, ["VDD"], timeout=0.5)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert server.sessions.table.is_reserved(name)


def test_max_hold_releases_whoever_holds(
    start_pinbroker: Callable[..., RunningServer],
    holder_process: Callable[[str], tuple[subprocess.Popen[str], str]],
) -> None:
    server = start_pinbroker(max_hold=0.5)
    _load_pin_map(server.address)
    before = server.events.latest_revision
    _, sessions = holder_process(server.address)  # alive, but held too long

    event = _wait_for_event(server, EventKind.EXPIRED, before)

    assert sessions.split("|")[0] in event.session_names
    assert event.reason == "held longer than --max-hold 0.5 s"
