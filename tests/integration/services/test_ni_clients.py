"""NI's published clients, unchanged, against a real pinbroker on port 0.

Expected values come from session-mapping.md (the rules NI's own tests assert), on pin maps
written for these tests under ``tests/data/`` (``ni_clients_*.pinmap``), so they run on any
clone; only the corpus walk in ``tests/unit/pinmap`` needs NI's pin maps in ``../shared``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
import session_pb2
from ni.measurementlink import pin_map_context_pb2
from ni.measurementlink.pinmap.v1.client import PinMapClient
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2 as pb
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2_grpc as pb_grpc
from ni.measurementlink.sessionmanagement.v1.client import (
    ChannelMapping,
    PinMapContext,
    SessionInformation,
    SessionManagementClient,
)

from pinbroker.server.app import RunningServer

DATA = Path(__file__).resolve().parents[2] / "data"
TWO_SITE = DATA / "ni_clients_two_site.pinmap"
"""DCPower group "Rails" over SMU_B (declared first) and SMU_A; scope OSC1 with system pin TRIG."""
MULTIPLEXED = DATA / "ni_clients_multiplexed.pinmap"
"""DCPower group "Rails" over SMU_A and SMU_B with routes through MuxA and MuxB; scope OSC1."""
RAILS = "SMU_B/0, SMU_B/2, SMU_B/10, SMU_A/1, SMU_A/3"
"""resource_name of TWO_SITE's DCPower group: declaration order, channels numeric."""


@pytest.fixture
def ni_clients(grpc_channel: grpc.Channel) -> tuple[PinMapClient, SessionManagementClient]:
    return PinMapClient(grpc_channel=grpc_channel), SessionManagementClient(
        grpc_channel=grpc_channel
    )


def _mappings(info: SessionInformation) -> list[tuple[str, int, str]]:
    return [(m.pin_or_relay_name, m.site, m.channel) for m in info.channel_mappings]


def test_dcpower_group_spans_instruments(
    ni_clients: tuple[PinMapClient, SessionManagementClient],
) -> None:
    pin_maps, sessions = ni_clients
    pin_map_id = pin_maps.update_pin_map(TWO_SITE)
    assert pin_map_id == str(TWO_SITE)

    with sessions.reserve_sessions(
        PinMapContext(pin_map_id=pin_map_id, sites=[0, 1]), instrument_type_id="niDCPower"
    ) as reservation:
        (info,) = reservation.session_info
        assert info.resource_name == RAILS
        assert info.session_name == f"niDCPower-{RAILS}"
        assert info.instrument_type_id == "niDCPower"
        # site-major in requested-site order, system pins last (session-mapping.md decision 1)
        assert _mappings(info) == [
            ("VIN", 0, "SMU_B/10"),
            ("VOUT", 0, "SMU_A/3"),
            ("VIN", 1, "SMU_B/2"),
            ("VOUT", 1, "SMU_A/1"),
            ("VREF", -1, "SMU_B/0"),
        ]
        assert info.channel_list == "SMU_B/10, SMU_A/3, SMU_B/2, SMU_A/1, SMU_B/0"


def test_sites_in_requested_order(ni_clients: tuple[PinMapClient, SessionManagementClient]) -> None:
    pin_maps, sessions = ni_clients
    pin_map_id = pin_maps.update_pin_map(TWO_SITE)
    with sessions.reserve_session(
        PinMapContext(pin_map_id=pin_map_id, sites=[1, 0]), ["VIN"]
    ) as reservation:
        info = reservation.session_info
        assert info.resource_name == RAILS  # the whole group, whatever the selection
        assert _mappings(info) == [("VIN", 1, "SMU_B/2"), ("VIN", 0, "SMU_B/10")]


def test_scope_site_1_with_system_pin(
    ni_clients: tuple[PinMapClient, SessionManagementClient],
) -> None:
    pin_maps, sessions = ni_clients
    pin_map_id = pin_maps.update_pin_map(TWO_SITE)
    with sessions.reserve_session(
        PinMapContext(pin_map_id=pin_map_id, sites=[1]), ["CLK", "TRIG"]
    ) as reservation:
        info = reservation.session_info
        assert (info.session_name, info.resource_name) == ("niScope-OSC1", "OSC1")
        assert info.channel_list == "2, 3"
        assert _mappings(info) == [("CLK", 1, "2"), ("TRIG", -1, "3")]


def test_multiplexed_routes(ni_clients: tuple[PinMapClient, SessionManagementClient]) -> None:
    pin_maps, sessions = ni_clients
    pin_map_id = pin_maps.update_pin_map(MULTIPLEXED)
    with sessions.reserve_sessions(
        PinMapContext(pin_map_id=pin_map_id, sites=[0, 1]), ["IN"]
    ) as reservation:
        (info,) = reservation.session_info
        assert info.resource_name == "SMU_A/0, SMU_A/2, SMU_A/3, SMU_B/1"
        assert list(info.channel_mappings) == [
            ChannelMapping("IN", 0, "SMU_A/3", "MuxA", "R1->c3,R2->c3"),
            ChannelMapping("IN", 1, "SMU_A/2", "", ""),
        ]
        # only the multiplexer the selection uses
        assert [m.session_name for m in reservation.multiplexer_session_info] == ["MuxA"]
        assert reservation.multiplexer_session_info[0].multiplexer_type_id == "LabMatrix"


def test_multiplexed_routes_through_two_multiplexers(
    ni_clients: tuple[PinMapClient, SessionManagementClient],
) -> None:
    pin_maps, sessions = ni_clients
    pin_map_id = pin_maps.update_pin_map(MULTIPLEXED)
    with sessions.reserve_sessions(
        PinMapContext(pin_map_id=pin_map_id, sites=[0, 1]), ["OUT"]
    ) as reservation:
        (info,) = reservation.session_info
        assert list(info.channel_mappings) == [
            # the route is kept verbatim, space after the comma included
            ChannelMapping("OUT", 0, "SMU_A/3", "MuxA", "R3->c3, R4->c3"),
            ChannelMapping("OUT", 1, "SMU_B/1", "MuxB", "X0->y1"),
        ]
        muxes = reservation.multiplexer_session_info
        assert [(m.session_name, m.resource_name) for m in muxes] == [
            ("MuxA", "MuxA"),
            ("MuxB", "MuxB"),
        ]


def test_reserved_session_blocks_second_reservation_until_unreserved(
    ni_clients: tuple[PinMapClient, SessionManagementClient],
) -> None:
    pin_maps, sessions = ni_clients
    pin_map_id = pin_maps.update_pin_map(TWO_SITE)
    context = PinMapContext(pin_map_id=pin_map_id, sites=[0])
    first = sessions.reserve_sessions(context, ["CLK"], timeout=0)
    with pytest.raises(grpc.RpcError) as caught:
        sessions.reserve_sessions(context, ["CLK"], timeout=0)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "OSC1" in (caught.value.details() or "")

    granted = threading.Event()
    results: list[object] = []

    def wait_for_it() -> None:
        results.append(sessions.reserve_sessions(context, ["CLK"], timeout=30))
        granted.set()

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    assert not granted.is_set()
    first.unreserve()
    assert granted.wait(30)
    waiter.join(30)
    assert len(results) == 1


def test_register_then_reserve_all_registered(
    ni_clients: tuple[PinMapClient, SessionManagementClient],
) -> None:
    pin_maps, sessions = ni_clients
    pin_map_id = pin_maps.update_pin_map(TWO_SITE)
    with sessions.reserve_sessions(PinMapContext(pin_map_id=pin_map_id, sites=None)) as reservation:
        infos = reservation.session_info
        assert [i.session_name for i in infos] == [
            f"niDCPower-{RAILS}",
            "niScope-OSC1",
        ]
        assert not any(i.session_exists for i in infos)
        sessions.register_sessions(infos)
        with pytest.raises(grpc.RpcError) as caught:
            sessions.register_sessions(infos[:1])
        assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS

    with sessions.reserve_sessions(PinMapContext(pin_map_id=pin_map_id, sites=[1])) as again:
        assert all(i.session_exists for i in again.session_info)

    with sessions.reserve_all_registered_sessions(timeout=5) as everything:
        assert [(i.session_name, i.channel_list) for i in everything.session_info] == [
            (infos[0].session_name, ""),
            (infos[1].session_name, ""),
        ]
        assert all(not list(i.channel_mappings) for i in everything.session_info)
        sessions.unregister_sessions(everything.session_info)

    with sessions.reserve_all_registered_sessions(timeout=0) as nothing:
        assert list(nothing.session_info) == []


def test_waiter_whose_deadline_passes_leaves_the_queue(
    ni_clients: tuple[PinMapClient, SessionManagementClient],
    grpc_channel: grpc.Channel,
) -> None:
    pin_maps, sessions = ni_clients
    pin_map_id = pin_maps.update_pin_map(TWO_SITE)
    context = PinMapContext(pin_map_id=pin_map_id, sites=[0])
    holder = sessions.reserve_sessions(context, ["CLK"], timeout=0)
    stub = pb_grpc.SessionManagementServiceStub(grpc_channel)
    request = pb.ReserveSessionsRequest(
        pin_map_context=pin_map_context_pb2.PinMapContext(pin_map_id=pin_map_id, sites=[0]),
        pin_or_relay_names=["CLK"],
        timeout_in_milliseconds=-1,
    )
    with pytest.raises(grpc.RpcError) as caught:
        stub.ReserveSessions(request, timeout=0.5)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    holder.unreserve()
    # Had the abandoned waiter stayed queued it would now hold OSC1 forever.
    with sessions.reserve_sessions(context, ["CLK"], timeout=20) as reservation:
        assert len(reservation.session_info) == 1


def test_state_survives_restart(
    start_pinbroker: Callable[..., RunningServer], tmp_path: Path
) -> None:
    state = tmp_path / "restart-state"
    first = start_pinbroker(state_dir=state)
    with grpc.insecure_channel(first.address) as channel:
        pin_maps = PinMapClient(grpc_channel=channel)
        sessions = SessionManagementClient(grpc_channel=channel)
        pin_map_path = TWO_SITE
        pin_map_id = pin_maps.update_pin_map(pin_map_path)
        reservation = sessions.reserve_sessions(PinMapContext(pin_map_id=pin_map_id, sites=[0]))
        sessions.register_sessions(reservation.session_info)
        held = [i.session_name for i in reservation.session_info]
    first.stop(grace=0)

    second = start_pinbroker(state_dir=state)
    with grpc.insecure_channel(second.address) as channel:
        stub = pb_grpc.SessionManagementServiceStub(channel)
        sessions = SessionManagementClient(grpc_channel=channel)
        # The pin map is still registered (reserving resolves) and the reservation still holds.
        with pytest.raises(grpc.RpcError) as caught:
            sessions.reserve_sessions(PinMapContext(pin_map_id=pin_map_id, sites=[0]))
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        stub.UnreserveSessions(
            pb.UnreserveSessionsRequest(
                sessions=[pb.SessionInformation(session=session_pb2.Session(name=n)) for n in held]
            )
        )
        # Registered sessions survived too.
        with sessions.reserve_all_registered_sessions(timeout=0) as registered:
            assert [i.session_name for i in registered.session_info] == held
