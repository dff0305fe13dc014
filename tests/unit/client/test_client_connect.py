"""Finding a pinbroker: address argument, then $PINBROKER_ADDRESS, then the discovery key file."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from pinbroker.client import (
    ADDRESS_ENV_VAR,
    PinbrokerSessionClient,
    PinMapClient,
    ServerNotFoundError,
    connect,
    locate_server,
)
from pinbroker.discovery_file import KEY_FILE_ENV_VAR, DiscoveryKey, write_key_file
from pinbroker.errors import UnavailableError


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated key file location, with $PINBROKER_ADDRESS unset."""
    path = tmp_path / "Discovery" / "v1" / "DiscoveryService.json"
    monkeypatch.setenv(KEY_FILE_ENV_VAR, str(path))
    monkeypatch.delenv(ADDRESS_ENV_VAR, raising=False)
    return path


@pytest.fixture
def grpc_server() -> Iterator[int]:
    """An empty gRPC server (no services): enough for a channel to become ready."""
    executor = futures.ThreadPoolExecutor(max_workers=1)
    server = grpc.server(executor)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(None).wait()
        executor.shutdown(wait=True)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listening TCP port that never speaks HTTP/2: a channel to it never becomes ready."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield listener.getsockname()[1]


def test_argument_wins(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ADDRESS_ENV_VAR, "envhost:1")
    write_key_file(key_file, DiscoveryKey(port=2))
    location = locate_server("arghost:3")
    assert (location.address, location.source) == ("arghost:3", "the address argument")


def test_environment_before_key_file(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ADDRESS_ENV_VAR, " envhost:1 ")
    write_key_file(key_file, DiscoveryKey(port=2))
    location = locate_server()
    assert (location.address, location.source) == ("envhost:1", f"${ADDRESS_ENV_VAR}")


def test_key_file_last(key_file: Path) -> None:
    write_key_file(key_file, DiscoveryKey(port=4321, host="127.0.0.1", pid=77))
    location = locate_server()
    assert location.address == "127.0.0.1:4321"
    assert location.pid == 77
    assert str(key_file) in location.source


def test_nothing_found_says_where_it_looked(key_file: Path) -> None:
    with pytest.raises(ServerNotFoundError) as caught:
        locate_server()
    message = str(caught.value)
    assert ADDRESS_ENV_VAR in message
    assert str(key_file) in message
    assert "pinbroker serve" in message
    assert isinstance(caught.value, UnavailableError)


def test_broken_key_file_is_reported(key_file: Path) -> None:
    key_file.parent.mkdir(parents=True)
    key_file.write_text(json.dumps({"Host": "x"}), encoding="utf-8")
    with pytest.raises(ServerNotFoundError, match="InsecurePort"):
        locate_server()


def test_connect_returns_ready_clients(grpc_server: int, key_file: Path) -> None:
    write_key_file(key_file, DiscoveryKey(port=grpc_server, host="127.0.0.1"))
    with connect(timeout=10) as clients:
        assert clients.location.address == f"127.0.0.1:{grpc_server}"
        assert isinstance(clients.session_management, PinbrokerSessionClient)
        assert isinstance(clients.pin_map, PinMapClient)
        # The channel is ready: an RPC reaches the server (which has no services).
        with pytest.raises(grpc.RpcError) as caught:
            clients.pin_map.get_pin_map("x")
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_connect_times_out_with_a_clear_message(silent_port: int, key_file: Path) -> None:
    write_key_file(key_file, DiscoveryKey(port=silent_port, host="127.0.0.1", pid=999999))
    with pytest.raises(ServerNotFoundError) as caught:
        connect(timeout=0.2)
    message = str(caught.value)
    assert f"127.0.0.1:{silent_port}" in message
    assert "discovery key file" in message
    assert "999999" in message
