"""Every Discovery Service RPC and documented error status, through raw stubs."""

import grpc
import pytest
from ni.measurementlink.discovery.v1 import discovery_service_pb2 as pb

from pinbroker.server._discovery_service import (
    PIN_MAP_SERVICE_NAME,
    SESSION_MANAGEMENT_SERVICE_NAME,
    register_builtin_services,
)

TEST_NODE = "discovery-test-node"
IFACE = "demo.v1.DemoService"
OTHER_IFACE = "other.v1.OtherService"


def descriptor(service_class="demo.Demo", *, versions=(), interfaces=(IFACE,), **overrides):
    fields = {
        "display_name": f"Display {service_class}",
        "service_class": service_class,
        "provided_interfaces": list(interfaces),
        "versions": list(versions),
        "annotations": {"ni/service.description": f"about {service_class}"},
    }
    fields.update(overrides)
    return pb.ServiceDescriptor(**fields)


def loc(port="1000", host="localhost", ssl=""):
    return pb.ServiceLocation(location=host, insecure_port=port, ssl_authenticated_port=ssl)


def register(stub, desc, location):
    response = stub.RegisterService(
        pb.RegisterServiceRequest(service_description=desc, location=location)
    )
    assert response.registration_id
    return response.registration_id


def rpc_error(call, request):
    with pytest.raises(grpc.RpcError) as info:
        call(request)
    return info.value


# --- RegisterService ---------------------------------------------------------------------------


def test_register_service_makes_the_service_visible(stub):
    desc = descriptor(versions=["1.0.0"], description_url="https://example.invalid")
    register(stub, desc, loc("4000", ssl="4001"))
    response = stub.EnumerateActiveServices(pb.EnumerateActiveServicesRequest())
    [active] = response.active_services
    assert active.service_descriptor == desc
    assert active.service_location == loc("4000", ssl="4001")


@pytest.mark.parametrize(
    ("request_", "problem"),
    [
        (pb.RegisterServiceRequest(), "display_name is empty"),
        (pb.RegisterServiceRequest(location=loc()), "display_name is empty"),
        (
            pb.RegisterServiceRequest(service_description=descriptor(), location=None),
            "location is empty",
        ),
        (
            pb.RegisterServiceRequest(
                service_description=descriptor(display_name=""), location=loc()
            ),
            "display_name is empty",
        ),
        (
            pb.RegisterServiceRequest(
                service_description=descriptor(interfaces=()), location=loc()
            ),
            "provided_interfaces is empty",
        ),
        (
            pb.RegisterServiceRequest(
                service_description=descriptor(service_class=""), location=loc()
            ),
            "service_class is empty",
        ),
        (
            pb.RegisterServiceRequest(service_description=descriptor(), location=loc(host="")),
            "location is empty",
        ),
        (
            pb.RegisterServiceRequest(service_description=descriptor(), location=loc(port="")),
            "insecure_port and ssl_authenticated_port are both empty",
        ),
        (
            pb.RegisterServiceRequest(service_description=descriptor(), location=loc(port="x")),
            "insecure_port 'x' is not a port number",
        ),
        (
            pb.RegisterServiceRequest(service_description=descriptor(), location=loc(ssl="99999")),
            "ssl_authenticated_port '99999' is not a port number",
        ),
        (
            pb.RegisterServiceRequest(
                service_description=descriptor(versions=["1.0.0", "1.0.1"]), location=loc()
            ),
            "versions must hold one version",
        ),
        (
            pb.RegisterServiceRequest(
                service_description=descriptor(versions=["1.0"]), location=loc()
            ),
            "not in major.minor.patch[.build] format",
        ),
        (
            pb.RegisterServiceRequest(
                service_description=descriptor(versions=["0.0.1"]), location=loc()
            ),
            "reserved for internal use",
        ),
    ],
)
def test_register_service_invalid_argument(stub, request_, problem):
    error = rpc_error(stub.RegisterService, request_)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert problem in error.details()
    assert not stub.EnumerateActiveServices(pb.EnumerateActiveServicesRequest()).active_services


# --- UnregisterService -------------------------------------------------------------------------


def test_unregister_service_removes_the_registration(stub):
    register(stub, descriptor("keep.Keep"), loc("1"))
    drop = register(stub, descriptor("drop.Drop"), loc("2"))
    request = pb.ResolveServiceRequest(provided_interface=IFACE)
    assert rpc_error(stub.ResolveService, request).code() == grpc.StatusCode.FAILED_PRECONDITION

    response = stub.UnregisterService(pb.UnregisterServiceRequest(registration_id=drop))

    assert response == pb.UnregisterServiceResponse()
    active = stub.EnumerateActiveServices(pb.EnumerateActiveServicesRequest()).active_services
    assert [a.service_descriptor.service_class for a in active] == ["keep.Keep"]
    assert stub.ResolveService(request) == loc("1")


def test_unregister_the_last_service_makes_resolve_not_found(stub):
    registration_id = register(stub, descriptor(), loc())
    stub.UnregisterService(pb.UnregisterServiceRequest(registration_id=registration_id))
    error = rpc_error(stub.ResolveService, pb.ResolveServiceRequest(provided_interface=IFACE))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_unregister_unknown_id_is_not_found(stub):
    error = rpc_error(
        stub.UnregisterService, pb.UnregisterServiceRequest(registration_id="no-such-id")
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "'no-such-id'" in error.details()


def test_unregister_twice_is_not_found(stub):
    registration_id = register(stub, descriptor(), loc())
    stub.UnregisterService(pb.UnregisterServiceRequest(registration_id=registration_id))
    error = rpc_error(
        stub.UnregisterService, pb.UnregisterServiceRequest(registration_id=registration_id)
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_unregister_empty_id_is_invalid_argument(stub):
    error = rpc_error(stub.UnregisterService, pb.UnregisterServiceRequest())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "registration_id is empty" in error.details()


# --- EnumerateServices -------------------------------------------------------------------------


def test_enumerate_services_empty(stub):
    response = stub.EnumerateServices(pb.EnumerateServicesRequest())
    assert response == pb.EnumerateServicesResponse()


def test_enumerate_services_filters_and_collapses_versions(stub):
    register(stub, descriptor("a.A", versions=["1.0.0"], display_name="A one"), loc("1"))
    register(stub, descriptor("a.A", versions=["1.1.0"], display_name="A one-one"), loc("2"))
    register(stub, descriptor("b.B", interfaces=[IFACE, OTHER_IFACE]), loc("3"))
    register(stub, descriptor("c.C", interfaces=[OTHER_IFACE]), loc("4"))

    everything = stub.EnumerateServices(pb.EnumerateServicesRequest())
    by_iface = stub.EnumerateServices(pb.EnumerateServicesRequest(provided_interface=IFACE))
    by_class = stub.EnumerateServices(pb.EnumerateServicesRequest(service_class="a.A"))
    both = stub.EnumerateServices(
        pb.EnumerateServicesRequest(provided_interface=OTHER_IFACE, service_class="a.A")
    )

    assert [s.service_class for s in everything.available_services] == ["a.A", "b.B", "c.C"]
    assert [s.service_class for s in by_iface.available_services] == ["a.A", "b.B"]
    [a] = by_class.available_services
    assert list(a.versions) == ["1.0.0", "1.1.0"]
    assert a.display_name == "A one-one"
    assert a.annotations["ni/service.description"] == "about a.A"
    assert list(both.available_services) == []
    assert list(everything.unreachable) == []


# --- ResolveService ----------------------------------------------------------------------------


def test_resolve_service_returns_the_location(stub):
    register(stub, descriptor(), loc("5000", host="10.1.2.3", ssl="5001"))
    location = stub.ResolveService(pb.ResolveServiceRequest(provided_interface=IFACE))
    assert location == loc("5000", host="10.1.2.3", ssl="5001")


def test_resolve_service_not_found(stub):
    register(stub, descriptor(), loc())
    error = rpc_error(stub.ResolveService, pb.ResolveServiceRequest(provided_interface=OTHER_IFACE))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert OTHER_IFACE in error.details()


def test_resolve_service_empty_interface_is_invalid_argument(stub):
    register(stub, descriptor(), loc())
    error = rpc_error(stub.ResolveService, pb.ResolveServiceRequest(service_class="demo.Demo"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "provided_interface is empty" in error.details()


def test_resolve_service_malformed_version_is_invalid_argument(stub):
    register(stub, descriptor(versions=["1.0.0"]), loc())
    error = rpc_error(
        stub.ResolveService, pb.ResolveServiceRequest(provided_interface=IFACE, version="1.0")
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_resolve_service_ambiguous_is_failed_precondition(stub):
    register(stub, descriptor("a.A"), loc("1"))
    register(stub, descriptor("b.B"), loc("2"))
    error = rpc_error(stub.ResolveService, pb.ResolveServiceRequest(provided_interface=IFACE))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "'a.A', 'b.B'" in error.details()
    chosen = stub.ResolveService(
        pb.ResolveServiceRequest(provided_interface=IFACE, service_class="b.B")
    )
    assert chosen == loc("2")


def test_resolve_service_newest_version_or_the_one_asked_for(stub):
    register(stub, descriptor(versions=["1.2.0"]), loc("12"))
    register(stub, descriptor(versions=["1.10.0"]), loc("110"))
    register(stub, descriptor(), loc("1"))
    newest = stub.ResolveService(pb.ResolveServiceRequest(provided_interface=IFACE))
    asked = stub.ResolveService(pb.ResolveServiceRequest(provided_interface=IFACE, version="1.2.0"))
    assert newest == loc("110")
    assert asked == loc("12")
    error = rpc_error(
        stub.ResolveService, pb.ResolveServiceRequest(provided_interface=IFACE, version="2.0.0")
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_resolve_service_deployment_target(stub):
    register(stub, descriptor(), loc())
    local = stub.ResolveService(
        pb.ResolveServiceRequest(provided_interface=IFACE, deployment_target=TEST_NODE)
    )
    assert local == loc()
    error = rpc_error(
        stub.ResolveService,
        pb.ResolveServiceRequest(provided_interface=IFACE, deployment_target="far-away"),
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "'far-away'" in error.details()


# --- ResolveServiceWithInformation -------------------------------------------------------------


def test_resolve_service_with_information(stub):
    old = descriptor(versions=["1.0.0"], display_name="Old")
    new = descriptor(versions=["2.0.0"], display_name="New")
    register(stub, old, loc("1"))
    register(stub, new, loc("2"))

    newest = stub.ResolveServiceWithInformation(
        pb.ResolveServiceWithInformationRequest(provided_interface=IFACE)
    )
    asked = stub.ResolveServiceWithInformation(
        pb.ResolveServiceWithInformationRequest(
            provided_interface=IFACE,
            service_class="demo.Demo",
            deployment_target=TEST_NODE,
            version="1.0.0",
        )
    )

    assert newest == pb.ResolveServiceWithInformationResponse(
        service_location=loc("2"), service_descriptor=new
    )
    assert asked == pb.ResolveServiceWithInformationResponse(
        service_location=loc("1"), service_descriptor=old
    )


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (pb.ResolveServiceWithInformationRequest(), grpc.StatusCode.INVALID_ARGUMENT),
        (
            pb.ResolveServiceWithInformationRequest(provided_interface=OTHER_IFACE),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            pb.ResolveServiceWithInformationRequest(provided_interface=IFACE),
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
        (
            pb.ResolveServiceWithInformationRequest(
                provided_interface=IFACE, service_class="a.A", deployment_target="nowhere"
            ),
            grpc.StatusCode.NOT_FOUND,
        ),
    ],
)
def test_resolve_service_with_information_errors(stub, request_, code):
    register(stub, descriptor("a.A"), loc("1"))
    register(stub, descriptor("b.B"), loc("2"))
    assert rpc_error(stub.ResolveServiceWithInformation, request_).code() == code


# --- EnumerateComputeNodes ---------------------------------------------------------------------


def test_enumerate_compute_nodes_reports_the_local_node(stub):
    response = stub.EnumerateComputeNodes(pb.EnumerateComputeNodesRequest())
    assert list(response.compute_nodes) == [pb.ComputeNodeDescriptor(url=TEST_NODE, is_local=True)]


# --- EnumerateActiveServices -------------------------------------------------------------------


def test_enumerate_active_services_lists_versions_side_by_side(stub):
    register(stub, descriptor(versions=["1.0.0"]), loc("1"))
    register(stub, descriptor(versions=["2.0.0"]), loc("2"))
    register(stub, descriptor("o.O", interfaces=[OTHER_IFACE]), loc("3"))

    everything = stub.EnumerateActiveServices(pb.EnumerateActiveServicesRequest())
    demo = stub.EnumerateActiveServices(
        pb.EnumerateActiveServicesRequest(provided_interface=IFACE, service_class="demo.Demo")
    )
    other = stub.EnumerateActiveServices(pb.EnumerateActiveServicesRequest(service_class="o.O"))

    assert [a.service_location.insecure_port for a in everything.active_services] == ["1", "2", "3"]
    assert [list(a.service_descriptor.versions) for a in demo.active_services] == [
        ["1.0.0"],
        ["2.0.0"],
    ]
    assert [a.service_location.insecure_port for a in other.active_services] == ["3"]


# --- pinbroker's own services ------------------------------------------------------------------


def test_builtin_services_resolve_to_the_server(stub, registry, discovery_port):
    register_builtin_services(registry, host="127.0.0.1", port=discovery_port)
    for name in (PIN_MAP_SERVICE_NAME, SESSION_MANAGEMENT_SERVICE_NAME):
        location = stub.ResolveService(
            pb.ResolveServiceRequest(provided_interface=name, service_class=name)
        )
        assert location == loc(str(discovery_port), host="127.0.0.1")
