"""Streaming, safe reader of NI ``.pinmap`` XML into a :class:`~._model.RawPinMap`.

lxml parses the document SAX-style into this module's parser target (no tree is built; no DTD
is loaded, no entity resolved, nothing fetched), fed in 64 KiB chunks. Elements are matched by
local name in the NI pin map namespace or in no namespace; section order does not matter;
``schemaVersion`` is recorded, but behaviour depends only on which elements are present.

Every element gets an ordinal (1 = the root, document order); records and problems carry
ordinals until the end of the read, when :class:`~._lines.LineMap` turns those of declarations,
problems and warnings into line numbers. Connection rows keep their ordinals; validation turns
the ones it reports into lines the same way.

Structural problems (missing required attributes, malformed numbers, elements in the wrong
section) are collected in ``RawPinMap.problems``; cross-references are checked later by
:mod:`pinbroker.pinmap._validate`. Malformed XML, a DTD and exceeded limits raise at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, cast

from lxml import etree

from pinbroker.errors import PinMapParseError, PinMapTooLargeError
from pinbroker.pinmap._items import (
    CustomInstrumentBuilder,
    DCPowerBuilder,
    ItemBuilder,
    ItemContext,
    LeafBuilder,
    MultiplexedConnectionBuilder,
    ReferenceGroupBuilder,
    RelayConfigurationBuilder,
    TreeBuilder,
    instrument_count,
)
from pinbroker.pinmap._limits import ParseLimits
from pinbroker.pinmap._lines import LineMap
from pinbroker.pinmap._locate import locate
from pinbroker.pinmap._model import (
    BUILTIN_TYPE_IDS,
    ConnectionKind,
    Instrument,
    InstrumentKind,
    Multiplexer,
    Pin,
    RawPinMap,
    Relay,
    Site,
)
from pinbroker.pinmap._numbers import decimal_or_none
from pinbroker.pinmap._prolog import namespace_patch
from pinbroker.pinmap._rows import ConnectionBatch, Handler
from pinbroker.pinmap._vocabulary import (
    INSTRUMENT_ELEMENTS,
    KIND_OF_TAG,
    PINMAP_NAMESPACE,
    SECTION_NAMES,
    SECTION_OF,
    SECTIONS,
    local_name,
)

__all__ = ["PINMAP_NAMESPACE", "parse_pinmap"]

_CHUNK = 64 * 1024
_SCHEMA_VERSION = re.compile(r"[0-9]{1,4}\.[0-9]{1,4}")
# What to do with an element that has no handler in its section.
_INSTRUMENT, _PROBLEM, _WARNING = 0, 1, 2
_PIN = int(ConnectionKind.PIN)
_SYSTEM_PIN = int(ConnectionKind.SYSTEM_PIN)
_RELAY = int(ConnectionKind.RELAY)
_SYSTEM_RELAY = int(ConnectionKind.SYSTEM_RELAY)
_ITEMS_OF = {
    section: tuple(item for item, home in SECTION_OF.items() if home == section)
    for section in SECTIONS
}
"""Section -> the item elements it holds (what a misspelled item is compared with)."""
_LEAF_INSTRUMENTS = frozenset(
    {
        InstrumentKind.DIGITAL_PATTERN,
        InstrumentKind.SCOPE,
        InstrumentKind.DMM,
        InstrumentKind.FGEN,
        InstrumentKind.DAQMX,
        InstrumentKind.RELAY_DRIVER,
        InstrumentKind.RFPM,
    }
)


def parse_pinmap(data: bytes, limits: ParseLimits, source: str | None) -> RawPinMap:
    """Read pin map XML (already checked by ``prepare_input``) into raw records.

    Args:
        data: The document as bytes.
        limits: Depth and element-count limits to enforce while reading.
        source: Where the XML came from, for error messages.

    Returns:
        The records, with structural problems and warnings collected (not raised) and located
        by line; ``line_map`` is set for later use by validation.

    Raises:
        PinMapParseError: The XML is malformed, has a DTD, or its root is not ``PinMap``.
        PinMapTooLargeError: A depth or element-count limit is exceeded.
    """
    reader = _Reader(limits, source, data)
    reader.read(data)
    return reader.finish()


class _Reader(ItemContext):
    """The lxml parser target: receives start and end events of one document."""

    def __init__(self, limits: ParseLimits, source: str | None, data: bytes) -> None:
        super().__init__()
        self._source = source
        self._data = data
        self._line_map = LineMap(data)
        self._max_depth = limits.max_depth
        self._max_elements = limits.max_elements
        self._section: str | None = None
        self._verdicts: dict[tuple[str, str], tuple[int, str, str]] = {}
        self._leaves = {tag: LeafBuilder(self, tag) for tag in SECTION_OF}
        self._batch = ConnectionBatch(self, self._row)
        self.before_row = self._batch.flush
        self._connection = self._batch.handler()
        self._by_section = self._section_handlers()
        self.start, self.end, self._seen = self._callbacks()

    def _section_handlers(self) -> dict[str, dict[str, Handler]]:
        local: dict[str, Handler] = {
            **{tag: self._instrument_of(tag) for tag in KIND_OF_TAG},
            "Multiplexer": self._multiplexer,
            "DUTPin": self._pin,
            "SystemPin": self._system_pin,
            "PinGroup": self._pin_group,
            "SiteRelay": self._site_relay,
            "SystemRelay": self._system_relay,
            "RelayGroup": self._relay_group,
            "RelayConfiguration": self._relay_configuration,
            "Site": self._site,
            "Connection": self._connection,
            "SystemConnection": self._system_connection,
            "MultiplexedConnection": self._multiplexed_connection,
            "RelayConnection": self._relay_connection,
            "SystemRelayConnection": self._system_relay_connection,
        }
        by_section: dict[str, dict[str, Handler]] = {section: {} for section in SECTIONS}
        for name, handler in local.items():
            handlers = by_section[SECTION_OF[name]]
            handlers[name] = handler
            handlers[f"{{{PINMAP_NAMESPACE}}}{name}"] = handler
        return by_section

    # -- driving lxml ---------------------------------------------------------------------------

    def read(self, data: bytes) -> None:
        parser = etree.XMLParser(
            target=cast(Any, self),
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        patch = namespace_patch(data)
        start, end, replacement = patch if patch is not None else (0, 0, b"")
        try:
            if start:
                parser.feed(data[:start])
                parser.feed(replacement)
            for offset in range(end, len(data), _CHUNK):
                parser.feed(data[offset : offset + _CHUNK])
            parser.close()
        except etree.XMLSyntaxError as exc:
            line, message = _syntax_problem(exc, parser.error_log)
            raise PinMapParseError(
                f"malformed XML: {message}", line=line, source=self._source
            ) from None

    def _callbacks(
        self,
    ) -> tuple[Callable[[str, Mapping[str, str]], None], Callable[[str], None], Callable[[], int]]:
        """Build lxml's ``start`` and ``end`` callbacks, and a counter of elements seen.

        They are closures over local state rather than methods: this is the per-element hot
        path, and cell variables are cheaper than instance attributes.
        """
        max_depth = self._max_depth
        max_elements = self._max_elements
        by_section = self._by_section
        count = 0
        depth = 0
        handlers: dict[str, Handler] = {}
        builder: ItemBuilder | None = None
        item = ""

        def start(tag: str, attrib: Mapping[str, str]) -> None:
            nonlocal count, depth, handlers, builder, item
            count += 1
            depth += 1
            if count > max_elements or depth > max_depth:
                raise self._limit_exceeded(count, depth)
            if depth == 3:
                item = tag
                handler = handlers.get(tag)
                if handler is not None:
                    builder = handler(attrib, count)
                else:
                    builder = self._misplaced(tag, attrib, count)
            elif depth > 3:
                if builder is not None:
                    builder.child(tag, attrib, count, depth)
                elif depth == 4 and self._section is not None:
                    # a child of an item whose handler needs no builder (Connection)
                    self.unexpected(tag, local_name(item)[0], count)
            elif depth == 2:
                section = self._start_section(tag, count)
                handlers = by_section[section] if section is not None else {}
            else:
                self._root(tag, attrib, count)

        def end(tag: str) -> None:
            nonlocal depth, handlers, builder
            if depth == 3:
                if builder is not None:
                    builder.finish()
                    builder = None
            elif depth > 3:
                if builder is not None:
                    builder.end(depth)
            elif depth == 2:
                self._section = None
                handlers = {}
            depth -= 1

        def seen() -> int:
            return count

        return start, end, seen

    def _limit_exceeded(self, count: int, depth: int) -> PinMapTooLargeError:
        if count > self._max_elements:
            message = f"more than max_elements={self._max_elements} elements"
        else:
            message = f"elements nested deeper than max_depth={self._max_depth}"
        return self._too_large(count, message)

    def doctype(self, *args: object) -> None:
        """lxml: a DOCTYPE (the prolog scan refuses it first; this is a second line)."""
        offset = self._data.find(b"<!DOCTYPE")
        line = self._data.count(b"\n", 0, offset) + 1 if offset >= 0 else None
        raise PinMapParseError("DTDs are not allowed in pin maps", line=line, source=self._source)

    def close(self) -> None:
        """lxml: the document ended."""
        self._batch.flush()

    def finish(self) -> RawPinMap:
        """Turn ordinals of declarations, problems and warnings into lines."""
        raw = self.raw
        if self._seen() == 0:
            raise PinMapParseError("pin map has no root element", source=self._source)
        raw.line_map = self._line_map
        locate(raw, self._line_map)
        if self.dropped_warnings:
            raw.warnings.append(
                (None, f"{self.dropped_warnings} more warnings like these are not listed")
            )
        return raw

    def _too_large(self, ordinal: int, message: str) -> PinMapTooLargeError:
        where = f"{self._source}: " if self._source else ""
        line = self._line_map.line(ordinal)
        return PinMapTooLargeError(f"{where}pin map line {line}: {message}")

    # -- root and sections ----------------------------------------------------------------------

    def _root(self, tag: str, attrib: Mapping[str, str], ordinal: int) -> None:
        name, known_namespace = local_name(tag)
        if name != "PinMap" or not known_namespace:
            raise PinMapParseError(
                f"root element is <{name}>, expected <PinMap> in namespace {PINMAP_NAMESPACE}",
                line=self._line_map.line(ordinal),
                source=self._source,
            )
        version = attrib.get("schemaVersion")
        if version is None:
            self.problem(ordinal, "PinMap is missing attribute 'schemaVersion'")
        elif _SCHEMA_VERSION.fullmatch(version.strip()) is None:
            self.problem(ordinal, f"PinMap has a malformed schemaVersion='{version}'")
        else:
            self.raw.schema_version = version.strip()
            if not self.raw.schema_version.startswith("1."):
                self.warning(
                    ordinal, f"schemaVersion {version} is not 1.x; reading it like the 1.x format"
                )

    def _start_section(self, tag: str, ordinal: int) -> str | None:
        name, known_namespace = local_name(tag)
        if known_namespace and name in SECTIONS:
            self._section = name
        else:
            self._section = None
            message = f"unknown element <{name}> in PinMap ignored"
            self.unknown(ordinal, name, SECTION_NAMES, message)
        return self._section

    def _misplaced(self, tag: str, attrib: Mapping[str, str], ordinal: int) -> ItemBuilder | None:
        section = self._section
        if section is None:
            return None  # inside an unknown section, already warned about
        verdict = self._verdicts.get((section, tag))
        if verdict is None:
            verdict = self._verdict(section, tag)
            self._verdicts[(section, tag)] = verdict
        action, text, name = verdict
        if action == _INSTRUMENT:
            message = f"unknown instrument element <{name}> loaded as instrument type '{name}'"
            self.unknown(ordinal, name, INSTRUMENT_ELEMENTS, message, only_if_misspelled=True)
            return self._other_instrument(name, attrib, ordinal)
        if action == _PROBLEM:
            self.problem(ordinal, text)
        else:
            self.unknown(ordinal, name, _ITEMS_OF[section], text)
        return None

    @staticmethod
    def _verdict(section: str, tag: str) -> tuple[int, str, str]:
        """Decide what an element without a handler in ``section`` is: (action, text, name)."""
        name, known_namespace = local_name(tag)
        if section == "Instruments" and (name not in SECTION_OF or not known_namespace):
            return _INSTRUMENT, "", name
        if name in SECTION_OF and known_namespace:
            return _PROBLEM, f"<{name}> belongs in <{SECTION_OF[name]}>, not in <{section}>", name
        return _WARNING, f"unknown element <{name}> in <{section}> ignored", name

    # -- instruments ----------------------------------------------------------------------------

    def _instrument_of(self, tag: str) -> Handler:
        """Return the handler of instrument element ``tag`` (the tag decides the kind)."""
        kind = KIND_OF_TAG[tag]

        def handle(attrib: Mapping[str, str], ordinal: int) -> ItemBuilder | None:
            values = self.require(attrib, tag, ordinal)
            if values is None:
                return self._leaves[tag]
            if kind is InstrumentKind.DCPOWER:
                return DCPowerBuilder(self, attrib, ordinal, values)
            if kind is InstrumentKind.CUSTOM:
                return CustomInstrumentBuilder(self, attrib, ordinal, values)
            if kind is InstrumentKind.MODEL_BASED:
                return TreeBuilder(self, tag, kind, attrib, ordinal, values[0])
            group = attrib.get("group") if kind in _GROUPED else None
            self.raw.instruments.append(
                Instrument(
                    name=values[0],
                    kind=kind,
                    instrument_type_id=BUILTIN_TYPE_IDS[kind],
                    tag=tag,
                    attributes=self.attributes(attrib),
                    line=ordinal,
                    number_of_channels=instrument_count(self, attrib, kind, values[0], ordinal),
                    group=None if group is None else self.intern(group, group),
                )
            )
            return self._leaves[tag]

        return handle

    def _other_instrument(
        self, tag: str, attrib: Mapping[str, str], ordinal: int
    ) -> ItemBuilder | None:
        name = attrib.get("name")
        if not name:
            self.problem(ordinal, f"{tag} is missing attribute 'name'")
            return None
        return TreeBuilder(
            self, tag, InstrumentKind.OTHER, attrib, ordinal, self.intern(name, name)
        )

    def _multiplexer(self, attrib: Mapping[str, str], ordinal: int) -> ItemBuilder:
        values = self.require(attrib, "Multiplexer", ordinal)
        if values is not None:
            self.raw.multiplexers.append(Multiplexer(values[0], values[1], ordinal))
        return self._leaves["Multiplexer"]

    # -- pins, relays, groups, sites ------------------------------------------------------------

    def _pin(self, attrib: Mapping[str, str], ordinal: int) -> ItemBuilder:
        values = self.require(attrib, "DUTPin", ordinal)
        if values is not None:
            self.raw.pins.append(Pin(values[0], False, ordinal))
        return self._leaves["DUTPin"]

    def _system_pin(self, attrib: Mapping[str, str], ordinal: int) -> ItemBuilder:
        values = self.require(attrib, "SystemPin", ordinal)
        if values is not None:
            self.raw.pins.append(Pin(values[0], True, ordinal))
        return self._leaves["SystemPin"]

    def _relay(self, tag: str, attrib: Mapping[str, str], ordinal: int) -> ItemBuilder:
        values = self.require(attrib, tag, ordinal)
        if values is not None:
            self.raw.relays.append(
                Relay(
                    values[0],
                    tag == "SystemRelay",
                    ordinal,
                    attrib.get("openStateDisplayLabel", ""),
                    attrib.get("closedStateDisplayLabel", ""),
                )
            )
        return self._leaves[tag]

    def _site_relay(self, attrib: Mapping[str, str], ordinal: int) -> ItemBuilder:
        return self._relay("SiteRelay", attrib, ordinal)

    def _system_relay(self, attrib: Mapping[str, str], ordinal: int) -> ItemBuilder:
        return self._relay("SystemRelay", attrib, ordinal)

    def _pin_group(self, attrib: Mapping[str, str], ordinal: int) -> ItemBuilder:
        values = self.require(attrib, "PinGroup", ordinal)
        return ReferenceGroupBuilder(self, "PinGroup", values[0] if values else None, ordinal)

    def _relay_group(self, attrib: Mapping[str, str], ordinal: int) -> ItemBuilder:
        values = self.require(attrib, "RelayGroup", ordinal)
        return ReferenceGroupBuilder(self, "RelayGroup", values[0] if values else None, ordinal)

    def _relay_configuration(self, attrib: Mapping[str, str], ordinal: int) -> ItemBuilder:
        values = self.require(attrib, "RelayConfiguration", ordinal)
        return RelayConfigurationBuilder(self, values[0] if values else None, ordinal)

    def _site(self, attrib: Mapping[str, str], ordinal: int) -> ItemBuilder:
        values = self.require(attrib, "Site", ordinal)
        if values is not None:
            number = decimal_or_none(values[0].strip())
            if number is None:
                self.problem(
                    ordinal, f"Site has siteNumber='{values[0]}', which is not a site number"
                )
            else:
                self.raw.sites.append(Site(number, ordinal))
        return self._leaves["Site"]

    # -- connections (the hot path: keep these lean) --------------------------------------------

    def _row(self, tag: str, kind: int, attrib: Mapping[str, str], ordinal: int) -> None:
        self._batch.flush()
        values = self.require(attrib, tag, ordinal)
        if values is None:
            return
        if kind in (_SYSTEM_PIN, _SYSTEM_RELAY):
            values.insert(1, "")
        elif not values[1].strip():
            self.problem(ordinal, f"{tag} has an empty siteNumber")
            return
        name, sites, target, channel = values
        self.raw.connections.append(ConnectionKind(kind), name, sites, target, channel, ordinal)

    def _system_connection(self, attrib: Mapping[str, str], ordinal: int) -> ItemBuilder:
        self._row("SystemConnection", _SYSTEM_PIN, attrib, ordinal)
        return self._leaves["SystemConnection"]

    def _relay_connection(self, attrib: Mapping[str, str], ordinal: int) -> ItemBuilder:
        self._row("RelayConnection", _RELAY, attrib, ordinal)
        return self._leaves["RelayConnection"]

    def _system_relay_connection(self, attrib: Mapping[str, str], ordinal: int) -> ItemBuilder:
        self._row("SystemRelayConnection", _SYSTEM_RELAY, attrib, ordinal)
        return self._leaves["SystemRelayConnection"]

    def _multiplexed_connection(self, attrib: Mapping[str, str], ordinal: int) -> ItemBuilder:
        values = self.require(attrib, "MultiplexedConnection", ordinal)
        return MultiplexedConnectionBuilder(self, values)


_GROUPED = frozenset({InstrumentKind.DIGITAL_PATTERN, InstrumentKind.SCOPE})


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
