"""``pinbroker.web``: its exact public API, and who counts as a local client."""

from __future__ import annotations

import pytest

import pinbroker.web


def test_all_is_exact() -> None:
    assert set(pinbroker.web.__all__) == {
        "KEEP_ALIVE_SECONDS",
        "BrokerState",
        "EventStreams",
        "HttpServer",
        "SessionState",
        "create_app",
        "is_local_client",
    }


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.5.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.7", False),
        ("::ffff:10.0.0.7", False),
        ("2001:db8::1", False),
        ("testclient", False),
        ("", False),
        (None, False),
    ],
)
def test_is_local_client(host: str | None, local: bool) -> None:
    assert pinbroker.web.is_local_client(host) is local
