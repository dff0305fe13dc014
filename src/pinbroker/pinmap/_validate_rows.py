"""Checks of the connection rows of a parsed pin map (see :mod:`._validate` for the rules).

Checks run once per distinct value (C-level ``set(zip(...))`` over the table's columns), so a
pin map with half a million rows but few distinct names costs little; rows are walked, to
attach line numbers, only when some value is bad.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from pinbroker.pinmap._model import (
    ConnectionKind,
    ConnectionTable,
    Instrument,
    InstrumentKind,
    RawPinMap,
)
from pinbroker.pinmap._numbers import NumberSyntaxError, decimal_or_none, parse_site_list
from pinbroker.pinmap._symbols import NameKind, Symbols

__all__ = ["check_connections"]

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


def check_connections(
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
        if not text:
            continue  # system rows (the parser refuses an empty siteNumber elsewhere)
        sites, message = _site_list(text, defined)
        site_lists[text] = sites
        if message is not None:
            bad_sites[text] = message

    bad_channels = _check_channels(table, symbols)

    bad_routes = {
        row: _multiplexer_problem(multiplexer, symbols)
        for row, (multiplexer, _) in table.routes.items()
        if multiplexer not in symbols.multiplexers
    }
    if bad_names or bad_sites or bad_channels or bad_routes:
        found: list[tuple[int, str]] = []
        _report_rows(table, bad_names, bad_sites, bad_channels, bad_routes, found)
        line_map = raw.line_map
        lines = line_map.lines(o for o, _ in found) if line_map is not None else {}
        problems.extend((lines.get(ordinal), message) for ordinal, message in found)


def _check_channels(table: ConnectionTable, symbols: Symbols) -> dict[tuple[str, bool, str], str]:
    """Check the channel of every connection; collect the (DCPower instrument, channel) pairs.

    Instruments whose valid channels are alike (digital pattern, scope and FGen instruments of
    one channel count) share a class, and instruments that accept any channel share one, so the
    C-level ``set(zip(...))`` over the rows yields few distinct (class, channel) pairs; the
    rest are checked per instrument. Only when some shared class has a bad channel are the
    (instrument, channel) pairs of the rows looked at, to name the instrument.
    """
    bad: dict[tuple[str, bool, str], str] = {}
    symbols.targets = set(table.targets)
    instruments = symbols.instruments
    dcpower = symbols.dcpower_groups
    classes: dict[str, object] = {}
    valid_of: dict[str, frozenset[str]] = {}
    for target in symbols.targets:
        instrument = instruments.get(target)
        if instrument is None:
            classes[target] = target
            continue
        count = instrument.number_of_channels
        if instrument.kind in _SHARED_KINDS and count is not None:
            classes[target] = (instrument.tag, count)  # plain values: cheap to hash
            continue
        valid = _valid_channels(instrument)
        if valid is None:
            classes[target] = _ANY
        else:
            classes[target] = target
            valid_of[target] = valid
    used = set(zip(map(classes.__getitem__, table.targets), table.channels, strict=True))
    bad_shared: set[tuple[object, str]] = set()
    dcpower_pairs = symbols.dcpower_pairs
    for kind_class, channel in used:
        if kind_class is _ANY:
            continue
        if isinstance(kind_class, str):
            valid = valid_of.get(kind_class)
            if valid is None or channel not in valid:
                message = _target_channel_problem(kind_class, channel, False, symbols)
                if message is not None:
                    bad[(kind_class, False, channel)] = message
                    continue
            if kind_class in dcpower:
                dcpower_pairs.append((kind_class, channel))
        elif channel not in _numbered(kind_class[1]):  # type: ignore[index]  # (tag, count)
            bad_shared.add((kind_class, channel))
    if bad_shared:
        for target, channel in set(zip(table.targets, table.channels, strict=True)):
            if (classes[target], channel) in bad_shared:
                message = _target_channel_problem(target, channel, False, symbols)
                if message is not None:
                    bad[(target, False, channel)] = message
    relay_rows = [match.start() for match in _RELAY_CODES.finditer(table.kinds)]
    for target, channel in {(table.targets[row], table.channels[row]) for row in relay_rows}:
        message = _target_channel_problem(target, channel, True, symbols)
        if message is not None:
            bad[(target, True, channel)] = message
    return bad


def _report_rows(
    table: ConnectionTable,
    bad_names: dict[tuple[int, str], str],
    bad_sites: dict[str, str],
    bad_channels: dict[tuple[str, bool, str], str],
    bad_routes: dict[int, str],
    problems: list[tuple[int, str]],
) -> None:
    """Report every row that carries a bad value, with the row's element ordinal."""
    for row, (kind_code, name, site_text, target, channel, line) in enumerate(
        zip(
            table.kinds,
            table.names,
            table.site_texts,
            table.targets,
            table.channels,
            table.ordinals,
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


_NUMBERED: dict[int, frozenset[str]] = {}
_SHARED_KINDS = frozenset(
    {InstrumentKind.DIGITAL_PATTERN, InstrumentKind.SCOPE, InstrumentKind.FGEN}
)
_ANY = object()
"""The class of instruments that accept any channel (DAQmx tasks, DMMs, relay drivers...)."""
_RELAY_CODES = re.compile(b"[" + bytes([ConnectionKind.RELAY, ConnectionKind.SYSTEM_RELAY]) + b"]")


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
