"""Resolution: pins/relays x sites x instrument type -> sessions (session-mapping.md a-d).

Everything here reads the indexes built at load and touches only what the answer contains:
requested sites, requested (or, when none are requested, all) names, and their filed rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from pinbroker.errors import UnknownPinOrRelayError, UnknownSiteError
from pinbroker.pinmap._index import PinMapIndex
from pinbroker.pinmap._model import ConnectionTable, Multiplexer
from pinbroker.pinmap._results import (
    ChannelMapping,
    MultiplexerResource,
    Resolution,
    SessionResource,
)
from pinbroker.pinmap._sessions import ChannelStyle
from pinbroker.pinmap._validate import NameKind
from pinbroker.types import SITE_SYSTEM, InstrumentTypeId, SessionName, SessionNaming

__all__ = ["Tables", "flatten_group", "requested_sites", "resolve"]

_GROUP_KINDS = frozenset({NameKind.PIN_GROUP, NameKind.RELAY_GROUP})
_SITE_KINDS = frozenset({NameKind.DUT_PIN, NameKind.SITE_RELAY})


@dataclass(frozen=True, slots=True)
class Tables:
    """What resolution reads: the connection table, name tables and indexes of one pin map.

    Attributes:
        source: Pin map id or path, for error messages.
        connections: The connection rows.
        names: Pin, relay and group names -> what they are.
        group_members: Pin and relay group -> its direct references.
        sites: Defined sites in declaration order.
        site_set: The same, for membership tests.
        default_names: All pins then all relays, in declaration order.
        multiplexers: Multiplexer name -> multiplexer, in declaration order.
        index: The indexes built at load.
    """

    source: str | None
    connections: ConnectionTable
    names: Mapping[str, NameKind]
    group_members: Mapping[str, tuple[str, ...]]
    sites: tuple[int, ...]
    site_set: frozenset[int]
    default_names: tuple[str, ...]
    multiplexers: Mapping[str, Multiplexer]
    index: PinMapIndex


def requested_sites(tables: Tables, sites: Sequence[int]) -> tuple[int, ...]:
    """Return the requested sites de-duplicated in order, or all sites when none are requested.

    Raises:
        UnknownSiteError: A requested site is not defined in the pin map.
    """
    if not sites:
        return tables.sites
    chosen: dict[int, None] = {}
    for site in sites:
        if site not in tables.site_set:
            raise UnknownSiteError(site, tables.source)
        chosen[site] = None
    return tuple(chosen)


def flatten_group(tables: Tables, group: str) -> tuple[str, ...]:
    """Return the distinct pins or relays of ``group``, depth-first in reference order.

    Linear in the references reachable from ``group`` (each nested group is entered once).
    """
    members = tables.group_members
    found: dict[str, None] = {}
    entered = {group}
    stack = [iter(members[group])]
    while stack:
        reference = next(stack[-1], None)
        if reference is None:
            stack.pop()
        elif reference in members:
            if reference not in entered:
                entered.add(reference)
                stack.append(iter(members[reference]))
        else:
            found[reference] = None
    return tuple(found)


def _expand(tables: Tables, names: Sequence[str]) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    resolved: dict[str, None] = {}
    group_mappings: dict[str, tuple[str, ...]] = {}
    known = tables.names
    for name in names:
        kind = known.get(name)
        if kind is None:
            raise UnknownPinOrRelayError(name, tables.source)
        if kind in _GROUP_KINDS:
            members = group_mappings.get(name)
            if members is None:
                members = group_mappings[name] = flatten_group(tables, name)
            for member in members:
                resolved[member] = None
        else:
            resolved[name] = None
    return list(resolved), group_mappings


def resolve(
    tables: Tables,
    *,
    sites: Sequence[int],
    names: Sequence[str],
    instrument_type_id: str,
    naming: SessionNaming,
    typed_default_names: tuple[str, ...] | None = None,
) -> Resolution:
    """Resolve a request; see :meth:`pinbroker.pinmap.PinMap.resolve`.

    Args:
        tables: The pin map's tables.
        sites: Requested sites (empty: all).
        names: Requested pins, relays and groups (empty: all pins then all relays).
        instrument_type_id: Only sessions of this type ("" = all types).
        naming: How session names are formed.
        typed_default_names: When ``names`` is empty and a type is given, the default names
            already narrowed to that type (a cache the caller keeps), else None.

    Raises:
        UnknownSiteError: A requested site is not defined.
        UnknownPinOrRelayError: A requested name is not a pin, relay or group.
    """
    site_list = requested_sites(tables, sites)
    group_mappings: dict[str, tuple[str, ...]] = {}
    index = tables.index
    if names:
        resolved, group_mappings = _expand(tables, names)
        if instrument_type_id:
            typed = index.names_by_type.get(InstrumentTypeId(instrument_type_id), set())
            resolved = [name for name in resolved if name in typed]
    elif instrument_type_id and typed_default_names is not None:
        resolved = list(typed_default_names)
    else:
        resolved = list(tables.default_names)
    kinds = tables.names
    site_names = [name for name in resolved if kinds[name] in _SITE_KINDS]
    system_names = [name for name in resolved if kinds[name] not in _SITE_KINDS]

    collector = _Collector(tables, instrument_type_id)
    rows = index.rows
    for site in site_list:
        site_text = str(site)
        for name in site_names:
            found = rows(name, site_text)
            if found:
                collector.add(found, name, site)
    for name in system_names:
        found = rows(name, "")
        if found:
            collector.add(found, name, SITE_SYSTEM)
    return collector.result(naming, group_mappings)


class _Collector:
    """Accumulates the mappings of one resolution, per session."""

    def __init__(self, tables: Tables, instrument_type_id: str) -> None:
        self.tables = tables
        self.type_filter = instrument_type_id
        self.per_session: dict[int, list[ChannelMapping]] = {}
        self.multiplexers: set[str] = set()

    def add(self, found: Sequence[int], name: str, site: int) -> None:
        index = self.tables.index
        table = self.tables.connections
        for row in found:
            target = table.targets[row]
            channel = table.channels[row]
            rank = index.instrument_session.get(target)
            if rank is None:
                rank, channel = index.dcpower_channel[(target, channel)]
            spec = index.sessions[rank]
            if self.type_filter and spec.instrument_type_id != self.type_filter:
                continue
            style = spec.style
            if style is ChannelStyle.DIGITAL:
                channel = name if site == SITE_SYSTEM else f"site{site}/{name}"
            elif style is ChannelStyle.QUALIFIED:
                channel = f"{target}/{channel}"
            route = table.routes.get(row)
            if route is None:
                mapping = ChannelMapping(name, site, channel)
            else:
                multiplexer, route_name = route
                self.multiplexers.add(multiplexer)
                type_id = self.tables.multiplexers[multiplexer].multiplexer_type_id
                mapping = ChannelMapping(name, site, channel, multiplexer, route_name, type_id)
            mappings = self.per_session.get(rank)
            if mappings is None:
                mappings = self.per_session[rank] = []
            mappings.append(mapping)

    def result(
        self, naming: SessionNaming, group_mappings: dict[str, tuple[str, ...]]
    ) -> Resolution:
        sessions_by_rank = self.tables.index.sessions
        sessions: list[SessionResource] = []
        for rank in sorted(self.per_session):
            spec = sessions_by_rank[rank]
            mappings = self.per_session[rank]
            channels = dict.fromkeys(mapping.channel for mapping in mappings)
            sessions.append(
                SessionResource(
                    session_name=spec.session_name(naming),
                    resource_name=spec.resource_name,
                    channel_list=", ".join(channels),
                    instrument_type_id=spec.instrument_type_id,
                    channel_mappings=tuple(mappings),
                )
            )
        ranks = self.tables.index.multiplexer_rank
        multiplexers = tuple(
            MultiplexerResource(
                session_name=SessionName(name),
                resource_name=name,
                multiplexer_type_id=self.tables.multiplexers[name].multiplexer_type_id,
            )
            for name in sorted(self.multiplexers, key=ranks.__getitem__)
        )
        return Resolution(
            sessions=tuple(sessions),
            multiplexers=multiplexers,
            group_mappings=MappingProxyType(group_mappings),
        )
