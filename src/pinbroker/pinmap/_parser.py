"""Streaming, safe reader of NI ``.pinmap`` XML into a :class:`~._model.RawPinMap`.

The document is read with lxml's ``iterparse`` (no DTD loading, no entity resolution, no
network), one top-level item at a time: each item (an instrument, a pin, a connection...) is
turned into records when it ends and is then removed from the tree, so memory stays proportional
to the records kept, not to the XML. Elements are matched by local name in the NI pin map
namespace or in no namespace; section order does not matter; ``schemaVersion`` is recorded but
behaviour depends only on which elements and attributes are present.

Structural problems (missing required attributes, malformed numbers, elements in the wrong
place) are collected in ``RawPinMap.problems``; cross-references are checked later by
:mod:`pinbroker.pinmap._validate`. Hard failures -- malformed XML, a DTD, exceeded limits --
raise immediately.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

from lxml import etree

from pinbroker.errors import PinMapParseError, PinMapTooLargeError
from pinbroker.pinmap._limits import ParseLimits
from pinbroker.pinmap._model import (
    BUILTIN_TYPE_IDS,
    ChannelGroup,
    ConnectionKind,
    Element,
    Instrument,
    InstrumentKind,
    Multiplexer,
    Pin,
    PinGroup,
    RawPinMap,
    Relay,
    RelayConfiguration,
    RelayGroup,
    RelayPosition,
    Site,
)
from pinbroker.pinmap._numbers import (
    NumberSyntaxError,
    decimal_or_none,
    parse_channel_ranges,
    parse_count,
)
from pinbroker.types import InstrumentTypeId

__all__ = ["PINMAP_NAMESPACE", "parse_pinmap"]

PINMAP_NAMESPACE = "http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd"
"""XML namespace of NI pin maps."""

_SCHEMA_VERSION = re.compile(r"[0-9]{1,4}\.[0-9]{1,4}")

_SECTIONS = (
    "Instruments",
    "Pins",
    "PinGroups",
    "Relays",
    "RelayGroups",
    "RelayConfigurations",
    "Sites",
    "Connections",
)
_SECTION_OF = {
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
}
_KNOWN_NAMES = (
    "PinMap",
    *_SECTIONS,
    *_SECTION_OF,
    *(kind.value for kind in InstrumentKind if kind is not InstrumentKind.OTHER),
    "Multiplexer",
    "ChannelGroup",
    "Channel",
    "PinReference",
    "RelayReference",
    "RelayPosition",
    "MultiplexedDUTPinRoute",
    "Resource",
    "UserData",
)
# Tag as lxml reports it -> local name, for the known names in the NI namespace and in none.
_LOCAL: dict[str, str] = {}
for _name in _KNOWN_NAMES:
    _LOCAL[_name] = _name
    _LOCAL[f"{{{PINMAP_NAMESPACE}}}{_name}"] = _name

_REQUIRED: dict[str, tuple[str, ...]] = {
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
}
# Attributes that name something: an empty value is as bad as a missing one.
_IDENTIFIERS = frozenset(
    {"name", "id", "pin", "relay", "instrument", "multiplexer", "relayDriverModule"}
)
_COUNT_ATTRIBUTE = {
    InstrumentKind.DCPOWER: "numberOfChannels",
    InstrumentKind.DIGITAL_PATTERN: "numberOfChannels",
    InstrumentKind.SCOPE: "numberOfChannels",
    InstrumentKind.FGEN: "numberOfChannels",
    InstrumentKind.RELAY_DRIVER: "numberOfControlLines",
}
_KIND_OF_TAG = {kind.value: kind for kind in InstrumentKind if kind is not InstrumentKind.OTHER}


_PIN = int(ConnectionKind.PIN)


def parse_pinmap(data: bytes, limits: ParseLimits, source: str | None) -> RawPinMap:
    """Read pin map XML (already checked by ``prepare_input``) into raw records.

    Args:
        data: The document as bytes.
        limits: Depth and element-count limits to enforce while reading.
        source: Where the XML came from, for error messages.

    Returns:
        The records, with structural problems and warnings collected (not raised).

    Raises:
        PinMapParseError: The XML is malformed, has a DTD, or its root is not ``PinMap``.
        PinMapTooLargeError: A depth or element-count limit is exceeded.
    """
    reader = _Reader(limits, source)
    reader.run(data)
    return reader.raw


def _local_name(tag: Any) -> tuple[str, bool]:
    """Return (local name, known namespace) of an element tag."""
    known = _LOCAL.get(tag)
    if known is not None:
        return known, True
    text = str(tag)
    if text.startswith("{"):
        namespace, _, local = text[1:].partition("}")
        return local, namespace == PINMAP_NAMESPACE
    return text, True


def _has_text(text: str | None) -> bool:
    return bool(text) and not text.isspace()  # type: ignore[union-attr]


class _Reader:
    """One pass over one document; fills ``self.raw``."""

    def __init__(self, limits: ParseLimits, source: str | None) -> None:
        self.raw = RawPinMap()
        self._limits = limits
        self._source = source
        self._strings: dict[str, str] = {}
        self._intern = self._strings.setdefault
        table = self.raw.connections
        self._kinds_append = table.kinds.append
        self._names_append = table.names.append
        self._sites_append = table.site_texts.append
        self._targets_append = table.targets.append
        self._channels_append = table.channels.append
        self._lines_append = table.lines.append
        instrument_handler = self._instrument
        self._handlers: dict[str, Callable[[Any], None]] = {
            "NIDCPowerInstrument": instrument_handler,
            "NIDigitalPatternInstrument": instrument_handler,
            "NIScopeInstrument": instrument_handler,
            "NIDmmInstrument": instrument_handler,
            "NIFGenInstrument": instrument_handler,
            "NIDAQmxTask": instrument_handler,
            "NIRelayDriverModule": instrument_handler,
            "NIRFPMInstrument": instrument_handler,
            "NIModelBasedInstrument": instrument_handler,
            "Instrument": instrument_handler,
            "Multiplexer": self._multiplexer,
            "DUTPin": self._pin,
            "SystemPin": self._pin,
            "PinGroup": self._pin_group,
            "SiteRelay": self._relay,
            "SystemRelay": self._relay,
            "RelayGroup": self._relay_group,
            "RelayConfiguration": self._relay_configuration,
            "Site": self._site,
            "Connection": self._connection,
            "SystemConnection": self._system_connection,
            "MultiplexedConnection": self._multiplexed_connection,
            "RelayConnection": self._relay_connection,
            "SystemRelayConnection": self._system_relay_connection,
        }

        self._section_handlers: dict[str | None, dict[str, Callable[[Any], None]]] = {}
        for local, handler in self._handlers.items():
            by_tag = self._section_handlers.setdefault(_SECTION_OF.get(local, "Instruments"), {})
            by_tag[local] = handler
            by_tag[f"{{{PINMAP_NAMESPACE}}}{local}"] = handler

    # -- problems -------------------------------------------------------------------------------

    def _problem(self, line: int | None, message: str) -> None:
        self.raw.problems.append((line, message))

    def _warning(self, line: int | None, message: str) -> None:
        self.raw.warnings.append((line, message))

    def _fail(self, line: int | None, message: str) -> PinMapParseError:
        return PinMapParseError(message, line=line, source=self._source)

    def _too_large(self, line: int | None, message: str) -> PinMapTooLargeError:
        where = f"{self._source}: " if self._source else ""
        at = f"pin map line {line}: " if line is not None else "pin map: "
        return PinMapTooLargeError(f"{where}{at}{message}")

    # -- the streaming loop ---------------------------------------------------------------------

    def run(self, data: bytes) -> None:
        context = etree.iterparse(
            io.BytesIO(data),
            events=("start", "end"),
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        max_depth = self._limits.max_depth
        max_elements = self._limits.max_elements
        depth = 0
        count = 0
        section: str | None = None
        section_element: Any = None
        handlers: dict[str, Callable[[Any], None]] = {}
        try:
            for event, element in context:
                if event == "start":
                    depth += 1
                    count += 1
                    if count > max_elements:
                        raise self._too_large(
                            element.sourceline,
                            f"more than max_elements={max_elements} elements",
                        )
                    if depth > max_depth:
                        raise self._too_large(
                            element.sourceline,
                            f"elements nested deeper than max_depth={max_depth}",
                        )
                    if depth == 2:
                        section_element = element
                        section = self._section(element)
                        handlers = self._section_handlers.get(section, {})
                    elif depth == 1:
                        self._root(element)
                    continue
                depth -= 1
                if depth == 2:
                    handler = handlers.get(element.tag)
                    if handler is not None:
                        handler(element)
                    else:
                        self._misplaced(element, section)
                    # Free what was read: the item's content, then the items before it (never
                    # the current one: the parser may still be linked to it).
                    element.clear(keep_tail=True)
                    while element.getprevious() is not None:
                        del section_element[0]
                elif depth == 1:
                    self._section_end(element, section)
                    element.clear(keep_tail=True)
                    section = None
                    section_element = None
                    handlers = {}
        except etree.XMLSyntaxError as exc:
            line, message = _syntax_problem(exc, context.error_log)
            raise self._fail(line, f"malformed XML: {message}") from None
        if count == 0:
            raise self._fail(None, "pin map has no root element")

    def _root(self, element: Any) -> None:
        name, known_namespace = _local_name(element.tag)
        if name != "PinMap" or not known_namespace:
            raise self._fail(
                element.sourceline,
                f"root element is <{name}>, expected <PinMap> in namespace {PINMAP_NAMESPACE}",
            )
        docinfo = element.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None:
            raise self._fail(element.sourceline, "DTDs are not allowed in pin maps")
        if _has_text(element.text):
            self._stray_text(element.text, element)
        version = element.get("schemaVersion")
        if version is None:
            self._problem(element.sourceline, "PinMap is missing attribute 'schemaVersion'")
        elif _SCHEMA_VERSION.fullmatch(version.strip()) is None:
            self._problem(element.sourceline, f"PinMap has a malformed schemaVersion='{version}'")
        else:
            self.raw.schema_version = version.strip()
            if not self.raw.schema_version.startswith("1."):
                self._warning(
                    element.sourceline,
                    f"schemaVersion {version} is not 1.x; reading it like the 1.x format",
                )

    def _section(self, element: Any) -> str | None:
        name, known_namespace = _local_name(element.tag)
        if known_namespace and name in _SECTIONS:
            return name
        self._warning(element.sourceline, f"unknown element <{name}> in PinMap ignored")
        return None

    def _section_end(self, element: Any, section: str | None) -> None:
        if section is None:
            return
        if _has_text(element.text):
            self._stray_text(element.text, element)
        if _has_text(element.tail):
            self._stray_text(element.tail, element.getparent())

    def _stray_text(self, text: str, parent: Any) -> None:
        name, _ = _local_name(parent.tag)
        shown = text.strip()
        if len(shown) > 20:
            shown = shown[:20] + "..."
        self._warning(parent.sourceline, f"text '{shown}' inside <{name}> ignored")

    def _misplaced(self, element: Any, section: str | None) -> None:
        if section is None:
            return  # inside an unknown section, already warned about
        name, known_namespace = _local_name(element.tag)
        if section == "Instruments" and (name not in _LOCAL or not known_namespace):
            self._other_instrument(element, name)
        elif name in _SECTION_OF or name in _KIND_OF_TAG or name == "Multiplexer":
            home = _SECTION_OF.get(name, "Instruments")
            self._problem(element.sourceline, f"<{name}> belongs in <{home}>, not in <{section}>")
        else:
            self._warning(element.sourceline, f"unknown element <{name}> in <{section}> ignored")

    # -- attribute helpers ----------------------------------------------------------------------

    def _require(self, element: Any, tag: str, names: tuple[str, ...]) -> list[str] | None:
        """Return the values of ``names`` or record a problem and return None."""
        values: list[str] = []
        missing: list[str] = []
        intern = self._intern
        for name in names:
            value = element.get(name)
            if value is None or (not value and name in _IDENTIFIERS):
                missing.append(name)
            else:
                values.append(intern(value, value))
        if missing:
            what = "attribute" if len(missing) == 1 else "attributes"
            listed = ", ".join(f"'{name}'" for name in missing)
            self._problem(element.sourceline, f"{tag} is missing {what} {listed}")
            return None
        return values

    def _unexpected_children(self, element: Any, tag: str) -> None:
        for child in element:
            name, _ = _local_name(child.tag)
            self._warning(child.sourceline, f"unexpected <{name}> inside <{tag}> ignored")

    def _children(self, element: Any, tag: str, child_tag: str) -> list[Any]:
        """Return the children named ``child_tag``; warn about any other child."""
        wanted: list[Any] = []
        for child in element:
            name, known_namespace = _local_name(child.tag)
            if name == child_tag and known_namespace:
                wanted.append(child)
            else:
                self._warning(child.sourceline, f"unexpected <{name}> inside <{tag}> ignored")
        return wanted

    def _attributes(self, element: Any) -> tuple[tuple[str, str], ...]:
        intern = self._intern
        pairs: list[tuple[str, str]] = []
        for key, value in element.attrib.items():
            local = key.rpartition("}")[2] if key.startswith("{") else key
            pairs.append((intern(local, local), intern(value, value)))
        return tuple(pairs)

    def _element(self, element: Any) -> Element:
        name, _ = _local_name(element.tag)
        return Element(
            tag=name,
            attributes=self._attributes(element),
            children=tuple(self._element(child) for child in element),
            line=element.sourceline,
        )

    # -- instruments ----------------------------------------------------------------------------

    def _instrument(self, element: Any) -> None:
        tag = _LOCAL[element.tag]
        kind = _KIND_OF_TAG[tag]
        required = self._require(element, tag, _REQUIRED[tag])
        if required is None:
            return
        name = required[0]
        line = element.sourceline
        if kind is InstrumentKind.CUSTOM:
            type_id = InstrumentTypeId(required[1])
        else:
            type_id = BUILTIN_TYPE_IDS[kind]
        count: int | None = None
        count_attribute = _COUNT_ATTRIBUTE.get(kind)
        if count_attribute is not None:
            try:
                count = parse_count(element.get(count_attribute), count_attribute)
            except NumberSyntaxError as exc:
                self._problem(line, f"{tag} '{name}': {exc}")
        group = None
        if kind in (InstrumentKind.DIGITAL_PATTERN, InstrumentKind.SCOPE):
            group = element.get("group")
        channel_groups: tuple[ChannelGroup, ...] = ()
        channels: tuple[str, ...] = ()
        children: tuple[Element, ...] = ()
        if kind is InstrumentKind.DCPOWER:
            channel_groups = self._dcpower_groups(element, name, count)
        elif kind is InstrumentKind.CUSTOM:
            channel_groups, channels = self._custom_channels(element, name)
        elif kind is InstrumentKind.MODEL_BASED:
            children = tuple(self._element(child) for child in element)
        else:
            self._unexpected_children(element, tag)
        self.raw.instruments.append(
            Instrument(
                name=name,
                kind=kind,
                instrument_type_id=type_id,
                tag=tag,
                attributes=self._attributes(element),
                line=line,
                number_of_channels=count,
                group=None if group is None else self._intern(group, group),
                channel_groups=channel_groups,
                channels=channels,
                children=children,
            )
        )

    def _other_instrument(self, element: Any, tag: str) -> None:
        name = element.get("name")
        if not name:
            self._problem(element.sourceline, f"{tag} is missing attribute 'name'")
            return
        self.raw.instruments.append(
            Instrument(
                name=self._intern(name, name),
                kind=InstrumentKind.OTHER,
                instrument_type_id=InstrumentTypeId(tag),
                tag=tag,
                attributes=self._attributes(element),
                line=element.sourceline,
                children=tuple(self._element(child) for child in element),
            )
        )

    def _dcpower_groups(
        self, element: Any, instrument: str, count: int | None
    ) -> tuple[ChannelGroup, ...]:
        groups: list[ChannelGroup] = []
        expanded = 0
        declared = self._children(element, "NIDCPowerInstrument", "ChannelGroup")
        for child in declared:
            required = self._require(child, "ChannelGroup", ("name",))
            if required is None:
                continue
            line = child.sourceline
            text = child.get("channels")
            if text is None:
                groups.append(ChannelGroup(required[0], (), all_channels=True, line=line))
                continue
            if count is None:
                continue  # numberOfChannels is missing or malformed: already a problem
            if expanded > count:
                self._problem(
                    line,
                    f"ChannelGroup '{required[0]}' of '{instrument}': the groups of this "
                    f"instrument list more channels than numberOfChannels={count}",
                )
                continue
            try:
                numbers = parse_channel_ranges(text, count)
            except NumberSyntaxError as exc:
                self._problem(line, f"ChannelGroup '{required[0]}' of '{instrument}': {exc}")
                continue
            expanded += len(numbers)
            intern = self._intern
            channels = tuple(intern(str(number), str(number)) for number in numbers)
            groups.append(ChannelGroup(required[0], channels, all_channels=False, line=line))
        if not declared:
            groups.append(
                ChannelGroup(
                    instrument, (), all_channels=True, line=element.sourceline, implicit=True
                )
            )
        return tuple(groups)

    def _custom_channels(
        self, element: Any, instrument: str
    ) -> tuple[tuple[ChannelGroup, ...], tuple[str, ...]]:
        groups: list[ChannelGroup] = []
        channels: list[str] = []
        for child in element:
            name, known_namespace = _local_name(child.tag)
            if name == "Channel" and known_namespace:
                required = self._require(child, "Channel", ("id",))
                if required is not None:
                    channels.append(required[0])
            elif name == "ChannelGroup" and known_namespace:
                required = self._require(child, "ChannelGroup", ("id",))
                if required is None:
                    continue
                members: list[str] = []
                for channel in self._children(child, "ChannelGroup", "Channel"):
                    channel_id = self._require(channel, "Channel", ("id",))
                    if channel_id is not None:
                        members.append(channel_id[0])
                channels.extend(members)
                groups.append(
                    ChannelGroup(
                        required[0], tuple(members), all_channels=False, line=child.sourceline
                    )
                )
            else:
                self._warning(
                    child.sourceline,
                    f"unexpected <{name}> inside Instrument '{instrument}' ignored",
                )
        return tuple(groups), tuple(channels)

    def _multiplexer(self, element: Any) -> None:
        required = self._require(element, "Multiplexer", _REQUIRED["Multiplexer"])
        self._unexpected_children(element, "Multiplexer")
        if required is not None:
            self.raw.multiplexers.append(Multiplexer(required[0], required[1], element.sourceline))

    # -- pins, relays, groups, sites ------------------------------------------------------------

    def _pin(self, element: Any) -> None:
        tag = _LOCAL[element.tag]
        required = self._require(element, tag, ("name",))
        self._unexpected_children(element, tag)
        if required is not None:
            self.raw.pins.append(Pin(required[0], tag == "SystemPin", element.sourceline))

    def _pin_group(self, element: Any) -> None:
        required = self._require(element, "PinGroup", ("name",))
        references, lines = self._references(element, "PinGroup", "PinReference", "pin")
        if required is not None:
            self.raw.pin_groups.append(PinGroup(required[0], references, element.sourceline, lines))

    def _relay(self, element: Any) -> None:
        tag = _LOCAL[element.tag]
        required = self._require(element, tag, ("name",))
        self._unexpected_children(element, tag)
        if required is not None:
            self.raw.relays.append(
                Relay(
                    required[0],
                    tag == "SystemRelay",
                    element.sourceline,
                    element.get("openStateDisplayLabel", ""),
                    element.get("closedStateDisplayLabel", ""),
                )
            )

    def _relay_group(self, element: Any) -> None:
        required = self._require(element, "RelayGroup", ("name",))
        references, lines = self._references(element, "RelayGroup", "RelayReference", "relay")
        if required is not None:
            self.raw.relay_groups.append(
                RelayGroup(required[0], references, element.sourceline, lines)
            )

    def _references(
        self, element: Any, tag: str, child_tag: str, attribute: str
    ) -> tuple[tuple[str, ...], tuple[int, ...]]:
        names: list[str] = []
        lines: list[int] = []
        for child in self._children(element, tag, child_tag):
            required = self._require(child, child_tag, (attribute,))
            if required is not None:
                names.append(required[0])
                lines.append(child.sourceline)
        return tuple(names), tuple(lines)

    def _relay_configuration(self, element: Any) -> None:
        required = self._require(element, "RelayConfiguration", ("name",))
        positions: list[RelayPosition] = []
        for child in self._children(element, "RelayConfiguration", "RelayPosition"):
            values = self._require(child, "RelayPosition", ("relay", "position"))
            if values is None:
                continue
            if values[1] not in ("Open", "Closed"):
                self._problem(
                    child.sourceline,
                    f"RelayPosition of '{values[0]}' has position='{values[1]}', "
                    "expected 'Open' or 'Closed'",
                )
                continue
            positions.append(RelayPosition(values[0], values[1], child.sourceline))
        if required is not None:
            self.raw.relay_configurations.append(
                RelayConfiguration(required[0], tuple(positions), element.sourceline)
            )

    def _site(self, element: Any) -> None:
        required = self._require(element, "Site", ("siteNumber",))
        self._unexpected_children(element, "Site")
        if required is None:
            return
        number = decimal_or_none(required[0].strip())
        if number is None:
            self._problem(
                element.sourceline,
                f"Site has siteNumber='{required[0]}', which is not a site number",
            )
            return
        self.raw.sites.append(Site(number, element.sourceline))

    # -- connections (the hot path: keep these lean) --------------------------------------------

    def _connection(self, element: Any) -> None:
        get = element.get
        pin = get("pin")
        sites = get("siteNumber")
        instrument = get("instrument")
        channel = get("channel")
        if not pin or sites is None or not instrument or channel is None or len(element):
            self._slow_connection(
                element, "Connection", ("pin", "siteNumber", "instrument", "channel")
            )
            return
        intern = self._intern
        self._kinds_append(_PIN)
        self._names_append(intern(pin, pin))
        self._sites_append(intern(sites, sites))
        self._targets_append(intern(instrument, instrument))
        self._channels_append(intern(channel, channel))
        self._lines_append(element.sourceline)

    def _slow_connection(self, element: Any, tag: str, names: tuple[str, ...]) -> None:
        """The general path: report missing attributes and children, then store the row."""
        self._unexpected_children(element, tag)
        values = self._require(element, tag, names)
        if values is None:
            return
        line = element.sourceline
        table = self.raw.connections
        if tag == "Connection":
            pin, sites, instrument, channel = values
            table.append(ConnectionKind.PIN, pin, sites, instrument, channel, line)
        elif tag == "SystemConnection":
            pin, instrument, channel = values
            table.append(ConnectionKind.SYSTEM_PIN, pin, "", instrument, channel, line)
        elif tag == "RelayConnection":
            relay, sites, module, control_line = values
            table.append(ConnectionKind.RELAY, relay, sites, module, control_line, line)
        else:
            relay, module, control_line = values
            table.append(ConnectionKind.SYSTEM_RELAY, relay, "", module, control_line, line)

    def _system_connection(self, element: Any) -> None:
        get = element.get
        pin = get("pin")
        instrument = get("instrument")
        channel = get("channel")
        if not pin or not instrument or channel is None or len(element):
            self._slow_connection(element, "SystemConnection", ("pin", "instrument", "channel"))
            return
        intern = self._intern
        self.raw.connections.append(
            ConnectionKind.SYSTEM_PIN,
            intern(pin, pin),
            "",
            intern(instrument, instrument),
            intern(channel, channel),
            element.sourceline,
        )

    def _relay_connection(self, element: Any) -> None:
        names = ("relay", "siteNumber", "relayDriverModule", "controlLine")
        self._slow_connection(element, "RelayConnection", names)

    def _system_relay_connection(self, element: Any) -> None:
        names = ("relay", "relayDriverModule", "controlLine")
        self._slow_connection(element, "SystemRelayConnection", names)

    def _multiplexed_connection(self, element: Any) -> None:
        values = self._require(element, "MultiplexedConnection", ("instrument", "channel"))
        routes = self._children(element, "MultiplexedConnection", "MultiplexedDUTPinRoute")
        if values is None:
            return
        instrument, channel = values
        table = self.raw.connections
        names = ("pin", "siteNumber", "multiplexer", "routeName")
        for route in routes:
            route_values = self._require(route, "MultiplexedDUTPinRoute", names)
            if route_values is None:
                continue
            pin, sites, multiplexer, route_name = route_values
            row = table.append(
                ConnectionKind.MULTIPLEXED, pin, sites, instrument, channel, route.sourceline
            )
            table.routes[row] = (multiplexer, route_name)


def _syntax_problem(exc: etree.XMLSyntaxError, log: Any) -> tuple[int | None, str]:
    """Return (line, message) of the first error this parse logged.

    lxml's own message can be a mere consequence, like "no element found" at line 0.
    """
    entries: Any = log.filter_from_errors()
    for entry in entries:
        if entry.message:
            return (entry.line if entry.line >= 1 else None), entry.message.strip()
    message = str(exc.msg or exc)
    # lxml appends ", line N, column M"; the line is reported separately.
    message = re.sub(r",? line \d+, column \d+$", "", message).strip()
    line = exc.lineno if exc.lineno is not None and exc.lineno >= 1 else None
    return line, message
