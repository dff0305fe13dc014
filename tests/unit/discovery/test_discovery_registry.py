import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from pinbroker.discovery import (
    ComputeNode,
    ServiceDescriptor,
    ServiceLocation,
    ServiceRegistry,
)
from pinbroker.errors import (
    AmbiguousServiceError,
    InvalidServiceQueryError,
    InvalidServiceRegistrationError,
    RegistrationNotFoundError,
    ServiceNotFoundError,
)

NODE = "test-node"
IFACE = "demo.v1.DemoService"
OTHER_IFACE = "other.v1.OtherService"


def descriptor(service_class="demo.Demo", *, versions=(), interfaces=(IFACE,), **overrides):
    fields = {
        "display_name": f"Display {service_class}",
        "service_class": service_class,
        "provided_interfaces": interfaces,
        "versions": versions,
    }
    fields.update(overrides)
    return ServiceDescriptor(**fields)


def loc(port="1000", host="localhost", ssl=""):
    return ServiceLocation(host, port, ssl)


@pytest.fixture
def registry():
    return ServiceRegistry(local_node_url=NODE)


# --- register ----------------------------------------------------------------------------------


def test_register_returns_distinct_non_empty_ids(registry):
    first = registry.register(descriptor("a.A"), loc("1"))
    second = registry.register(descriptor("b.B"), loc("2"))
    assert first
    assert second
    assert first != second
    assert [a.registration_id for a in registry.enumerate_active_services()] == [first, second]


@pytest.mark.parametrize(
    ("desc", "location", "problem"),
    [
        (descriptor(display_name=""), loc(), "display_name is empty"),
        (descriptor(display_name="   "), loc(), "display_name is empty"),
        (descriptor(interfaces=()), loc(), "provided_interfaces is empty"),
        (descriptor(interfaces=(IFACE, "")), loc(), "provided_interfaces[1] is empty"),
        (descriptor(service_class=""), loc(), "service_class is empty"),
        (descriptor(), loc(host=""), "location is empty"),
        (descriptor(), loc(port=""), "insecure_port and ssl_authenticated_port are both empty"),
        (descriptor(), loc(port="http"), "insecure_port 'http' is not a port number (1-65535)"),
        (descriptor(), loc(port="0"), "insecure_port '0' is not a port number"),
        (descriptor(), loc(port="65536"), "insecure_port '65536' is not a port number"),
        (descriptor(), loc(port="-1"), "insecure_port '-1' is not a port number"),
        (descriptor(), loc(port=" 80"), "insecure_port ' 80' is not a port number"),
        (descriptor(), loc(ssl="x1"), "ssl_authenticated_port 'x1' is not a port number"),
        (descriptor(versions=("1.0.0", "2.0.0")), loc(), "versions must hold one version, not 2"),
        (descriptor(versions=("1.0",)), loc(), "version '1.0' is not in major.minor.patch"),
        (descriptor(versions=("1.0.0.0.0",)), loc(), "version '1.0.0.0.0' is not in major.minor"),
        (descriptor(versions=("0.0.1",)), loc(), "version '0.0.1' is reserved for internal use"),
    ],
)
def test_register_rejects_invalid_requests(registry, desc, location, problem):
    with pytest.raises(InvalidServiceRegistrationError) as info:
        registry.register(desc, location)
    assert problem in str(info.value)
    assert registry.enumerate_active_services() == []


def test_register_reports_every_problem_and_names_the_class(registry):
    with pytest.raises(InvalidServiceRegistrationError) as info:
        registry.register(descriptor("named.Class", display_name=""), loc(port="", host=""))
    message = str(info.value)
    assert message.startswith("cannot register service 'named.Class': ")
    assert "display_name is empty" in message
    assert "location is empty" in message
    assert "both empty" in message


@pytest.mark.parametrize(("insecure", "ssl"), [("1", ""), ("", "443"), ("65535", "8443")])
def test_register_accepts_either_port(registry, insecure, ssl):
    registry.register(descriptor(), ServiceLocation("h", insecure, ssl))
    assert registry.resolve(IFACE) == ServiceLocation("h", insecure, ssl)


def test_register_same_class_and_version_replaces_the_earlier_registration(registry):
    old = registry.register(descriptor(versions=("1.0.0",)), loc("1"))
    new = registry.register(descriptor(versions=("1.0.0",)), loc("2"))
    assert [a.registration_id for a in registry.enumerate_active_services()] == [new]
    assert registry.resolve(IFACE) == loc("2")
    with pytest.raises(RegistrationNotFoundError):
        registry.unregister(old)


def test_register_without_version_replaces_only_unversioned(registry):
    versioned = registry.register(descriptor(versions=("1.0.0",)), loc("1"))
    registry.register(descriptor(), loc("2"))
    unversioned = registry.register(descriptor(), loc("3"))
    assert [a.registration_id for a in registry.enumerate_active_services()] == [
        versioned,
        unversioned,
    ]


# --- unregister --------------------------------------------------------------------------------


def test_unregister_removes_the_service(registry):
    registration_id = registry.register(descriptor(), loc())
    registry.unregister(registration_id)
    assert registry.enumerate_active_services() == []
    with pytest.raises(ServiceNotFoundError):
        registry.resolve(IFACE)


def test_unregister_unknown_id_is_not_found_and_names_it(registry):
    registry.register(descriptor(), loc())
    with pytest.raises(RegistrationNotFoundError, match="'no-such-id'"):
        registry.unregister("no-such-id")
    assert len(registry.enumerate_active_services()) == 1


def test_unregister_twice_is_not_found(registry):
    registration_id = registry.register(descriptor(), loc())
    registry.unregister(registration_id)
    with pytest.raises(RegistrationNotFoundError):
        registry.unregister(registration_id)


def test_unregister_empty_id_is_invalid(registry):
    with pytest.raises(InvalidServiceRegistrationError, match="registration_id is empty"):
        registry.unregister("")


# --- enumerate ---------------------------------------------------------------------------------


def test_enumerate_empty_registry(registry):
    assert registry.enumerate() == []


def test_enumerate_filters_by_interface_and_class(registry):
    a = descriptor("a.A", interfaces=(IFACE,))
    b = descriptor("b.B", interfaces=(IFACE, OTHER_IFACE))
    c = descriptor("c.C", interfaces=(OTHER_IFACE,))
    for d in (c, a, b):
        registry.register(d, loc())
    assert registry.enumerate() == [a, b, c]  # sorted by class
    assert registry.enumerate(IFACE) == [a, b]
    assert registry.enumerate(OTHER_IFACE) == [b, c]
    assert registry.enumerate(service_class="c.C") == [c]
    assert registry.enumerate(IFACE, "c.C") == []
    assert registry.enumerate("unknown.v1.Unknown") == []


def test_enumerate_collapses_versions_of_a_class(registry):
    registry.register(descriptor(versions=("1.10.0",), display_name="Ten"), loc("1"))
    registry.register(descriptor(versions=("1.2.0",), display_name="Two"), loc("2"))
    registry.register(descriptor(display_name="Unversioned"), loc("3"))
    registry.register(descriptor(versions=("1.9.0",), display_name="Nine"), loc("4"))
    [only] = registry.enumerate(IFACE)
    assert only.versions == ("1.2.0", "1.9.0", "1.10.0")
    assert only.display_name == "Ten"  # the descriptor of the newest version


def test_enumerate_unversioned_only_reports_no_versions(registry):
    registry.register(descriptor(), loc())
    [only] = registry.enumerate()
    assert only.versions == ()


# --- resolve -----------------------------------------------------------------------------------


def test_resolve_returns_the_location(registry):
    registry.register(descriptor(), loc("4321", host="10.0.0.7", ssl="4322"))
    assert registry.resolve(IFACE) == ServiceLocation("10.0.0.7", "4321", "4322")


def test_resolve_not_found_names_the_request(registry):
    registry.register(descriptor(), loc())
    with pytest.raises(ServiceNotFoundError) as info:
        registry.resolve(OTHER_IFACE, "x.X", version="1.0.0")
    assert str(info.value) == (
        "no registered service matches interface 'other.v1.OtherService', "
        "service class 'x.X', version '1.0.0'"
    )


def test_resolve_empty_interface_is_invalid(registry):
    registry.register(descriptor(), loc())
    with pytest.raises(InvalidServiceQueryError, match="provided_interface is empty"):
        registry.resolve("")


@pytest.mark.parametrize("version", ["1", "1.0", "latest", "1.0.0.0.0"])
def test_resolve_malformed_version_is_invalid(registry, version):
    registry.register(descriptor(versions=("1.0.0",)), loc())
    with pytest.raises(InvalidServiceQueryError, match=r"not in major\.minor\.patch\[\.build\]"):
        registry.resolve(IFACE, version=version)


def test_resolve_two_classes_without_class_is_ambiguous(registry):
    registry.register(descriptor("b.B"), loc("2"))
    registry.register(descriptor("a.A"), loc("1"))
    with pytest.raises(AmbiguousServiceError) as info:
        registry.resolve(IFACE)
    assert info.value.service_classes == ("a.A", "b.B")
    assert registry.resolve(IFACE, "a.A") == loc("1")
    assert registry.resolve(IFACE, "b.B") == loc("2")


def test_resolve_class_must_provide_the_interface(registry):
    registry.register(descriptor("a.A", interfaces=(OTHER_IFACE,)), loc())
    with pytest.raises(ServiceNotFoundError):
        registry.resolve(IFACE, "a.A")


def test_resolve_picks_the_newest_version_unless_asked(registry):
    registry.register(descriptor(), loc("1"))
    registry.register(descriptor(versions=("2.0.0",)), loc("20"))
    registry.register(descriptor(versions=("10.0.0",)), loc("100"))
    registry.register(descriptor(versions=("9.99.99",)), loc("99"))
    assert registry.resolve(IFACE) == loc("100")
    assert registry.resolve(IFACE, version="2.0.0") == loc("20")
    assert registry.resolve(IFACE, version="02.0.0") == loc("20")
    with pytest.raises(ServiceNotFoundError):
        registry.resolve(IFACE, version="3.0.0")


def test_resolve_version_narrows_an_otherwise_ambiguous_request(registry):
    registry.register(descriptor("a.A", versions=("1.0.0",)), loc("1"))
    registry.register(descriptor("b.B", versions=("2.0.0",)), loc("2"))
    assert registry.resolve(IFACE, version="2.0.0") == loc("2")


def test_resolve_unversioned_service_is_found_by_default(registry):
    registry.register(descriptor(), loc("7"))
    assert registry.resolve(IFACE) == loc("7")


@pytest.mark.parametrize("target", ["", NODE, NODE.upper()])
def test_resolve_accepts_the_local_deployment_target(registry, target):
    registry.register(descriptor(), loc())
    assert registry.resolve(IFACE, deployment_target=target) == loc()


def test_resolve_unknown_deployment_target_is_not_found(registry):
    registry.register(descriptor(), loc())
    with pytest.raises(ServiceNotFoundError, match="deployment target 'elsewhere' is not a known"):
        registry.resolve(IFACE, deployment_target="elsewhere")


def test_resolve_with_information_returns_the_registered_descriptor(registry):
    old = descriptor(versions=("1.0.0",), annotations={"k": "old"})
    new = descriptor(versions=("1.1.0",), annotations={"k": "new"}, description_url="u")
    registry.register(old, loc("1"))
    registry.register(new, loc("2"))
    assert registry.resolve_with_information(IFACE) == (loc("2"), new)
    assert registry.resolve_with_information(IFACE, version="1.0.0") == (loc("1"), old)


def test_resolve_with_information_raises_like_resolve(registry):
    registry.register(descriptor("a.A"), loc())
    registry.register(descriptor("b.B"), loc())
    with pytest.raises(AmbiguousServiceError):
        registry.resolve_with_information(IFACE)
    with pytest.raises(ServiceNotFoundError):
        registry.resolve_with_information(OTHER_IFACE)
    with pytest.raises(InvalidServiceQueryError):
        registry.resolve_with_information("")


# --- compute nodes and active services ---------------------------------------------------------


def test_enumerate_compute_nodes_reports_this_node_as_local(registry):
    assert registry.enumerate_compute_nodes() == [ComputeNode(NODE, is_local=True)]
    assert registry.local_node == ComputeNode(NODE, is_local=True)


def test_default_compute_node_is_the_host_name():
    registry = ServiceRegistry()
    assert registry.enumerate_compute_nodes() == [ComputeNode(socket.gethostname(), True)]
    registry.register(descriptor(), loc())
    assert registry.resolve(IFACE, deployment_target=socket.gethostname()) == loc()


def test_enumerate_active_services_lists_each_instance(registry):
    one = descriptor(versions=("1.0.0",))
    two = descriptor(versions=("2.0.0",))
    other = descriptor("o.O", interfaces=(OTHER_IFACE,))
    ids = [
        registry.register(one, loc("1")),
        registry.register(two, loc("2")),
        registry.register(other, loc("3")),
    ]
    active = registry.enumerate_active_services()
    assert [(a.registration_id, a.descriptor, a.location) for a in active] == [
        (ids[0], one, loc("1")),
        (ids[1], two, loc("2")),
        (ids[2], other, loc("3")),
    ]
    assert [a.location for a in registry.enumerate_active_services(IFACE)] == [loc("1"), loc("2")]
    assert [a.location for a in registry.enumerate_active_services(service_class="o.O")] == [
        loc("3")
    ]
    assert registry.enumerate_active_services(OTHER_IFACE, "demo.Demo") == []


# --- concurrency -------------------------------------------------------------------------------


def test_concurrent_registrations_and_unregistrations_stay_consistent(registry):
    workers = 8
    per_worker = 50
    barrier = threading.Barrier(workers)

    def work(worker: int) -> list[str]:
        barrier.wait()
        kept = []
        for i in range(per_worker):
            rid = registry.register(descriptor(f"c{worker}.S{i}"), loc(str(i + 1)))
            if i % 2:
                registry.unregister(rid)
            else:
                kept.append(rid)
            registry.enumerate(IFACE)
        return kept

    with ThreadPoolExecutor(workers) as pool:
        kept = [rid for ids in pool.map(work, range(workers)) for rid in ids]

    active = registry.enumerate_active_services()
    assert sorted(a.registration_id for a in active) == sorted(kept)
    assert len(kept) == workers * per_worker // 2


def test_concurrent_registrations_of_one_class_and_version_leave_one(registry):
    workers = 16
    barrier = threading.Barrier(workers)

    def work(port: int) -> str:
        barrier.wait()
        return registry.register(descriptor(versions=("1.0.0",)), loc(str(port)))

    with ThreadPoolExecutor(workers) as pool:
        ids = list(pool.map(work, range(1, workers + 1)))

    [survivor] = registry.enumerate_active_services()
    assert survivor.registration_id in ids
    assert len(set(ids)) == workers


# --- versions as NI's Measurement Plug-In SDK sends them ---------------------------------------


def test_an_empty_version_string_counts_as_no_version(registry):
    # The SDK sends versions=[""] for a .serviceconfig without "version".
    registry.register(descriptor(versions=("",)), loc())
    (active,) = registry.enumerate_active_services()
    assert active.descriptor.versions == ()
    assert registry.enumerate()[0].versions == ()
    assert registry.resolve_with_information(IFACE)[1].versions == ()


def test_four_part_versions_register_resolve_and_round_trip(registry):
    # NI's older examples pass version="0.1.0.0".
    registry.register(descriptor(versions=("0.1.0.0",)), loc("1000"))
    registry.register(descriptor(versions=("0.1.0.2",)), loc("2000"))
    assert registry.resolve(IFACE).insecure_port == "2000"
    assert registry.resolve(IFACE, version="0.1.0.0").insecure_port == "1000"
    assert registry.resolve(IFACE, version="0.1.0").insecure_port == "1000"
    assert registry.enumerate()[0].versions == ("0.1.0.0", "0.1.0.2")
    assert registry.resolve_with_information(IFACE)[1].versions == ("0.1.0.2",)
