"""Indexes built once at load so that every query costs O(size of its answer).

Rows are filed under (pin or relay, site text) with C-level dict construction over the table's
columns; system rows under (name, ""). Only rows whose ``siteNumber`` is not a plain site number
(a list such as ``0,1``) and keys connected more than once are handled one by one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pinbroker.pinmap._model import ConnectionTable, RawPinMap
from pinbroker.pinmap._sessions import SessionSpec, plan_sessions, resource_names
from pinbroker.pinmap._validate import NameKind, Symbols
from pinbroker.types import InstrumentTypeId

__all__ = ["PinMapIndex", "build_index", "default_names"]

Key = tuple[str, str]
"""(pin or relay name, site as a decimal string; "" for system pins and relays)."""


@dataclass(slots=True)
class PinMapIndex:
    """Lookup tables over a validated pin map.

    Attributes:
        sessions: Session specs by rank (declaration order).
        instrument_session: Non-DCPower instrument name -> session rank.
        dcpower_channel: (DCPower instrument, channel as written) -> (session rank, channel
            string ``<instrument>/<n>``), for every pair some connection uses.
        rows_at: (name, site text) -> the row connecting it, or -1 when several do (then
            ``shared_rows`` holds them, in document order). System rows use site text "".
        names_by_type: Instrument type id -> pins and relays with a connection of that type.
        multiplexer_sites: Multiplexer name -> sites on which it routes some pin.
        multiplexer_rank: Multiplexer name -> declaration position.
    """

    sessions: tuple[SessionSpec, ...] = ()
    instrument_session: dict[str, int] = field(default_factory=dict)
    dcpower_channel: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    rows_at: dict[Key, int] = field(default_factory=dict)
    shared_rows: dict[Key, list[int]] = field(default_factory=dict)
    names_by_type: dict[InstrumentTypeId, set[str]] = field(default_factory=dict)
    multiplexer_sites: dict[str, set[int]] = field(default_factory=dict)
    multiplexer_rank: dict[str, int] = field(default_factory=dict)

    def rows(self, name: str, site_text: str) -> Sequence[int]:
        """Return the rows connecting ``name`` on the site written ``site_text`` ("" = system)."""
        row = self.rows_at.get((name, site_text))
        if row is None:
            return ()
        if row >= 0:
            return (row,)
        return self.shared_rows[(name, site_text)]


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

    _file_rows(table, symbols.site_lists, index)
    type_of = {instrument.name: instrument.instrument_type_id for instrument in instruments}
    for type_id, name in set(
        zip(map(type_of.__getitem__, table.targets), table.names, strict=True)
    ):
        index.names_by_type.setdefault(type_id, set()).add(name)
    for row, (multiplexer, _) in table.routes.items():
        sites = symbols.site_lists[table.site_texts[row]]
        index.multiplexer_sites.setdefault(multiplexer, set()).update(sites)

    names_in_order = [instrument.name for instrument in instruments]
    index.sessions = resource_names(
        plan, instrument_ranks, connected_instruments, connected_dcpower, names_in_order
    )
    return index


def _file_rows(
    table: ConnectionTable, site_lists: dict[str, tuple[int, ...]], index: PinMapIndex
) -> None:
    """Fill ``index.rows_at`` / ``shared_rows`` from the table (C-level in the common case)."""
    names = table.names
    texts = table.site_texts
    odd = {
        text
        for text in site_lists
        if len(site_lists[text]) != 1 or str(site_lists[text][0]) != text
    }
    rows_at = dict(zip(zip(names, texts, strict=True), range(len(names)), strict=True))
    if odd:
        for key in [key for key in rows_at if key[1] in odd]:
            del rows_at[key]
    if len(rows_at) + _count_odd_keys(texts, odd) < len(names):
        _file_repeated(names, texts, odd, rows_at, index)
    if odd:
        for row, text in enumerate(texts):
            if text in odd:
                for site in site_lists[text]:
                    _add(rows_at, index.shared_rows, (names[row], str(site)), row)
    for rows in index.shared_rows.values():
        rows.sort()  # plain and list rows of one key were filed in two passes
    index.rows_at = rows_at


def _count_odd_keys(texts: list[str], odd: set[str]) -> int:
    return sum(map(odd.__contains__, texts)) if odd else 0


def _file_repeated(
    names: list[str],
    texts: list[str],
    odd: set[str],
    rows_at: dict[Key, int],
    index: PinMapIndex,
) -> None:
    """Some (name, site) is connected by several plain rows: file those keys' rows in order."""
    counts = Counter(zip(names, texts, strict=True))
    repeated = {key for key, count in counts.items() if count > 1 and key[1] not in odd}
    for key in repeated:
        del rows_at[key]
    for row, key in enumerate(zip(names, texts, strict=True)):
        if key in repeated:
            _add(rows_at, index.shared_rows, key, row)


def _add(rows_at: dict[Key, int], shared: dict[Key, list[int]], key: Key, row: int) -> None:
    current = rows_at.get(key)
    if current is None:
        rows_at[key] = row
    elif current >= 0:
        rows_at[key] = -1
        shared[key] = [current, row]
    else:
        shared[key].append(row)


def default_names(symbols: Symbols, raw: RawPinMap) -> tuple[str, ...]:
    """All pins (DUT and system) then all relays, in declaration order."""
    pins = tuple(pin.name for pin in raw.pins if symbols.names.get(pin.name) in _PIN_KINDS)
    relays = tuple(
        relay.name for relay in raw.relays if symbols.names.get(relay.name) in _RELAY_KINDS
    )
    return pins + relays


_PIN_KINDS = (NameKind.DUT_PIN, NameKind.SYSTEM_PIN)
_RELAY_KINDS = (NameKind.SITE_RELAY, NameKind.SYSTEM_RELAY)
