"""A registration dies with its service: a real plug-in-like child process, SIGKILLed.

The child does what NI's Measurement Plug-In SDK does in ``host_service()``: it serves gRPC on
``[::1]`` (falling back to ``127.0.0.1``), registers ``localhost`` and its port through NI's
published ``DiscoveryClient`` with the measurement v1 and v2 interfaces, a version and
annotations, and then waits. The server probes every 0.1 s here (3 s by default).

Waiting: the Discovery Service has no change notification, so the test polls ResolveService
every 0.05 s. The rule itself removes a dead registration within ``failures x (interval +
timeout)`` = 3.3 s with this policy, and hides it from ResolveService after the first failed
probe; the 30 s deadline only absorbs a loaded CI machine and is never reached when the rule
works.
"""

import signal
import socket
import subprocess
import sys
import textwrap
import time

import grpc
import pytest
from ni.measurementlink.discovery.v1 import discovery_service_pb2 as pb
from ni.measurementlink.discovery.v1 import discovery_service_pb2_grpc

from pinbroker.discovery import LivenessPolicy

V1 = "ni.measurementlink.measurement.v1.MeasurementService"
V2 = "ni.measurementlink.measurement.v2.MeasurementService"
KILLED = "pinbroker.tests.Killed_Python"
POLICY = LivenessPolicy(interval=0.1, failures=3, timeout=1.0)
DEADLINE = 30.0

CHILD = textwrap.dedent(
    """
    import sys
    from concurrent import futures

    import grpc
    from ni.measurementlink.discovery.v1 import discovery_service_pb2_grpc
    from ni.measurementlink.discovery.v1.client import (
        DiscoveryClient, ServiceInfo, ServiceLocation,
    )

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    try:
        port = server.add_insecure_port("[::1]:0")
    except RuntimeError:
        port = 0
    if not port:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(sys.argv[1])
    client = DiscoveryClient(stub=discovery_service_pb2_grpc.DiscoveryServiceStub(channel))
    registration_id = client.register_service(
        ServiceInfo(
            service_class=sys.argv[2],
            description_url="https://example.invalid/killed",
            provided_interfaces=[
                "ni.measurementlink.measurement.v1.MeasurementService",
                "ni.measurementlink.measurement.v2.MeasurementService",
            ],
            display_name="Killed",
            versions=["1.0.0"],
            annotations={"ni/service.description": "killed by the test"},
        ),
        ServiceLocation("localhost", str(port), ""),
    )
    print(port, registration_id, flush=True)
    sys.stdin.read()
    """
)


def _poll(condition, what):
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {DEADLINE} s")
        time.sleep(0.05)


def _resolve_code(stub, service_class):
    try:
        stub.ResolveService(
            pb.ResolveServiceRequest(provided_interface=V2, service_class=service_class),
            timeout=10,
        )
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def _active_classes(stub):
    response = stub.EnumerateActiveServices(pb.EnumerateActiveServicesRequest(), timeout=10)
    return {a.service_descriptor.service_class for a in response.active_services}


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _register(stub, service_class, port):
    stub.RegisterService(
        pb.RegisterServiceRequest(
            service_description=pb.ServiceDescriptor(
                display_name=service_class, service_class=service_class, provided_interfaces=[V2]
            ),
            location=pb.ServiceLocation(location="127.0.0.1", insecure_port=str(port)),
        ),
        timeout=10,
    )


def test_a_killed_service_stops_resolving_and_a_live_one_stays(start_pinbroker, caplog):
    server = start_pinbroker(discovery_liveness=POLICY)
    channel = grpc.insecure_channel(server.address)
    grpc.channel_ready_future(channel).result(timeout=10)
    stub = discovery_service_pb2_grpc.DiscoveryServiceStub(channel)
    survivor = socket.create_server(("127.0.0.1", 0))
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, server.address, KILLED],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            _kill_and_watch(stub, child, survivor.getsockname()[1])
        finally:
            child.kill()
            survivor.close()
            channel.close()
    removals = [r.getMessage() for r in caplog.records if "probes in a row" in r.getMessage()]
    assert len([m for m in removals if KILLED in m]) == 1


def _kill_and_watch(stub, child, survivor_port):
    """Check the live child resolves, SIGKILL it, wait until it no longer does."""
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line, "the child exited before registering"
    port = line.split()[0]
    response = stub.ResolveServiceWithInformation(
        pb.ResolveServiceWithInformationRequest(provided_interface=V1, service_class=KILLED),
        timeout=10,
    )
    assert response.service_location.insecure_port == port
    assert list(response.service_descriptor.versions) == ["1.0.0"]

    # A service that never listened is removed: probing rounds are running, and the
    # living child (on [::1] behind "localhost") and the survivor outlive them.
    _register(stub, "pinbroker.tests.NeverListened", _closed_port())
    _register(stub, "pinbroker.tests.Survivor", survivor_port)
    _poll(
        lambda: "pinbroker.tests.NeverListened" not in _active_classes(stub),
        "a service that never listened was not unregistered",
    )
    assert _resolve_code(stub, KILLED) == grpc.StatusCode.OK

    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    _poll(
        lambda: _resolve_code(stub, KILLED) == grpc.StatusCode.NOT_FOUND,
        "the killed service still resolves",
    )
    _poll(lambda: KILLED not in _active_classes(stub), "the killed service is still listed")
    assert _resolve_code(stub, "pinbroker.tests.Survivor") == grpc.StatusCode.OK
    assert "pinbroker.tests.Survivor" in _active_classes(stub)


def test_liveness_can_be_turned_off(start_pinbroker):
    server = start_pinbroker(discovery_liveness=None)
    with grpc.insecure_channel(server.address) as channel:
        stub = discovery_service_pb2_grpc.DiscoveryServiceStub(channel)
        _register(stub, "pinbroker.tests.NeverListened", _closed_port())
        tasks = server._server.pinbroker_tasks  # the started background tasks
        assert len(tasks) == 1  # only the lease reaper: no probe task
        assert _resolve_code(stub, "pinbroker.tests.NeverListened") == grpc.StatusCode.OK
