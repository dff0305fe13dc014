"""Ownership over gRPC with raw stubs: fencing tokens, stale unreserve, leases across a restart.

The lease client here is the bare Lease Service (what pinbroker's clients do under the hood),
so each step is explicit. Waiting for a lease to expire uses the server's event log with a
generous bound (30 s) that only guards against a hang; expiry itself is due after the TTL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from ni.measurementlink import pin_map_context_pb2
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2 as pm_pb
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2_grpc as pm_grpc
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2 as sm
from ni.measurementlink.sessionmanagement.v1 import (
    session_management_service_pb2_grpc as sm_grpc,
)

from pinbroker._proto.pinbroker.admin.v1 import admin_pb2, admin_pb2_grpc
from pinbroker._proto.pinbroker.lease.v1 import lease_pb2, lease_pb2_grpc
from pinbroker.events import EventKind
from pinbroker.server.app import RunningServer

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "two_site.pinmap"
WAIT_BOUND = 30.0


class Stubs:
    def __init__(self, channel: grpc.Channel) -> None:
        self.pin_map = pm_grpc.PinMapServiceStub(channel)
        self.sessions = sm_grpc.SessionManagementServiceStub(channel)
        self.leases = lease_pb2_grpc.LeaseServiceStub(channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(channel)

    def load(self) -> None:
        self.pin_map.UpdatePinMapFromXml(
            pm_pb.UpdatePinMapFromXmlRequest(
                pin_map_id=str(EXAMPLE), pin_map_xml=EXAMPLE.read_text(encoding="utf-8")
            )
        )

    def reserve(
        self, lease_id: int | None = None, timeout_ms: int = 0
    ) -> list[sm.SessionInformation]:
        metadata = () if lease_id is None else (("pinbroker-lease-id", str(lease_id)),)
        response = self.sessions.ReserveSessions(
            sm.ReserveSessionsRequest(
                pin_map_context=pin_map_context_pb2.PinMapContext(
                    pin_map_id=str(EXAMPLE), sites=[0]
                ),
                pin_or_relay_names=["VDD"],
                timeout_in_milliseconds=timeout_ms,
            ),
            metadata=metadata,
        )
        return list(response.sessions)

    def unreserve(self, sessions: list[sm.SessionInformation]) -> None:
        self.sessions.UnreserveSessions(sm.UnreserveSessionsRequest(sessions=sessions))

    def grant(self) -> int:
        identity = lease_pb2.ClientIdentity(hostname="bench", username="tester", pid=4242)
        return self.leases.GrantLease(lease_pb2.GrantLeaseRequest(identity=identity)).lease_id


@pytest.fixture
def connect() -> Iterator[Callable[[RunningServer], Stubs]]:
    channels: list[grpc.Channel] = []

    def open_(server: RunningServer) -> Stubs:
        channel = grpc.insecure_channel(server.address)
        channels.append(channel)
        return Stubs(channel)

    yield open_
    for channel in channels:
        channel.close()


def _wait_for(server: RunningServer, kind: EventKind, after: int) -> None:
    with server.events.subscribe(after=after) as subscription:
        while not any(e.kind is kind for e in server.events.since(after)):
            assert subscription.wait(WAIT_BOUND), f"no {kind.value} event"
            subscription.poll()


def _holder(stubs: Stubs) -> admin_pb2.HeldSession:
    (held,) = stubs.admin.GetStatus(admin_pb2.GetStatusRequest()).held
    return held


def test_grants_carry_their_fencing_token_and_get_sessions_shows_it(
    start_pinbroker: Callable[..., RunningServer], connect: Callable[[RunningServer], Stubs]
) -> None:
    stubs = connect(start_pinbroker())
    stubs.load()
    first = stubs.reserve()
    stubs.unreserve(first)
    second = stubs.reserve()

    (a,), (b,) = first, second
    assert int(b.annotations["pinbroker/reservation_id"]) > int(
        a.annotations["pinbroker/reservation_id"]
    )
    assert int(b.annotations["pinbroker/fence"]) == int(a.annotations["pinbroker/fence"]) + 1
    shown = {
        s.session.name: dict(s.annotations)
        for s in stubs.sessions.GetSessions(sm.GetSessionsRequest()).sessions
    }
    assert (
        shown[b.session.name]["pinbroker/reservation_id"]
        == b.annotations["pinbroker/reservation_id"]
    )


def test_a_client_cannot_forge_pinbroker_annotations(
    start_pinbroker: Callable[..., RunningServer], connect: Callable[[RunningServer], Stubs]
) -> None:
    stubs = connect(start_pinbroker())
    stubs.load()
    response = stubs.sessions.ReserveSessions(
        sm.ReserveSessionsRequest(
            pin_map_context=pin_map_context_pb2.PinMapContext(pin_map_id=str(EXAMPLE), sites=[0]),
            pin_or_relay_names=["VDD"],
            annotations={"pinbroker/reservation_id": "999", "mine": "1"},
        )
    )
    (session,) = response.sessions
    assert session.annotations["pinbroker/reservation_id"] != "999"
    assert session.annotations["mine"] == "1"
    stubs.sessions.RegisterSessions(sm.RegisterSessionsRequest(sessions=[session]))
    (registered,) = [
        s
        for s in stubs.sessions.GetSessions(sm.GetSessionsRequest()).sessions
        if s.session.name == session.session.name
    ]
    stubs.unreserve([session])
    (after,) = [
        s
        for s in stubs.sessions.GetSessions(sm.GetSessionsRequest()).sessions
        if s.session.name == session.session.name
    ]
    assert registered.session_reserved
    assert not any(k.startswith("pinbroker/") for k in after.annotations)  # not stored


def test_stale_unreserve_after_force_release_is_a_no_op(
    start_pinbroker: Callable[..., RunningServer], connect: Callable[[RunningServer], Stubs]
) -> None:
    stubs = connect(start_pinbroker())
    stubs.load()
    stale = stubs.reserve()
    released = stubs.admin.ForceRelease(
        admin_pb2.ForceReleaseRequest(session_names=[stale[0].session.name], reason="stuck")
    )
    assert list(released.released) == [stale[0].session.name]
    fresh = stubs.reserve()

    stubs.unreserve(stale)  # the first holder comes back late with its old token

    assert _holder(stubs).reservation_id == int(fresh[0].annotations["pinbroker/reservation_id"])
    stubs.unreserve(fresh)
    assert not stubs.admin.GetStatus(admin_pb2.GetStatusRequest()).held


def test_stale_unreserve_after_expiry_is_refused_with_strict_owner(
    start_pinbroker: Callable[..., RunningServer], connect: Callable[[RunningServer], Stubs]
) -> None:
    server = start_pinbroker(lease_ttl=0.5, strict_owner=True)
    stubs = connect(server)
    stubs.load()
    lease = stubs.grant()
    before = server.events.latest_revision
    stale = stubs.reserve(lease)
    _wait_for(server, EventKind.EXPIRED, before)  # nobody kept the lease alive
    fresh = stubs.reserve()

    with pytest.raises(grpc.RpcError) as error:
        stubs.unreserve(stale)
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "stale" in (error.value.details() or "")
    hand_built = sm.SessionInformation(session=stale[0].session)  # no token at all
    with pytest.raises(grpc.RpcError) as error:
        stubs.unreserve([hand_built])
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _holder(stubs).reservation_id == int(fresh[0].annotations["pinbroker/reservation_id"])
    with pytest.raises(grpc.RpcError) as error:
        stubs.leases.KeepAlive(lease_pb2.KeepAliveRequest(lease_id=lease))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    state = stubs.leases.GetLease(lease_pb2.GetLeaseRequest(lease_id=lease))
    assert state.state == lease_pb2.LEASE_STATE_EXPIRED
    stubs.unreserve(fresh)


def test_a_reserve_bound_to_an_ended_lease_is_refused(
    start_pinbroker: Callable[..., RunningServer], connect: Callable[[RunningServer], Stubs]
) -> None:
    stubs = connect(start_pinbroker())
    stubs.load()
    lease = stubs.grant()
    assert stubs.leases.RevokeLease(lease_pb2.RevokeLeaseRequest(lease_id=lease)).revoked

    with pytest.raises(grpc.RpcError) as error:
        stubs.reserve(lease)

    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert f"lease {lease}" in (error.value.details() or "")
    assert not stubs.admin.GetStatus(admin_pb2.GetStatusRequest()).held


def test_revoking_a_lease_releases_its_sessions_and_cancels_its_waits(
    start_pinbroker: Callable[..., RunningServer], connect: Callable[[RunningServer], Stubs]
) -> None:
    server = start_pinbroker()
    stubs = connect(server)
    stubs.load()
    holder, waiter = stubs.grant(), stubs.grant()
    stubs.reserve(holder)
    other = connect(server)
    pending = other.sessions.ReserveSessions.future(
        sm.ReserveSessionsRequest(
            pin_map_context=pin_map_context_pb2.PinMapContext(pin_map_id=str(EXAMPLE), sites=[0]),
            pin_or_relay_names=["VDD"],
            timeout_in_milliseconds=-1,
        ),
        metadata=(("pinbroker-lease-id", str(waiter)),),
    )
    assert server.sessions.table.wait_for_waiting(1, WAIT_BOUND)
    (queued,) = stubs.admin.GetStatus(admin_pb2.GetStatusRequest()).waiting
    assert queued.lease.lease_id == waiter
    assert queued.owner.username == "tester"

    stubs.leases.RevokeLease(lease_pb2.RevokeLeaseRequest(lease_id=waiter))
    with pytest.raises(grpc.RpcError) as error:
        pending.result(timeout=WAIT_BOUND)
    assert error.value.code() == grpc.StatusCode.CANCELLED
    held = _holder(stubs)
    assert held.lease.lease_id == holder
    assert (held.owner.hostname, held.owner.username, held.owner.pid) == ("bench", "tester", 4242)
    stubs.leases.RevokeLease(lease_pb2.RevokeLeaseRequest(lease_id=holder))
    assert not stubs.admin.GetStatus(admin_pb2.GetStatusRequest()).held


def test_a_restarted_server_keeps_leases_that_are_renewed_and_expires_the_rest(
    start_pinbroker: Callable[..., RunningServer], connect: Callable[[RunningServer], Stubs]
) -> None:
    first = start_pinbroker(lease_ttl=2.0)
    stubs = connect(first)
    stubs.load()
    kept, abandoned = stubs.grant(), stubs.grant()
    kept_sessions = stubs.reserve(kept)
    abandoned_sessions = stubs.sessions.ReserveSessions(
        sm.ReserveSessionsRequest(
            pin_map_context=pin_map_context_pb2.PinMapContext(pin_map_id=str(EXAMPLE), sites=[0]),
            pin_or_relay_names=["IBIAS"],  # another session than VDD's
        ),
        metadata=(("pinbroker-lease-id", str(abandoned)),),
    ).sessions
    first.stop(grace=0)

    second = start_pinbroker(lease_ttl=2.0)  # same state directory
    again = connect(second)
    before = second.events.latest_revision
    status = again.admin.GetStatus(admin_pb2.GetStatusRequest())
    assert {h.lease.lease_id for h in status.held} == {kept, abandoned}
    with second.events.subscribe(after=before) as subscription:
        while not any(e.kind is EventKind.EXPIRED for e in second.events.since(before)):
            again.leases.KeepAlive(lease_pb2.KeepAliveRequest(lease_id=kept))  # re-attached
            subscription.wait(0.5)  # renew at TTL/4 while waiting for the other's expiry
            subscription.poll()

    (expired,) = [e for e in second.events.since(before) if e.kind is EventKind.EXPIRED]
    assert "after restart" in expired.reason
    assert expired.session_names == (abandoned_sessions[0].session.name,)
    (held,) = again.admin.GetStatus(admin_pb2.GetStatusRequest()).held
    assert held.session_name == kept_sessions[0].session.name
    assert again.grant() > abandoned  # lease ids are never reused


def test_the_event_history_survives_a_restart_and_revisions_go_on(
    start_pinbroker: Callable[..., RunningServer], connect: Callable[[RunningServer], Stubs]
) -> None:
    first = start_pinbroker()
    stubs = connect(first)
    stubs.load()
    stubs.unreserve(stubs.reserve())
    before = [(e.revision, e.kind) for e in first.events.since(0)]
    first.stop(grace=0)

    second = start_pinbroker()
    again = connect(second)
    again.reserve()

    batches = list(again.admin.WatchEvents(admin_pb2.WatchEventsRequest(since_revision=0)))
    after = [(e.revision, e.kind) for b in batches for e in b.events]
    assert after[: len(before)] == [(r, k.value) for r, k in before]
    assert [k for _, k in before] == [
        EventKind.PIN_MAP_LOADED,
        EventKind.RESERVED,
        EventKind.RELEASED,
    ]
    assert after[len(before)] == (before[-1][0] + 1, "reserved")
