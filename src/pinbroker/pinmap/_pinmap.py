"""The loaded pin map and the functions that load one."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from pinbroker.errors import PinMapParseError, PinMapTooLargeError
from pinbroker.pinmap._index import PinMapIndex, build_index, default_names
from pinbroker.pinmap._limits import DEFAULT_LIMITS, ParseLimits
from pinbroker.pinmap._model import (
    Connection,
    Instrument,
    Multiplexer,
    Pin,
    PinGroup,
    RawPinMap,
    Relay,
    RelayConfiguration,
    RelayGroup,
)
from pinbroker.pinmap._parser import parse_pinmap
from pinbroker.pinmap._prolog import prepare_input
from pinbroker.pinmap._resolve import Tables, flatten_group, requested_sites, resolve
from pinbroker.pinmap._results import (
    MultiplexerResource,
    PinDefinition,
    PinGroupDefinition,
    RelayDefinition,
    RelayGroupDefinition,
    Resolution,
)
from pinbroker.pinmap._sessions import SessionSpec
from pinbroker.pinmap._validate import NameKind, Symbols, validate
from pinbroker.pinmap._vocabulary import SUGGESTION
from pinbroker.types import InstrumentTypeId, SessionName, SessionNaming

__all__ = ["MAX_PROBLEMS", "PinMap", "load_pinmap", "load_pinmap_file"]

MAX_PROBLEMS = 10_000
"""Most problems listed in one ``PinMapParseError`` (the rest are counted in a last line)."""


def load_pinmap(
    xml: str | bytes, *, source: str | None = None, limits: ParseLimits = DEFAULT_LIMITS
) -> PinMap:
    """Parse, validate and index pin map XML.

    Args:
        xml: The ``.pinmap`` document, as text or as bytes (UTF-8, with or without BOM, or any
            encoding its XML declaration names).
        source: Where the XML came from (file path or pin map id); used in messages.
        limits: Size limits to enforce.

    Returns:
        The loaded pin map.

    Raises:
        PinMapParseError: The XML is malformed, has a DTD, or fails validation; ``problems``
            lists every problem found, each formatted ``pin map line N: ...`` (beyond
            ``MAX_PROBLEMS``, one last line counts the rest), with the probable misspellings of
            element names (``...; did you mean <Name>?``), often the cause, among them.
        PinMapTooLargeError: The document exceeds one of ``limits``.
    """
    data = prepare_input(xml, limits, source)
    raw = parse_pinmap(data, limits, source)
    del data
    symbols = validate(raw)
    raw.line_map = None  # it holds the document; nothing needs lines after validation
    if not raw.problems:
        return PinMap(raw, symbols, build_index(raw, symbols), source)
    # A probable misspelling is often why the document fails (a misspelled ChannelGroup leaves
    # its channels in no group): list it among the problems, where the reader looks.
    misspellings = [w for w in raw.warnings if SUGGESTION in w[1]]
    problems = _sorted([*raw.problems, *misspellings])
    first_line, first_message = problems[0]
    listed = tuple(_located(line, message) for line, message in problems[:MAX_PROBLEMS])
    if len(problems) > MAX_PROBLEMS:
        listed += (f"pin map: {len(problems) - MAX_PROBLEMS} more problems are not listed",)
    raise PinMapParseError(first_message, line=first_line, source=source, problems=listed)


def load_pinmap_file(
    path: str | os.PathLike[str], *, limits: ParseLimits = DEFAULT_LIMITS
) -> PinMap:
    """Load a ``.pinmap`` file; its path becomes the pin map's ``source``.

    Args:
        path: The file to read.
        limits: Size limits to enforce (the file size is checked before it is read).

    Returns:
        The loaded pin map.

    Raises:
        OSError: The file cannot be read.
        PinMapParseError: See :func:`load_pinmap`.
        PinMapTooLargeError: See :func:`load_pinmap`.
    """
    source = os.fspath(path)
    size = os.stat(source).st_size
    if size > limits.max_bytes:
        raise PinMapTooLargeError(
            f"{source}: pin map is {size} bytes, more than the limit max_bytes={limits.max_bytes}"
        )
    return load_pinmap(Path(source).read_bytes(), source=source, limits=limits)


def _sorted(entries: list[tuple[int | None, str]]) -> list[tuple[int | None, str]]:
    return sorted(entries, key=lambda entry: entry[0] if entry[0] is not None else 1 << 62)


def _located(line: int | None, message: str) -> str:
    return f"pin map line {line}: {message}" if line is not None else f"pin map: {message}"


class PinMap:
    """A loaded pin map: validated, indexed and read-only.

    Obtain one with :func:`load_pinmap` or :func:`load_pinmap_file`. Every query after load costs
    time proportional to the size of its answer. Instances are safe to share between threads.
    """

    __slots__ = (
        "_defaults_cache",
        "_instruments",
        "_misspellings",
        "_pins_cache",
        "_raw",
        "_relays_cache",
        "_symbols",
        "_tables",
        "_warnings",
    )

    def __init__(
        self, raw: RawPinMap, symbols: Symbols, index: PinMapIndex, source: str | None
    ) -> None:
        """Wrap validated tables; use :func:`load_pinmap` rather than calling this."""
        self._raw = raw
        self._symbols = symbols
        self._warnings = tuple(_located(line, message) for line, message in _sorted(raw.warnings))
        self._misspellings = raw.misspellings
        members: dict[str, tuple[str, ...]] = {g.name: g.references for g in raw.pin_groups}
        members.update((g.name, g.references) for g in raw.relay_groups)
        sites = tuple(symbols.sites)
        self._tables = Tables(
            source=source,
            connections=raw.connections,
            names=symbols.names,
            group_members=members,
            sites=sites,
            site_set=frozenset(sites),
            default_names=default_names(symbols, raw),
            multiplexers=symbols.multiplexers,
            index=index,
        )
        self._instruments = symbols.instruments
        # Per instrument type id; filled on first use (a racing duplicate fill is harmless).
        self._defaults_cache: dict[str, tuple[str, ...]] = {}
        self._pins_cache: dict[
            str, tuple[tuple[PinDefinition, ...], tuple[PinGroupDefinition, ...]]
        ] = {}
        self._relays_cache: dict[
            str, tuple[tuple[RelayDefinition, ...], tuple[RelayGroupDefinition, ...]]
        ] = {}

    def __repr__(self) -> str:
        return (
            f"<PinMap {self.source or '(unnamed)'}: {len(self._raw.pins)} pins, "
            f"{len(self.sites)} sites, {self.connection_count} connections>"
        )

    # -- what the file declares -----------------------------------------------------------------

    @property
    def source(self) -> str | None:
        """Where the XML came from (file path or pin map id), or None."""
        return self._tables.source

    @property
    def schema_version(self) -> str:
        """The ``schemaVersion`` attribute, e.g. ``"1.6"``."""
        return self._raw.schema_version

    @property
    def sites(self) -> tuple[int, ...]:
        """Site numbers, in declaration order."""
        return self._tables.sites

    @property
    def warnings(self) -> tuple[str, ...]:
        """Notes about tolerated oddities (``pin map line N: ...``), in line order.

        At most 100 are kept; one last line counts the rest.
        """
        return self._warnings

    @property
    def misspelled_elements(self) -> int:
        """How many elements have an unknown name close to one the format defines.

        Each has a ``did you mean <Name>?`` warning (within the warnings limit). The pin map
        loads all the same: unknown instrument elements as instruments of that type id, other
        unknown elements ignored; ``pinbroker pinmap check`` fails on them.
        """
        return self._misspellings

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        """Instruments (DAQmx tasks, relay driver modules... included), in declaration order."""
        return tuple(self._instruments.values())

    @property
    def multiplexer_definitions(self) -> tuple[Multiplexer, ...]:
        """``Multiplexer`` elements, in declaration order."""
        return tuple(self._symbols.multiplexers.values())

    @property
    def pins(self) -> tuple[Pin, ...]:
        """DUT and system pins, in declaration order."""
        return tuple(self._raw.pins)

    @property
    def pin_groups(self) -> tuple[PinGroup, ...]:
        """Pin groups, in declaration order."""
        return tuple(self._raw.pin_groups)

    @property
    def relays(self) -> tuple[Relay, ...]:
        """Site and system relays, in declaration order."""
        return tuple(self._raw.relays)

    @property
    def relay_groups(self) -> tuple[RelayGroup, ...]:
        """Relay groups, in declaration order."""
        return tuple(self._raw.relay_groups)

    @property
    def relay_configurations(self) -> tuple[RelayConfiguration, ...]:
        """Relay configurations, in declaration order."""
        return tuple(self._raw.relay_configurations)

    @property
    def connection_count(self) -> int:
        """Number of connection rows (one per connection element or multiplexed route)."""
        return len(self._raw.connections)

    def connections(self) -> Iterator[Connection]:
        """Iterate over the connections in document order."""
        table = self._raw.connections
        site_lists = self._symbols.site_lists
        for row in table.rows():
            yield table.view(row, site_lists.get(table.site_texts[row], ()))

    def instrument(self, name: str) -> Instrument:
        """Return the instrument called ``name``.

        Raises:
            KeyError: No instrument has that name.
        """
        return self._instruments[name]

    def session_names(self, naming: SessionNaming = SessionNaming.TYPED) -> tuple[SessionName, ...]:
        """Names of every session the pin map defines that has a connection, in answer order."""
        return tuple(spec.session_name(naming) for spec in self._connected_sessions())

    def _connected_sessions(self) -> Iterator[SessionSpec]:
        return (spec for spec in self._tables.index.sessions if spec.connected)

    # -- queries --------------------------------------------------------------------------------

    def resolve(
        self,
        *,
        sites: Sequence[int] = (),
        names: Sequence[str] = (),
        instrument_type_id: str = "",
        naming: SessionNaming = SessionNaming.TYPED,
    ) -> Resolution:
        """Resolve pins/relays on sites to instrument sessions and channel mappings.

        Args:
            sites: Sites to include; empty means every site. Repeats are ignored. System pins
                and relays are always included, at site ``SITE_SYSTEM`` (-1).
            names: Pins, relays, pin groups and relay groups; empty means every pin (DUT and
                system) then every relay. Groups are flattened; a name already covered by a
                requested group adds nothing.
            instrument_type_id: Only sessions of this instrument type; "" means all types.
            naming: How session names are formed (``TYPED``: ``niDCPower-<resource>``).

        Returns:
            The selected sessions (declaration order), the multiplexers their mappings use, and
            the flattened members of each requested group.

        Raises:
            UnknownSiteError: A requested site is not defined in the pin map.
            UnknownPinOrRelayError: A name is not a pin, relay, pin group or relay group.
        """
        typed_defaults = None
        if not names and instrument_type_id:
            typed_defaults = self._typed_default_names(instrument_type_id)
        return resolve(
            self._tables,
            sites=sites,
            names=names,
            instrument_type_id=instrument_type_id,
            naming=naming,
            typed_default_names=typed_defaults,
        )

    def _typed_default_names(self, instrument_type_id: str) -> tuple[str, ...]:
        cached = self._defaults_cache.get(instrument_type_id)
        if cached is None:
            typed = self._names_of_type(instrument_type_id)
            cached = tuple(name for name in self._tables.default_names if name in typed)
            self._defaults_cache[instrument_type_id] = cached
        return cached

    def _names_of_type(self, instrument_type_id: str) -> set[str] | frozenset[str]:
        if not instrument_type_id:
            return frozenset(self._tables.names)
        return self._tables.index.names_by_type.get(InstrumentTypeId(instrument_type_id), set())

    def query_pins(
        self, instrument_type_id: str = ""
    ) -> tuple[tuple[PinDefinition, ...], tuple[PinGroupDefinition, ...]]:
        """Return pins and pin groups, as the Pin Map Service's QueryPins reports them.

        Args:
            instrument_type_id: If given, only pins connected to an instrument of this type, and
                only groups whose pins all are (a group without pins is then left out).

        Returns:
            (pins, pin groups), each in declaration order.
        """
        cached = self._pins_cache.get(instrument_type_id)
        if cached is None:
            typed = self._names_of_type(instrument_type_id)
            pins = tuple(
                PinDefinition(pin.name, pin.is_system)
                for pin in self._raw.pins
                if pin.name in typed
            )
            groups: list[PinGroupDefinition] = []
            for group in self._raw.pin_groups:
                resolved = flatten_group(self._tables, group.name)
                if instrument_type_id and not (resolved and all(p in typed for p in resolved)):
                    continue
                groups.append(PinGroupDefinition(group.name, group.references, resolved))
            cached = self._pins_cache[instrument_type_id] = (pins, tuple(groups))
        return cached

    def query_relays(
        self, instrument_type_id: str = ""
    ) -> tuple[tuple[RelayDefinition, ...], tuple[RelayGroupDefinition, ...]]:
        """Return relays and relay groups, as the Pin Map Service's QueryRelays reports them.

        Args:
            instrument_type_id: If given, only relays connected to an instrument of this type,
                and only groups whose relays all are (a group without relays is then left out).

        Returns:
            (relays, relay groups), each in declaration order.
        """
        cached = self._relays_cache.get(instrument_type_id)
        if cached is None:
            typed = self._names_of_type(instrument_type_id)
            relays = tuple(
                RelayDefinition(relay.name, relay.is_system)
                for relay in self._raw.relays
                if relay.name in typed
            )
            groups: list[RelayGroupDefinition] = []
            for group in self._raw.relay_groups:
                resolved = flatten_group(self._tables, group.name)
                if instrument_type_id and not (resolved and all(r in typed for r in resolved)):
                    continue
                groups.append(RelayGroupDefinition(group.name, group.references, resolved))
            cached = self._relays_cache[instrument_type_id] = (relays, tuple(groups))
        return cached

    def multiplexers(
        self, sites: Sequence[int] = (), multiplexer_type_id: str = ""
    ) -> tuple[MultiplexerResource, ...]:
        """Return the multiplexers that route some pin on ``sites`` (GetMultiplexerSessions).

        Args:
            sites: Sites to consider; empty means every site.
            multiplexer_type_id: Only multiplexers of this ``multiplexerTypeId``; "" means all.

        Returns:
            The multiplexers, in declaration order.

        Raises:
            UnknownSiteError: A requested site is not defined in the pin map.
        """
        chosen = set(requested_sites(self._tables, sites))
        used = self._tables.index.multiplexer_sites
        return tuple(
            MultiplexerResource(SessionName(mux.name), mux.name, mux.multiplexer_type_id)
            for mux in self._symbols.multiplexers.values()
            if (not multiplexer_type_id or mux.multiplexer_type_id == multiplexer_type_id)
            and not chosen.isdisjoint(used.get(mux.name, ()))
        )

    def name_kind(self, name: str) -> NameKind | None:
        """Return what ``name`` denotes (pin, system pin, group, relay...), or None if unknown."""
        return self._tables.names.get(name)
