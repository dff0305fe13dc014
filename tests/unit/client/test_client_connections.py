"""Connection lookup on reservations: NI's client order and error messages, on hand-built data."""

from __future__ import annotations

import re

import grpc
import ni.measurementlink.sessionmanagement.v1.session_management_service_pb2 as sm_pb2
import pytest
import session_pb2

from pinbroker.client import (
    ChannelMapping,
    Connection,
    MultiplexerSessionDetails,
    MultiReservation,
    PinbrokerSessionClient,
    SessionDetails,
)
from pinbroker.client._connections import ConnectionIndex, resolve_names
from pinbroker.types import (
    INSTRUMENT_TYPE_NI_DCPOWER,
    INSTRUMENT_TYPE_NI_DMM,
    INSTRUMENT_TYPE_NI_SCOPE,
    SITE_SYSTEM,
)

DCPOWER, DMM, SCOPE = INSTRUMENT_TYPE_NI_DCPOWER, INSTRUMENT_TYPE_NI_DMM, INSTRUMENT_TYPE_NI_SCOPE


def _session(name: str, type_id: str, *mappings: tuple[str, int, str]) -> SessionDetails:
    return SessionDetails(
        session_name=name,
        resource_name=name,
        channel_list=", ".join(dict.fromkeys(m[2] for m in mappings)),
        instrument_type_id=type_id,
        session_exists=False,
        session_reserved=True,
        channel_mappings=tuple(ChannelMapping(*m) for m in mappings),
    )


# The order the service returned sessions and mappings in is deliberately NOT the order a query
# returns them in: the client orders by site, then pin, then type.
SESSIONS = (
    _session("Scope", SCOPE, ("Signal", 0, "0"), ("Signal", 1, "1"), ("TriggerOut", -1, "3")),
    _session("SmuSite0", DCPOWER, ("VDD", 0, "DCPower1/0"), ("VOUT", 0, "DCPower1/1")),
    _session("SmuSite1", DCPOWER, ("VDD", 1, "DCPower1/2"), ("VOUT", 1, "DCPower1/3")),
    _session("DMM1", DMM, ("Vmeas", 0, "0"), ("Vmeas", 1, "0"), ("Both", 0, "1")),
    _session("Scope2", SCOPE, ("Both", 0, "7")),
)
GROUPS = {"PowerPins": ("VDD", "VOUT")}
RESERVED_NAMES = ("PowerPins", "Signal", "TriggerOut", "Vmeas", "Both")


def _connections(sessions: tuple[SessionDetails, ...]) -> list[Connection]:
    return [
        Connection(m.pin_or_relay_name, m.site, m.channel, s)
        for s in sessions
        for m in s.channel_mappings
    ]


def _index(
    names: tuple[str, ...] | None = RESERVED_NAMES, sites: tuple[int, ...] | None = (1, 0)
) -> ConnectionIndex:
    return ConnectionIndex.build(
        _connections(SESSIONS),
        instrument_type_ids=[s.instrument_type_id for s in SESSIONS],
        group_mappings=GROUPS,
        reserved_pin_or_relay_names=names,
        reserved_sites=sites,
    )


def _keys(connections: tuple[Connection, ...]) -> list[tuple[str, int, str]]:
    return [(c.pin_or_relay_name, c.site, c.channel_name) for c in connections]


def test_default_order_is_site_then_requested_pin_then_sorted_type() -> None:
    assert _keys(_index().select()) == [
        ("VDD", 1, "DCPower1/2"),
        ("VOUT", 1, "DCPower1/3"),
        ("Signal", 1, "1"),
        ("Vmeas", 1, "0"),
        ("VDD", 0, "DCPower1/0"),
        ("VOUT", 0, "DCPower1/1"),
        ("Signal", 0, "0"),
        ("Vmeas", 0, "0"),
        ("Both", 0, "1"),  # niDMM sorts before niScope, whatever the session order
        ("Both", 0, "7"),
        ("TriggerOut", SITE_SYSTEM, "3"),
    ]


def test_requested_sites_come_first_in_the_asked_order_and_system_pins_last() -> None:
    connections = _index().select(sites=[0])
    assert [c.site for c in connections] == [0, 0, 0, 0, 0, 0, SITE_SYSTEM]
    assert _keys(_index().select(["TriggerOut", "Signal"], sites=[0, 1])) == [
        ("Signal", 0, "0"),
        ("Signal", 1, "1"),
        ("TriggerOut", SITE_SYSTEM, "3"),
    ]


def test_groups_expand_and_duplicates_drop() -> None:
    assert _keys(_index().select(["VOUT", "PowerPins"], sites=1)) == [
        ("VOUT", 1, "DCPower1/3"),
        ("VDD", 1, "DCPower1/2"),
    ]
    assert resolve_names(["VOUT", "PowerPins", "VDD"], GROUPS) == ("VOUT", "VDD")


def test_instrument_type_filter() -> None:
    assert _keys(_index().select(instrument_type_id=SCOPE)) == [
        ("Signal", 1, "1"),
        ("Signal", 0, "0"),
        ("Both", 0, "7"),
        ("TriggerOut", SITE_SYSTEM, "3"),
    ]


def test_without_reserved_names_and_sites_the_mappings_decide() -> None:
    index = _index(names=None, sites=None)
    assert index.pin_or_relay_names == ("Signal", "TriggerOut", "VDD", "VOUT", "Vmeas", "Both")
    assert index.sites == (0, 1)
    assert [c.site for c in index.select()][:1] == [0]


def test_empty_context_sites_mean_all_sites_seen() -> None:
    assert _index(sites=()).sites == (0, 1)


def test_empty_reserved_names_mean_all_names_seen() -> None:
    assert _index(names=()).pin_or_relay_names == _index(names=None).pin_or_relay_names
    assert len(_index(names=()).select()) == 11


def test_single_connection() -> None:
    connection = _index().select_one("VDD", site=1)
    assert connection.channel_name == "DCPower1/2"
    assert connection.instrument_type_id == DCPOWER
    assert connection.session_info.session_name == "SmuSite1"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"pin_or_relay_names": "Nope"},
            "No reserved connections matched pin or relay name(s) 'Nope'.",
        ),
        ({"sites": [5, 0]}, "No reserved connections matched site(s) 5."),
        (
            {"instrument_type_id": "niFGen"},
            "No reserved connections matched instrument type ID 'niFGen'.",
        ),
        (
            {"pin_or_relay_names": ["Signal", "VDD"], "instrument_type_id": DMM},
            "No reserved connections matched pin or relay name(s) 'Signal', 'VDD' with the "
            "specified criteria: instrument type ID 'niDMM'.",
        ),
        (
            {"sites": SITE_SYSTEM, "instrument_type_id": DMM},
            "No reserved connections matched the specified criteria: site(s) -1; "
            "instrument type ID 'niDMM'.",
        ),
    ],
)
def test_errors_name_the_criteria(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        _index().select(**kwargs)  # type: ignore[arg-type]


def test_single_connection_errors() -> None:
    with pytest.raises(ValueError, match="Expected single connection, got 2 connections"):
        _index().select_one("VDD")
    with pytest.raises(ValueError, match=r"^Too many reserved connections"):
        _index().select_one()
    empty = ConnectionIndex.build([], instrument_type_ids=[])
    with pytest.raises(
        ValueError, match=r"^No reserved connections matched the specified criteria"
    ):
        empty.select_one()
    assert empty.select() == ()


def test_wrong_types_are_rejected() -> None:
    with pytest.raises(TypeError, match="site"):
        _index().select_one(site="0")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="instrument_type_id"):
        _index().select(instrument_type_id=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _index().select(sites=1.5)  # type: ignore[arg-type]


def test_two_connections_of_one_pin_site_and_type_are_both_returned() -> None:
    session = _session("Mux", DCPOWER, ("A", 0, "DCPower1/0"), ("A", 0, "DCPower1/1"))
    index = ConnectionIndex.build(_connections((session,)), instrument_type_ids=[DCPOWER])
    assert [c.channel_name for c in index.select("A")] == ["DCPower1/0", "DCPower1/1"]


# -- the same through a reservation built from a hand-made ReserveSessionsResponse ---------------


def _response() -> sm_pb2.ReserveSessionsResponse:
    def mapping(pin: str, site: int, channel: str, mux: str = "", route: str = "") -> object:
        return sm_pb2.ChannelMapping(
            pin_or_relay_name=pin,
            site=site,
            channel=channel,
            multiplexer_resource_name=mux,
            multiplexer_route=route,
        )

    return sm_pb2.ReserveSessionsResponse(
        sessions=[
            sm_pb2.SessionInformation(
                session=session_pb2.Session(name="niDCPower-DCPower1/0, DCPower1/1"),
                resource_name="DCPower1/0, DCPower1/1",
                channel_list="DCPower1/0, DCPower1/1",
                instrument_type_id=DCPOWER,
                session_reserved=True,
                channel_mappings=[
                    mapping("A", 0, "DCPower1/0", "Mux1", "C1->r0"),
                    mapping("B", 0, "DCPower1/1"),
                ],
                annotations={"ni/reserved.hostname": "bench"},
            )
        ],
        multiplexer_sessions=[
            sm_pb2.MultiplexerSessionInformation(
                session=session_pb2.Session(name="Mux1"),
                resource_name="Mux1",
                multiplexer_type_id="niSwitch",
            )
        ],
        group_mappings={"G": sm_pb2.ResolvedPinsOrRelays(pin_or_relay_names=["B", "A"])},
    )


def test_reservation_from_a_response() -> None:
    channel = grpc.insecure_channel("localhost:1")  # never used: nothing is called remotely
    try:
        client = PinbrokerSessionClient(grpc_channel=channel)
        response = _response()
        reservation = MultiReservation(
            client,
            response.sessions,
            multiplexer_session_info=response.multiplexer_sessions,
            group_mappings={
                k: list(v.pin_or_relay_names) for k, v in response.group_mappings.items()
            },
            reserved_pin_or_relay_names=["G"],
            reserved_sites=[0],
        )
        assert reservation.group_mappings == {"G": ("B", "A")}
        assert [c.pin_or_relay_name for c in reservation.get_connections()] == ["B", "A"]
        muxed = reservation.get_connection("A")
        assert muxed.multiplexer_resource_name == "Mux1"
        assert muxed.multiplexer_route == "C1->r0"
        assert muxed.multiplexer_session_info == MultiplexerSessionDetails(
            "Mux1", "Mux1", "niSwitch", False
        )
        assert reservation.get_connection("B").multiplexer_session_info is None
        details = reservation.session_details[0]
        assert details.session_reserved is True
        assert details.annotations == {"ni/reserved.hostname": "bench"}
        assert reservation.session_info[0].channel_mappings[0] == ("A", 0, "DCPower1/0")
    finally:
        channel.close()
