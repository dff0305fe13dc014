"""pinbroker's own discovery entries cannot be replaced or unregistered (real server, NI client)."""

from __future__ import annotations

import grpc
import pytest
from ni.measurementlink.discovery.v1 import discovery_service_pb2 as pb
from ni.measurementlink.discovery.v1 import discovery_service_pb2_grpc
from ni.measurementlink.discovery.v1.client import DiscoveryClient, ServiceInfo, ServiceLocation

from pinbroker.discovery import ServiceRegistry
from pinbroker.server._discovery_service import (
    PIN_MAP_SERVICE_NAME,
    SESSION_MANAGEMENT_SERVICE_NAME,
    register_builtin_services,
)
from pinbroker.server.app import RunningServer

OWN_SERVICES = (PIN_MAP_SERVICE_NAME, SESSION_MANAGEMENT_SERVICE_NAME)
ELSEWHERE = ServiceLocation(location="localhost", insecure_port="9", ssl_authenticated_port="")


@pytest.fixture
def discovery(grpc_channel: grpc.Channel) -> DiscoveryClient:
    return DiscoveryClient(stub=discovery_service_pb2_grpc.DiscoveryServiceStub(grpc_channel))


@pytest.fixture
def raw(grpc_channel: grpc.Channel) -> discovery_service_pb2_grpc.DiscoveryServiceStub:
    return discovery_service_pb2_grpc.DiscoveryServiceStub(grpc_channel)


def _still_ours(discovery: DiscoveryClient, server: RunningServer) -> None:
    for name in OWN_SERVICES:
        location = discovery.resolve_service(provided_interface=name, service_class=name)
        assert location.insecure_port == str(server.port)


@pytest.mark.parametrize("name", OWN_SERVICES)
@pytest.mark.parametrize(
    ("service_class", "versions"),
    [("same", []), ("same", ["9.9.9"]), ("other.Hijacker", [])],
    ids=["same-class", "same-class-newer-version", "other-class-same-interface"],
)
def test_registering_over_pinbrokers_own_service_is_permission_denied(
    discovery: DiscoveryClient,
    pinbroker_server: RunningServer,
    name: str,
    service_class: str,
    versions: list[str],
) -> None:
    hijack = ServiceInfo(
        service_class=name if service_class == "same" else service_class,
        description_url="",
        provided_interfaces=[name],
        display_name="Hijacker",
        versions=versions,
    )

    with pytest.raises(grpc.RpcError) as info:
        discovery.register_service(hijack, ELSEWHERE)

    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "cannot be replaced" in (info.value.details() or "")
    _still_ours(discovery, pinbroker_server)


def test_unregistering_pinbrokers_own_services_is_permission_denied(
    stub: discovery_service_pb2_grpc.DiscoveryServiceStub,
    registry: ServiceRegistry,
    discovery_port: int,
) -> None:
    # The wire never shows registration ids; take them where the server registers its own.
    own = register_builtin_services(registry, host="127.0.0.1", port=discovery_port)
    discovery = DiscoveryClient(stub=stub)

    for registration_id in own:
        with pytest.raises(grpc.RpcError) as info:
            discovery.unregister_service(registration_id)
        assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "served by this server itself" in (info.value.details() or "")

    for name in OWN_SERVICES:
        location = discovery.resolve_service(provided_interface=name, service_class=name)
        assert location.insecure_port == str(discovery_port)


def test_other_services_still_register_and_unregister(
    discovery: DiscoveryClient, pinbroker_server: RunningServer
) -> None:
    service = ServiceInfo(
        service_class="demo.Measurement",
        description_url="",
        provided_interfaces=["ni.measurementlink.measurement.v2.MeasurementService"],
        display_name="Demo",
    )
    registration_id = discovery.register_service(service, ELSEWHERE)
    assert (
        discovery.resolve_service("ni.measurementlink.measurement.v2.MeasurementService")
        == ELSEWHERE
    )
    assert discovery.unregister_service(registration_id)
    _still_ours(discovery, pinbroker_server)


def test_an_oversized_error_message_is_cut(
    raw: discovery_service_pb2_grpc.DiscoveryServiceStub,
) -> None:
    request = pb.RegisterServiceRequest(
        service_description=pb.ServiceDescriptor(
            display_name="Big",
            service_class="demo.Big",
            provided_interfaces=["demo.v1.Big"],
            versions=["9" * 100_000],
        ),
        location=pb.ServiceLocation(location="localhost", insecure_port="9"),
    )

    with pytest.raises(grpc.RpcError) as info:
        raw.RegisterService(request)

    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # not RESOURCE_EXHAUSTED
    details = info.value.details() or ""
    assert len(details.encode()) <= 4000
    assert details.endswith("bytes cut)")
