"""Shared identifiers and named constants of pinbroker (pure: no grpc, no protobuf)."""

from __future__ import annotations

import enum
from typing import Final, NewType

__all__ = [
    "INSTRUMENT_TYPE_NI_DAQMX",
    "INSTRUMENT_TYPE_NI_DCPOWER",
    "INSTRUMENT_TYPE_NI_DIGITAL_PATTERN",
    "INSTRUMENT_TYPE_NI_DMM",
    "INSTRUMENT_TYPE_NI_FGEN",
    "INSTRUMENT_TYPE_NI_HSDIO",
    "INSTRUMENT_TYPE_NI_MODEL_BASED_INSTRUMENT",
    "INSTRUMENT_TYPE_NI_RELAY_DRIVER",
    "INSTRUMENT_TYPE_NI_RFMX",
    "INSTRUMENT_TYPE_NI_RFPM",
    "INSTRUMENT_TYPE_NI_RFSA",
    "INSTRUMENT_TYPE_NI_RFSG",
    "INSTRUMENT_TYPE_NI_SCOPE",
    "INSTRUMENT_TYPE_NI_SWITCH_EXECUTIVE_VIRTUAL_DEVICE",
    "INSTRUMENT_TYPE_NONE",
    "SITE_SYSTEM",
    "InstrumentTypeId",
    "PinMapId",
    "SessionName",
    "SessionNaming",
]

PinMapId = NewType("PinMapId", str)
"""Resource id of a pin map in the Pin Map Service (by convention the .pinmap file path)."""

SessionName = NewType("SessionName", str)
"""Name of an instrument or multiplexer session; the unit of reservation and registration."""

InstrumentTypeId = NewType("InstrumentTypeId", str)
"""Instrument type id such as ``niDCPower`` or a custom instrument's ``instrumentTypeId``."""

SITE_SYSTEM: Final = -1
"""Site number reported for system pins and system relays."""

INSTRUMENT_TYPE_NONE: Final = InstrumentTypeId("")
INSTRUMENT_TYPE_NI_DCPOWER: Final = InstrumentTypeId("niDCPower")
INSTRUMENT_TYPE_NI_HSDIO: Final = InstrumentTypeId("niHSDIO")
INSTRUMENT_TYPE_NI_RFSA: Final = InstrumentTypeId("niRFSA")
INSTRUMENT_TYPE_NI_RFMX: Final = InstrumentTypeId("niRFmx")
INSTRUMENT_TYPE_NI_RFSG: Final = InstrumentTypeId("niRFSG")
INSTRUMENT_TYPE_NI_RFPM: Final = InstrumentTypeId("niRFPM")
INSTRUMENT_TYPE_NI_DMM: Final = InstrumentTypeId("niDMM")
INSTRUMENT_TYPE_NI_DIGITAL_PATTERN: Final = InstrumentTypeId("niDigitalPattern")
INSTRUMENT_TYPE_NI_SCOPE: Final = InstrumentTypeId("niScope")
INSTRUMENT_TYPE_NI_FGEN: Final = InstrumentTypeId("niFGen")
INSTRUMENT_TYPE_NI_DAQMX: Final = InstrumentTypeId("niDAQmx")
INSTRUMENT_TYPE_NI_RELAY_DRIVER: Final = InstrumentTypeId("niRelayDriver")
INSTRUMENT_TYPE_NI_MODEL_BASED_INSTRUMENT: Final = InstrumentTypeId("niModelBasedInstrument")
INSTRUMENT_TYPE_NI_SWITCH_EXECUTIVE_VIRTUAL_DEVICE: Final = InstrumentTypeId(
    "niSwitchExecutiveVirtualDevice"
)


class SessionNaming(enum.Enum):
    """How session names are formed from resource names.

    TYPED is NI's 2025 Q3+ scheme (``niDCPower-DCPower1/0, DCPower1/1``); RESOURCE is the older
    scheme where the session name equals the resource name.
    """

    TYPED = "typed"
    RESOURCE = "resource"
