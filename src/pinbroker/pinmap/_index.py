"""Indexes built once at load so that every query costs O(size of its answer).

One pass over the connection rows assigns each row its session and its channel string, files it
under (pin or relay, site), and collects what session resource names and type filters need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pinbroker.pinmap._model import RawPinMap, RowsAt
from pinbroker.pinmap._sessions import SessionSpec, plan_sessions, resource_names
from pinbroker.pinmap._validate import NameKind, Symbols
from pinbroker.types import InstrumentTypeId

__all__ = ["PinMapIndex", "RowsAt", "build_index", "default_names", "rows_of"]


def rows_of(entry: RowsAt) -> Sequence[int]:
    """Return the rows of an index entry."""
    return (entry,) if isinstance(entry, int) else entry


@dataclass(slots=True)
class PinMapIndex:
    """Lookup tables over a validated pin map.

    Attributes:
        sessions: Session specs by rank (declaration order).
        instrument_session: Non-DCPower instrument name -> session rank.
        dcpower_channel: (DCPower instrument, channel as written) -> (session rank, channel
            string ``<instrument>/<n>``), for every pair some connection uses.
        site_rows: DUT pin or site relay -> site -> rows.
        system_rows: System pin or system relay -> rows.
        names_by_type: Instrument type id -> pins and relays with a connection of that type.
        multiplexer_sites: Multiplexer name -> sites on which it routes some pin.
        multiplexer_rank: Multiplexer name -> declaration position.
    """

    sessions: tuple[SessionSpec, ...] = ()
    instrument_session: dict[str, int] = field(default_factory=dict)
    dcpower_channel: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    site_rows: dict[str, dict[int, RowsAt]] = field(default_factory=dict)
    system_rows: dict[str, RowsAt] = field(default_factory=dict)
    names_by_type: dict[InstrumentTypeId, set[str]] = field(default_factory=dict)
    multiplexer_sites: dict[str, set[int]] = field(default_factory=dict)
    multiplexer_rank: dict[str, int] = field(default_factory=dict)

    def session_of(self, target: str, channel: str) -> int:
        """Return the session rank of a connection to ``target`` on ``channel``."""
        rank = self.instrument_session.get(target)
        if rank is None:
            rank = self.dcpower_channel[(target, channel)][0]
        return rank


def build_index(raw: RawPinMap, symbols: Symbols) -> PinMapIndex:
    """Build the indexes of a pin map that passed validation.

    Per-row work is limited to filing each row under its (name, site); everything that depends
    on instruments and channels is computed once per distinct value.

    Args:
        raw: The parsed pin map.
        symbols: The tables validation built.

    Returns:
        The indexes.
    """
    instruments = [i for i in raw.instruments if symbols.instruments.get(i.name) is i]
    plan = plan_sessions(instruments, symbols.dcpower_groups)
    instrument_ranks = {instrument.name: rank for rank, instrument in enumerate(instruments)}
    session_count = len(plan.kinds)
    connected_instruments: list[set[str]] = [set() for _ in range(session_count)]
    connected_dcpower: list[set[tuple[int, int]]] = [set() for _ in range(session_count)]
    table = raw.connections

    index = PinMapIndex()
    index.instrument_session = plan.instrument_session
    index.multiplexer_rank = {name: rank for rank, name in enumerate(symbols.multiplexers)}
    dcpower = plan.dcpower_session
    for target in symbols.targets:
        if target not in dcpower:
            connected_instruments[plan.instrument_session[target]].add(target)
    for target, channel in symbols.dcpower_pairs:
        by_channel = dcpower[target]
        number = int(channel)
        rank = by_channel.get(number)
        if rank is None:
            rank = by_channel[-1]
        connected_dcpower[rank].add((instrument_ranks[target], number))
        index.dcpower_channel[(target, channel)] = (rank, f"{target}/{number}")

    index.site_rows = table.site_rows
    index.system_rows = table.system_rows
    for instrument in instruments:
        names = table.names_by_target.get(instrument.name)
        if names:
            index.names_by_type.setdefault(instrument.instrument_type_id, set()).update(names)
    for row, (multiplexer, _) in table.routes.items():
        sites = table.site_lists[table.site_texts[row]]
        index.multiplexer_sites.setdefault(multiplexer, set()).update(sites)

    names_in_order = [instrument.name for instrument in instruments]
    index.sessions = resource_names(
        plan, instrument_ranks, connected_instruments, connected_dcpower, names_in_order
    )
    return index


def default_names(symbols: Symbols, raw: RawPinMap) -> tuple[str, ...]:
    """All pins (DUT and system) then all relays, in declaration order."""
    pins = tuple(pin.name for pin in raw.pins if symbols.names.get(pin.name) in _PIN_KINDS)
    relays = tuple(
        relay.name for relay in raw.relays if symbols.names.get(relay.name) in _RELAY_KINDS
    )
    return pins + relays


_PIN_KINDS = (NameKind.DUT_PIN, NameKind.SYSTEM_PIN)
_RELAY_KINDS = (NameKind.SITE_RELAY, NameKind.SYSTEM_RELAY)
