"""Cross-reference and consistency checks of a parsed pin map.

:func:`validate` checks a :class:`~._model.RawPinMap` and appends every problem it finds to
``raw.problems`` (and notes to ``raw.warnings``); it never stops at the first. It returns the
symbol tables it built, which indexing reuses. The rules (see ``docs/pinmap-engine.md``):

* names: pins, pin groups, relays and relay groups share one name space; instruments,
  multiplexers, relay driver modules and DAQmx tasks share another; site numbers are unique;
* references resolve to the right kind of thing: ``Connection`` and ``MultiplexedDUTPinRoute``
  to a DUT pin, ``SystemConnection`` to a system pin, ``RelayConnection`` to a site relay,
  ``SystemRelayConnection`` to a system relay, ``PinReference`` to a pin or pin group,
  ``RelayReference`` to a relay or relay group, ``RelayPosition`` to a relay or relay group,
  ``instrument`` to an instrument (not a multiplexer), ``multiplexer`` to a ``Multiplexer``,
  ``relayDriverModule`` to an ``NIRelayDriverModule`` (or a DAQmx task with
  ``useAsRelayDriver="true"``), every site of every ``siteNumber`` list to a ``Site``;
* channels: below ``numberOfChannels`` where declared, inside exactly one DCPower channel group,
  a declared ``Channel`` id for custom instruments; relay control lines ``K<n>`` below
  ``numberOfControlLines``;
* pin and relay groups do not contain themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pinbroker.pinmap._model import Instrument, InstrumentKind, Multiplexer, RawPinMap
from pinbroker.pinmap._symbols import PIN_KINDS, RELAY_KINDS, NameKind, Symbols
from pinbroker.pinmap._validate_rows import check_connections

__all__ = ["NameKind", "Symbols", "validate"]


def validate(raw: RawPinMap) -> Symbols:
    """Check ``raw``; append problems to ``raw.problems`` and return the symbol tables.

    Args:
        raw: The parsed pin map.

    Returns:
        The symbol tables (complete only if no problem was added).
    """
    symbols = Symbols()
    problems = raw.problems
    _declare_names(raw, symbols, problems)
    _declare_instruments(raw, symbols, problems)
    _declare_sites(raw, symbols, problems)
    _check_groups(raw, symbols, problems)
    _check_relay_configurations(raw, symbols, problems)
    check_connections(raw, symbols, problems)
    return symbols


def _declare_names(
    raw: RawPinMap, symbols: Symbols, problems: list[tuple[int | None, str]]
) -> None:
    lines: dict[str, int] = {}
    entries: list[tuple[str, NameKind, int]] = []
    entries.extend(
        (pin.name, NameKind.SYSTEM_PIN if pin.is_system else NameKind.DUT_PIN, pin.line)
        for pin in raw.pins
    )
    entries.extend((group.name, NameKind.PIN_GROUP, group.line) for group in raw.pin_groups)
    entries.extend(
        (relay.name, NameKind.SYSTEM_RELAY if relay.is_system else NameKind.SITE_RELAY, relay.line)
        for relay in raw.relays
    )
    entries.extend((group.name, NameKind.RELAY_GROUP, group.line) for group in raw.relay_groups)
    for name, kind, line in entries:
        previous = symbols.names.get(name)
        if previous is not None:
            problems.append(
                (
                    line,
                    f"duplicate name '{name}': already declared as a {previous.value} "
                    f"on line {lines[name]}",
                )
            )
            continue
        symbols.names[name] = kind
        lines[name] = line


def _declare_instruments(
    raw: RawPinMap, symbols: Symbols, problems: list[tuple[int | None, str]]
) -> None:
    lines: dict[str, int] = {}
    declared: list[tuple[str, int, Instrument | Multiplexer]] = [
        (instrument.name, instrument.line, instrument) for instrument in raw.instruments
    ]
    declared.extend((mux.name, mux.line, mux) for mux in raw.multiplexers)
    declared.sort(key=lambda entry: entry[1])
    for name, line, item in declared:
        if name in lines:
            problems.append(
                (
                    line,
                    f"duplicate instrument name '{name}': already declared on line {lines[name]}",
                )
            )
            continue
        lines[name] = line
        if isinstance(item, Multiplexer):
            symbols.multiplexers[name] = item
        else:
            symbols.instruments[name] = item
            if item.kind is InstrumentKind.DCPOWER:
                symbols.dcpower_groups[name] = _dcpower_channels(item, problems)
            elif item.kind is InstrumentKind.CUSTOM:
                _check_custom_channels(item, problems)


def _dcpower_channels(
    instrument: Instrument, problems: list[tuple[int | None, str]]
) -> dict[int, str]:
    """Map channel -> group name for one DCPower instrument; report overlaps."""
    by_channel: dict[int, str] = {}
    group_lines: dict[str, int] = {}
    everything: str | None = None
    for group in instrument.channel_groups:
        if group.name in group_lines:
            problems.append(
                (
                    group.line,
                    f"duplicate ChannelGroup '{group.name}' in '{instrument.name}' "
                    f"(also on line {group_lines[group.name]})",
                )
            )
            continue
        group_lines[group.name] = group.line
        if group.all_channels:
            others = [name for name in group_lines if name != group.name]
            if everything is not None or others:
                other = everything if everything is not None else others[0]
                problems.append(
                    (
                        group.line,
                        f"ChannelGroup '{group.name}' of '{instrument.name}' has no channels "
                        f"attribute, so it takes every channel, which overlaps ChannelGroup "
                        f"'{other}'",
                    )
                )
                continue
            everything = group.name
            by_channel[-1] = group.name
            continue
        if everything is not None:
            problems.append(
                (
                    group.line,
                    f"ChannelGroup '{group.name}' of '{instrument.name}' overlaps ChannelGroup "
                    f"'{everything}', which takes every channel",
                )
            )
            continue
        for text in group.channels:
            channel = int(text)
            owner = by_channel.get(channel)
            if owner is not None:
                problems.append(
                    (
                        group.line,
                        f"channel {channel} of '{instrument.name}' is in ChannelGroup '{owner}' "
                        f"and ChannelGroup '{group.name}'",
                    )
                )
            else:
                by_channel[channel] = group.name
    return by_channel


def _check_custom_channels(instrument: Instrument, problems: list[tuple[int | None, str]]) -> None:
    seen: set[str] = set()
    for channel in instrument.channels:
        if channel in seen:
            problems.append(
                (
                    instrument.line,
                    f"Instrument '{instrument.name}' declares Channel '{channel}' twice",
                )
            )
        seen.add(channel)
    groups: set[str] = set()
    for group in instrument.channel_groups:
        if group.name in groups:
            problems.append(
                (
                    group.line,
                    f"Instrument '{instrument.name}' declares ChannelGroup '{group.name}' twice",
                )
            )
        groups.add(group.name)


def _declare_sites(
    raw: RawPinMap, symbols: Symbols, problems: list[tuple[int | None, str]]
) -> None:
    lines: dict[int, int] = {}
    for site in raw.sites:
        if site.number in lines:
            problems.append(
                (
                    site.line,
                    f"duplicate site {site.number}: already declared on line {lines[site.number]}",
                )
            )
            continue
        lines[site.number] = site.line
        symbols.sites.append(site.number)


def _check_groups(raw: RawPinMap, symbols: Symbols, problems: list[tuple[int | None, str]]) -> None:
    names = symbols.names
    pin_members: dict[str, Sequence[str]] = {}
    for group in raw.pin_groups:
        pin_members[group.name] = group.references
        lines = group.reference_lines or (group.line,) * len(group.references)
        for reference, line in zip(group.references, lines, strict=True):
            kind = names.get(reference)
            if kind is None:
                problems.append(
                    (line, f"PinReference refers to unknown pin or pin group '{reference}'")
                )
            elif kind not in PIN_KINDS and kind is not NameKind.PIN_GROUP:
                problems.append(
                    (
                        line,
                        f"PinReference refers to '{reference}', which is a {kind.value}, not a pin",
                    )
                )
    relay_members: dict[str, Sequence[str]] = {}
    for relay_group in raw.relay_groups:
        relay_members[relay_group.name] = relay_group.references
        lines = relay_group.reference_lines or (relay_group.line,) * len(relay_group.references)
        for reference, line in zip(relay_group.references, lines, strict=True):
            kind = names.get(reference)
            if kind is None:
                problems.append(
                    (line, f"RelayReference refers to unknown relay or relay group '{reference}'")
                )
            elif kind not in RELAY_KINDS and kind is not NameKind.RELAY_GROUP:
                problems.append(
                    (
                        line,
                        f"RelayReference refers to '{reference}', which is a {kind.value}, "
                        "not a relay",
                    )
                )
    group_lines = {group.name: group.line for group in raw.pin_groups}
    group_lines.update((group.name, group.line) for group in raw.relay_groups)
    for label, members in (("PinGroup", pin_members), ("RelayGroup", relay_members)):
        for cycle in _find_cycles(members):
            path = " -> ".join((*cycle, cycle[0]))
            problems.append(
                (group_lines.get(cycle[0]), f"{label} '{cycle[0]}' contains itself ({path})")
            )


def _find_cycles(members: Mapping[str, Sequence[str]]) -> list[tuple[str, ...]]:
    """Return one cycle per strongly connected loop of groups (iterative DFS, linear time)."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(members, white)
    cycles: list[tuple[str, ...]] = []
    for start in members:
        if color[start] != white:
            continue
        path: list[str] = [start]
        iterators = [iter(members[start])]
        color[start] = grey
        while iterators:
            child = next(iterators[-1], None)
            if child is None:
                color[path.pop()] = black
                iterators.pop()
                continue
            state = color.get(child)
            if state is None or state == black:
                continue  # a pin, or a group already explored
            if state == grey:
                cycles.append(tuple(path[path.index(child) :]))
                continue
            color[child] = grey
            path.append(child)
            iterators.append(iter(members[child]))
    return cycles


def _check_relay_configurations(
    raw: RawPinMap, symbols: Symbols, problems: list[tuple[int | None, str]]
) -> None:
    seen: dict[str, int] = {}
    for configuration in raw.relay_configurations:
        if configuration.name in seen:
            problems.append(
                (
                    configuration.line,
                    f"duplicate RelayConfiguration '{configuration.name}' "
                    f"(also on line {seen[configuration.name]})",
                )
            )
        seen.setdefault(configuration.name, configuration.line)
        for position in configuration.positions:
            kind = symbols.names.get(position.relay)
            if kind is None:
                problems.append(
                    (position.line, f"RelayPosition refers to unknown relay '{position.relay}'")
                )
            elif kind not in RELAY_KINDS and kind is not NameKind.RELAY_GROUP:
                problems.append(
                    (
                        position.line,
                        f"RelayPosition refers to '{position.relay}', which is a {kind.value}, "
                        "not a relay",
                    )
                )
