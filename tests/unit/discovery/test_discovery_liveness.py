"""The liveness rule: probe bookkeeping in the registry, and one probing round (fake probe)."""

import asyncio
import socket

import pytest

from pinbroker.discovery import (
    DEFAULT_LIVENESS,
    LivenessPolicy,
    ServiceDescriptor,
    ServiceLocation,
    ServiceRegistry,
    probe_address,
    probe_registrations,
    tcp_probe,
)
from pinbroker.errors import RegistrationNotFoundError, ServiceNotFoundError

IFACE = "ni.measurementlink.measurement.v2.MeasurementService"


def descriptor(service_class="demo.Demo", versions=()):
    return ServiceDescriptor(
        display_name=service_class,
        service_class=service_class,
        provided_interfaces=(IFACE,),
        versions=versions,
    )


@pytest.fixture
def registry():
    return ServiceRegistry(local_node_url="node")


def test_one_failed_probe_hides_the_service_from_resolve_but_keeps_it_listed(registry):
    rid = registry.register(descriptor(), ServiceLocation("localhost", "1000"))
    assert not registry.record_probe(rid, reachable=False, remove_after=3)
    with pytest.raises(ServiceNotFoundError):
        registry.resolve(IFACE, "demo.Demo")
    assert [a.registration_id for a in registry.enumerate_active_services()] == [rid]
    assert not registry.record_probe(rid, reachable=True, remove_after=3)
    assert registry.resolve(IFACE, "demo.Demo") == ServiceLocation("localhost", "1000")


def test_an_older_reachable_version_resolves_while_the_newest_is_unreachable(registry):
    registry.register(descriptor(versions=("1.0.0",)), ServiceLocation("localhost", "1000"))
    newer = registry.register(descriptor(versions=("2.0.0",)), ServiceLocation("localhost", "2000"))
    registry.record_probe(newer, reachable=False, remove_after=3)
    assert registry.resolve(IFACE).insecure_port == "1000"


def test_failures_in_a_row_remove_the_registration_and_a_success_resets_the_count(registry, caplog):
    rid = registry.register(descriptor(), ServiceLocation("localhost", "1000"))
    assert not registry.record_probe(rid, reachable=False, remove_after=3)
    assert not registry.record_probe(rid, reachable=False, remove_after=3)
    assert not registry.record_probe(rid, reachable=True, remove_after=3)
    assert not registry.record_probe(rid, reachable=False, remove_after=3)
    assert not registry.record_probe(rid, reachable=False, remove_after=3)
    assert registry.record_probe(rid, reachable=False, remove_after=3)
    assert registry.enumerate_active_services() == []
    with pytest.raises(RegistrationNotFoundError):
        registry.unregister(rid)
    removed = [r for r in caplog.records if "unreachable for 3 probes" in r.getMessage()]
    assert len(removed) == 1
    assert "demo.Demo" in removed[0].getMessage()


def test_a_probe_of_a_replaced_registration_does_not_touch_its_successor(registry):
    old = registry.register(descriptor(), ServiceLocation("localhost", "1000"))
    new = registry.register(descriptor(), ServiceLocation("localhost", "2000"))
    assert not registry.record_probe(old, reachable=False, remove_after=1)
    assert [a.registration_id for a in registry.enumerate_active_services()] == [new]
    assert registry.resolve(IFACE).insecure_port == "2000"


def test_re_registering_clears_the_failures_of_the_replaced_registration(registry):
    old = registry.register(descriptor(), ServiceLocation("localhost", "1000"))
    registry.record_probe(old, reachable=False, remove_after=3)
    registry.register(descriptor(), ServiceLocation("localhost", "1000"))
    assert registry.resolve(IFACE).insecure_port == "1000"


def test_protected_registrations_are_never_probed_nor_removed(registry):
    rid = registry.register(descriptor(), ServiceLocation("localhost", "1000"), protected=True)
    assert registry.probe_targets() == []
    assert not registry.record_probe(rid, reachable=False, remove_after=1)
    assert registry.resolve(IFACE).insecure_port == "1000"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (ServiceLocation("localhost", "1000"), ("localhost", 1000)),
        (ServiceLocation("[::1]", "1000"), ("::1", 1000)),
        (ServiceLocation("10.0.0.5", "", "443"), ("10.0.0.5", 443)),
        (ServiceLocation("h", "1", "2"), ("h", 1)),
    ],
)
def test_probe_address_is_the_registrations_own_host_and_port(location, expected):
    assert probe_address(location) == expected


def test_a_round_probes_each_distinct_address_once_and_only_those(registry):
    registry.register(descriptor("a.A"), ServiceLocation("localhost", "1000"))
    registry.register(descriptor("b.B"), ServiceLocation("localhost", "1000"))
    gone = registry.register(descriptor("c.C"), ServiceLocation("[::1]", "2000"))
    registry.register(descriptor("p.P"), ServiceLocation("localhost", "9"), protected=True)
    probed = []

    async def probe(host, port, timeout):
        probed.append((host, port, timeout))
        return port != 2000

    policy = LivenessPolicy(interval=1.0, failures=1, timeout=0.5)
    removed = asyncio.run(probe_registrations(registry, policy, probe))
    assert removed == [gone]
    assert sorted(probed) == [("::1", 2000, 0.5), ("localhost", 1000, 0.5)]
    assert sorted(a.descriptor.service_class for a in registry.enumerate_active_services()) == [
        "a.A",
        "b.B",
        "p.P",
    ]


@pytest.mark.parametrize(
    "fields", [{"interval": 0}, {"timeout": -1.0}, {"failures": 0}, {"interval": float("nan")}]
)
def test_policy_rejects_nonsense(fields):
    with pytest.raises(ValueError, match="liveness probe"):
        LivenessPolicy(**fields)


def test_default_policy_figures_match_the_docs():
    assert (DEFAULT_LIVENESS.interval, DEFAULT_LIVENESS.failures, DEFAULT_LIVENESS.timeout) == (
        3.0,
        3,
        1.0,
    )


def test_tcp_probe_tells_a_listening_port_from_a_closed_one():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert asyncio.run(tcp_probe("127.0.0.1", port, 5.0))
    # The port was just released; nothing else binds it between the two lines (no reuse yet).
    assert not asyncio.run(tcp_probe("127.0.0.1", port, 5.0))


def test_tcp_probe_of_a_name_that_does_not_resolve_fails():
    assert not asyncio.run(tcp_probe("no-such-host.invalid", 1000, 5.0))


def test_tcp_probe_of_localhost_finds_a_service_listening_on_ipv6_loopback_only():
    # NI's SDK listens on [::1] and registers "localhost", which may resolve to 127.0.0.1 only.
    try:
        listener = socket.socket(socket.AF_INET6)
        listener.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this host")
    with listener:
        listener.listen()
        assert asyncio.run(tcp_probe("localhost", listener.getsockname()[1], 5.0))
