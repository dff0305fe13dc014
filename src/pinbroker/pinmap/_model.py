"""Frozen records of a parsed pin map (pure: no grpc, no protobuf).

Records are ``NamedTuple`` s: immutable, and cheap to create by the hundred thousand.

The parser (:mod:`pinbroker.pinmap._parser`) fills a :class:`RawPinMap`; validation and indexing
read it; :class:`pinbroker.pinmap.PinMap` exposes the records read-only. Connections are kept
column-wise in a :class:`ConnectionTable` (half a million rows must stay cheap) and handed out
as :class:`Connection` views on demand.
"""

from __future__ import annotations

import enum
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from pinbroker.pinmap._lines import LineMap
from pinbroker.types import (
    INSTRUMENT_TYPE_NI_DAQMX,
    INSTRUMENT_TYPE_NI_DCPOWER,
    INSTRUMENT_TYPE_NI_DIGITAL_PATTERN,
    INSTRUMENT_TYPE_NI_DMM,
    INSTRUMENT_TYPE_NI_FGEN,
    INSTRUMENT_TYPE_NI_MODEL_BASED_INSTRUMENT,
    INSTRUMENT_TYPE_NI_RELAY_DRIVER,
    INSTRUMENT_TYPE_NI_RFPM,
    INSTRUMENT_TYPE_NI_SCOPE,
    InstrumentTypeId,
)

__all__ = [
    "ChannelGroup",
    "Connection",
    "ConnectionKind",
    "ConnectionTable",
    "Element",
    "Instrument",
    "InstrumentKind",
    "Multiplexer",
    "Pin",
    "PinGroup",
    "RawPinMap",
    "Relay",
    "RelayConfiguration",
    "RelayGroup",
    "RelayPosition",
    "Site",
]


class InstrumentKind(enum.Enum):
    """The kind of an instrument, named after its element in ``<Instruments>``."""

    DCPOWER = "NIDCPowerInstrument"
    DIGITAL_PATTERN = "NIDigitalPatternInstrument"
    SCOPE = "NIScopeInstrument"
    DMM = "NIDmmInstrument"
    FGEN = "NIFGenInstrument"
    DAQMX = "NIDAQmxTask"
    RELAY_DRIVER = "NIRelayDriverModule"
    RFPM = "NIRFPMInstrument"
    MODEL_BASED = "NIModelBasedInstrument"
    CUSTOM = "Instrument"
    """``<Instrument instrumentTypeId=...>``: the type id comes from the attribute."""
    OTHER = "*"
    """An element this engine does not know; its local name is the type id."""


BUILTIN_TYPE_IDS: dict[InstrumentKind, InstrumentTypeId] = {
    InstrumentKind.DCPOWER: INSTRUMENT_TYPE_NI_DCPOWER,
    InstrumentKind.DIGITAL_PATTERN: INSTRUMENT_TYPE_NI_DIGITAL_PATTERN,
    InstrumentKind.SCOPE: INSTRUMENT_TYPE_NI_SCOPE,
    InstrumentKind.DMM: INSTRUMENT_TYPE_NI_DMM,
    InstrumentKind.FGEN: INSTRUMENT_TYPE_NI_FGEN,
    InstrumentKind.DAQMX: INSTRUMENT_TYPE_NI_DAQMX,
    InstrumentKind.RELAY_DRIVER: INSTRUMENT_TYPE_NI_RELAY_DRIVER,
    InstrumentKind.RFPM: INSTRUMENT_TYPE_NI_RFPM,
    InstrumentKind.MODEL_BASED: INSTRUMENT_TYPE_NI_MODEL_BASED_INSTRUMENT,
}
"""Instrument type id of every kind whose id does not come from the file."""


Attributes = tuple[tuple[str, str], ...]
"""An element's attributes as (local name, XML-unescaped value) pairs, in document order."""


class Element(NamedTuple):
    """An element kept as written: tag, attributes and children (unknown or free-form content).

    Attributes:
        tag: Local name.
        attributes: Attributes as (name, value) pairs.
        children: Child elements.
        line: 1-based line of the start tag.
    """

    tag: str
    attributes: Attributes
    children: tuple[Element, ...]
    line: int

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the value of attribute ``name``, or ``default`` when absent."""
        for key, value in self.attributes:
            if key == name:
                return value
        return default


class ChannelGroup(NamedTuple):
    """A ``ChannelGroup`` of an instrument.

    For ``NIDCPowerInstrument`` the group is identified by ``name`` and lists channel numbers
    (``all_channels`` when the ``channels`` attribute is absent, or when the instrument has no
    ``ChannelGroup`` at all and one group named after the instrument stands in for it). For a
    custom ``Instrument`` the group is identified by ``id`` and lists ``Channel`` ids.

    Attributes:
        name: The group's ``name`` (DCPower) or ``id`` (custom instrument).
        channels: Channels as written or expanded from ranges, as decimal strings for DCPower.
        all_channels: True when the group covers every channel of the instrument (``channels``
            is then empty).
        line: 1-based line of the element (of the instrument for a stand-in group).
        implicit: True for the stand-in group of a DCPower instrument without ``ChannelGroup``.
    """

    name: str
    channels: tuple[str, ...]
    all_channels: bool
    line: int
    implicit: bool = False


class Instrument(NamedTuple):
    """An instrument (or DAQmx task, relay driver module...) declared in ``<Instruments>``.

    Attributes:
        name: The ``name`` attribute: identity in the file and the driver's resource name.
        kind: What kind of element declared it.
        instrument_type_id: ``niDCPower``, ..., a custom ``instrumentTypeId``, or the element's
            local name for an unknown element.
        tag: Local name of the element.
        attributes: Every attribute as written.
        line: 1-based line of the element.
        number_of_channels: ``numberOfChannels`` (``numberOfControlLines`` for a relay driver
            module) when declared and well-formed, else None.
        group: The ``group`` attribute of digital pattern and scope instruments, else None.
        channel_groups: DCPower or custom-instrument channel groups, in document order.
        channels: Custom-instrument ``Channel`` ids, in document order (direct and in groups).
        children: Other child elements, kept as written (``Resource``/``UserData``, unknown).
    """

    name: str
    kind: InstrumentKind
    instrument_type_id: InstrumentTypeId
    tag: str
    attributes: Attributes
    line: int
    number_of_channels: int | None = None
    group: str | None = None
    channel_groups: tuple[ChannelGroup, ...] = ()
    channels: tuple[str, ...] = ()
    children: tuple[Element, ...] = ()

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the value of attribute ``name``, or ``default`` when absent."""
        for key, value in self.attributes:
            if key == name:
                return value
        return default


class Multiplexer(NamedTuple):
    """A ``Multiplexer`` declared in ``<Instruments>`` (a switch, not an instrument session).

    Attributes:
        name: Its ``name``; also its session and resource name.
        multiplexer_type_id: Its ``multiplexerTypeId`` (may be "").
        line: 1-based line of the element.
    """

    name: str
    multiplexer_type_id: str
    line: int


class Pin(NamedTuple):
    """A ``DUTPin`` or ``SystemPin``."""

    name: str
    is_system: bool
    line: int


class PinGroup(NamedTuple):
    """A ``PinGroup`` and its ``PinReference`` targets (pins or groups), in document order."""

    name: str
    references: tuple[str, ...]
    line: int
    reference_lines: tuple[int, ...] = ()


class Relay(NamedTuple):
    """A ``SiteRelay`` or ``SystemRelay`` with its optional display labels."""

    name: str
    is_system: bool
    line: int
    open_state_display_label: str = ""
    closed_state_display_label: str = ""


class RelayGroup(NamedTuple):
    """A ``RelayGroup`` and its ``RelayReference`` targets (relays or groups), in order."""

    name: str
    references: tuple[str, ...]
    line: int
    reference_lines: tuple[int, ...] = ()


class RelayPosition(NamedTuple):
    """One ``RelayPosition`` of a relay configuration."""

    relay: str
    position: str
    line: int


class RelayConfiguration(NamedTuple):
    """A ``RelayConfiguration``: named relay positions (also usable as a route name)."""

    name: str
    positions: tuple[RelayPosition, ...]
    line: int


class Site(NamedTuple):
    """A ``Site``."""

    number: int
    line: int


class ConnectionKind(enum.IntEnum):
    """Which element a connection row came from."""

    PIN = 0
    """``Connection``: DUT pin on one or more sites to an instrument channel."""
    SYSTEM_PIN = 1
    """``SystemConnection``: system pin to an instrument channel."""
    MULTIPLEXED = 2
    """``MultiplexedDUTPinRoute`` inside a ``MultiplexedConnection``."""
    RELAY = 3
    """``RelayConnection``: site relay on one or more sites to a control line."""
    SYSTEM_RELAY = 4
    """``SystemRelayConnection``: system relay to a control line."""

    @property
    def is_system(self) -> bool:
        """True for the kinds that have no site (system pins and relays)."""
        return self in (ConnectionKind.SYSTEM_PIN, ConnectionKind.SYSTEM_RELAY)

    @property
    def is_relay(self) -> bool:
        """True for relay connections."""
        return self in (ConnectionKind.RELAY, ConnectionKind.SYSTEM_RELAY)


class Connection(NamedTuple):
    """One connection row (a view; the pin map stores connections column-wise).

    Attributes:
        kind: The element it came from.
        pin_or_relay: The pin or relay connected.
        sites: The sites it applies to; empty for system pins and relays.
        instrument: The instrument (``relayDriverModule`` for relays).
        channel: The instrument channel (``controlLine`` for relays).
        multiplexer: Multiplexer name of a multiplexed route, else "".
        route: Route name of a multiplexed route (XML-unescaped), else "".
    """

    kind: ConnectionKind
    pin_or_relay: str
    sites: tuple[int, ...]
    instrument: str
    channel: str
    multiplexer: str
    route: str


@dataclass(slots=True)
class ConnectionTable:
    """Connections stored column-wise; row ``i`` is one connection element.

    Strings are interned by the parser, so repeated names cost one pointer per row. Rows keep
    the ordinal of their element (1 = the root, document order), not its line: lines are found
    only for rows that are reported (see ``_lines.LineMap``). Only the parser appends;
    afterwards the table is read-only.
    """

    kinds: bytearray = field(default_factory=bytearray)
    names: list[str] = field(default_factory=list)
    site_texts: list[str] = field(default_factory=list)
    """The ``siteNumber`` text of each row ("" for system rows)."""
    targets: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    ordinals: array[int] = field(default_factory=lambda: array("l"))
    routes: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Row -> (multiplexer, route name), for multiplexed rows only."""

    def __len__(self) -> int:
        return len(self.kinds)

    def append(
        self,
        kind: ConnectionKind,
        name: str,
        site_text: str,
        target: str,
        channel: str,
        ordinal: int,
    ) -> int:
        """Append one row and return its index."""
        row = len(self.kinds)
        self.kinds.append(kind)
        self.names.append(name)
        self.site_texts.append(site_text)
        self.targets.append(target)
        self.channels.append(channel)
        self.ordinals.append(ordinal)
        return row

    def extend_pins(
        self,
        names: list[str],
        site_texts: list[str],
        targets: list[str],
        channels: list[str],
        ordinals: list[int],
    ) -> None:
        """Append ``Connection`` rows in bulk (the columns must have equal lengths)."""
        self.kinds.extend(bytes(len(names)))  # ConnectionKind.PIN is 0
        self.names.extend(names)
        self.site_texts.extend(site_texts)
        self.targets.extend(targets)
        self.channels.extend(channels)
        self.ordinals.extend(ordinals)

    def view(self, row: int, sites: tuple[int, ...]) -> Connection:
        """Return row ``row`` as a :class:`Connection` with its already parsed ``sites``."""
        multiplexer, route = self.routes.get(row, ("", ""))
        return Connection(
            kind=ConnectionKind(self.kinds[row]),
            pin_or_relay=self.names[row],
            sites=sites,
            instrument=self.targets[row],
            channel=self.channels[row],
            multiplexer=multiplexer,
            route=route,
        )

    def rows(self) -> Iterator[int]:
        """Iterate over the row indexes."""
        return iter(range(len(self.kinds)))


@dataclass(slots=True)
class RawPinMap:
    """Everything the parser read, before validation and indexing."""

    schema_version: str = ""
    instruments: list[Instrument] = field(default_factory=list)
    multiplexers: list[Multiplexer] = field(default_factory=list)
    pins: list[Pin] = field(default_factory=list)
    pin_groups: list[PinGroup] = field(default_factory=list)
    relays: list[Relay] = field(default_factory=list)
    relay_groups: list[RelayGroup] = field(default_factory=list)
    relay_configurations: list[RelayConfiguration] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    connections: ConnectionTable = field(default_factory=ConnectionTable)
    problems: list[tuple[int | None, str]] = field(default_factory=list)
    """(line, message); element ordinals instead of lines while the parser runs."""
    warnings: list[tuple[int | None, str]] = field(default_factory=list)
    misspellings: int = 0
    """Elements whose unknown name closely matches a known one (each also has a warning)."""
    line_map: LineMap | None = None
    """Ordinal -> line of the document, while it is being loaded (dropped afterwards)."""
