"""NI's Pin Map and Session Management clients find pinbroker's services through discovery.

The services are stand-ins on a second server, so the only way the clients can reach them is
the location pinbroker's Discovery Service hands out.
"""

import grpc
import pytest
from ni.measurementlink.discovery.v1.client import DiscoveryClient
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2, pin_map_service_pb2_grpc
from ni.measurementlink.pinmap.v1.client import PinMapClient
from ni.measurementlink.sessionmanagement.v1 import (
    session_management_service_pb2,
    session_management_service_pb2_grpc,
)
from ni.measurementlink.sessionmanagement.v1.client import SessionManagementClient
from ni_grpc_extensions.channelpool import GrpcChannelPool

from pinbroker.discovery import ServiceDescriptor, ServiceLocation
from pinbroker.server._discovery_service import register_builtin_services


class StandInPinMapService(pin_map_service_pb2_grpc.PinMapServiceServicer):
    def UpdatePinMapFromXml(self, request, context):
        return pin_map_service_pb2.PinMap(pin_map_id=f"stand-in:{request.pin_map_id}")


class StandInSessionManagementService(
    session_management_service_pb2_grpc.SessionManagementServiceServicer
):
    def GetAllRegisteredMultiplexerSessions(self, request, context):
        return session_management_service_pb2.GetAllRegisteredMultiplexerSessionsResponse(
            multiplexer_sessions=[
                session_management_service_pb2.MultiplexerSessionInformation(
                    resource_name="stand-in-mux"
                )
            ]
        )


@pytest.fixture
def services_port(start_server):
    return start_server(
        lambda server: pin_map_service_pb2_grpc.add_PinMapServiceServicer_to_server(
            StandInPinMapService(), server
        ),
        lambda server: (
            session_management_service_pb2_grpc.add_SessionManagementServiceServicer_to_server(
                StandInSessionManagementService(), server
            )
        ),
    )


@pytest.fixture
def channel_pool():
    with GrpcChannelPool() as pool:
        yield pool


@pytest.fixture
def pin_map_client(stub, channel_pool):
    with PinMapClient(
        discovery_client=DiscoveryClient(stub=stub), grpc_channel_pool=channel_pool
    ) as client:
        yield client


@pytest.fixture
def session_client(stub, channel_pool):
    with SessionManagementClient(
        discovery_client=DiscoveryClient(stub=stub), grpc_channel_pool=channel_pool
    ) as client:
        yield client


@pytest.fixture
def pin_map_file(tmp_path):
    path = tmp_path / "demo.pinmap"
    path.write_text("<PinMap/>", encoding="utf-8")
    return path


def test_pin_map_client_resolves_pinbroker_through_discovery(
    registry, services_port, discovery_port, pin_map_client, pin_map_file
):
    assert services_port != discovery_port
    register_builtin_services(registry, host="127.0.0.1", port=services_port)

    assert pin_map_client.update_pin_map(pin_map_file) == f"stand-in:{pin_map_file}"


def test_session_management_client_resolves_pinbroker_through_discovery(
    registry, services_port, session_client
):
    register_builtin_services(registry, host="127.0.0.1", port=services_port)

    sessions = session_client.get_all_registered_multiplexer_sessions()

    assert [s.resource_name for s in sessions.multiplexer_session_info] == ["stand-in-mux"]


def test_wildcard_host_registration_is_reachable(
    registry, services_port, pin_map_client, pin_map_file
):
    register_builtin_services(registry, host="0.0.0.0", port=services_port)
    assert registry.resolve(pin_map_client._service_interface_name).location == "localhost"

    assert pin_map_client.update_pin_map(pin_map_file) == f"stand-in:{pin_map_file}"


def test_clients_fail_with_not_found_before_registration(pin_map_client, pin_map_file):
    with pytest.raises(grpc.RpcError) as error:
        pin_map_client.update_pin_map(pin_map_file)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_an_ambiguous_interface_does_not_break_ni_clients(
    registry, services_port, pin_map_client, pin_map_file
):
    # Another service implementing the same interface under its own class: NI's client names
    # the class, so it still reaches pinbroker's.
    name = pin_map_client._service_interface_name
    registry.register(
        ServiceDescriptor(
            display_name="Another Pin Map Service",
            service_class="vendor.OtherPinMapService",
            provided_interfaces=(name,),
        ),
        ServiceLocation("127.0.0.1", "1"),
    )
    register_builtin_services(registry, host="127.0.0.1", port=services_port)

    assert pin_map_client.update_pin_map(pin_map_file) == f"stand-in:{pin_map_file}"
