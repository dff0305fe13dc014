"""Protobuf <-> client values: every field survives, both ways."""

from __future__ import annotations

import ni.measurementlink.pinmap.v1.pin_map_service_pb2 as pm_pb2
import ni.measurementlink.sessionmanagement.v1.session_management_service_pb2 as sm_pb2
import pytest
import session_pb2
from hypothesis import given
from hypothesis import strategies as st

from pinbroker.client import (
    ChannelMapping,
    MultiplexerSessionDetails,
    PinDefinition,
    PinGroupDefinition,
    RelayDefinition,
    RelayGroupDefinition,
    ResourceAccessInformation,
    SessionDetails,
)
from pinbroker.client._convert import (
    channel_mapping_from_grpc,
    multiplexer_session_from_grpc,
    multiplexer_session_to_grpc,
    pins_from_grpc,
    relays_from_grpc,
    resource_access_from_grpc,
    session_details_from_grpc,
    session_details_to_grpc,
    session_snapshot_from_grpc,
)

text = st.text(max_size=12)
sites = st.integers(min_value=-1, max_value=512)
mappings = st.builds(
    ChannelMapping,
    pin_or_relay_name=text,
    site=sites,
    channel=text,
    multiplexer_resource_name=text,
    multiplexer_route=text,
)
annotations = st.dictionaries(text, text, max_size=3)


@given(
    st.builds(
        SessionDetails,
        session_name=text,
        resource_name=text,
        channel_list=text,
        instrument_type_id=text,
        session_exists=st.booleans(),
        session_reserved=st.booleans(),
        channel_mappings=st.lists(mappings, max_size=4).map(tuple),
        annotations=annotations,
    )
)
def test_session_details_round_trip(details: SessionDetails) -> None:
    message = session_details_to_grpc(details)
    assert session_details_from_grpc(message) == details
    # and message -> value -> message is byte-identical
    again = session_details_to_grpc(session_details_from_grpc(message))
    assert again.SerializeToString(deterministic=True) == message.SerializeToString(
        deterministic=True
    )


@given(
    st.builds(
        MultiplexerSessionDetails,
        session_name=text,
        resource_name=text,
        multiplexer_type_id=text,
        session_exists=st.booleans(),
        annotations=annotations,
    )
)
def test_multiplexer_session_round_trip(details: MultiplexerSessionDetails) -> None:
    assert multiplexer_session_from_grpc(multiplexer_session_to_grpc(details)) == details


def test_values_are_frozen() -> None:
    details = SessionDetails("s", "r", "c", "niDMM", False, annotations={"k": "v"})
    with pytest.raises(AttributeError):
        details.session_name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        details.annotations["k"] = "w"  # type: ignore[index]
    assert hash(details) == hash(SessionDetails("s", "r", "c", "niDMM", False))


def test_to_session_information_is_the_documented_view() -> None:
    details = SessionDetails(
        "s",
        "r",
        "DCPower1/0",
        "niDCPower",
        True,
        True,
        (ChannelMapping("A", 0, "DCPower1/0", "M", "r"),),
    )
    info = details.to_session_information()
    assert info == ("s", "r", "DCPower1/0", "niDCPower", True, [("A", 0, "DCPower1/0")])


def test_pin_map_channel_mapping_keeps_multiplexer_type_id() -> None:
    message = pm_pb2.ChannelMapping(
        pin_or_relay_name="A",
        site=0,
        channel="DCPower1/0",
        multiplexer_resource_name="Mux",
        multiplexer_route="C1->r0",
        multiplexer_type_id="niSwitch",
    )
    assert channel_mapping_from_grpc(message) == ChannelMapping(
        "A", 0, "DCPower1/0", "Mux", "C1->r0", "niSwitch"
    )


def test_query_responses() -> None:
    pins = pins_from_grpc(
        pm_pb2.QueryPinsResponse(
            pins=[
                pm_pb2.PinDefinition(display_name="VDD"),
                pm_pb2.PinDefinition(display_name="T", is_system_pin=True),
            ],
            pin_groups=[
                pm_pb2.PinGroupDefinition(
                    display_name="G",
                    pin_or_group_references=["VDD", "H"],
                    resolved_pins=["VDD", "T"],
                )
            ],
        )
    )
    assert pins.pins == (PinDefinition("VDD", False), PinDefinition("T", True))
    assert pins.pin_groups == (PinGroupDefinition("G", ("VDD", "H"), ("VDD", "T")),)
    assert pins.pin_names == ("VDD", "T")

    relays = relays_from_grpc(
        pm_pb2.QueryRelaysResponse(
            relays=[pm_pb2.RelayDefinition(display_name="K", is_system_relay=True)],
            relay_groups=[
                pm_pb2.RelayGroupDefinition(
                    display_name="RG", relay_or_group_references=["K"], resolved_relays=["K"]
                )
            ],
        )
    )
    assert relays.relays == (RelayDefinition("K", True),)
    assert relays.relay_groups == (RelayGroupDefinition("RG", ("K",), ("K",)),)
    assert relays.relay_names == ("K",)

    access = resource_access_from_grpc(
        pm_pb2.QueryResourceAccessInformationResponse(
            resource_access_information=[
                pm_pb2.ResourceAccessInformation(
                    resource_name="DMM1",
                    channel_list="0",
                    instrument_type_id="niDMM",
                    channel_mappings=[
                        pm_pb2.ChannelMapping(pin_or_relay_name="V", site=1, channel="0")
                    ],
                )
            ],
            group_mappings={"G": pm_pb2.ResolvedPinsOrRelays(pin_or_relay_names=["V"])},
        )
    )
    assert access.resources == (
        ResourceAccessInformation("DMM1", "0", "niDMM", (ChannelMapping("V", 1, "0"),)),
    )
    assert access.group_mappings == {"G": ("V",)}


def test_session_snapshot() -> None:
    snapshot = session_snapshot_from_grpc(
        sm_pb2.GetSessionsResponse(
            sessions=[
                sm_pb2.SessionInformation(
                    session=session_pb2.Session(name="DMM1"),
                    resource_name="DMM1",
                    instrument_type_id="niDMM",
                    session_exists=True,
                )
            ],
            multiplexer_sessions=[
                sm_pb2.MultiplexerSessionInformation(session=session_pb2.Session(name="M"))
            ],
        )
    )
    assert snapshot.by_name()["DMM1"].session_exists is True
    assert snapshot.multiplexer_sessions[0].session_name == "M"
