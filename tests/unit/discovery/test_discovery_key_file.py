"""The discovery key file: where it lives, who may replace it, who may remove it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ni.measurementlink.discovery.v1.client import _support as ni_support

from pinbroker.discovery_file import (
    CLUSTER_ID_ENV_VARS,
    KEY_FILE_ENV_VAR,
    DiscoveryKey,
    default_key_file_path,
    is_live_server,
    publish_key_file,
    read_key_file,
    remove_key_file,
    write_key_file,
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in (KEY_FILE_ENV_VAR, *CLUSTER_ID_ENV_VARS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    return tmp_path / "run" / "pinbroker" / "Discovery" / "v1"


@pytest.fixture
def listening() -> Iterator[int]:
    """A port that accepts connections (but is no pinbroker)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again once the block ends


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# --- where ------------------------------------------------------------------------------------


def test_without_a_cluster_id_the_file_is_discovery_service_json(clean_env: Path) -> None:
    assert default_key_file_path() == clean_env / "DiscoveryService.json"


@pytest.mark.parametrize("variable", CLUSTER_ID_ENV_VARS)
def test_a_cluster_id_names_the_file_as_ni_does(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "line-7")
    path = default_key_file_path()
    assert path == clean_env / "DiscoveryService_line-7.json"
    write_key_file(path, DiscoveryKey(port=4321, pid=os.getpid()))
    # NI's client (Windows-only) reads the same variables; give it our directory and it finds
    # the file pinbroker wrote.
    monkeypatch.setattr(ni_support, "_get_key_file_directory", lambda: clean_env)
    monkeypatch.setattr(ni_support, "_ensure_discovery_service_started", lambda path: None)
    monkeypatch.setattr(ni_support, "_open_key_file", lambda path: open(path))  # noqa: SIM115
    assert ni_support._get_discovery_service_address() == "localhost:4321"


def test_nidiscovery_cluster_id_wins_over_cluster_id(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NIDiscovery_ClusterId", "first")
    monkeypatch.setenv("ClusterId", "second")
    assert default_key_file_path().name == "DiscoveryService_first.json"


def test_an_explicit_key_file_wins_over_the_cluster_id(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NIDiscovery_ClusterId", "ignored")
    monkeypatch.setenv(KEY_FILE_ENV_VAR, str(tmp_path / "mine.json"))
    assert default_key_file_path() == tmp_path / "mine.json"


def test_a_cluster_id_with_a_slash_is_refused(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NIDiscovery_ClusterId", "../escape")
    with pytest.raises(ValueError, match="NIDiscovery_ClusterId"):
        default_key_file_path()


# --- who may replace it -----------------------------------------------------------------------


def test_a_live_server_of_this_process_is_not_replaced(tmp_path: Path, listening: int) -> None:
    path = tmp_path / "DiscoveryService.json"
    theirs = DiscoveryKey(port=listening, host="127.0.0.1", pid=os.getpid())
    write_key_file(path, theirs)

    other = publish_key_file(path, DiscoveryKey(port=1, host="127.0.0.1", pid=os.getpid()))

    assert other == theirs
    assert read_key_file(path) == theirs


def test_a_key_file_of_a_dead_process_is_replaced(tmp_path: Path, listening: int) -> None:
    path = tmp_path / "DiscoveryService.json"
    write_key_file(path, DiscoveryKey(port=listening, host="127.0.0.1", pid=_dead_pid()))
    mine = DiscoveryKey(port=2, host="127.0.0.1", pid=os.getpid())

    assert publish_key_file(path, mine) is None
    assert read_key_file(path) == mine


def test_a_key_file_whose_port_is_closed_is_replaced(tmp_path: Path, closed_port: int) -> None:
    path = tmp_path / "DiscoveryService.json"
    write_key_file(path, DiscoveryKey(port=closed_port, host="127.0.0.1", pid=os.getpid()))
    mine = DiscoveryKey(port=2, host="127.0.0.1", pid=os.getpid())

    assert publish_key_file(path, mine) is None
    assert read_key_file(path) == mine


@pytest.mark.parametrize("content", ["", "{not json", '{"InsecurePort": "x"}'])
def test_a_damaged_key_file_is_replaced(tmp_path: Path, content: str) -> None:
    path = tmp_path / "DiscoveryService.json"
    path.write_text(content)
    mine = DiscoveryKey(port=2, host="127.0.0.1", pid=os.getpid())

    assert publish_key_file(path, mine) is None
    assert read_key_file(path) == mine


def test_a_live_process_that_is_not_pinbroker_is_not_a_live_server(listening: int) -> None:
    # `cat` waiting on its stdin: its command line never mentions pinbroker (a Python child's
    # would, through the interpreter's path, in a checkout or venv under a "pinbroker" folder).
    with subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL) as sleeper:
        try:
            key = DiscoveryKey(port=listening, host="127.0.0.1", pid=sleeper.pid)
            assert not is_live_server(key)
        finally:
            assert sleeper.stdin is not None
            sleeper.stdin.close()


def test_a_key_without_pid_is_live_while_its_port_answers(listening: int, closed_port: int) -> None:
    assert is_live_server(DiscoveryKey(port=listening, host="127.0.0.1"))
    assert not is_live_server(DiscoveryKey(port=closed_port, host="127.0.0.1"))


def test_the_write_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "d" / "DiscoveryService.json"
    publish_key_file(path, DiscoveryKey(port=5, host="127.0.0.1", pid=os.getpid()))
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "DiscoveryService.json",
        "DiscoveryService.json.lock",
    ]


# --- who may remove it ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "removed"),
    [
        (DiscoveryKey(port=5, pid=4242), False),  # another process wrote it since
        (DiscoveryKey(port=5), False),  # no pid: not provably ours
        (DiscoveryKey(port=6, pid=os.getpid()), False),  # another server of this process
        (DiscoveryKey(port=5, pid=os.getpid()), True),
    ],
)
def test_only_the_servers_own_key_file_is_removed(
    tmp_path: Path, written: DiscoveryKey, removed: bool
) -> None:
    path = tmp_path / "DiscoveryService.json"
    write_key_file(path, written)

    remove_key_file(path, only_if_pid=os.getpid(), only_if_port=5)

    assert path.exists() is not removed


def test_removing_a_missing_key_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "DiscoveryService.json"
    remove_key_file(path, only_if_pid=os.getpid())
    assert not path.parent.exists()
