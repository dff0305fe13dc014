"""Who may force release: local callers, or remote ones with the admin token.

Over loopback every caller is local, so the remote case is exercised here on the servicer
itself with a small stand-in for the call context (peer and metadata are all it reads).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pinbroker._proto.pinbroker.admin.v1 import admin_pb2
from pinbroker.errors import InvalidArgumentError, PermissionDeniedError
from pinbroker.events import EventKind, EventLog
from pinbroker.reservation import LeaseTable, ReservationTable
from pinbroker.server._admin_service import ADMIN_TOKEN_METADATA, AdminServicer, is_local_peer


class Call:
    """The parts of a servicer context the admin servicer reads."""

    def __init__(self, peer: str, metadata: Sequence[tuple[str, str]] = ()) -> None:
        self._peer = peer
        self._metadata = tuple(metadata)

    def peer(self) -> str:
        return self._peer

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata


@pytest.mark.parametrize(
    ("peer", "local"),
    [
        ("ipv4:127.0.0.1:5000", True),
        ("ipv4:127.8.9.1:5000", True),
        ("ipv6:[::1]:5000", True),
        ("ipv6:[::ffff:127.0.0.1]:5000", True),
        ("unix:/run/pinbroker.sock", True),
        ("ipv4:10.0.0.7:5000", False),
        ("ipv6:[fe80::1]:5000", False),
        ("ipv4:128.0.0.1:5000", False),
    ],
)
def test_local_peers(peer: str, local: bool) -> None:
    assert is_local_peer(peer) is local


def _servicer(token: str | None) -> tuple[ReservationTable, EventLog, AdminServicer]:
    events = EventLog()
    table = ReservationTable(events=events)
    table.reserve(["A"], owner="holder", timeout=0)
    return table, events, AdminServicer(table, LeaseTable(ttl=10), events, admin_token=token)


def _force(servicer: AdminServicer, call: Call, reason: str = "stuck") -> list[str]:
    request = admin_pb2.ForceReleaseRequest(session_names=["A"], reason=reason)
    return list(servicer.ForceRelease(request, call).released)  # type: ignore[arg-type]


def test_a_remote_caller_without_the_token_is_refused() -> None:
    table, _, servicer = _servicer("s3cret")

    with pytest.raises(PermissionDeniedError, match=r"ipv4:10\.0\.0\.7:5000"):
        _force(servicer, Call("ipv4:10.0.0.7:5000", [(ADMIN_TOKEN_METADATA, "wrong")]))

    assert table.is_reserved("A")


def test_a_remote_caller_with_the_token_may_force_release() -> None:
    table, events, servicer = _servicer("s3cret")

    released = _force(servicer, Call("ipv4:10.0.0.7:5000", [(ADMIN_TOKEN_METADATA, "s3cret")]))

    assert released == ["A"]
    assert not table.is_reserved("A")
    (event,) = [e for e in events.since(0) if e.kind is EventKind.FORCE_RELEASED]
    assert event.reason == "stuck (by ipv4:10.0.0.7:5000)"


def test_without_a_configured_token_only_local_callers_may() -> None:
    _, _, servicer = _servicer(None)

    with pytest.raises(PermissionDeniedError):
        _force(servicer, Call("ipv4:10.0.0.7:5000", [(ADMIN_TOKEN_METADATA, "")]))
    assert _force(servicer, Call("ipv4:127.0.0.1:5000")) == ["A"]


def test_a_force_release_needs_a_reason() -> None:
    table, _, servicer = _servicer(None)

    with pytest.raises(InvalidArgumentError, match="reason"):
        _force(servicer, Call("unix:/run/p.sock"), reason="  ")

    assert table.is_reserved("A")
