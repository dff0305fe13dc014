import pytest
from ni.measurementlink.discovery.v1 import annotations as discovery_annotations
from ni.measurementlink.pinmap.v1.client import PinMapClient
from ni.measurementlink.sessionmanagement.v1.client import _constants as session_constants

from pinbroker.discovery import ServiceLocation, ServiceRegistry
from pinbroker.errors import InvalidServiceRegistrationError
from pinbroker.server._discovery_service import (
    PIN_MAP_SERVICE_NAME,
    SESSION_MANAGEMENT_SERVICE_NAME,
    register_builtin_services,
)


def test_names_are_the_ones_ni_clients_resolve():
    # NI's session management client keeps both names in its constants module.
    assert SESSION_MANAGEMENT_SERVICE_NAME == session_constants.GRPC_SERVICE_INTERFACE_NAME
    assert SESSION_MANAGEMENT_SERVICE_NAME == session_constants.GRPC_SERVICE_CLASS
    # NI's pin map client passes its names as literals to its base class.
    client = PinMapClient(grpc_channel=None)
    assert client._service_interface_name == PIN_MAP_SERVICE_NAME
    assert client._service_class == PIN_MAP_SERVICE_NAME
    assert PIN_MAP_SERVICE_NAME == "ni.measurementlink.pinmap.v1.PinMapService"


def test_registers_pin_map_and_session_management_services():
    registry = ServiceRegistry(local_node_url="n")
    ids = register_builtin_services(registry, host="127.0.0.1", port=31763)
    active = registry.enumerate_active_services()
    assert [a.registration_id for a in active] == ids
    assert len(ids) == 2
    by_class = {a.descriptor.service_class: a for a in active}
    assert set(by_class) == {PIN_MAP_SERVICE_NAME, SESSION_MANAGEMENT_SERVICE_NAME}
    pin_map = by_class[PIN_MAP_SERVICE_NAME].descriptor
    assert pin_map.display_name == "Pin Map Service (pinbroker)"
    assert pin_map.provided_interfaces == (PIN_MAP_SERVICE_NAME,)
    assert pin_map.annotations[discovery_annotations.SERVICE_PROGRAMMINGLANGUAGE_KEY] == "Python"
    assert "pinbroker" in pin_map.annotations[discovery_annotations.SERVICE_DESCRIPTION_KEY]
    session = by_class[SESSION_MANAGEMENT_SERVICE_NAME].descriptor
    assert session.display_name == "Session Management Service (pinbroker)"
    assert session.provided_interfaces == (SESSION_MANAGEMENT_SERVICE_NAME,)
    for name in (PIN_MAP_SERVICE_NAME, SESSION_MANAGEMENT_SERVICE_NAME):
        location = registry.resolve(name, name)
        assert location == ServiceLocation("127.0.0.1", "31763")
        assert location.insecure_address == "127.0.0.1:31763"


def test_the_discovery_service_is_not_registered():
    registry = ServiceRegistry()
    register_builtin_services(registry, host="localhost", port=1)
    assert registry.enumerate("ni.measurementlink.discovery.v1.DiscoveryService") == []


@pytest.mark.parametrize(
    ("host", "location"),
    [
        ("0.0.0.0", "localhost"),
        ("::", "localhost"),
        ("[::]", "localhost"),
        ("", "localhost"),
        ("localhost", "localhost"),
        ("192.168.1.5", "192.168.1.5"),
        ("::1", "[::1]"),
        ("[::1]", "[::1]"),
        ("fe80::1", "[fe80::1]"),
        ("tester.example", "tester.example"),
    ],
)
def test_registered_location_is_connectable(host, location):
    registry = ServiceRegistry()
    register_builtin_services(registry, host=host, port=5000)
    resolved = registry.resolve(PIN_MAP_SERVICE_NAME)
    assert resolved.location == location
    assert resolved.insecure_address == f"{location}:5000"


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_unbound_or_invalid_port_is_rejected(port):
    registry = ServiceRegistry()
    with pytest.raises(InvalidServiceRegistrationError, match="insecure_port"):
        register_builtin_services(registry, host="localhost", port=port)
    assert registry.enumerate_active_services() == []


def test_registering_again_replaces_the_earlier_registrations():
    registry = ServiceRegistry()
    first = register_builtin_services(registry, host="localhost", port=1000)
    second = register_builtin_services(registry, host="localhost", port=2000)
    assert not set(first) & set(second)
    assert [a.registration_id for a in registry.enumerate_active_services()] == second
    assert registry.resolve(PIN_MAP_SERVICE_NAME).insecure_port == "2000"
