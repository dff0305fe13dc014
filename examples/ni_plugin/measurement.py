"""Example NI measurement plug-in: a DC voltage from a simulated VISA DMM, on Linux.

Written with NI's Measurement Plug-In SDK for Python (``ni-measurement-plugin-sdk-service``).
The instrument is simulated by PyVISA with pyvisa-sim (``visa_dmm_sim.yaml``), so no NI driver
is needed. The measurement reserves its pin through session management
(``measurement_service.context.reserve_session``), so two callers never use the DMM at once.

Run it against pinbroker (see docs/ni-plugins-on-linux.md)::

    pinbroker serve --pin-map examples/ni_plugin/VisaDmm.pinmap &
    pinbroker run -- python examples/ni_plugin/measurement.py

It registers with pinbroker's discovery service and serves until SIGTERM or Ctrl-C, then
unregisters.
"""

from __future__ import annotations

import pathlib
import signal
import sys
import threading
from typing import Any

import ni_measurement_plugin_sdk_service as nims
import pyvisa
from ni_measurement_plugin_sdk_service.session_management import SessionInformation

HERE = pathlib.Path(__file__).resolve().parent
INSTRUMENT_TYPE_VISA_DMM = "VisaDmm"
"""The pin map's ``instrumentTypeId`` of the DMM (a custom instrument type)."""
SIMULATION_FILE = HERE / "visa_dmm_sim.yaml"

measurement_service = nims.MeasurementService(
    service_config_path=HERE / "VisaDmmMeasurement.serviceconfig",
    ui_file_paths=[],
)

_resource_manager: pyvisa.ResourceManager | None = None


def _open_dmm(session_info: SessionInformation) -> Any:
    """Open the reserved DMM: its resource name is the pin map's instrument name."""
    global _resource_manager
    if _resource_manager is None:
        _resource_manager = pyvisa.ResourceManager(f"{SIMULATION_FILE}@sim")
    return _resource_manager.open_resource(
        session_info.resource_name, read_termination="\n", write_termination="\n"
    )


@measurement_service.register_measurement
@measurement_service.configuration(
    "pin", nims.DataType.IOResource, "Pin1", instrument_type=INSTRUMENT_TYPE_VISA_DMM
)
@measurement_service.configuration("reservation timeout (s)", nims.DataType.Double, 0.0)
@measurement_service.output("voltage", nims.DataType.Double)
@measurement_service.output("instrument", nims.DataType.String)
def measure(pin: str, reservation_timeout: float) -> tuple[float, str]:
    """Reserve ``pin``'s DMM (waiting up to ``reservation_timeout`` s), read a DC voltage."""
    with (
        measurement_service.context.reserve_session(
            pin, timeout=reservation_timeout
        ) as reservation,
        reservation.initialize_session(_open_dmm, INSTRUMENT_TYPE_VISA_DMM) as session_info,
    ):
        dmm = session_info.session
        identity = str(dmm.query("*IDN?")).strip()
        voltage = float(dmm.query("MEAS:VOLT:DC?"))
    return voltage, identity


def main() -> int:
    """Host the measurement until SIGTERM or SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with measurement_service.host_service():
        print(
            f"hosting {measurement_service.measurement_info.display_name}; "
            "SIGTERM or Ctrl-C to stop",
            flush=True,
        )
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
