"""Health, reflection and graceful shutdown of the assembled server."""

from __future__ import annotations

import threading
from collections.abc import Callable

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from ni.measurementlink import pin_map_context_pb2
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2 as pm
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2_grpc as pm_grpc
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2 as sm
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2_grpc as sm_grpc

from pinbroker.server.app import RunningServer

SERVICES = (
    "ni.measurementlink.pinmap.v1.PinMapService",
    "ni.measurementlink.sessionmanagement.v1.SessionManagementService",
    "ni.measurementlink.discovery.v1.DiscoveryService",
)

XML = """<?xml version="1.0" encoding="utf-8"?>
<PinMap schemaVersion="1.6" xmlns="http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd">
  <Instruments><NIFGenInstrument name="FGEN1" numberOfChannels="2" /></Instruments>
  <Pins><DUTPin name="CLK" /></Pins>
  <Sites><Site siteNumber="0" /></Sites>
  <Connections><Connection pin="CLK" siteNumber="0" instrument="FGEN1" channel="0" /></Connections>
</PinMap>
"""


def test_health_reports_every_service_serving(grpc_channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(grpc_channel)
    for service in ("", *SERVICES):
        response = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(grpc_channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(grpc_channel)
    responses = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert set(SERVICES) <= names
    assert "grpc.health.v1.Health" in names


def test_stop_fails_waiters_with_unavailable_and_keeps_reservations(
    start_pinbroker: Callable[..., RunningServer],
) -> None:
    server = start_pinbroker()
    channel = grpc.insecure_channel(server.address)
    grpc.channel_ready_future(channel).result(timeout=10)
    pm_grpc.PinMapServiceStub(channel).UpdatePinMapFromXml(
        pm.UpdatePinMapFromXmlRequest(pin_map_id="fgen", pin_map_xml=XML)
    )
    sessions = sm_grpc.SessionManagementServiceStub(channel)
    request = sm.ReserveSessionsRequest(
        pin_map_context=pin_map_context_pb2.PinMapContext(pin_map_id="fgen"),
        timeout_in_milliseconds=-1,
    )
    sessions.ReserveSessions(request)
    errors: list[grpc.RpcError] = []
    done = threading.Event()

    def wait_forever() -> None:
        try:
            sessions.ReserveSessions(request, timeout=60)
        except grpc.RpcError as exc:
            errors.append(exc)
        done.set()

    waiter = threading.Thread(target=wait_forever)
    waiter.start()
    assert server.sessions.table.wait_for_waiting(1, timeout=30)
    server.stop(grace=5)
    assert done.wait(30)
    waiter.join(10)
    channel.close()
    assert [e.code() for e in errors] == [grpc.StatusCode.UNAVAILABLE]
    assert "shutting down" in (errors[0].details() or "")


@pytest.mark.parametrize("naming", ["typed", "resource"])
def test_session_naming_setting(start_pinbroker: Callable[..., RunningServer], naming: str) -> None:
    from pinbroker.types import SessionNaming

    server = start_pinbroker(session_naming=SessionNaming(naming))
    with grpc.insecure_channel(server.address) as channel:
        pm_grpc.PinMapServiceStub(channel).UpdatePinMapFromXml(
            pm.UpdatePinMapFromXmlRequest(pin_map_id="fgen", pin_map_xml=XML)
        )
        response = sm_grpc.SessionManagementServiceStub(channel).ReserveSessions(
            sm.ReserveSessionsRequest(
                pin_map_context=pin_map_context_pb2.PinMapContext(pin_map_id="fgen")
            )
        )
    expected = "niFGen-FGEN1" if naming == "typed" else "FGEN1"
    assert [s.session.name for s in response.sessions] == [expected]
