"""``pinbroker serve`` start-up failures: one line on stderr, a non-zero exit, no traceback.

Each case runs the real command as a subprocess. ``--debug`` adds the traceback before the line.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

import pinbroker
from pinbroker.cli import version

BAD_PIN_MAP = """<?xml version="1.0" encoding="utf-8"?>
<PinMap schemaVersion="1.6" xmlns="http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd">
  <Instruments><NIDmmInstrument name="DMM1" /></Instruments>
  <Pins><DUTPin name="OUT" /></Pins>
  <Sites><Site siteNumber="0" /></Sites>
  <Connections>
    <Connection pin="OUT2" siteNumber="0" instrument="DMM1" channel="0" />
    <Connection pin="OUT3" siteNumber="0" instrument="DMM2" channel="0" />
  </Connections>
</PinMap>
"""


def pinbroker_command(args: Sequence[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    environment["PINBROKER_DISCOVERY_KEY_FILE"] = str(tmp_path / "key" / "DiscoveryService.json")
    environment["PINBROKER_STATE_DIR"] = str(tmp_path / "state")
    return subprocess.run(
        [sys.executable, "-m", "pinbroker.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return pinbroker_command(["serve", *args], tmp_path)


def the_one_line(result: subprocess.CompletedProcess[str]) -> str:
    """Assert the run failed with exactly one line on stderr and nothing on stdout."""
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pinbroker: cannot start: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def taken_port() -> object:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_version(tmp_path: Path) -> None:
    result = pinbroker_command(["--version"], tmp_path)
    assert result.returncode == 0
    assert result.stdout == f"pinbroker {version()}\n"
    assert version() == pinbroker.__version__  # the installed distribution is this checkout


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_port_out_of_range_is_a_usage_error(tmp_path: Path, port: str) -> None:
    result = serve(tmp_path, "--port", port)
    line = the_one_line(result)
    assert result.returncode == 2
    assert "argument --port" in line
    assert port in line


def test_host_that_does_not_resolve(tmp_path: Path) -> None:
    result = serve(tmp_path, "--host", "no-such-host.invalid")
    line = the_one_line(result)
    assert result.returncode == 1
    assert "host 'no-such-host.invalid' does not resolve" in line


def test_port_in_use(tmp_path: Path, taken_port: int) -> None:
    result = serve(tmp_path, "--port", str(taken_port))
    line = the_one_line(result)
    assert result.returncode == 1
    assert line == (
        f"pinbroker: cannot start: 127.0.0.1:{taken_port} is already in use "
        "(another process listens on it)"
    )


def test_missing_pin_map_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pinmap"
    result = serve(tmp_path, "--pin-map", str(missing))
    line = the_one_line(result)
    assert result.returncode == 1
    assert (
        line == f"pinbroker: cannot start: cannot read pin map {missing}: No such file or directory"
    )


def test_pin_map_that_is_a_directory(tmp_path: Path) -> None:
    result = serve(tmp_path, "--pin-map", str(tmp_path))
    line = the_one_line(result)
    assert f"cannot read pin map {tmp_path}: Is a directory" in line


def test_invalid_pin_map_is_one_line_with_a_count(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pinmap"
    bad.write_text(BAD_PIN_MAP, encoding="utf-8")
    result = serve(tmp_path, "--pin-map", str(bad))
    line = the_one_line(result)
    assert result.returncode == 1
    assert "line 7" in line
    assert "OUT2" in line
    assert "2 more" in line


def test_debug_adds_the_traceback_before_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pinmap"
    bad.write_text(BAD_PIN_MAP, encoding="utf-8")
    result = serve(tmp_path, "--pin-map", str(bad), "--debug")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1].startswith("pinbroker: cannot start: ")
    assert "OUT2" in lines[-1]
    assert any("PinMapParseError" in line for line in lines[:-1])


def test_missing_admin_token_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    result = serve(tmp_path, "--admin-token-file", str(token))
    line = the_one_line(result)
    assert result.returncode == 1
    assert line == (
        f"pinbroker: cannot start: cannot read admin token file {token}: No such file or directory"
    )


def test_empty_admin_token_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("\n", encoding="utf-8")
    line = the_one_line(serve(tmp_path, "--admin-token-file", str(token)))
    assert line == f"pinbroker: cannot start: admin token file {token} is empty"


def test_unusable_state_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")
    result = serve(tmp_path, "--state-dir", str(blocker / "state"))
    line = the_one_line(result)
    assert result.returncode == 1
    assert str(blocker) in line


def test_damaged_database(tmp_path: Path) -> None:
    state = tmp_path / "damaged"
    state.mkdir()
    (state / "pinbroker.sqlite3").write_bytes(b"this is not a SQLite database, " * 100)
    result = serve(tmp_path, "--state-dir", str(state))
    line = the_one_line(result)
    assert result.returncode == 1
    assert "pinbroker.sqlite3" in line or "database" in line
