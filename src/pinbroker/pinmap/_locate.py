"""Turn the element ordinals the reader records into line numbers (see :mod:`._lines`)."""

from __future__ import annotations

from collections.abc import Callable

from pinbroker.pinmap._lines import LineMap
from pinbroker.pinmap._model import (
    ChannelGroup,
    Element,
    Instrument,
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

__all__ = ["locate"]


def locate(raw: RawPinMap, line_map: LineMap) -> None:
    """Replace element ordinals by line numbers in declarations, problems and warnings."""
    ordinals: list[int] = []
    for instrument in raw.instruments:
        ordinals.append(instrument.line)
        ordinals.extend(group.line for group in instrument.channel_groups)
        ordinals.extend(_element_ordinals(instrument.children))
    ordinals.extend(mux.line for mux in raw.multiplexers)
    ordinals.extend(pin.line for pin in raw.pins)
    for pin_group in raw.pin_groups:
        ordinals.append(pin_group.line)
        ordinals.extend(pin_group.reference_lines)
    ordinals.extend(relay.line for relay in raw.relays)
    for relay_group in raw.relay_groups:
        ordinals.append(relay_group.line)
        ordinals.extend(relay_group.reference_lines)
    for configuration in raw.relay_configurations:
        ordinals.append(configuration.line)
        ordinals.extend(position.line for position in configuration.positions)
    ordinals.extend(site.line for site in raw.sites)
    ordinals.extend(ordinal for ordinal, _ in raw.problems if ordinal is not None)
    ordinals.extend(ordinal for ordinal, _ in raw.warnings if ordinal is not None)
    line = line_map.lookup(max(ordinals, default=0))
    raw.instruments = [
        Instrument(
            i.name,
            i.kind,
            i.instrument_type_id,
            i.tag,
            i.attributes,
            line(i.line),
            i.number_of_channels,
            i.group,
            tuple(
                ChannelGroup(g.name, g.channels, g.all_channels, line(g.line), g.implicit)
                for g in i.channel_groups
            ),
            i.channels,
            _relocate_elements(i.children, line) if i.children else (),
        )
        for i in raw.instruments
    ]
    raw.multiplexers = [
        Multiplexer(m.name, m.multiplexer_type_id, line(m.line)) for m in raw.multiplexers
    ]
    raw.pins = [Pin(p.name, p.is_system, line(p.line)) for p in raw.pins]
    raw.pin_groups = [
        PinGroup(g.name, g.references, line(g.line), tuple(map(line, g.reference_lines)))
        for g in raw.pin_groups
    ]
    raw.relays = [
        Relay(
            r.name,
            r.is_system,
            line(r.line),
            r.open_state_display_label,
            r.closed_state_display_label,
        )
        for r in raw.relays
    ]
    raw.relay_groups = [
        RelayGroup(g.name, g.references, line(g.line), tuple(map(line, g.reference_lines)))
        for g in raw.relay_groups
    ]
    raw.relay_configurations = [
        RelayConfiguration(
            c.name,
            tuple(RelayPosition(p.relay, p.position, line(p.line)) for p in c.positions),
            line(c.line),
        )
        for c in raw.relay_configurations
    ]
    raw.sites = [Site(site.number, line(site.line)) for site in raw.sites]
    raw.problems = [(None if o is None else line(o), m) for o, m in raw.problems]
    raw.warnings = [(None if o is None else line(o), m) for o, m in raw.warnings]


def _element_ordinals(elements: tuple[Element, ...]) -> list[int]:
    found: list[int] = []
    stack = list(elements)
    while stack:
        element = stack.pop()
        found.append(element.line)
        stack.extend(element.children)
    return found


def _relocate_elements(
    elements: tuple[Element, ...], line: Callable[[int], int]
) -> tuple[Element, ...]:
    return tuple(
        Element(
            element.tag,
            element.attributes,
            _relocate_elements(element.children, line),
            line(element.line),
        )
        for element in elements
    )
