"""Element and attribute names of the pin map format, as the reader matches them."""

from __future__ import annotations

from pinbroker.pinmap._model import InstrumentKind

__all__ = [
    "COUNT_ATTRIBUTE",
    "IDENTIFIERS",
    "KIND_OF_TAG",
    "LOCAL",
    "PINMAP_NAMESPACE",
    "REQUIRED",
    "SECTIONS",
    "SECTION_OF",
    "local_name",
]

PINMAP_NAMESPACE = "http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd"
"""XML namespace of NI pin maps."""

SECTIONS = frozenset(
    {
        "Instruments",
        "Pins",
        "PinGroups",
        "Relays",
        "RelayGroups",
        "RelayConfigurations",
        "Sites",
        "Connections",
    }
)
SECTION_OF = {
    "DUTPin": "Pins",
    "SystemPin": "Pins",
    "PinGroup": "PinGroups",
    "SiteRelay": "Relays",
    "SystemRelay": "Relays",
    "RelayGroup": "RelayGroups",
    "RelayConfiguration": "RelayConfigurations",
    "Site": "Sites",
    "Connection": "Connections",
    "SystemConnection": "Connections",
    "MultiplexedConnection": "Connections",
    "RelayConnection": "Connections",
    "SystemRelayConnection": "Connections",
    **{kind.value: "Instruments" for kind in InstrumentKind if kind is not InstrumentKind.OTHER},
    "Multiplexer": "Instruments",
}
"""Item element -> the section it belongs in."""

KIND_OF_TAG = {kind.value: kind for kind in InstrumentKind if kind is not InstrumentKind.OTHER}

_KNOWN_NAMES = (
    "PinMap",
    *SECTIONS,
    *SECTION_OF,
    "ChannelGroup",
    "Channel",
    "PinReference",
    "RelayReference",
    "RelayPosition",
    "MultiplexedDUTPinRoute",
    "Resource",
    "UserData",
)
LOCAL: dict[str, str] = {}
"""Tag as lxml reports it (``{namespace}Local`` or ``Local``) -> local name, for known names."""
for _name in _KNOWN_NAMES:
    LOCAL[_name] = _name
    LOCAL[f"{{{PINMAP_NAMESPACE}}}{_name}"] = _name

REQUIRED: dict[str, tuple[str, ...]] = {
    "NIDCPowerInstrument": ("name", "numberOfChannels"),
    "NIDigitalPatternInstrument": ("name", "numberOfChannels"),
    "NIScopeInstrument": ("name", "numberOfChannels"),
    "NIDmmInstrument": ("name",),
    "NIFGenInstrument": ("name", "numberOfChannels"),
    "NIDAQmxTask": ("name", "taskType", "channelList"),
    "NIRelayDriverModule": ("name", "numberOfControlLines"),
    "NIRFPMInstrument": ("name",),
    "NIModelBasedInstrument": ("name",),
    "Instrument": ("name", "instrumentTypeId"),
    "Multiplexer": ("name", "multiplexerTypeId"),
    "ChannelGroup": ("name",),
    "Channel": ("id",),
    "DUTPin": ("name",),
    "SystemPin": ("name",),
    "PinGroup": ("name",),
    "PinReference": ("pin",),
    "SiteRelay": ("name",),
    "SystemRelay": ("name",),
    "RelayGroup": ("name",),
    "RelayReference": ("relay",),
    "RelayConfiguration": ("name",),
    "RelayPosition": ("relay", "position"),
    "Site": ("siteNumber",),
    "Connection": ("pin", "siteNumber", "instrument", "channel"),
    "SystemConnection": ("pin", "instrument", "channel"),
    "MultiplexedConnection": ("instrument", "channel"),
    "MultiplexedDUTPinRoute": ("pin", "siteNumber", "multiplexer", "routeName"),
    "RelayConnection": ("relay", "siteNumber", "relayDriverModule", "controlLine"),
    "SystemRelayConnection": ("relay", "relayDriverModule", "controlLine"),
}
"""Attributes each element must have."""

IDENTIFIERS = frozenset(
    {"name", "id", "pin", "relay", "instrument", "multiplexer", "relayDriverModule"}
)
"""Attributes that name something: an empty value is as bad as a missing one."""

COUNT_ATTRIBUTE = {
    InstrumentKind.DCPOWER: "numberOfChannels",
    InstrumentKind.DIGITAL_PATTERN: "numberOfChannels",
    InstrumentKind.SCOPE: "numberOfChannels",
    InstrumentKind.FGEN: "numberOfChannels",
    InstrumentKind.RELAY_DRIVER: "numberOfControlLines",
}
"""Instrument kinds whose channel count is declared, and the attribute declaring it."""


def local_name(tag: str) -> tuple[str, bool]:
    """Return (local name, True if in the pin map namespace or in none) of a tag."""
    known = LOCAL.get(tag)
    if known is not None:
        return known, True
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return local, namespace == PINMAP_NAMESPACE
    return tag, True
