"""AdminClient's protobuf conversion: the wire's 0 and "" become None where documented."""

from __future__ import annotations

from datetime import datetime, timezone

from pinbroker._proto.pinbroker.admin.v1 import admin_pb2 as pb
from pinbroker.client import LeaseInfo, LeaseKind, OwnerInfo
from pinbroker.client._admin import ADMIN_TOKEN_METADATA, event_from_pb, status_from_pb
from pinbroker.server._admin_service import ADMIN_TOKEN_METADATA as SERVER_METADATA

SINCE = 1_795_000_000.25


def test_token_metadata_key_matches_the_server() -> None:
    assert ADMIN_TOKEN_METADATA == SERVER_METADATA


def test_status_from_pb() -> None:
    status = status_from_pb(
        pb.GetStatusResponse(
            held=[
                pb.HeldSession(
                    session_name="s",
                    reservation_id=3,
                    fence=2,
                    since=SINCE,
                    owner=pb.Owner(peer="p", hostname="h", username="u", pid=42),
                    lease=pb.Lease(
                        kind=pb.LEASE_KIND_CLIENT, lease_id=7, state="active", remaining_seconds=4
                    ),
                    annotations={"b": "2", "a": "1"},
                )
            ],
            waiting=[
                pb.WaitingRequest(
                    position=1,
                    session_names=["s"],
                    since=SINCE,
                    deadline=0,
                    owner=pb.Owner(peer="q"),
                    blocked_by=[3],
                    request_id=9,
                    lease=pb.Lease(kind=pb.LEASE_KIND_NONE, state="none"),
                )
            ],
            revision=17,
        )
    )
    (held,) = status.held
    assert held.since == datetime.fromtimestamp(SINCE, tz=timezone.utc)
    assert held.owner == OwnerInfo(peer="p", hostname="h", username="u", pid=42)
    assert held.lease == LeaseInfo(LeaseKind.CLIENT, 7, "active", 4.0)
    assert held.annotations == (("a", "1"), ("b", "2"))
    (waiting,) = status.waiting
    assert waiting.deadline is None
    assert waiting.owner.pid is None
    assert waiting.lease == LeaseInfo(LeaseKind.NONE)
    assert (waiting.position, waiting.request_id, waiting.blocked_by) == (1, 9, (3,))
    assert status.revision == 17


def test_expired_lease_has_no_remaining_seconds() -> None:
    status = status_from_pb(
        pb.GetStatusResponse(
            held=[
                pb.HeldSession(
                    session_name="s",
                    lease=pb.Lease(kind=pb.LEASE_KIND_CLIENT, lease_id=7, state="expired"),
                )
            ]
        )
    )
    assert status.held[0].lease == LeaseInfo(LeaseKind.CLIENT, 7, "expired", None)


def test_event_from_pb_without_owner_or_reservation() -> None:
    event = event_from_pb(pb.Event(revision=5, time=SINCE, kind="pin_map_loaded", reason="x"))
    assert event.owner is None
    assert event.reservation_id is None
    assert event.session_names == ()
    with_owner = event_from_pb(pb.Event(revision=6, owner=pb.Owner(peer="p"), reservation_id=2))
    assert with_owner.owner == OwnerInfo(peer="p")
    assert with_owner.reservation_id == 2
