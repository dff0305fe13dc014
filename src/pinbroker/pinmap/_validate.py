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

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pinbroker.pinmap._model import (
    ConnectionKind,
    ConnectionTable,
    Instrument,
    InstrumentKind,
    Multiplexer,
    RawPinMap,
)
from pinbroker.pinmap._numbers import NumberSyntaxError, decimal_or_none, parse_site_list

__all__ = ["NameKind", "Symbols", "validate"]

_CONTROL_LINE = re.compile(r"[Kk]([0-9]{1,9})")
_COUNTED_KINDS = frozenset(
    {
        InstrumentKind.DCPOWER,
        InstrumentKind.DIGITAL_PATTERN,
        InstrumentKind.SCOPE,
        InstrumentKind.FGEN,
    }
)
_ROW_TAG = {
    ConnectionKind.PIN: "Connection",
    ConnectionKind.SYSTEM_PIN: "SystemConnection",
    ConnectionKind.MULTIPLEXED: "MultiplexedDUTPinRoute",
    ConnectionKind.RELAY: "RelayConnection",
    ConnectionKind.SYSTEM_RELAY: "SystemRelayConnection",
}


class NameKind(enum.Enum):
    """What a name in the pin/relay name space denotes."""

    DUT_PIN = "DUT pin"
    SYSTEM_PIN = "system pin"
    PIN_GROUP = "pin group"
    SITE_RELAY = "site relay"
    SYSTEM_RELAY = "system relay"
    RELAY_GROUP = "relay group"


_PIN_KINDS = frozenset({NameKind.DUT_PIN, NameKind.SYSTEM_PIN})
_RELAY_KINDS = frozenset({NameKind.SITE_RELAY, NameKind.SYSTEM_RELAY})
# What each connection kind's pin_or_relay must be: (kind, noun when unknown, noun when of the
# wrong kind, hint when it is the sibling kind).
_EXPECTED_NAME = {
    ConnectionKind.PIN: (
        NameKind.DUT_PIN,
        "pin",
        "DUT pin",
        {NameKind.SYSTEM_PIN: "SystemConnection"},
    ),
    ConnectionKind.MULTIPLEXED: (NameKind.DUT_PIN, "pin", "DUT pin", {}),
    ConnectionKind.SYSTEM_PIN: (
        NameKind.SYSTEM_PIN,
        "system pin",
        "system pin",
        {NameKind.DUT_PIN: "Connection"},
    ),
    ConnectionKind.RELAY: (
        NameKind.SITE_RELAY,
        "relay",
        "site relay",
        {NameKind.SYSTEM_RELAY: "SystemRelayConnection"},
    ),
    ConnectionKind.SYSTEM_RELAY: (
        NameKind.SYSTEM_RELAY,
        "system relay",
        "system relay",
        {NameKind.SITE_RELAY: "RelayConnection"},
    ),
}


# Per connection kind code: (expected name kind, unknown noun, wrong-kind noun, hints, tag,
# is system, is relay).
_RULES = tuple(
    (*_EXPECTED_NAME[kind], _ROW_TAG[kind], kind.is_system, kind.is_relay)
    for kind in ConnectionKind
)


@dataclass(slots=True)
class Symbols:
    """Name tables built while validating, reused by indexing.

    Attributes:
        names: Pin, pin group, relay and relay group names -> what they are.
        instruments: Instrument name -> instrument (multiplexers excluded).
        multiplexers: Multiplexer name -> multiplexer.
        sites: Site numbers in declaration order (duplicates removed).
        site_lists: Each distinct ``siteNumber`` text of the connections -> its sites.
        channel_pairs: Each distinct (instrument, channel) pair of the connections.
        dcpower_groups: DCPower instrument name -> channel number -> channel group name; the
            key ``-1`` holds the group that covers all channels, if any.
    """

    names: dict[str, NameKind] = field(default_factory=dict)
    instruments: dict[str, Instrument] = field(default_factory=dict)
    multiplexers: dict[str, Multiplexer] = field(default_factory=dict)
    sites: list[int] = field(default_factory=list)
    site_lists: dict[str, tuple[int, ...]] = field(default_factory=dict)
    channel_pairs: set[tuple[str, str]] = field(default_factory=set)
    dcpower_groups: dict[str, dict[int, str]] = field(default_factory=dict)


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
    _check_connections(raw, symbols, problems)
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
            elif kind not in _PIN_KINDS and kind is not NameKind.PIN_GROUP:
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
            elif kind not in _RELAY_KINDS and kind is not NameKind.RELAY_GROUP:
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
            elif kind not in _RELAY_KINDS and kind is not NameKind.RELAY_GROUP:
                problems.append(
                    (
                        position.line,
                        f"RelayPosition refers to '{position.relay}', which is a {kind.value}, "
                        "not a relay",
                    )
                )


def _check_connections(
    raw: RawPinMap, symbols: Symbols, problems: list[tuple[int | None, str]]
) -> None:
    """Check every connection row.

    Checks run once per distinct value (C-level ``set(zip(...))`` over the columns), so a pin
    map with half a million rows but a few thousand distinct names costs little; rows are only
    walked, to attach line numbers, when some value is bad.
    """
    table = raw.connections
    names = symbols.names
    bad_names: dict[tuple[int, str], str] = {}
    for kind_code, name in set(zip(table.kinds, table.names, strict=True)):
        expected, noun, kind_noun, hints, tag, _, _ = _RULES[kind_code]
        actual = names.get(name)
        if actual is not expected:
            bad_names[(kind_code, name)] = _name_problem(tag, noun, kind_noun, name, actual, hints)

    defined = frozenset(symbols.sites)
    site_lists = symbols.site_lists
    bad_sites: dict[str, str] = {}
    for text in set(table.site_texts):
        sites, message = _site_list(text, defined)
        site_lists[text] = sites
        if message is not None:
            bad_sites[text] = message

    pairs = set(zip(table.targets, table.channels, strict=True))
    symbols.channel_pairs = pairs
    bad_channels: dict[tuple[str, bool, str], str] = {}
    valid = {name: _valid_channels(instrument) for name, instrument in symbols.instruments.items()}
    for target, channel in pairs:
        allowed = valid.get(target, _MISSING)
        if allowed is None or (allowed is not _MISSING and channel in allowed):
            continue
        message = _target_channel_problem(target, channel, False, symbols)
        if message is not None:
            bad_channels[(target, False, channel)] = message
    relay_rows = [match.start() for match in _RELAY_CODES.finditer(table.kinds)]
    for target, channel in {(table.targets[row], table.channels[row]) for row in relay_rows}:
        message = _target_channel_problem(target, channel, True, symbols)
        if message is not None:
            bad_channels[(target, True, channel)] = message

    bad_routes = {
        row: _multiplexer_problem(multiplexer, symbols)
        for row, (multiplexer, _) in table.routes.items()
        if multiplexer not in symbols.multiplexers
    }
    if bad_names or bad_sites or bad_channels or bad_routes:
        _report_rows(table, bad_names, bad_sites, bad_channels, bad_routes, problems)


def _report_rows(
    table: ConnectionTable,
    bad_names: dict[tuple[int, str], str],
    bad_sites: dict[str, str],
    bad_channels: dict[tuple[str, bool, str], str],
    bad_routes: dict[int, str],
    problems: list[tuple[int | None, str]],
) -> None:
    """Attach the line of every row that carries a bad value."""
    for row, (kind_code, name, site_text, target, channel, line) in enumerate(
        zip(
            table.kinds,
            table.names,
            table.site_texts,
            table.targets,
            table.channels,
            table.lines,
            strict=True,
        )
    ):
        _, _, _, _, tag, system, relay = _RULES[kind_code]
        message = bad_names.get((kind_code, name))
        if message is not None:
            problems.append((line, message))
        if not system:
            message = bad_sites.get(site_text)
            if message is not None:
                problems.append((line, f"{tag} {message}"))
        message = bad_channels.get((target, relay, channel))
        if message is not None:
            problems.append((line, message.replace("{tag}", tag, 1)))
        message = bad_routes.get(row)
        if message is not None:
            problems.append((line, message))


_MISSING: frozenset[str] = frozenset()
_RELAY_CODES = re.compile(b"[" + bytes([ConnectionKind.RELAY, ConnectionKind.SYSTEM_RELAY]) + b"]")
_NUMBERED: dict[int, frozenset[str]] = {}


def _numbered(count: int) -> frozenset[str]:
    """The channel strings ``"0"`` .. ``str(count - 1)`` (shared between instruments)."""
    channels = _NUMBERED.get(count)
    if channels is None:
        channels = _NUMBERED[count] = frozenset(str(number) for number in range(count))
    return channels


def _valid_channels(instrument: Instrument) -> frozenset[str] | None:
    """Channel strings a connection may use as written, or None when any channel is accepted.

    A channel outside the set is not necessarily wrong (`` 3`` is channel 3): it gets the full
    check, which produces the message.
    """
    kind = instrument.kind
    count = instrument.number_of_channels
    if kind is InstrumentKind.CUSTOM:
        return frozenset(instrument.channels)
    if kind not in _COUNTED_KINDS or count is None:
        return None
    if kind is InstrumentKind.DCPOWER:
        groups = instrument.channel_groups
        if any(group.all_channels for group in groups):
            return _numbered(count)
        return frozenset(channel for group in groups for channel in group.channels)
    return _numbered(count)


def _site_list(text: str, defined: frozenset[int]) -> tuple[tuple[int, ...], str | None]:
    if not text:
        return (), "has an empty siteNumber"
    try:
        sites = parse_site_list(text)
    except NumberSyntaxError as exc:
        return (), str(exc)
    unknown = [site for site in sites if site not in defined]
    if unknown:
        listed = ", ".join(str(site) for site in unknown)
        noun = "site" if len(unknown) == 1 else "sites"
        return sites, f"refers to unknown {noun} {listed}"
    return sites, None


def _target_channel_problem(target: str, channel: str, relay: bool, symbols: Symbols) -> str | None:
    """Problem with a row's instrument (or relay driver) and channel, with ``{tag}`` unfilled."""
    instrument = symbols.instruments.get(target)
    if instrument is None or (relay and not _drives_relays(instrument)):
        attribute = "relayDriverModule" if relay else "instrument"
        return _target_problem("{tag}", attribute, target, symbols)
    message = (
        _control_line_problem(instrument, channel)
        if relay
        else _channel_problem(instrument, channel, symbols)
    )
    return None if message is None else "{tag}: " + message


def _name_problem(
    tag: str,
    noun: str,
    kind_noun: str,
    name: str,
    actual: NameKind | None,
    hints: Mapping[NameKind, str],
) -> str:
    if actual is None:
        return f"{tag} refers to unknown {noun} '{name}'"
    hint = hints.get(actual)
    advice = f"; use {hint}" if hint else ""
    return f"{tag} refers to '{name}', which is a {actual.value}, not a {kind_noun}{advice}"


def _drives_relays(instrument: Instrument) -> bool:
    if instrument.kind is InstrumentKind.RELAY_DRIVER:
        return True
    flag = instrument.get("useAsRelayDriver", "")
    return instrument.kind is InstrumentKind.DAQMX and (flag or "").strip().lower() == "true"


def _target_problem(tag: str, attribute: str, target: str, symbols: Symbols) -> str:
    instrument = symbols.instruments.get(target)
    if instrument is not None:
        return f"{tag} {attribute} '{target}' is an {instrument.tag}, not an NIRelayDriverModule"
    if target in symbols.multiplexers:
        return f"{tag} {attribute} '{target}' is a Multiplexer, not an instrument"
    what = "relay driver module" if attribute == "relayDriverModule" else "instrument"
    return f"{tag} refers to unknown {what} '{target}'"


def _multiplexer_problem(multiplexer: str, symbols: Symbols) -> str:
    instrument = symbols.instruments.get(multiplexer)
    if instrument is not None:
        return (
            f"MultiplexedDUTPinRoute multiplexer '{multiplexer}' is an {instrument.tag}, "
            "not a Multiplexer"
        )
    return f"MultiplexedDUTPinRoute refers to unknown multiplexer '{multiplexer}'"


def _channel_problem(instrument: Instrument, channel: str, symbols: Symbols) -> str | None:
    kind = instrument.kind
    if kind in _COUNTED_KINDS:
        number = decimal_or_none(channel.strip())
        if number is None:
            return f"channel '{channel}' of '{instrument.name}' is not a channel number"
        count = instrument.number_of_channels
        if count is not None and number >= count:
            return (
                f"channel {number} of '{instrument.name}' is out of range "
                f"(numberOfChannels={count})"
            )
        if kind is InstrumentKind.DCPOWER:
            groups = symbols.dcpower_groups.get(instrument.name, {})
            if number not in groups and -1 not in groups and count is not None:
                return f"channel {number} of '{instrument.name}' is in no ChannelGroup"
        return None
    if kind is InstrumentKind.CUSTOM and channel not in instrument.channels:
        declared = _preview(dict.fromkeys(instrument.channels))
        return (
            f"channel '{channel}' is not a Channel id of Instrument '{instrument.name}' "
            f"(declared: {declared})"
        )
    return None


def _control_line_problem(instrument: Instrument, control_line: str) -> str | None:
    count = instrument.number_of_channels
    match = _CONTROL_LINE.fullmatch(control_line.strip())
    if count is not None and match is not None and int(match.group(1)) >= count:
        return (
            f"control line '{control_line}' of '{instrument.name}' is out of range "
            f"(numberOfControlLines={count})"
        )
    return None


def _preview(values: Iterable[str], limit: int = 5) -> str:
    items = list(values)
    if not items:
        return "none"
    shown = ", ".join(f"'{value}'" for value in items[:limit])
    return shown + (", ..." if len(items) > limit else "")
