"""Fixtures: a real pinbroker server in-process on port 0, with a fresh state directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from pinbroker.server.app import RunningServer, ServerConfig, start_server
from pinbroker.types import SessionNaming

ServerFactory = Callable[..., RunningServer]


@pytest.fixture
def start_pinbroker(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start servers on free ports; each is stopped at the end of the test."""
    started: list[RunningServer] = []

    def start(**overrides: object) -> RunningServer:
        settings: dict[str, object] = {
            "host": "127.0.0.1",
            "port": 0,
            "state_dir": tmp_path / "state",
            "publish_key_file": False,
            "grace_seconds": 1.0,
        }
        settings.update(overrides)
        server = start_server(ServerConfig(**settings))  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop(grace=0)


@pytest.fixture
def pinbroker_server(start_pinbroker: ServerFactory) -> RunningServer:
    """A running server with typed (NI 2025 Q3+) session names."""
    return start_pinbroker(session_naming=SessionNaming.TYPED)


@pytest.fixture
def server_address(pinbroker_server: RunningServer) -> str:
    """``127.0.0.1:PORT`` of the running server."""
    return pinbroker_server.address


@pytest.fixture
def grpc_channel(server_address: str) -> Iterator[grpc.Channel]:
    """A ready channel to the running server."""
    channel = grpc.insecure_channel(server_address)
    grpc.channel_ready_future(channel).result(timeout=10)
    yield channel
    channel.close()
