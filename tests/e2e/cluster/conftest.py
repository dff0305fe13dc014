"""Fixtures of the cluster tests: servers sharing one fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _servers import Node, cluster_of, server_env


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """The environment for ``pinbroker`` CLI runs (no server discoverable: give --address)."""
    return server_env(tmp_path)


@pytest.fixture
def start_servers(postgres_url: str, tmp_path: Path) -> Iterator[Callable[..., list[Node]]]:
    """Start servers on the test's fresh database: ``a, b = start_servers(2, ttl=2.0)``.

    They are stopped at the end of the test (SIGTERM; SIGKILL if paused or slow), before the
    database is dropped; their logs are printed then (pytest shows them if the test failed).
    """
    with cluster_of(postgres_url, tmp_path) as start:
        yield start
