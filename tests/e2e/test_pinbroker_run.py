"""``pinbroker run`` as a subprocess: the environment it sets, chaining, exit codes.

``pinbroker run`` only needs *a* gRPC server to answer before it starts COMMAND, so most tests
use an empty in-process server on port 0; the NI plug-in test (``test_ni_plugin.py``) uses a
real ``pinbroker serve``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

RUN = (sys.executable, "-m", "pinbroker.cli", "run")


@pytest.fixture
def address() -> Iterator[str]:
    """The address of a running (empty) gRPC server."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment with no pinbroker address and a key file that does not exist."""
    base = {k: v for k, v in os.environ.items() if k not in ("PINBROKER_ADDRESS", "PYTHONPATH")}
    base["PINBROKER_DISCOVERY_KEY_FILE"] = str(tmp_path / "no-key-file.json")
    return base


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUN, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


NI_LOOKUP = (
    "from ni.measurementlink.discovery.v1.client import _support, _client; "
    "print(_support._get_discovery_service_address()); "
    "print(_client._get_discovery_service_address())"
)


@pytest.mark.skipif(sys.platform == "win32", reason="Linux behaviour")
def test_ni_lookup_finds_the_address_in_the_child(address: str, env: dict[str, str]) -> None:
    pytest.importorskip("ni.measurementlink.discovery.v1.client")
    result = _run("--address", address, "--", sys.executable, "-c", NI_LOOKUP, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [address, address]


@pytest.mark.skipif(sys.platform == "win32", reason="Linux behaviour")
def test_python_subprocesses_inherit_it(address: str, env: dict[str, str]) -> None:
    pytest.importorskip("ni.measurementlink.discovery.v1.client")
    nested = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {NI_LOOKUP!r}])"
    env["PINBROKER_ADDRESS"] = address  # the address from the environment this time
    result = _run("--", sys.executable, "-c", nested, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [address, address]


def test_chains_to_an_existing_sitecustomize(
    address: str, env: dict[str, str], tmp_path: Path
) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    marker = tmp_path / "marker"
    (theirs / "sitecustomize.py").write_text(
        f"open({str(marker)!r}, 'w').write('theirs ran')\n", encoding="utf-8"
    )
    env["PYTHONPATH"] = str(theirs)
    check = (
        "import sys; "
        "assert any(type(f).__name__ == '_Finder' for f in sys.meta_path), sys.meta_path; "
        "print('child ran')"
    )
    result = _run("--address", address, "--", sys.executable, "-c", check, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "child ran"
    assert marker.read_text() == "theirs ran"


def test_print_env(env: dict[str, str], tmp_path: Path) -> None:
    env["PYTHONPATH"] = str(tmp_path)
    result = _run("--address", "127.0.0.1:1", "--print-env", env=env)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert lines["PINBROKER_ADDRESS"] == "127.0.0.1:1"
    first, rest = lines["PYTHONPATH"].split(os.pathsep)
    assert Path(first, "sitecustomize.py").is_file()
    assert rest == str(tmp_path)


def test_no_server_answers_is_one_line_and_exit_3(env: dict[str, str]) -> None:
    result = _run("--address", "127.0.0.1:1", "--", "true", env=env)
    assert result.returncode == 3
    assert result.stderr == (
        "pinbroker: cannot run: no pinbroker server answers at 127.0.0.1:1 "
        "(from the address argument) within 3 s\n"
    )
    assert result.stdout == ""


def test_no_address_at_all_is_one_line_and_exit_3(env: dict[str, str]) -> None:
    result = _run("--", "true", env=env)
    assert result.returncode == 3
    assert result.stderr.startswith("pinbroker: cannot run: No running pinbroker found")
    assert result.stderr.count("\n") == 1


def test_exit_status_and_signals_pass_through(address: str, env: dict[str, str]) -> None:
    assert _run("--address", address, "--", "sh", "-c", "exit 7", env=env).returncode == 7
    killed = _run("--address", address, "--", "sh", "-c", "kill -TERM $$", env=env)
    assert killed.returncode == -signal.SIGTERM


def test_unknown_command_exit_127(address: str, env: dict[str, str]) -> None:
    result = _run("--address", address, "--", "no-such-command-pinbroker", env=env)
    assert result.returncode == 127
    assert result.stderr == (
        "pinbroker: cannot run: no-such-command-pinbroker: command not found\n"
    )


def test_no_command_is_a_usage_error(address: str, env: dict[str, str]) -> None:
    result = _run("--address", address, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("pinbroker: cannot run: no COMMAND given")
