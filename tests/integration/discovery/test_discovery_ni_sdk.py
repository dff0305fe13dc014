"""NI's Measurement Plug-In SDK hosts a real measurement service against pinbroker's discovery.

``MeasurementService.host_service()`` serves the measurement v1 and v2 interfaces on ``[::1]``
and registers ``localhost`` and its port, the ``.serviceconfig``'s service class, display name,
description url, version and annotations (JSON-encoded where not strings, plus
``ni/service.programminglanguage``). NI's generated clients and the client generator then find
it with ResolveService / ResolveServiceWithInformation by interface and service class, and list
measurements with EnumerateServices by interface. ``close_service()`` unregisters it.

NI's discovery client looks for NI's Windows key file; the test points it at the in-process
server, as ``pinbroker run`` does.
"""

import json

import grpc
import pytest
from ni.measurementlink.discovery.v1 import discovery_service_pb2 as pb
from ni.measurementlink.discovery.v1 import discovery_service_pb2_grpc

# Test dependencies of the NI plug-in tests; skipped where they are not installed.
nims = pytest.importorskip("ni_measurement_plugin_sdk_service")
v2 = pytest.importorskip("ni.measurementlink.measurement.v2.measurement_service_pb2")
v2_grpc = pytest.importorskip("ni.measurementlink.measurement.v2.measurement_service_pb2_grpc")

V1 = "ni.measurementlink.measurement.v1.MeasurementService"
V2 = "ni.measurementlink.measurement.v2.MeasurementService"
SERVICE_CLASS = "pinbroker.tests.SdkMeasurement_Python"


def _service_config(path, version):
    service = {
        "displayName": "SDK Measurement (pinbroker test)",
        "serviceClass": SERVICE_CLASS,
        "descriptionUrl": "https://example.invalid/sdk",
        "providedInterfaces": [V1, V2],
        "path": "measurement.py",
        "annotations": {
            "ni/service.description": "hosted by the test",
            "ni/service.collection": "pinbroker.tests",
            "ni/service.tags": ["sdk", "test"],
        },
    }
    if version is not None:
        service["version"] = version
    path.write_text(json.dumps({"services": [service]}), encoding="utf-8")
    return path


@pytest.fixture
def discovery(start_pinbroker, monkeypatch):
    server = start_pinbroker()
    monkeypatch.setattr(
        "ni.measurementlink.discovery.v1.client._client._get_discovery_service_address",
        lambda: server.address,
    )
    with grpc.insecure_channel(server.address) as channel:
        yield discovery_service_pb2_grpc.DiscoveryServiceStub(channel)


def _hosted(tmp_path, version):
    service = nims.MeasurementService(
        service_config_path=_service_config(tmp_path / "m.serviceconfig", version)
    )

    @service.register_measurement
    @service.output("Value", nims.DataType.Double)
    def measure():
        return (1.0,)

    return service


@pytest.mark.parametrize(
    ("version", "registered"), [("1.0.1", ["1.0.1"]), ("0.1.0.0", ["0.1.0.0"]), (None, [])]
)
def test_host_service_registers_resolves_enumerates_and_close_unregisters(
    discovery, tmp_path, version, registered
):
    service = _hosted(tmp_path, version)
    with service.host_service():
        for interface in (V1, V2):
            response = discovery.ResolveServiceWithInformation(
                pb.ResolveServiceWithInformationRequest(
                    provided_interface=interface, service_class=SERVICE_CLASS
                ),
                timeout=10,
            )
            assert response.service_location.location == "localhost"
            assert response.service_location.insecure_port
            descriptor = response.service_descriptor
            assert descriptor.display_name == "SDK Measurement (pinbroker test)"
            assert descriptor.service_class == SERVICE_CLASS
            assert descriptor.description_url == "https://example.invalid/sdk"
            assert list(descriptor.provided_interfaces) == [V1, V2]
            assert list(descriptor.versions) == registered
            assert dict(descriptor.annotations) == {
                "ni/service.description": "hosted by the test",
                "ni/service.collection": "pinbroker.tests",
                "ni/service.tags": '["sdk","test"]',
                "ni/service.programminglanguage": "Python",
            }
        location = discovery.ResolveService(
            pb.ResolveServiceRequest(
                provided_interface=V2,
                service_class=SERVICE_CLASS,
                version=registered[0] if registered else "",
            ),
            timeout=10,
        )
        assert location == response.service_location
        listed = discovery.EnumerateServices(
            pb.EnumerateServicesRequest(provided_interface=V2), timeout=10
        ).available_services
        assert [d.service_class for d in listed] == [SERVICE_CLASS]
        active = discovery.EnumerateActiveServices(
            pb.EnumerateActiveServicesRequest(provided_interface=V1), timeout=10
        ).active_services
        assert [a.service_location for a in active] == [location]

        # The measurement answers at the location discovery hands out (on [::1] behind
        # "localhost"), as NI's generated client reaches it.
        with grpc.insecure_channel(f"[::1]:{location.insecure_port}") as channel:
            metadata = v2_grpc.MeasurementServiceStub(channel).GetMetadata(
                v2.GetMetadataRequest(), timeout=10
            )
        assert metadata.measurement_details.display_name == "SDK Measurement (pinbroker test)"

    with pytest.raises(grpc.RpcError) as error:
        discovery.ResolveService(
            pb.ResolveServiceRequest(provided_interface=V2, service_class=SERVICE_CLASS),
            timeout=10,
        )
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
