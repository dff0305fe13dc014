"""The pure formatting of ``pinbroker status|events|release``: JSON shapes and tables."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from pinbroker.admin_cli._format import (
    dropped_before,
    event_json,
    event_line,
    holder,
    lease_json,
    owner_json,
    relative_time,
    release_lines,
    rfc3339,
    status_json,
    status_lines,
    table,
)
from pinbroker.client import (
    AdminEvent,
    AdminStatus,
    ForceReleaseResult,
    HeldSession,
    LeaseInfo,
    LeaseKind,
    OwnerInfo,
    WaitingRequest,
)

UTC = timezone.utc
NOW = datetime(2026, 12, 1, 22, 13, 15, 123456, tzinfo=UTC)
ALICE = OwnerInfo(peer="ipv4:10.0.0.7:5123", hostname="bench7", username="alice", pid=4242)
NOBODY = OwnerInfo(peer="ipv4:127.0.0.1:6000")
CLIENT_LEASE = LeaseInfo(kind=LeaseKind.CLIENT, id=7, state="active", remaining_seconds=8.25)
NO_LEASE = LeaseInfo(kind=LeaseKind.NONE)


def _status() -> AdminStatus:
    return AdminStatus(
        held=(
            HeldSession(
                session_name="niDMM-DMM1",
                reservation_id=3,
                fence=2,
                since=NOW - timedelta(minutes=5),
                owner=ALICE,
                lease=CLIENT_LEASE,
                annotations=(("purpose", "leakage"),),
            ),
        ),
        waiting=(
            WaitingRequest(
                position=1,
                request_id=9,
                session_names=("niDMM-DMM1", "niDCPower-SMU1/0"),
                since=NOW - timedelta(seconds=30),
                deadline=None,
                owner=NOBODY,
                blocked_by=(3, 8),
                lease=NO_LEASE,
            ),
        ),
        revision=17,
    )


def test_rfc3339_is_utc_with_milliseconds() -> None:
    assert rfc3339(NOW) == "2026-12-01T22:13:15.123Z"
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    assert rfc3339(plus_two) == "2026-12-01T22:13:15.123Z"


def test_owner_and_lease_json() -> None:
    assert owner_json(None) is None
    assert owner_json(NOBODY) == {
        "peer": "ipv4:127.0.0.1:6000",
        "hostname": "",
        "username": "",
        "pid": None,
    }
    assert lease_json(CLIENT_LEASE) == {
        "kind": "client",
        "id": 7,
        "state": "active",
        "remaining_seconds": 8.25,
    }
    assert lease_json(NO_LEASE) == {
        "kind": "none",
        "id": None,
        "state": "none",
        "remaining_seconds": None,
    }


def test_status_json_has_the_documented_keys() -> None:
    document = status_json(_status())
    json.dumps(document)  # serialisable as is
    assert document["revision"] == 17
    (held,) = document["held"]
    assert held == {
        "session_name": "niDMM-DMM1",
        "reservation_id": 3,
        "fence": 2,
        "since": "2026-12-01T22:08:15.123Z",
        "owner": owner_json(ALICE),
        "lease": lease_json(CLIENT_LEASE),
        "annotations": {"purpose": "leakage"},
    }
    (waiting,) = document["waiting"]
    assert waiting == {
        "position": 1,
        "request_id": 9,
        "session_names": ["niDMM-DMM1", "niDCPower-SMU1/0"],
        "since": "2026-12-01T22:12:45.123Z",
        "deadline": None,
        "owner": owner_json(NOBODY),
        "blocked_by": [3, 8],
        "lease": lease_json(NO_LEASE),
    }


def test_event_json_keeps_nulls() -> None:
    event = AdminEvent(
        revision=4,
        time=NOW,
        kind="pin_map_loaded",
        session_names=(),
        reservation_id=None,
        owner=None,
        reason="",
    )
    assert event_json(event) == {
        "revision": 4,
        "time": "2026-12-01T22:13:15.123Z",
        "kind": "pin_map_loaded",
        "session_names": [],
        "reservation_id": None,
        "owner": None,
        "reason": "",
    }


def test_holder_prefers_user_at_host_then_peer() -> None:
    assert holder(ALICE) == "alice@bench7"
    assert holder(OwnerInfo(peer="p", hostname="bench7")) == "bench7"
    assert holder(NOBODY) == "ipv4:127.0.0.1:6000"
    assert holder(OwnerInfo(peer="")) == "-"


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "now"),
        (timedelta(seconds=-42), "42 s ago"),
        (timedelta(minutes=-5, seconds=-59), "5 min ago"),
        (timedelta(hours=3, minutes=1), "in 3 h"),
        (timedelta(days=-2, hours=-5), "2 d ago"),
        (timedelta(seconds=30), "in 30 s"),
    ],
)
def test_relative_time(delta: timedelta, text: str) -> None:
    assert relative_time(NOW + delta, NOW) == text


def test_table_aligns_columns_without_trailing_blanks() -> None:
    assert table(("A", "BB"), [("xxx", "y"), ("z", "")]) == [
        "  A    BB",
        "  xxx  y",
        "  z",
    ]


def test_status_lines_show_holder_lease_and_what_blocks() -> None:
    lines = status_lines(_status(), now=NOW, tz=UTC, server="127.0.0.1:5000")
    assert lines[0] == "pinbroker at 127.0.0.1:5000, revision 17"
    text = "\n".join(lines)
    assert "Held: 1 session in 1 reservation" in text
    held_row = next(line for line in lines if line.startswith("  niDMM-DMM1"))
    assert "alice@bench7 (pid 4242)" in held_row
    assert "2026-12-01 22:08:15 (5 min ago)" in held_row
    assert "lease 7 active, 8.2 s left" in held_row
    assert "Waiting: 1 request" in text
    waiting_row = next(line for line in lines if line.startswith("  1  "))
    assert "niDMM-DMM1, niDCPower-SMU1/0" in waiting_row
    assert "reservation 3, 8" in waiting_row  # 8 is neither held nor waiting: bare id
    assert "none" in waiting_row  # no deadline
    headers = next(line for line in lines if line.startswith("  SESSION"))
    assert headers.index("HOLDER") == held_row.index("alice")  # aligned


def test_status_lines_when_empty() -> None:
    lines = status_lines(AdminStatus(held=(), waiting=(), revision=0), now=NOW, tz=UTC)
    assert lines == ["Held: no sessions are held", "", "Waiting: nobody waits"]


def test_event_line_names_request_or_reservation() -> None:
    forced = AdminEvent(
        revision=12,
        time=NOW,
        kind="force_released",
        session_names=("niDMM-DMM1", "niFGen-FGEN1"),
        reservation_id=3,
        owner=ALICE,
        reason="bench hung",
    )
    assert event_line(forced, tz=UTC) == (
        "2026-12-01 22:13:15  #12  force_released  niDMM-DMM1, niFGen-FGEN1  reservation 3"
        "  by alice@bench7  reason: bench hung"
    )
    queued = AdminEvent(
        revision=13,
        time=NOW,
        kind="queued",
        session_names=("niDMM-DMM1",),
        reservation_id=9,
        owner=None,
        reason="",
    )
    assert event_line(queued, tz=UTC) == (
        "2026-12-01 22:13:15  #13  queued          niDMM-DMM1  request 9"
    )


def test_release_lines() -> None:
    result = ForceReleaseResult(released=("a", "b"), not_held=("c",))
    assert release_lines(result) == ["released  a", "released  b", "not held  c"]


@pytest.mark.parametrize(
    ("since", "oldest", "dropped"),
    [(0, 0, 0), (0, 1, 0), (0, 5, 4), (10, 11, 0), (10, 4, 0), (10, 15, 4)],
)
def test_dropped_before(since: int, oldest: int, dropped: int) -> None:
    assert dropped_before(since, oldest) == dropped
