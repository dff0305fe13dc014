"""``pinbroker serve``'s log: start-up lines and one line per event, in text and JSON.

The server runs as a subprocess; NI's published client reserves, unreserves, registers and
unregisters on ``examples/two_site.pinmap`` (preloaded with ``--pin-map``). Nothing sleeps: the
test reads stderr until the expected line arrives, with a generous deadline.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from ni.measurementlink.sessionmanagement.v1.client import (
    PinMapContext,
    SessionInformation,
    SessionManagementClient,
)

REPO = Path(__file__).resolve().parents[2]
TWO_SITE = REPO / "examples" / "two_site.pinmap"
READY = re.compile(r"pinbroker listening on (\S+):(\d+)")
DEADLINE = 60.0


class LoggingServer:
    """``pinbroker serve`` with its stderr read line by line by a thread."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        environment = dict(os.environ)
        environment["PINBROKER_DISCOVERY_KEY_FILE"] = str(tmp_path / "key" / "Discovery.json")
        self.key_file = Path(environment["PINBROKER_DISCOVERY_KEY_FILE"])
        self.state_dir = tmp_path / "state"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pinbroker.cli",
                "serve",
                "--port",
                "0",
                "--state-dir",
                str(self.state_dir),
                "--pin-map",
                str(TWO_SITE),
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert self.process.stderr is not None
        self._reader = threading.Thread(target=self._read, args=(self.process.stderr,))
        self._reader.start()
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until the server accepts calls
        match = READY.search(line)
        assert match, f"unexpected first line: {line!r}; stderr: {self.seen}"
        self.address = f"127.0.0.1:{match.group(2)}"

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, matches: Callable[[str], bool]) -> str:
        """Return the first unread stderr line that ``matches``; fail after ``DEADLINE``."""
        end = time.monotonic() + DEADLINE
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no matching log line within {DEADLINE} s; seen: {self.seen}")
            if line is None:
                pytest.fail(f"the server's stderr ended; seen: {self.seen}")
            self.seen.append(line)
            if matches(line):
                return line

    def rest(self) -> list[str]:
        """Every stderr line not read yet, up to the end of the stream (after the exit)."""
        self._reader.join(timeout=DEADLINE)
        lines = []
        while (line := self._lines.get_nowait()) is not None:
            lines.append(line)
        self.seen.extend(lines)
        return lines

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=DEADLINE)
        self._reader.join(timeout=DEADLINE)
        for stream in (self.process.stdout, self.process.stderr):
            assert stream is not None
            stream.close()
        return code


@pytest.fixture
def json_server(tmp_path: Path) -> Iterator[LoggingServer]:
    server = LoggingServer(tmp_path, "--log-format", "json")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def text_server(tmp_path: Path) -> Iterator[LoggingServer]:
    server = LoggingServer(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def json_line(server: LoggingServer, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    def matches(line: str) -> bool:
        return predicate(json.loads(line))  # every line must be JSON

    result: dict[str, Any] = json.loads(server.wait_for(matches))
    return result


def reserve_and_unreserve(address: str) -> list[str]:
    """Reserve site 0 of the two-site map with NI's client, then unreserve; the session names."""
    with grpc.insecure_channel(address) as channel:
        sessions = SessionManagementClient(grpc_channel=channel)
        context = PinMapContext(pin_map_id=str(TWO_SITE), sites=[0])
        with sessions.reserve_sessions(context, ["VDD", "SDA"], timeout=10) as reservation:
            names = [info.session_name for info in reservation.session_info]
        return names


def test_json_lines_for_start_and_events(json_server: LoggingServer) -> None:
    server = json_server
    listening = json_line(server, lambda o: o["message"].startswith("listening on"))
    assert set(listening) >= {"time", "level", "logger", "message"}
    assert listening["level"] == "INFO"
    assert listening["logger"] == "pinbroker.serve"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", listening["time"])
    assert server.address in listening["message"]
    state = json_line(server, lambda o: o["message"].startswith("state directory"))
    assert str(server.state_dir / "pinbroker.sqlite3") in state["message"]
    key = json_line(server, lambda o: o["message"].startswith("discovery key file"))
    assert key["message"] == f"discovery key file {server.key_file}"

    loaded = json_line(server, lambda o: o.get("kind") == "pin_map_loaded")
    assert loaded["level"] == "INFO"
    assert loaded["logger"] == "pinbroker.events"
    assert loaded["reason"] == str(TWO_SITE)
    assert str(TWO_SITE) in loaded["message"]

    names = reserve_and_unreserve(server.address)
    assert len(names) == 2

    reserved = json_line(server, lambda o: o.get("kind") == "reserved")
    assert reserved["level"] == "INFO"
    assert sorted(reserved["session_names"]) == sorted(names)
    assert isinstance(reserved["reservation_id"], int)
    assert reserved["owner"]["peer"]  # NI's client sends no user or host: the peer names it
    assert reserved["revision"] > loaded["revision"]
    for name in names:
        assert name in reserved["message"]
    assert f"reservation {reserved['reservation_id']}" in reserved["message"]

    released = json_line(server, lambda o: o.get("kind") == "released")
    assert sorted(released["session_names"]) == sorted(names)
    assert released["reservation_id"] == reserved["reservation_id"]
    assert released["revision"] == reserved["revision"] + 1

    with grpc.insecure_channel(server.address) as channel:
        sessions = SessionManagementClient(grpc_channel=channel)
        info = SessionInformation(
            session_name="niDMM-DMM1",
            resource_name="DMM1",
            channel_list="0",
            instrument_type_id="niDMM",
            session_exists=True,
            channel_mappings=[],
        )
        sessions.register_sessions([info])
        sessions.unregister_sessions([info])
    registered = json_line(server, lambda o: o.get("kind") == "registered")
    assert registered["session_names"] == ["niDMM-DMM1"]
    unregistered = json_line(server, lambda o: o.get("kind") == "unregistered")
    assert unregistered["session_names"] == ["niDMM-DMM1"]

    assert server.stop() == 0
    rest = [json.loads(line) for line in server.rest()]
    assert [o["message"] for o in rest][-2:] == ["stopping: finishing in-flight calls", "stopped"]


def test_text_lines_one_per_event(text_server: LoggingServer) -> None:
    server = text_server
    line_format = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\w+) (\S+): (.*)")
    first = server.wait_for(lambda line: "listening on" in line)
    assert line_format.fullmatch(first)
    server.wait_for(lambda line: "pin_map_loaded" in line)

    names = reserve_and_unreserve(server.address)
    reserved = server.wait_for(lambda line: " reserved " in line)
    match = line_format.fullmatch(reserved)
    assert match
    assert match.group(1, 2) == ("INFO", "pinbroker.events")
    assert re.fullmatch(
        r"#\d+ reserved '[^']+', '[^']+'; reservation \d+; by .*ipv4:127\.0\.0\.1:\d+.*",
        match.group(3),
    ), match.group(3)
    assert sorted(re.findall(r"'([^']+)'", match.group(3))) == sorted(names)
    reservation = re.search(r"reservation (\d+)", reserved)
    assert reservation
    released = server.wait_for(lambda line: " released " in line)
    assert f"reservation {reservation.group(1)};" in released

    assert server.stop() == 0
    lines = server.seen + server.rest()
    assert sum(" reserved " in line for line in lines) == 1
    assert sum(" released " in line for line in lines) == 1
    assert not any("Traceback" in line for line in lines)
