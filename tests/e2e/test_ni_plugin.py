"""NI's plug-in ecosystem on Linux: the example plug-in hosted under ``pinbroker run``.

``pinbroker serve`` runs as a subprocess with the example's pin map; the example
(``examples/ni_plugin/measurement.py``, written with NI's Measurement Plug-In SDK) runs under
``pinbroker run`` and registers with pinbroker's discovery service; the test finds it there and
calls it through NI's published v2 measurement stub, as a generated client would; a second
test generates a client with NI's client generator under ``pinbroker run`` and measures with it.
Skipped when the SDK, the generator or PyVISA is not installed (all are in the ``test`` extras,
so CI runs them).
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from _serve import Serve

pytest.importorskip("ni_measurement_plugin_sdk_service")
pytest.importorskip("pyvisa_sim")

from ni.measurementlink import pin_map_context_pb2
from ni.measurementlink.discovery.v1 import (
    discovery_service_pb2,
    discovery_service_pb2_grpc,
)
from ni.measurementlink.measurement.v2 import (
    measurement_service_pb2,
    measurement_service_pb2_grpc,
)

from ni_measurementlink_service import session_management as sm

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ni_plugin"
PIN_MAP = EXAMPLE / "VisaDmm.pinmap"
SERVICE_CLASS = "pinbroker.examples.VisaDmmMeasurement_Python"
MEASUREMENT_V2 = "ni.measurementlink.measurement.v2.MeasurementService"

REGISTRATION_DEADLINE = 60.0
"""Seconds to wait for the plug-in to be resolvable. Its start (importing the SDK, grpc and
PyVISA) takes about a second on a developer machine; a loaded CI runner may be many times
slower, and waiting longer costs nothing when it is fast."""


def _config(pin: str, reservation_timeout: float) -> bytes:
    """The example's configuration message, encoded as the SDK decodes it.

    Field 1 (the pin, a string) and field 2 (the reservation timeout, a double), in the order
    of the ``configuration`` decorators: what NI's generated clients send.
    """
    encoded = pin.encode()
    return (
        b"\x0a" + bytes([len(encoded)]) + encoded + b"\x11" + struct.pack("<d", reservation_timeout)
    )


def _outputs(data: bytes) -> tuple[float, str]:
    """Decode the example's outputs: field 1 the voltage (double), field 2 the instrument."""
    assert data[0] == 0x09
    (voltage,) = struct.unpack("<d", data[1:9])
    assert data[9] == 0x12
    length = data[10]
    return voltage, data[11 : 11 + length].decode()


def _measure(
    stub: measurement_service_pb2_grpc.MeasurementServiceStub, reservation_timeout: float = 0.0
) -> tuple[float, str]:
    request = measurement_service_pb2.MeasureRequest(
        pin_map_context=pin_map_context_pb2.PinMapContext(pin_map_id=str(PIN_MAP), sites=[0]),
    )
    request.configuration_parameters.value = _config("Pin1", reservation_timeout)
    responses = list(stub.Measure(request, timeout=60))
    return _outputs(responses[-1].outputs.value)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Serve]:
    serve = Serve(
        "--state-dir",
        str(tmp_path / "state"),
        "--pin-map",
        str(PIN_MAP),
        env=_environment(tmp_path),
        stderr=tmp_path / "serve.log",
    )
    try:
        yield serve
    finally:
        serve.stop()


def _resolve(discovery: discovery_service_pb2_grpc.DiscoveryServiceStub) -> str:
    """Poll ResolveService until the plug-in is registered; return its ``host:port``."""
    request = discovery_service_pb2.ResolveServiceRequest(
        provided_interface=MEASUREMENT_V2, service_class=SERVICE_CLASS
    )
    deadline = time.monotonic() + REGISTRATION_DEADLINE
    while True:
        try:
            location = discovery.ResolveService(request, timeout=10)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # registration is the plug-in's, seen only through discovery
            continue
        return f"{location.location}:{location.insecure_port}"


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PINBROKER_ADDRESS"}
    env["PINBROKER_DISCOVERY_KEY_FILE"] = str(tmp_path / "DiscoveryService.json")
    return env


def _pinbroker_run(*command: str) -> list[str]:
    return [sys.executable, "-m", "pinbroker.cli", "run", "--", *command]


@contextlib.contextmanager
def _hosted_example(tmp_path: Path) -> Iterator[None]:
    """The example plug-in under ``pinbroker run``; stopped with SIGTERM (exit status 0)."""
    log_path = tmp_path / "plugin.log"
    with log_path.open("w") as log:
        plugin = subprocess.Popen(
            _pinbroker_run(sys.executable, str(EXAMPLE / "measurement.py")),
            env=_environment(tmp_path),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert plugin.stdout is not None
        try:
            line = plugin.stdout.readline()  # printed once host_service() has registered it
            assert line.startswith("hosting"), log_path.read_text()
            yield
        finally:
            plugin.send_signal(signal.SIGTERM)
            code = plugin.wait(timeout=30)
            plugin.stdout.close()
    assert code == 0, log_path.read_text()


def test_example_plugin_under_pinbroker_run(server: Serve, tmp_path: Path) -> None:
    with _hosted_example(tmp_path), server.channel() as channel:
        address = _resolve(discovery_service_pb2_grpc.DiscoveryServiceStub(channel))
        with grpc.insecure_channel(address) as plugin_channel:
            stub = measurement_service_pb2_grpc.MeasurementServiceStub(plugin_channel)
            voltage, instrument = _measure(stub)
            assert voltage == pytest.approx(1.25)
            assert instrument == "pinbroker,Simulated VISA DMM,0,1.0"

            # Another client holds the DMM: the plug-in's reserve (timeout 0) fails.
            other = sm.SessionManagementClient(grpc_channel=channel)
            context = sm.PinMapContext(pin_map_id=str(PIN_MAP), sites=[0])
            held = other.reserve_sessions(context, pin_or_relay_names=["Pin1"], timeout=0)
            try:
                with pytest.raises(grpc.RpcError) as failed:
                    _measure(stub, reservation_timeout=0.5)
                # The SDK ends the stream with UNKNOWN, quoting session management's
                # UNAVAILABLE (pinbroker's status for a reserve that timed out).
                assert failed.value.code() == grpc.StatusCode.UNKNOWN
                assert "StatusCode.UNAVAILABLE" in str(failed.value.details())
                assert "is held by" in str(failed.value.details())
            finally:
                held.unreserve()
            assert _measure(stub)[0] == pytest.approx(1.25)
    # The SDK unregisters the plug-in when it stops.
    with server.channel() as channel, pytest.raises(grpc.RpcError) as gone:
        discovery_service_pb2_grpc.DiscoveryServiceStub(channel).ResolveService(
            discovery_service_pb2.ResolveServiceRequest(
                provided_interface=MEASUREMENT_V2, service_class=SERVICE_CLASS
            ),
            timeout=10,
        )
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


def test_generated_client_under_pinbroker_run(server: Serve, tmp_path: Path) -> None:
    """NI's client generator and the client it generates, both under ``pinbroker run``.

    NI's generator (``ni-measurement-plugin-client-generator``) comes with the
    ``ni-measurement-plugin-sdk-generator`` package, a test dependency.
    """
    pytest.importorskip("ni_measurement_plugin_sdk_generator.client")
    out = tmp_path / "generated"
    out.mkdir()
    env = _environment(tmp_path)
    with _hosted_example(tmp_path):
        generate = subprocess.run(
            _pinbroker_run(
                sys.executable,
                "-m",
                "ni_measurement_plugin_sdk_generator.client",
                "--measurement-service-class",
                SERVICE_CLASS,
                "--module-name",
                "visa_dmm_client",
                "--class-name",
                "VisaDmmClient",
                "--directory-out",
                str(out),
            ),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert generate.returncode == 0, generate.stderr
        use = (
            "from visa_dmm_client import VisaDmmClient\n"
            "client = VisaDmmClient()\n"
            f"client.register_pin_map({str(PIN_MAP)!r})\n"
            "outputs = client.measure()\n"
            "print(outputs.voltage, outputs.instrument, sep='|')\n"
        )
        result = subprocess.run(
            _pinbroker_run(sys.executable, "-c", use),
            env=env,
            cwd=out,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1.25|pinbroker,Simulated VISA DMM,0,1.0"
