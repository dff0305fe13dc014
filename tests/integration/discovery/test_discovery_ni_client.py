"""NI's published DiscoveryClient against pinbroker's Discovery Service."""

import grpc
import pytest
from ni.measurementlink.discovery.v1.client import (
    ComputeNodeDescriptor,
    ServiceInfo,
    ServiceLocation,
)

TEST_NODE = "discovery-test-node"
IFACE = "demo.v1.DemoService"
LANGUAGE_KEY = "ni/service.programminglanguage"


def info(service_class="demo.Demo", **overrides):
    fields = {
        "service_class": service_class,
        "description_url": "https://example.invalid/demo",
        "provided_interfaces": [IFACE],
        "annotations": {"ni/service.description": "demo"},
        "display_name": f"Display {service_class}",
        "versions": [],
    }
    fields.update(overrides)
    return ServiceInfo(**fields)


def test_register_resolve_unregister(ni_discovery_client):
    location = ServiceLocation("localhost", "6000", "")
    registration_id = ni_discovery_client.register_service(info(), location)
    assert registration_id

    resolved = ni_discovery_client.resolve_service(IFACE)
    assert resolved == location
    assert resolved.insecure_address == "localhost:6000"

    assert ni_discovery_client.unregister_service(registration_id) is True
    with pytest.raises(grpc.RpcError) as error:
        ni_discovery_client.resolve_service(IFACE)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_resolve_service_with_information_round_trips_service_info(ni_discovery_client):
    registered = info(versions=["1.2.3"])
    ni_discovery_client.register_service(registered, ServiceLocation("localhost", "6001", ""))

    location, service_info = ni_discovery_client.resolve_service_with_information(
        IFACE, service_class="demo.Demo", deployment_target=TEST_NODE, version="1.2.3"
    )

    assert location == ServiceLocation("localhost", "6001", "")
    # NI's client adds the programming-language annotation when registering.
    expected = registered._replace(annotations={**registered.annotations, LANGUAGE_KEY: "Python"})
    assert service_info == expected


def test_enumerate_services(ni_discovery_client):
    ni_discovery_client.register_service(
        info("a.A", versions=["1.0.0"]), ServiceLocation("localhost", "1", "")
    )
    ni_discovery_client.register_service(
        info("a.A", versions=["2.0.0"]), ServiceLocation("localhost", "2", "")
    )
    ni_discovery_client.register_service(
        info("b.B", provided_interfaces=["other.v1.Other"]), ServiceLocation("localhost", "3", "")
    )

    services = ni_discovery_client.enumerate_services(IFACE)

    assert [(s.service_class, s.versions) for s in services] == [("a.A", ["1.0.0", "2.0.0"])]
    assert len(ni_discovery_client.enumerate_services("")) == 2


def test_enumerate_compute_nodes(ni_discovery_client):
    assert ni_discovery_client.enumerate_compute_nodes() == [
        ComputeNodeDescriptor(url=TEST_NODE, is_local=True)
    ]


def test_register_invalid_service_is_invalid_argument(ni_discovery_client):
    # ServiceInfo's default display_name is "": the proto requires one.
    bare = ServiceInfo(service_class="demo.Demo", description_url="")
    with pytest.raises(grpc.RpcError) as error:
        ni_discovery_client.register_service(bare, ServiceLocation("localhost", "1", ""))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "display_name is empty" in error.value.details()


def test_unregister_unknown_id_is_not_found(ni_discovery_client):
    with pytest.raises(grpc.RpcError) as error:
        ni_discovery_client.unregister_service("never-registered")
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert "never-registered" in error.value.details()


def test_unregister_empty_id_is_handled_by_the_client(ni_discovery_client):
    assert ni_discovery_client.unregister_service("") is False


def test_resolve_errors(ni_discovery_client):
    ni_discovery_client.register_service(info("a.A"), ServiceLocation("localhost", "1", ""))
    ni_discovery_client.register_service(info("b.B"), ServiceLocation("localhost", "2", ""))
    cases = [
        (lambda: ni_discovery_client.resolve_service(IFACE), grpc.StatusCode.FAILED_PRECONDITION),
        (lambda: ni_discovery_client.resolve_service(""), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: ni_discovery_client.resolve_service("x.v1.X"), grpc.StatusCode.NOT_FOUND),
        (
            lambda: ni_discovery_client.resolve_service_with_information(IFACE, "a.A", "far"),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            lambda: ni_discovery_client.resolve_service_with_information(IFACE),
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
    ]
    for call, code in cases:
        with pytest.raises(grpc.RpcError) as error:
            call()
        assert error.value.code() == code
    assert ni_discovery_client.resolve_service(IFACE, "b.B").insecure_port == "2"
