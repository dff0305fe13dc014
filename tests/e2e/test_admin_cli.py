"""``pinbroker status|release|events`` as subprocesses against a real server on port 0."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from _serve import DMM_PIN_MAP_XML
from ni.measurementlink import pin_map_context_pb2
from ni.measurementlink.pinmap.v1.client import PinMapClient
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2 as sm
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2_grpc as sm_grpc
from ni.measurementlink.sessionmanagement.v1.client import (
    PinMapContext,
    SessionManagementClient,
)

from pinbroker._proto.pinbroker.lease.v1 import lease_pb2, lease_pb2_grpc
from pinbroker.client import AdminClient
from pinbroker.server.app import RunningServer, ServerConfig, start_server

SESSION = "niDMM-DMM1"
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment in which no server can be discovered: the CLI needs --address."""
    environment = dict(os.environ)
    environment.pop("PINBROKER_ADDRESS", None)
    environment["PINBROKER_DISCOVERY_KEY_FILE"] = str(tmp_path / "nokey" / "Discovery.json")
    return environment


def _start(tmp_path: Path, **overrides: Any) -> RunningServer:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "state_dir": tmp_path / "state",
        "publish_key_file": False,
        "grace_seconds": 1.0,
        "lease_ttl": 300.0,
    }
    settings.update(overrides)
    return start_server(ServerConfig(**settings))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = _start(tmp_path)
    yield running
    running.stop(grace=0)


@pytest.fixture
def channel(server: RunningServer) -> Iterator[grpc.Channel]:
    opened = grpc.insecure_channel(server.address)
    grpc.channel_ready_future(opened).result(timeout=10)
    yield opened
    opened.close()


@pytest.fixture
def context(tmp_path: Path, channel: grpc.Channel) -> PinMapContext:
    path = tmp_path / "dmm.pinmap"
    path.write_text(DMM_PIN_MAP_XML, encoding="utf-8")
    pin_map_id = PinMapClient(grpc_channel=channel).update_pin_map(path)
    return PinMapContext(pin_map_id=pin_map_id, sites=[0])


def pinbroker(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pinbroker.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _reserve_with_lease(channel: grpc.Channel, context: PinMapContext) -> int:
    """Reserve SESSION under a lease of alice@bench7 (pid 4242); return the lease id."""
    identity = lease_pb2.ClientIdentity(hostname="bench7", username="alice", pid=4242, program="t")
    lease_id = (
        lease_pb2_grpc.LeaseServiceStub(channel)
        .GrantLease(lease_pb2.GrantLeaseRequest(identity=identity))
        .lease_id
    )
    sm_grpc.SessionManagementServiceStub(channel).ReserveSessions(
        sm.ReserveSessionsRequest(
            pin_map_context=pin_map_context_pb2.PinMapContext(
                pin_map_id=context.pin_map_id, sites=[0]
            ),
            pin_or_relay_names=["OUT"],
            timeout_in_milliseconds=0,
        ),
        metadata=(("pinbroker-lease-id", str(lease_id)),),
    )
    return lease_id


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_status_release_and_events(
    server: RunningServer,
    channel: grpc.Channel,
    context: PinMapContext,
    env: dict[str, str],
) -> None:
    address = ("--address", server.address)
    lease_id = _reserve_with_lease(channel, context)
    granted: list[object] = []
    waiter = threading.Thread(
        target=lambda: granted.append(
            SessionManagementClient(grpc_channel=channel).reserve_sessions(
                context, ["OUT"], timeout=120
            )
        )
    )
    waiter.start()
    try:
        assert server.sessions.table.wait_for_waiting(1, timeout=30)

        result = pinbroker("status", "--json", *address, env=env)
        assert result.returncode == 0, result.stderr
        status = json.loads(result.stdout)
        assert {"held", "waiting", "revision"} <= status.keys()
        (held,) = status["held"]
        assert {"session_name", "reservation_id", "since", "owner", "lease", "fence"} <= held.keys()
        assert held["session_name"] == SESSION
        assert RFC3339_UTC.match(held["since"])
        assert held["owner"]["username"] == "alice"
        assert held["owner"]["hostname"] == "bench7"
        assert held["owner"]["pid"] == 4242
        assert held["owner"]["peer"].startswith("ipv")
        assert held["lease"]["kind"] == "client"
        assert held["lease"]["id"] == lease_id
        assert held["lease"]["state"] == "active"
        assert 0 < held["lease"]["remaining_seconds"] <= 300
        (waiting,) = status["waiting"]
        assert waiting["position"] == 1
        assert waiting["session_names"] == [SESSION]
        assert RFC3339_UTC.match(waiting["since"])
        assert RFC3339_UTC.match(waiting["deadline"])
        assert waiting["owner"]["pid"] is None  # NI's client has no lease: identity unknown
        assert waiting["blocked_by"] == [held["reservation_id"]]
        assert waiting["lease"] == {
            "kind": "none",
            "id": None,
            "state": "none",
            "remaining_seconds": None,
        }

        readable = pinbroker("status", *address, env=env)
        assert readable.returncode == 0, readable.stderr
        assert "alice@bench7 (pid 4242)" in readable.stdout
        assert f"reservation {held['reservation_id']}" in readable.stdout  # BLOCKED BY column
        assert "Waiting: 1 request" in readable.stdout

        released = pinbroker("release", SESSION, "--reason", "bench 7 hung", *address, env=env)
        assert released.returncode == 0, released.stderr
        assert released.stdout.splitlines() == [f"released  {SESSION}"]
    finally:
        waiter.join(60)
    assert len(granted) == 1  # the waiter got the session once it was force released

    partly = pinbroker("release", SESSION, "niDMM-NOPE", "--reason", "cleanup", *address, env=env)
    assert partly.returncode == 1
    assert partly.stdout.splitlines() == [f"released  {SESSION}", "not held  niDMM-NOPE"]

    history = pinbroker("events", "--json", *address, env=env)
    assert history.returncode == 0, history.stderr
    events = _json_lines(history.stdout)
    revisions = [e["revision"] for e in events]
    assert revisions == list(range(revisions[0], revisions[0] + len(revisions)))
    forced = [e for e in events if e["kind"] == "force_released"]
    assert [e["reason"].split(" (by ")[0] for e in forced] == ["bench 7 hung", "cleanup"]
    assert forced[0]["session_names"] == [SESSION]
    for event in events:
        assert set(event) >= {
            "revision",
            "time",
            "kind",
            "session_names",
            "reservation_id",
            "owner",
            "reason",
        }
        assert RFC3339_UTC.match(event["time"])
        assert event["reservation_id"] is None or event["reservation_id"] > 0

    since = forced[0]["revision"]
    later = pinbroker("events", "--json", "--since", str(since), *address, env=env)
    assert later.returncode == 0, later.stderr
    assert [e["revision"] for e in _json_lines(later.stdout)] == list(
        range(since + 1, revisions[-1] + 1)
    )

    lines = pinbroker("events", "--since", str(since - 1), *address, env=env)
    assert lines.returncode == 0, lines.stderr
    assert "force_released" in lines.stdout.splitlines()[0]
    assert "bench 7 hung" in lines.stdout.splitlines()[0]
    assert lines.stderr == ""


def test_events_follow_prints_new_events_and_ends_on_ctrl_c(
    server: RunningServer,
    channel: grpc.Channel,
    context: PinMapContext,
    env: dict[str, str],
) -> None:
    latest = AdminClient(channel).status().revision
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pinbroker.cli",
            "events",
            "--follow",
            "--json",
            "--since",
            str(latest),
            "--address",
            server.address,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert follower.stdout is not None
    stdout = follower.stdout
    reader = threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True)
    reader.start()
    try:
        with SessionManagementClient(grpc_channel=channel).reserve_sessions(context, ["OUT"]):
            pass
        first = json.loads(lines.get(timeout=60))
        second = json.loads(lines.get(timeout=60))
        assert (first["kind"], first["revision"]) == ("reserved", latest + 1)
        assert (second["kind"], second["revision"]) == ("released", latest + 2)
        assert first["session_names"] == [SESSION]
        assert follower.poll() is None  # still following
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=60) == 0
        assert follower.stderr is not None
        assert "Traceback" not in follower.stderr.read()
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait(timeout=60)
        reader.join(60)
        stdout.close()
        if follower.stderr is not None:
            follower.stderr.close()


def test_events_warns_about_events_dropped_from_the_bounded_history(
    tmp_path: Path, env: dict[str, str]
) -> None:
    server = _start(tmp_path, event_history=2)
    try:
        with grpc.insecure_channel(server.address) as channel:
            path = tmp_path / "dmm.pinmap"
            path.write_text(DMM_PIN_MAP_XML, encoding="utf-8")
            pin_map_id = PinMapClient(grpc_channel=channel).update_pin_map(path)
            sessions = SessionManagementClient(grpc_channel=channel)
            for _ in range(3):
                with sessions.reserve_sessions(PinMapContext(pin_map_id=pin_map_id, sites=[0])):
                    pass
            latest = AdminClient(channel).status().revision
        result = pinbroker("events", "--json", "--address", server.address, env=env)
    finally:
        server.stop(grace=0)
    assert result.returncode == 0, result.stderr
    assert [e["revision"] for e in _json_lines(result.stdout)] == [latest - 1, latest]
    (warning,) = result.stderr.splitlines()
    assert warning == (
        f"pinbroker: warning: {latest - 2} events after revision 0 were dropped from the "
        f"server's bounded history (the oldest retained is {latest - 1})"
    )


@pytest.mark.parametrize(
    "command",
    [("status",), ("status", "--json"), ("events",), ("release", SESSION, "--reason", "x")],
)
def test_no_server_is_one_line_and_exit_3(
    command: tuple[str, ...], env: dict[str, str], tmp_path: Path
) -> None:
    result = pinbroker(*command, env=env)
    assert result.returncode == 3
    (line,) = result.stderr.splitlines()
    assert line.startswith("pinbroker: No running pinbroker found")
    assert "PINBROKER_ADDRESS" in line
    assert str(tmp_path / "nokey" / "Discovery.json") in line  # where it looked
    assert result.stdout == ""


def test_a_server_that_does_not_answer_is_one_line_and_exit_3(env: dict[str, str]) -> None:
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{bound.getsockname()[1]}"
        result = pinbroker("status", env={**env, "PINBROKER_ADDRESS": address})
    assert result.returncode == 3
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"pinbroker: cannot reach the pinbroker at {address} (from ")
    assert "PINBROKER_ADDRESS" in line


def test_release_usage_errors_exit_2(
    server: RunningServer, env: dict[str, str], tmp_path: Path
) -> None:
    address = ("--address", server.address)
    missing_reason = pinbroker("release", SESSION, *address, env=env)
    assert missing_reason.returncode == 2
    assert "--reason" in missing_reason.stderr

    blank = pinbroker("release", SESSION, "--reason", " ", *address, env=env)
    assert blank.returncode == 2
    assert blank.stderr.splitlines() == ["pinbroker: a force release needs a reason"]

    no_token = pinbroker(
        "release",
        SESSION,
        "--reason",
        "x",
        "--admin-token-file",
        str(tmp_path / "missing-token"),
        *address,
        env=env,
    )
    assert no_token.returncode == 2
    (line,) = no_token.stderr.splitlines()
    assert line.startswith(f"pinbroker: cannot read the admin token file {tmp_path}")


def test_release_with_a_token_from_a_local_caller(
    server: RunningServer, env: dict[str, str], tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n", encoding="utf-8")
    result = pinbroker(
        "release",
        SESSION,
        "--reason",
        "nothing held",
        "--admin-token-file",
        str(token),
        "--address",
        server.address,
        env=env,
    )
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"not held  {SESSION}"]
