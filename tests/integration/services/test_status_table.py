"""Every row of session-mapping.md §f, through raw stubs against a real server."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc
import pytest
import session_pb2
from ni.measurementlink import pin_map_context_pb2
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2 as pm
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2_grpc as pm_grpc
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2 as sm
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2_grpc as sm_grpc

from pinbroker.reservation import DeleteSessions, JournalRecord
from pinbroker.server.app import RunningServer
from pinbroker.store import MemoryStore
from pinbroker.types import SessionName

PIN_MAP_ID = "status-table.pinmap"
PIN_MAP_XML = """<?xml version="1.0" encoding="utf-8"?>
<PinMap schemaVersion="1.6" xmlns="http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd">
  <Instruments>
    <NIDCPowerInstrument name="SMU1" numberOfChannels="4">
      <ChannelGroup name="Power" />
    </NIDCPowerInstrument>
    <NIDmmInstrument name="DMM1" />
    <Multiplexer name="MUX1" multiplexerTypeId="RelayMux" />
  </Instruments>
  <Pins><DUTPin name="VDD" /><DUTPin name="OUT" /></Pins>
  <PinGroups><PinGroup name="Supplies"><PinReference pin="VDD" /></PinGroup></PinGroups>
  <Sites><Site siteNumber="0" /><Site siteNumber="1" /></Sites>
  <Connections>
    <Connection pin="VDD" siteNumber="0" instrument="SMU1" channel="0" />
    <Connection pin="VDD" siteNumber="1" instrument="SMU1" channel="1" />
    <MultiplexedConnection instrument="DMM1" channel="0">
      <MultiplexedDUTPinRoute pin="OUT" siteNumber="0" multiplexer="MUX1" routeName="r0" />
      <MultiplexedDUTPinRoute pin="OUT" siteNumber="1" multiplexer="MUX1" routeName="r1" />
    </MultiplexedConnection>
  </Connections>
</PinMap>
"""

Call = Callable[[], object]


@pytest.fixture
def stubs(
    grpc_channel: grpc.Channel,
) -> tuple[pm_grpc.PinMapServiceStub, sm_grpc.SessionManagementServiceStub]:
    pin_maps = pm_grpc.PinMapServiceStub(grpc_channel)
    pin_maps.UpdatePinMapFromXml(
        pm.UpdatePinMapFromXmlRequest(pin_map_id=PIN_MAP_ID, pin_map_xml=PIN_MAP_XML)
    )
    return pin_maps, sm_grpc.SessionManagementServiceStub(grpc_channel)


def _context(
    pin_map_id: str = PIN_MAP_ID, sites: tuple[int, ...] = ()
) -> pin_map_context_pb2.PinMapContext:
    return pin_map_context_pb2.PinMapContext(pin_map_id=pin_map_id, sites=list(sites))


def _status(call: Call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code(), caught.value.details() or ""


def _session(name: str) -> sm.SessionInformation:
    return sm.SessionInformation(session=session_pb2.Session(name=name), resource_name=name)


def test_reserve_sessions_rows(
    stubs: tuple[pm_grpc.PinMapServiceStub, sm_grpc.SessionManagementServiceStub],
) -> None:
    _, sessions = stubs
    code, details = _status(
        lambda: sessions.ReserveSessions(
            sm.ReserveSessionsRequest(pin_map_context=_context(sites=(7,)))
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "site 7" in details
    code, details = _status(
        lambda: sessions.ReserveSessions(
            sm.ReserveSessionsRequest(pin_map_context=_context(), pin_or_relay_names=["VDD2"])
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "'VDD2'" in details
    code, details = _status(
        lambda: sessions.ReserveSessions(
            sm.ReserveSessionsRequest(pin_map_context=_context(), timeout_in_milliseconds=-2)
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "-2" in details
    code, details = _status(
        lambda: sessions.ReserveSessions(
            sm.ReserveSessionsRequest(pin_map_context=_context("nope.pinmap"))
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND
    assert "nope.pinmap" in details

    held = sessions.ReserveSessions(
        sm.ReserveSessionsRequest(pin_map_context=_context(), pin_or_relay_names=["VDD"])
    )
    assert [s.session.name for s in held.sessions] == ["niDCPower-SMU1/0, SMU1/1"]
    assert all(s.session_reserved for s in held.sessions)
    code, details = _status(
        lambda: sessions.ReserveSessions(
            sm.ReserveSessionsRequest(
                pin_map_context=_context(sites=(1,)),
                pin_or_relay_names=["Supplies"],
                timeout_in_milliseconds=0,
            )
        )
    )
    assert code == grpc.StatusCode.UNAVAILABLE
    assert "niDCPower-SMU1/0, SMU1/1" in details
    code, _ = _status(
        lambda: sessions.ReserveSessions(
            sm.ReserveSessionsRequest(
                pin_map_context=_context(sites=(1,)),
                pin_or_relay_names=["VDD"],
                timeout_in_milliseconds=50,
            )
        )
    )
    assert code == grpc.StatusCode.UNAVAILABLE
    sessions.UnreserveSessions(sm.UnreserveSessionsRequest(sessions=held.sessions))
    # unreserving what is free is not an error (decision 13)
    sessions.UnreserveSessions(sm.UnreserveSessionsRequest(sessions=held.sessions))


def test_reserve_response_carries_groups_multiplexers_and_annotations(
    stubs: tuple[pm_grpc.PinMapServiceStub, sm_grpc.SessionManagementServiceStub],
) -> None:
    _, sessions = stubs
    response = sessions.ReserveSessions(
        sm.ReserveSessionsRequest(
            pin_map_context=_context(sites=(1,)),
            pin_or_relay_names=["Supplies", "OUT"],
            annotations={"ni/reserved.username": "tester"},
        )
    )
    assert {k: list(v.pin_or_relay_names) for k, v in response.group_mappings.items()} == {
        "Supplies": ["VDD"]
    }
    assert [(m.session.name, m.multiplexer_type_id) for m in response.multiplexer_sessions] == [
        ("MUX1", "RelayMux")
    ]
    dmm = next(s for s in response.sessions if s.instrument_type_id == "niDMM")
    assert [
        (m.pin_or_relay_name, m.site, m.channel, m.multiplexer_resource_name, m.multiplexer_route)
        for m in dmm.channel_mappings
    ] == [("OUT", 1, "0", "MUX1", "r1")]
    for s in response.sessions:
        theirs = {k: v for k, v in s.annotations.items() if not k.startswith("pinbroker/")}
        assert theirs == {"ni/reserved.username": "tester"}
        assert int(s.annotations["pinbroker/reservation_id"]) > 0  # the grant's fencing token
        assert int(s.annotations["pinbroker/fence"]) >= 1
    listed = sessions.GetSessions(sm.GetSessionsRequest())
    assert {s.session.name: (s.session_reserved, s.session_exists) for s in listed.sessions} == {
        "niDCPower-SMU1/0, SMU1/1": (True, False),
        "niDMM-DMM1": (True, False),
    }


def test_register_rows(
    stubs: tuple[pm_grpc.PinMapServiceStub, sm_grpc.SessionManagementServiceStub],
) -> None:
    _, sessions = stubs
    sessions.RegisterSessions(sm.RegisterSessionsRequest(sessions=[_session("A")]))
    code, details = _status(
        lambda: sessions.RegisterSessions(
            sm.RegisterSessionsRequest(sessions=[_session("B"), _session("A")])
        )
    )
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert "'A'" in details
    code, _ = _status(
        lambda: sessions.RegisterSessions(sm.RegisterSessionsRequest(sessions=[_session("")]))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    # all-or-nothing: B was not registered by the failed call
    names = [s.session.name for s in sessions.GetSessions(sm.GetSessionsRequest()).sessions]
    assert names == ["A"]

    mux = sm.MultiplexerSessionInformation(
        session=session_pb2.Session(name="MUX1"),
        resource_name="MUX1",
        multiplexer_type_id="RelayMux",
    )
    sessions.RegisterMultiplexerSessions(
        sm.RegisterMultiplexerSessionsRequest(multiplexer_sessions=[mux])
    )
    code, _ = _status(
        lambda: sessions.RegisterMultiplexerSessions(
            sm.RegisterMultiplexerSessionsRequest(multiplexer_sessions=[mux])
        )
    )
    assert code == grpc.StatusCode.ALREADY_EXISTS
    empty = sm.MultiplexerSessionInformation(session=session_pb2.Session(name=""))
    code, _ = _status(
        lambda: sessions.RegisterMultiplexerSessions(
            sm.RegisterMultiplexerSessionsRequest(multiplexer_sessions=[empty])
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    registered = sessions.GetAllRegisteredMultiplexerSessions(
        sm.GetAllRegisteredMultiplexerSessionsRequest(multiplexer_type_id="RelayMux")
    )
    assert [m.session.name for m in registered.multiplexer_sessions] == ["MUX1"]
    connected = sessions.GetMultiplexerSessions(
        sm.GetMultiplexerSessionsRequest(pin_map_context=_context(sites=(0,)))
    )
    assert [(m.session.name, m.session_exists) for m in connected.multiplexer_sessions] == [
        ("MUX1", True)
    ]
    sessions.UnregisterMultiplexerSessions(
        sm.UnregisterMultiplexerSessionsRequest(multiplexer_sessions=[mux])
    )
    assert not sessions.GetAllRegisteredMultiplexerSessions(
        sm.GetAllRegisteredMultiplexerSessionsRequest()
    ).multiplexer_sessions


def test_reserve_all_registered_rows(
    stubs: tuple[pm_grpc.PinMapServiceStub, sm_grpc.SessionManagementServiceStub],
) -> None:
    _, sessions = stubs
    code, _ = _status(
        lambda: sessions.ReserveAllRegisteredSessions(
            sm.ReserveAllRegisteredSessionsRequest(timeout_in_milliseconds=-5)
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    sessions.RegisterSessions(sm.RegisterSessionsRequest(sessions=[_session("A")]))
    first = sessions.ReserveAllRegisteredSessions(sm.ReserveAllRegisteredSessionsRequest())
    assert [s.session.name for s in first.sessions] == ["A"]
    code, _ = _status(
        lambda: sessions.ReserveAllRegisteredSessions(
            sm.ReserveAllRegisteredSessionsRequest(timeout_in_milliseconds=0)
        )
    )
    assert code == grpc.StatusCode.UNAVAILABLE


def test_get_multiplexer_sessions_rows(
    stubs: tuple[pm_grpc.PinMapServiceStub, sm_grpc.SessionManagementServiceStub],
) -> None:
    _, sessions = stubs
    code, _ = _status(
        lambda: sessions.GetMultiplexerSessions(
            sm.GetMultiplexerSessionsRequest(pin_map_context=_context(sites=(3,)))
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = _status(
        lambda: sessions.GetMultiplexerSessions(
            sm.GetMultiplexerSessionsRequest(pin_map_context=_context("missing"))
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND


def test_pin_map_service_rows(
    stubs: tuple[pm_grpc.PinMapServiceStub, sm_grpc.SessionManagementServiceStub],
) -> None:
    pin_maps, _ = stubs
    for bad_id in ("", "has space"):
        code, _ = _status(
            lambda bad_id=bad_id: pin_maps.CreatePinMapFromXml(
                pm.CreatePinMapFromXmlRequest(pin_map_id=bad_id, pin_map_xml=PIN_MAP_XML)
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, details = _status(
        lambda: pin_maps.CreatePinMapFromXml(
            pm.CreatePinMapFromXmlRequest(pin_map_id="x", pin_map_xml="<PinMap>")
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "line" in details
    code, _ = _status(
        lambda: pin_maps.CreatePinMapFromXml(
            pm.CreatePinMapFromXmlRequest(pin_map_id=PIN_MAP_ID, pin_map_xml=PIN_MAP_XML)
        )
    )
    assert code == grpc.StatusCode.ALREADY_EXISTS
    bad = PIN_MAP_XML.replace('pin="VDD" siteNumber="1"', 'pin="VDD2" siteNumber="1"')
    code, details = _status(
        lambda: pin_maps.UpdatePinMapFromXml(
            pm.UpdatePinMapFromXmlRequest(pin_map_id=PIN_MAP_ID, pin_map_xml=bad)
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "VDD2" in details
    # the failed update changed nothing
    assert [
        p.display_name for p in pin_maps.QueryPins(pm.QueryPinsRequest(pin_map_id=PIN_MAP_ID)).pins
    ] == ["VDD", "OUT"]
    for call in (
        lambda: pin_maps.GetPinMap(pm.GetPinMapRequest(pin_map_id="missing")),
        lambda: pin_maps.QueryPins(pm.QueryPinsRequest(pin_map_id="missing")),
        lambda: pin_maps.QueryRelays(pm.QueryRelaysRequest(pin_map_id="missing")),
        lambda: pin_maps.QueryResourceAccessInformation(
            pm.QueryResourceAccessInformationRequest(pin_map_id="missing")
        ),
        lambda: pin_maps.QueryResourceAccessInformation(
            pm.QueryResourceAccessInformationRequest(pin_map_id=PIN_MAP_ID, sites=[5])
        ),
    ):
        code, _ = _status(call)
        assert code == grpc.StatusCode.NOT_FOUND
    for names in (["VDD2"], [""]):
        code, _ = _status(
            lambda names=names: pin_maps.QueryResourceAccessInformation(
                pm.QueryResourceAccessInformationRequest(
                    pin_map_id=PIN_MAP_ID, pin_or_relay_names=names
                )
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_query_resource_access_information(
    stubs: tuple[pm_grpc.PinMapServiceStub, sm_grpc.SessionManagementServiceStub],
) -> None:
    pin_maps, _ = stubs
    response = pin_maps.QueryResourceAccessInformation(
        pm.QueryResourceAccessInformationRequest(
            pin_map_id=PIN_MAP_ID, sites=[0], pin_or_relay_names=["Supplies", "OUT"]
        )
    )
    assert [
        (r.resource_name, r.channel_list, r.instrument_type_id)
        for r in response.resource_access_information
    ] == [
        ("SMU1/0, SMU1/1", "SMU1/0", "niDCPower"),
        ("DMM1", "0", "niDMM"),
    ]
    dmm_mapping = response.resource_access_information[1].channel_mappings[0]
    assert (
        dmm_mapping.multiplexer_resource_name,
        dmm_mapping.multiplexer_route,
        dmm_mapping.multiplexer_type_id,
    ) == ("MUX1", "r0", "RelayMux")
    assert list(response.group_mappings["Supplies"].pin_or_relay_names) == ["VDD"]


class _FailingReleaseStore(MemoryStore):
    """A store that cannot record releases (a full disk, say)."""

    def delete_reservation_sessions(self, session_names: Sequence[SessionName]) -> None:
        raise OSError("disk full")

    def apply_journal(self, records: Sequence[JournalRecord]) -> None:
        if any(isinstance(record, DeleteSessions) for record in records):
            raise OSError("disk full")
        super().apply_journal(records)


def test_unreserve_failure_is_resource_exhausted(
    start_pinbroker: Callable[..., RunningServer],
) -> None:
    server = start_pinbroker(store=_FailingReleaseStore())
    with grpc.insecure_channel(server.address) as channel:
        pm_grpc.PinMapServiceStub(channel).UpdatePinMapFromXml(
            pm.UpdatePinMapFromXmlRequest(pin_map_id=PIN_MAP_ID, pin_map_xml=PIN_MAP_XML)
        )
        sessions = sm_grpc.SessionManagementServiceStub(channel)
        held = sessions.ReserveSessions(sm.ReserveSessionsRequest(pin_map_context=_context()))
        code, details = _status(
            lambda: sessions.UnreserveSessions(sm.UnreserveSessionsRequest(sessions=held.sessions))
        )
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "still reserved" in details
        assert "disk full" not in details  # internal details stay in the server log
