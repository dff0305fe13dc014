"""Builders of the top-level items that have child elements (instruments, groups...).

The reader (:mod:`pinbroker.pinmap._parser`) sees elements as a stream of start and end events.
When an item with children starts, it creates one of these builders, feeds it the item's
descendants as they arrive, and calls :meth:`ItemBuilder.finish` when the item ends. Records
carry element ordinals in their ``line`` fields; the reader turns them into lines afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pinbroker.errors import PinMapTooLargeError
from pinbroker.pinmap._model import (
    BUILTIN_TYPE_IDS,
    Attributes,
    ChannelGroup,
    ConnectionKind,
    Element,
    Instrument,
    InstrumentKind,
    PinGroup,
    RawPinMap,
    RelayConfiguration,
    RelayGroup,
    RelayPosition,
)
from pinbroker.pinmap._numbers import NumberSyntaxError, parse_channel_ranges, parse_count
from pinbroker.pinmap._vocabulary import (
    CHILD_ELEMENTS,
    COUNT_ATTRIBUTE,
    IDENTIFIERS,
    REQUIRED,
    SUGGESTION,
    did_you_mean,
    local_name,
)
from pinbroker.types import InstrumentTypeId

__all__ = [
    "MAX_KEPT_ELEMENTS",
    "MAX_WARNINGS",
    "CustomInstrumentBuilder",
    "DCPowerBuilder",
    "ItemBuilder",
    "ItemContext",
    "LeafBuilder",
    "MultiplexedConnectionBuilder",
    "ReferenceGroupBuilder",
    "RelayConfigurationBuilder",
    "TreeBuilder",
    "instrument_count",
]

MAX_KEPT_ELEMENTS = 100_000
"""Most child elements kept as written (model-based and unknown instruments) per pin map."""

MAX_WARNINGS = 100
"""Most warnings kept per pin map; the rest are counted in one last warning."""


def _nothing() -> None:
    pass


class ItemContext:
    """What builders need from the reader: the records, interning and problem reporting."""

    def __init__(self) -> None:
        """Start with empty records."""
        self.raw = RawPinMap()
        self.strings: dict[str, str] = {}
        self.intern = self.strings.setdefault
        self.kept_elements = 0
        self.dropped_warnings = 0
        self.before_row: Callable[[], None] = _nothing
        """Called before a row is appended one by one (rows collected in bulk go first)."""

    def problem(self, ordinal: int | None, message: str) -> None:
        """Record a problem at element ``ordinal``."""
        self.raw.problems.append((ordinal, message))

    def warning(self, ordinal: int | None, message: str) -> None:
        """Record a warning at element ``ordinal`` (only the first ``MAX_WARNINGS`` are kept)."""
        if len(self.raw.warnings) < MAX_WARNINGS:
            self.raw.warnings.append((ordinal, message))
        else:
            self.dropped_warnings += 1

    def require(self, attrib: Mapping[str, str], tag: str, ordinal: int) -> list[str] | None:
        """Return the required attribute values of ``tag`` (interned), or report and None."""
        values: list[str] = []
        missing: list[str] = []
        intern = self.intern
        for name in REQUIRED[tag]:
            value = attrib.get(name)
            if value is None or (not value and name in IDENTIFIERS):
                missing.append(name)
            else:
                values.append(intern(value, value))
        if missing:
            what = "attribute" if len(missing) == 1 else "attributes"
            listed = ", ".join(f"'{name}'" for name in missing)
            self.problem(ordinal, f"{tag} is missing {what} {listed}")
            return None
        return values

    def attributes(self, attrib: Mapping[str, str]) -> Attributes:
        """Return ``attrib`` as interned (local name, value) pairs."""
        intern = self.intern
        pairs: list[tuple[str, str]] = []
        for key, value in attrib.items():
            local = key.rpartition("}")[2] if key.startswith("{") else key
            pairs.append((intern(local, local), intern(value, value)))
        return tuple(pairs)

    def unexpected(self, tag: str, inside: str, ordinal: int) -> None:
        """Warn about an element the format does not expect where it is."""
        name = local_name(tag)[0]
        message = f"unexpected <{name}> inside <{inside}> ignored"
        self.unknown(ordinal, name, CHILD_ELEMENTS, message)

    def unknown(
        self,
        ordinal: int,
        name: str,
        candidates: tuple[str, ...],
        message: str,
        *,
        only_if_misspelled: bool = False,
    ) -> None:
        """Warn about element ``name``, adding "did you mean" when it misspells a candidate.

        A probable misspelling is counted in ``raw.misspellings``. With ``only_if_misspelled``
        nothing is reported for a name that is not close to any candidate.
        """
        suggestion = did_you_mean(name, candidates)
        if suggestion is not None:
            self.raw.misspellings += 1
            self.warning(ordinal, f"{message}{SUGGESTION}{suggestion}>?")
        elif not only_if_misspelled:
            self.warning(ordinal, message)


class ItemBuilder:
    """Receives the descendants of one item; the base class warns about every child."""

    def __init__(self, context: ItemContext, tag: str) -> None:
        """Build the item ``tag`` (a local name) into ``context``."""
        self.context = context
        self.tag = tag

    def child(self, tag: str, attrib: Mapping[str, str], ordinal: int, depth: int) -> None:
        """Take a descendant element (``depth`` 4 is a direct child of the item)."""
        if depth == 4:
            self.context.unexpected(tag, self.tag, ordinal)

    def end(self, depth: int) -> None:
        """Note the end of a descendant at ``depth``."""

    def finish(self) -> None:
        """Complete the item."""


LeafBuilder = ItemBuilder
"""Items without children (pins, sites, connections...): any child is warned about."""


class DCPowerBuilder(ItemBuilder):
    """``NIDCPowerInstrument`` with its ``ChannelGroup`` children."""

    def __init__(
        self, context: ItemContext, attrib: Mapping[str, str], ordinal: int, values: list[str]
    ) -> None:
        """Start the instrument from its attributes."""
        super().__init__(context, "NIDCPowerInstrument")
        self.attrib = context.attributes(attrib)
        self.ordinal = ordinal
        self.name = values[0]
        self.count = instrument_count(context, attrib, InstrumentKind.DCPOWER, self.name, ordinal)
        self.groups: list[ChannelGroup] = []
        self.declared = False
        self.expanded = 0

    def child(self, tag: str, attrib: Mapping[str, str], ordinal: int, depth: int) -> None:
        """Take a ``ChannelGroup``."""
        if depth != 4:
            return
        if local_name(tag) != ("ChannelGroup", True):
            self.context.unexpected(tag, self.tag, ordinal)
            return
        self.declared = True
        values = self.context.require(attrib, "ChannelGroup", ordinal)
        if values is None:
            return
        name = values[0]
        text = attrib.get("channels")
        if text is None:
            self.groups.append(ChannelGroup(name, (), all_channels=True, line=ordinal))
            return
        count = self.count
        if count is None:
            return  # numberOfChannels is missing or malformed: already a problem
        if self.expanded > count:
            self.context.problem(
                ordinal,
                f"ChannelGroup '{name}' of '{self.name}': the groups of this instrument list "
                f"more channels than numberOfChannels={count}",
            )
            return
        try:
            numbers = parse_channel_ranges(text, count)
        except NumberSyntaxError as exc:
            self.context.problem(ordinal, f"ChannelGroup '{name}' of '{self.name}': {exc}")
            return
        self.expanded += len(numbers)
        intern = self.context.intern
        channels = tuple(intern(str(number), str(number)) for number in numbers)
        self.groups.append(ChannelGroup(name, channels, all_channels=False, line=ordinal))

    def finish(self) -> None:
        """Record the instrument; without any ``ChannelGroup`` it gets one of all channels."""
        if not self.declared:
            self.groups.append(
                ChannelGroup(self.name, (), all_channels=True, line=self.ordinal, implicit=True)
            )
        self.context.raw.instruments.append(
            Instrument(
                name=self.name,
                kind=InstrumentKind.DCPOWER,
                instrument_type_id=BUILTIN_TYPE_IDS[InstrumentKind.DCPOWER],
                tag=self.tag,
                attributes=self.attrib,
                line=self.ordinal,
                number_of_channels=self.count,
                channel_groups=tuple(self.groups),
            )
        )


class CustomInstrumentBuilder(ItemBuilder):
    """``Instrument`` with ``Channel`` children, directly or inside ``ChannelGroup id=...``."""

    def __init__(
        self, context: ItemContext, attrib: Mapping[str, str], ordinal: int, values: list[str]
    ) -> None:
        """Start the instrument from its attributes."""
        super().__init__(context, "Instrument")
        self.attrib = context.attributes(attrib)
        self.ordinal = ordinal
        self.name, self.type_id = values
        self.channels: list[str] = []
        self.groups: list[ChannelGroup] = []
        self.group: tuple[str, int, list[str]] | None = None

    def child(self, tag: str, attrib: Mapping[str, str], ordinal: int, depth: int) -> None:
        """Take a ``Channel`` or ``ChannelGroup`` (or a ``Channel`` inside one)."""
        name, known = local_name(tag)
        context = self.context
        if depth == 4 and known and name == "Channel":
            values = context.require(attrib, "Channel", ordinal)
            if values is not None:
                self.channels.append(values[0])
        elif depth == 4 and known and name == "ChannelGroup":
            group_id = attrib.get("id")
            if not group_id:
                context.problem(ordinal, "ChannelGroup is missing attribute 'id'")
                self.group = None
            else:
                self.group = (context.intern(group_id, group_id), ordinal, [])
        elif depth == 5 and self.group is not None and known and name == "Channel":
            values = context.require(attrib, "Channel", ordinal)
            if values is not None:
                self.group[2].append(values[0])
                self.channels.append(values[0])
        elif depth == 4:
            message = f"unexpected <{name}> inside Instrument '{self.name}' ignored"
            context.unknown(ordinal, name, CHILD_ELEMENTS, message)
        elif depth == 5 and self.group is not None:
            context.unexpected(tag, "ChannelGroup", ordinal)

    def end(self, depth: int) -> None:
        """Close a ``ChannelGroup``."""
        if depth == 4 and self.group is not None:
            group_id, ordinal, members = self.group
            self.groups.append(ChannelGroup(group_id, tuple(members), False, ordinal))
            self.group = None

    def finish(self) -> None:
        """Record the instrument."""
        self.context.raw.instruments.append(
            Instrument(
                name=self.name,
                kind=InstrumentKind.CUSTOM,
                instrument_type_id=InstrumentTypeId(self.type_id),
                tag=self.tag,
                attributes=self.attrib,
                line=self.ordinal,
                channel_groups=tuple(self.groups),
                channels=tuple(self.channels),
            )
        )


class TreeBuilder(ItemBuilder):
    """An instrument whose children are kept as written (model-based, or an unknown element)."""

    def __init__(
        self,
        context: ItemContext,
        tag: str,
        kind: InstrumentKind,
        attrib: Mapping[str, str],
        ordinal: int,
        name: str,
    ) -> None:
        """Start the instrument ``tag`` of ``kind``."""
        super().__init__(context, tag)
        self.kind = kind
        self.attrib = context.attributes(attrib)
        self.ordinal = ordinal
        self.name = name
        self.stack: list[tuple[str, Attributes, int, list[Element]]] = [
            (tag, self.attrib, ordinal, [])
        ]

    def child(self, tag: str, attrib: Mapping[str, str], ordinal: int, depth: int) -> None:
        """Open a kept element."""
        context = self.context
        context.kept_elements += 1
        if context.kept_elements > MAX_KEPT_ELEMENTS:
            raise PinMapTooLargeError(
                f"pin map: more than {MAX_KEPT_ELEMENTS} elements inside instrument elements"
            )
        self.stack.append((local_name(tag)[0], context.attributes(attrib), ordinal, []))

    def end(self, depth: int) -> None:
        """Close a kept element."""
        tag, attributes, ordinal, children = self.stack.pop()
        self.stack[-1][3].append(Element(tag, attributes, tuple(children), ordinal))

    def finish(self) -> None:
        """Record the instrument."""
        type_id = BUILTIN_TYPE_IDS.get(self.kind, InstrumentTypeId(self.tag))
        self.context.raw.instruments.append(
            Instrument(
                name=self.name,
                kind=self.kind,
                instrument_type_id=type_id,
                tag=self.tag,
                attributes=self.attrib,
                line=self.ordinal,
                children=tuple(self.stack[0][3]),
            )
        )


class ReferenceGroupBuilder(ItemBuilder):
    """``PinGroup`` > ``PinReference pin=`` or ``RelayGroup`` > ``RelayReference relay=``."""

    def __init__(self, context: ItemContext, tag: str, name: str | None, ordinal: int) -> None:
        """Start the group ``tag`` called ``name`` (None if it has no name: not recorded)."""
        super().__init__(context, tag)
        self.name = name
        self.ordinal = ordinal
        self.child_tag = "PinReference" if tag == "PinGroup" else "RelayReference"
        self.references: list[str] = []
        self.lines: list[int] = []

    def child(self, tag: str, attrib: Mapping[str, str], ordinal: int, depth: int) -> None:
        """Take a reference."""
        if depth != 4:
            return
        if local_name(tag) != (self.child_tag, True):
            self.context.unexpected(tag, self.tag, ordinal)
            return
        values = self.context.require(attrib, self.child_tag, ordinal)
        if values is not None:
            self.references.append(values[0])
            self.lines.append(ordinal)

    def finish(self) -> None:
        """Record the group."""
        if self.name is None:
            return
        references, lines = tuple(self.references), tuple(self.lines)
        if self.tag == "PinGroup":
            self.context.raw.pin_groups.append(PinGroup(self.name, references, self.ordinal, lines))
        else:
            self.context.raw.relay_groups.append(
                RelayGroup(self.name, references, self.ordinal, lines)
            )


class RelayConfigurationBuilder(ItemBuilder):
    """``RelayConfiguration`` > ``RelayPosition relay= position=Open|Closed``."""

    def __init__(self, context: ItemContext, name: str | None, ordinal: int) -> None:
        """Start the configuration ``name`` (None: not recorded)."""
        super().__init__(context, "RelayConfiguration")
        self.name = name
        self.ordinal = ordinal
        self.positions: list[RelayPosition] = []

    def child(self, tag: str, attrib: Mapping[str, str], ordinal: int, depth: int) -> None:
        """Take a position."""
        if depth != 4:
            return
        if local_name(tag) != ("RelayPosition", True):
            self.context.unexpected(tag, self.tag, ordinal)
            return
        values = self.context.require(attrib, "RelayPosition", ordinal)
        if values is None:
            return
        relay, position = values
        if position not in ("Open", "Closed"):
            self.context.problem(
                ordinal,
                f"RelayPosition of '{relay}' has position='{position}', expected 'Open' or "
                "'Closed'",
            )
            return
        self.positions.append(RelayPosition(relay, position, ordinal))

    def finish(self) -> None:
        """Record the configuration."""
        if self.name is not None:
            self.context.raw.relay_configurations.append(
                RelayConfiguration(self.name, tuple(self.positions), self.ordinal)
            )


class MultiplexedConnectionBuilder(ItemBuilder):
    """``MultiplexedConnection instrument channel`` > ``MultiplexedDUTPinRoute`` rows."""

    def __init__(self, context: ItemContext, values: list[str] | None) -> None:
        """Start the connection (``values`` = instrument, channel; None if they are missing)."""
        super().__init__(context, "MultiplexedConnection")
        self.values = values

    def child(self, tag: str, attrib: Mapping[str, str], ordinal: int, depth: int) -> None:
        """Take a route: one connection row."""
        if depth != 4:
            return
        if local_name(tag) != ("MultiplexedDUTPinRoute", True):
            self.context.unexpected(tag, self.tag, ordinal)
            return
        route = self.context.require(attrib, "MultiplexedDUTPinRoute", ordinal)
        if route is None or self.values is None:
            return
        pin, sites, multiplexer, route_name = route
        instrument, channel = self.values
        self.context.before_row()
        table = self.context.raw.connections
        row = table.append(ConnectionKind.MULTIPLEXED, pin, sites, instrument, channel, ordinal)
        table.routes[row] = (multiplexer, route_name)


def instrument_count(
    context: ItemContext,
    attrib: Mapping[str, str],
    kind: InstrumentKind,
    name: str,
    ordinal: int,
) -> int | None:
    """Parse the declared channel count of an instrument, or report it and return None."""
    attribute = COUNT_ATTRIBUTE.get(kind)
    if attribute is None:
        return None
    try:
        return parse_count(attrib.get(attribute, ""), attribute)
    except NumberSyntaxError as exc:
        context.problem(ordinal, f"{kind.value} '{name}': {exc}")
        return None
