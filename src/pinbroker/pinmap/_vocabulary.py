"""Element and attribute names of the pin map format, as the reader matches them."""

from __future__ import annotations

import difflib
import functools

from pinbroker.pinmap._model import InstrumentKind

__all__ = [
    "CHILD_ELEMENTS",
    "COUNT_ATTRIBUTE",
    "IDENTIFIERS",
    "INSTRUMENT_ELEMENTS",
    "KIND_OF_TAG",
    "KNOWN_ELEMENTS",
    "LOCAL",
    "PINMAP_NAMESPACE",
    "REQUIRED",
    "SECTIONS",
    "SECTION_NAMES",
    "SECTION_OF",
    "SUGGESTION",
    "did_you_mean",
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
SECTION_NAMES = tuple(sorted(SECTIONS))
"""The section elements, in a fixed order (for suggestions)."""
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
KNOWN_ELEMENTS = frozenset(_KNOWN_NAMES)
"""Every element name the format defines (``../shared/spec/pinmap-format.md``)."""
INSTRUMENT_ELEMENTS = tuple(name for name, home in SECTION_OF.items() if home == "Instruments")
"""Elements of ``<Instruments>``: the instrument kinds and ``Multiplexer``."""
CHILD_ELEMENTS = (
    "ChannelGroup",
    "Channel",
    "PinReference",
    "RelayReference",
    "RelayPosition",
    "MultiplexedDUTPinRoute",
    "UserData",
)
"""Elements found inside items (below section level)."""
SUGGESTION = "; did you mean <"
"""Marks a warning about a probably misspelled element name (``...; did you mean <Name>?``)."""
_CLOSE_ENOUGH = 0.85
"""``difflib`` similarity from which an unknown name counts as a misspelling of a known one."""

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


@functools.lru_cache(maxsize=4096)
def did_you_mean(name: str, candidates: tuple[str, ...]) -> str | None:
    """Return the known element name that ``name`` most likely misspells, or None.

    A name the format defines is never a misspelling (it may be misplaced; that is reported
    elsewhere). Otherwise a candidate equal but for letter case wins, then the closest
    candidate by ``difflib`` similarity of at least 0.85 (``NIDmmInstrumnet`` ->
    ``NIDmmInstrument``), then one a single edit away, which catches short names
    (``Pinz`` -> ``Pins``). ``MyVendorBox`` -> None.

    Args:
        name: The local name of an element the reader does not know.
        candidates: Known names expected where ``name`` was found (hashable: answers are
            cached, since a document may repeat one unknown name many times).
    """
    if name in KNOWN_ELEMENTS:
        return None
    options = list(candidates)
    folded = {option.casefold(): option for option in options}
    same_but_case = folded.get(name.casefold())
    if same_but_case is not None:
        return same_but_case
    matches = difflib.get_close_matches(name, options, n=1, cutoff=_CLOSE_ENOUGH)
    if matches:
        return matches[0]
    one_edit = [option for option in options if _one_edit_apart(name, option)]
    return one_edit[0] if one_edit else None


def _one_edit_apart(a: str, b: str) -> bool:
    """True if one substitution, insertion, deletion or swap of neighbours turns a into b."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    a_rest, b_rest = a[prefix:], b[prefix:]
    if len(a) == len(b):
        swapped = len(a_rest) >= 2 and a_rest[1] + a_rest[0] + a_rest[2:] == b_rest
        return a_rest[1:] == b_rest[1:] or swapped
    return a_rest[1:] == b_rest if len(a) > len(b) else a_rest == b_rest[1:]
