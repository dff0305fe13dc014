"""pinbroker.client against a real in-process server: pin map queries, connections, extras.

Same pin map as ``test_client_seed_live.py`` (``tests/data/client_two_site.pinmap``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from ni.measurementlink.sessionmanagement.v1.client import (
    PinMapContext as NiPinMapContext,
)
from ni.measurementlink.sessionmanagement.v1.client import (
    SessionManagementClient as NiSessionManagementClient,
)

from ni_measurementlink_service.session_management import PinMapContext
from pinbroker.client import (
    Clients,
    MultiplexerSessionDetails,
    PinbrokerSessionClient,
    PinDefinition,
    PinGroupDefinition,
    PinMapClient,
    RelayDefinition,
    connect,
)
from pinbroker.types import (
    INSTRUMENT_TYPE_NI_DCPOWER,
    INSTRUMENT_TYPE_NI_DMM,
    INSTRUMENT_TYPE_NI_RELAY_DRIVER,
    INSTRUMENT_TYPE_NI_SCOPE,
    SITE_SYSTEM,
)

PIN_MAP = Path(__file__).resolve().parents[2] / "data" / "client_two_site.pinmap"
ALL_NAMES = ["PowerPins", "Signal", "TriggerOut", "Vmeas", "RelayK", "SysRelay"]

MUX_PIN_MAP = """<?xml version="1.0" encoding="utf-8"?>
<PinMap xmlns="http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd" schemaVersion="1.6">
  <Instruments>
    <NIDCPowerInstrument name="DCPower1" numberOfChannels="4">
      <ChannelGroup name="Smu" />
    </NIDCPowerInstrument>
    <Multiplexer name="Mux1" multiplexerTypeId="niSwitch" />
  </Instruments>
  <Pins><DUTPin name="A" /><DUTPin name="B" /></Pins>
  <PinGroups></PinGroups>
  <Sites><Site siteNumber="0" /></Sites>
  <Connections>
    <MultiplexedConnection instrument="DCPower1" channel="0">
      <MultiplexedDUTPinRoute pin="A" siteNumber="0" multiplexer="Mux1" routeName="C1-&gt;r0" />
    </MultiplexedConnection>
    <Connection pin="B" siteNumber="0" instrument="DCPower1" channel="1" />
  </Connections>
</PinMap>
"""


@pytest.fixture
def clients(server_address: str) -> Iterator[Clients]:
    with connect(server_address, timeout=10) as connected:
        yield connected


@pytest.fixture
def pin_map_id(clients: Clients) -> str:
    return clients.pin_map.update_pin_map(str(PIN_MAP))


@pytest.fixture
def sessions(clients: Clients) -> PinbrokerSessionClient:
    return clients.session_management


def _keys(connections: object) -> list[tuple[str, int, str]]:
    return [(c.pin_or_relay_name, c.site, c.channel_name) for c in connections]  # type: ignore[attr-defined]


def test_connect_finds_the_server_through_the_environment(
    server_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINBROKER_ADDRESS", server_address)
    with connect(timeout=10) as clients:
        assert clients.location.address == server_address
        pin_map_id = clients.pin_map.update_pin_map(str(PIN_MAP))
        assert clients.pin_map.get_pin_map(pin_map_id) == pin_map_id


def test_pin_map_queries(clients: Clients, pin_map_id: str) -> None:
    pins = clients.pin_map.query_pins(pin_map_id)
    assert set(pins.pins) == {
        PinDefinition("VDD", False),
        PinDefinition("VOUT", False),
        PinDefinition("Signal", False),
        PinDefinition("Vmeas", False),
        PinDefinition("TriggerOut", True),
    }
    assert pins.pin_groups == (PinGroupDefinition("PowerPins", ("VDD", "VOUT"), ("VDD", "VOUT")),)
    dcpower = clients.pin_map.query_pins(pin_map_id, INSTRUMENT_TYPE_NI_DCPOWER)
    assert set(dcpower.pin_names) == {"VDD", "VOUT"}
    relays = clients.pin_map.query_relays(pin_map_id)
    assert set(relays.relays) == {
        RelayDefinition("RelayK", False),
        RelayDefinition("SysRelay", True),
    }


def test_query_resource_access_information(clients: Clients, pin_map_id: str) -> None:
    access = clients.pin_map.query_resource_access_information(
        pin_map_id, sites=[1], pin_or_relay_names=["PowerPins"]
    )
    (resource,) = access.resources
    assert resource.resource_name == "DCPower1/2, DCPower1/3"
    assert resource.instrument_type_id == INSTRUMENT_TYPE_NI_DCPOWER
    assert [(m.pin_or_relay_name, m.site, m.channel) for m in resource.channel_mappings] == [
        ("VDD", 1, "DCPower1/2"),
        ("VOUT", 1, "DCPower1/3"),
    ]
    assert access.group_mappings == {"PowerPins": ("VDD", "VOUT")}
    with pytest.raises(grpc.RpcError) as caught:
        clients.pin_map.query_pins("no-such-pin-map")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]


def test_get_connections_in_client_order(sessions: PinbrokerSessionClient, pin_map_id: str) -> None:
    names = ["PowerPins", "Signal", "TriggerOut", "Vmeas"]
    with sessions.reserve_sessions(PinMapContext(pin_map_id, [1]), names) as reservation:
        assert reservation.group_mappings == {"PowerPins": ("VDD", "VOUT")}
        assert _keys(reservation.get_connections()) == [
            ("VDD", 1, "DCPower1/2"),
            ("VOUT", 1, "DCPower1/3"),
            ("Signal", 1, "1"),
            ("Vmeas", 1, "0"),
            ("TriggerOut", SITE_SYSTEM, "3"),
        ]
        assert _keys(reservation.get_connections(instrument_type_id=INSTRUMENT_TYPE_NI_SCOPE)) == [
            ("Signal", 1, "1"),
            ("TriggerOut", SITE_SYSTEM, "3"),
        ]
        vdd = reservation.get_connection("VDD")
        assert vdd.instrument_type_id == INSTRUMENT_TYPE_NI_DCPOWER
        assert vdd.session_info.resource_name == "DCPower1/2, DCPower1/3"
        assert vdd.session_info.session_reserved is True
        assert vdd.multiplexer_session_info is None
        with pytest.raises(ValueError, match="No reserved connections matched pin or relay name"):
            reservation.get_connections("RelayK")
        with pytest.raises(ValueError, match="Expected single connection, got 2 connections"):
            reservation.get_connection(instrument_type_id=INSTRUMENT_TYPE_NI_SCOPE)


def test_shared_pin_and_relays(sessions: PinbrokerSessionClient, pin_map_id: str) -> None:
    context = PinMapContext(pin_map_id, [0, 1])
    with sessions.reserve_sessions(context, ["Vmeas", "RelayK", "SysRelay"]) as reservation:
        assert _keys(reservation.get_connections("Vmeas")) == [("Vmeas", 0, "0"), ("Vmeas", 1, "0")]
        shared = reservation.get_connections("Vmeas")
        assert shared[0].session_info == shared[1].session_info
        relays = reservation.get_connections(instrument_type_id=INSTRUMENT_TYPE_NI_RELAY_DRIVER)
        assert _keys(relays) == [("RelayK", 0, "K0"), ("RelayK", 1, "K1"), ("SysRelay", -1, "K60")]
        assert reservation.get_connection("RelayK", site=1).channel_name == "K1"


def test_connection_order_matches_nis_published_client(
    grpc_channel: grpc.Channel, sessions: PinbrokerSessionClient, pin_map_id: str
) -> None:
    context = PinMapContext(pin_map_id, [1, 0])
    queries: list[dict[str, object]] = [
        {},
        {"sites": 0},
        {"pin_or_relay_names": ["Vmeas", "PowerPins"]},
        {"instrument_type_id": INSTRUMENT_TYPE_NI_DMM},
    ]
    ni_client = NiSessionManagementClient(grpc_channel=grpc_channel)
    ni_context = NiPinMapContext(pin_map_id=pin_map_id, sites=[1, 0])
    with ni_client.reserve_sessions(ni_context, ALL_NAMES) as ni_reservation:
        expected = [_keys(ni_reservation.get_connections(object, **q)) for q in queries]  # type: ignore[arg-type]
    with sessions.reserve_sessions(context, ALL_NAMES) as reservation:
        actual = [_keys(reservation.get_connections(**q)) for q in queries]  # type: ignore[arg-type]
    assert actual == expected
    assert expected[0][0][1] == 1  # the requested site order (1 first) was kept


def test_register_session_details_and_get_sessions(
    sessions: PinbrokerSessionClient, pin_map_id: str
) -> None:
    with sessions.reserve_session(PinMapContext(pin_map_id, [0]), ["Vmeas"]) as reservation:
        (details,) = reservation.session_details
        sessions.register_sessions([details])
        snapshot = sessions.get_sessions()
        state = snapshot.by_name()[details.session_name]
        assert state.session_reserved is True
        assert state.session_exists is True
        assert sessions.get_sessions(instrument_type_id=INSTRUMENT_TYPE_NI_SCOPE).sessions == ()
    after = sessions.get_sessions().by_name()[details.session_name]
    assert (after.session_reserved, after.session_exists) == (False, True)
    sessions.unregister_sessions([details])
    assert details.session_name not in sessions.get_sessions().by_name()


def test_reservation_annotations_are_reported(server_address: str, pin_map_id: str) -> None:
    channel = grpc.insecure_channel(server_address)
    try:
        client = PinbrokerSessionClient(grpc_channel=channel, annotations={"team": "bench-3"})
        with client.reserve_session(PinMapContext(pin_map_id, [0]), ["Vmeas"]) as reservation:
            assert reservation.session_details[0].annotations.get("team") == "bench-3"
    finally:
        channel.close()


def test_multiplexed_connections_and_multiplexer_sessions(clients: Clients) -> None:
    pin_map_id = clients.pin_map.create_pin_map_from_xml("client-mux", MUX_PIN_MAP)
    with pytest.raises(grpc.RpcError) as caught:
        clients.pin_map.create_pin_map_from_xml("client-mux", MUX_PIN_MAP)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS  # type: ignore[attr-defined]
    sessions = clients.session_management
    context = PinMapContext(pin_map_id, None)
    with sessions.reserve_sessions(context) as reservation:
        mux = MultiplexerSessionDetails("Mux1", "Mux1", "niSwitch", False)
        assert reservation.multiplexer_sessions == (mux,)
        a = reservation.get_connection("A")
        assert (a.channel_name, a.multiplexer_resource_name, a.multiplexer_route) == (
            "DCPower1/0",
            "Mux1",
            "C1->r0",
        )
        assert a.multiplexer_session_info == mux
        b = reservation.get_connection("B")
        assert (b.multiplexer_resource_name, b.multiplexer_session_info) == ("", None)
        # Registering the seed view resends the received message, multiplexer fields included.
        sessions.register_sessions(reservation.session_info)
        sessions.unregister_sessions(reservation.session_info)

    assert sessions.get_multiplexer_sessions(context) == (mux,)
    assert sessions.get_multiplexer_sessions(context, "otherType") == ()
    sessions.register_multiplexer_sessions([mux])
    try:
        with pytest.raises(grpc.RpcError) as caught:
            sessions.register_multiplexer_sessions([mux])
        assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS  # type: ignore[attr-defined]
        registered = sessions.get_all_registered_multiplexer_sessions()
        assert [m.session_name for m in registered] == ["Mux1"]
        assert registered[0].session_exists is True
        assert sessions.get_all_registered_multiplexer_sessions("otherType") == ()
    finally:
        sessions.unregister_multiplexer_sessions([mux])
    assert sessions.get_all_registered_multiplexer_sessions() == ()


def test_pin_map_client_rejects_invalid_xml(grpc_channel: grpc.Channel) -> None:
    client = PinMapClient(grpc_channel=grpc_channel)
    with pytest.raises(grpc.RpcError) as caught:
        client.update_pin_map_from_xml("broken", "<PinMap")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
