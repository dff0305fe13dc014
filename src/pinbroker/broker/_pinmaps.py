"""The pin map repository: pin maps by id, persisted through the store, parsed maps cached.

The store holds every pin map's XML; memory holds only parsed pin maps, and only as many as fit
a budget (``--pin-map-cache``): beyond it the least recently used are dropped and parsed again
from the store on their next use. The XML is never kept in memory after parsing.

A parsed pin map's size is estimated from its XML: :data:`BYTES_PER_XML_CHAR` bytes per
character (measured on ``benchmarks/pinmap_gen.py`` maps of 0.4-47 MB: 2.7-3.0 bytes of retained
memory per character; see ``docs/pinmap-engine.md``).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pinbroker.errors import (
    InvalidPinMapIdError,
    PinbrokerError,
    PinMapAlreadyExistsError,
    PinMapNotFoundError,
)
from pinbroker.events import EventKind, EventLog
from pinbroker.pinmap import DEFAULT_LIMITS, ParseLimits, PinMap, load_pinmap
from pinbroker.types import PinMapId

__all__ = [
    "BYTES_PER_XML_CHAR",
    "DEFAULT_PIN_MAP_CACHE_BYTES",
    "PinMapRepository",
    "PinMapStore",
    "StoredPinMap",
    "estimate_pin_map_bytes",
]

_logger = logging.getLogger(__name__)

DEFAULT_PIN_MAP_CACHE_BYTES = 256 * 1024 * 1024
"""Memory for parsed pin maps by default: the largest benchmark map (47 MB of XML, ~140 MB
parsed) and a few ordinary ones fit; a 2-core test cell's server stays well under 1 GB."""

BYTES_PER_XML_CHAR = 3
"""Estimated bytes of memory a parsed pin map takes per character of its XML (measured)."""

_BYTES_PER_MAP = 16 * 1024
"""Estimated fixed cost of a parsed pin map, however small."""


def estimate_pin_map_bytes(xml: str) -> int:
    """Estimate the memory the parsed form of ``xml`` takes (see the module docstring)."""
    return _BYTES_PER_MAP + BYTES_PER_XML_CHAR * len(xml)


class PinMapStore(Protocol):
    """Where pin maps' XML is kept: the part of ``pinbroker.store.Store`` used here."""

    def put_pin_map(self, pin_map_id: PinMapId, xml: str) -> None: ...

    def load_pin_maps(self) -> list[tuple[PinMapId, str]]: ...

    def load_pin_map(self, pin_map_id: PinMapId) -> str | None: ...


@dataclass(frozen=True, slots=True)
class StoredPinMap:
    """A registered pin map: its id, the parsed model and its estimated size in bytes."""

    pin_map_id: PinMapId
    pin_map: PinMap
    size: int


class PinMapRepository:
    """Thread-safe registry of pin maps keyed by pin map id, with a bounded cache of parsed maps.

    XML is parsed outside the lock (a large pin map takes a while), persisted, then published, so a
    pin map that fails to parse or to persist changes nothing. A pin map dropped from the cache is
    parsed again from the store by the first :meth:`get` that needs it (once, however many ask).

    Args:
        store: Where pin maps' XML is kept.
        limits: Parser limits.
        parse: The parser (for tests).
        events: Where ``pin_map_loaded`` events go.
        cache_bytes: Memory budget of parsed pin maps (estimated); the pin map used last always
            stays, even if it alone is larger.
        shared: The store is shared with other servers (``pinbroker.cluster``): an id not
            known here is looked up in the store, and :meth:`forget` drops what another
            server changed.
    """

    def __init__(
        self,
        store: PinMapStore,
        *,
        limits: ParseLimits = DEFAULT_LIMITS,
        parse: Callable[..., PinMap] = load_pinmap,
        events: EventLog | None = None,
        cache_bytes: int = DEFAULT_PIN_MAP_CACHE_BYTES,
        shared: bool = False,
    ) -> None:
        if cache_bytes < 0:
            raise ValueError(f"cache_bytes must not be negative, not {cache_bytes}")
        self._store = store
        self._shared = shared
        self._events = events
        self._limits = limits
        self._parse = parse
        self._budget = cache_bytes
        self._lock = threading.Lock()
        # Every registered id (registration order) -> its generation, bumped by each update.
        self._generations: dict[PinMapId, int] = {}
        self._cache: OrderedDict[PinMapId, StoredPinMap] = OrderedDict()  # oldest use first
        self._cached_bytes = 0
        self._loaders: dict[PinMapId, threading.Lock] = {}

    @property
    def cached_bytes(self) -> int:
        """Estimated memory of the parsed pin maps held now."""
        with self._lock:
            return self._cached_bytes

    def cached_ids(self) -> list[PinMapId]:
        """Ids of the pin maps held parsed now, least recently used first."""
        with self._lock:
            return list(self._cache)

    def restore(self) -> list[str]:
        """Register every persisted pin map; return one message per pin map that no longer loads.

        Pin maps are parsed in store order while they fit the cache budget; the rest are
        registered unparsed and parsed on first use. A persisted pin map that fails to parse (e.g.
        after an upgrade made validation stricter) is kept in the store untouched and reported,
        never deleted; it is not registered until updated.
        """
        problems: list[str] = []
        rows = self._store.load_pin_maps()
        rows.reverse()
        while rows:
            pin_map_id, xml = rows.pop()  # drop each XML once handled
            key = PinMapId(pin_map_id)
            size = estimate_pin_map_bytes(xml)
            if self._cached_bytes + size > self._budget and self._cache:
                with self._lock:
                    self._generations[key] = 0
                continue
            try:
                parsed = self._parse(xml, source=pin_map_id, limits=self._limits)
            except PinbrokerError as exc:
                problems.append(f"stored pin map '{pin_map_id}' no longer loads: {exc}")
                continue
            with self._lock:
                self._generations[key] = 0
                self._cache_insert(StoredPinMap(key, parsed, size))
        for problem in problems:
            _logger.error("%s", problem)
        return problems

    def create(self, pin_map_id: str, xml: str) -> StoredPinMap:
        """Register a new pin map (CreatePinMapFromXml).

        Raises:
            InvalidPinMapIdError: If the id is empty or contains whitespace.
            PinMapAlreadyExistsError: If a pin map with this id exists.
            PinMapParseError: If the XML is malformed, hostile or invalid.
            PinMapTooLargeError: If the XML exceeds a configured limit.
        """
        if not pin_map_id or any(ch.isspace() for ch in pin_map_id):
            raise InvalidPinMapIdError(
                f"pin map id {pin_map_id!r} is invalid: it must be non-empty without whitespace"
            )
        key = PinMapId(pin_map_id)
        with self._lock:
            if key in self._generations:
                raise PinMapAlreadyExistsError(pin_map_id)
        if self._shared and self._store.load_pin_map(key) is not None:
            raise PinMapAlreadyExistsError(pin_map_id)
        parsed = self._parse(xml, source=pin_map_id, limits=self._limits)
        with self._lock:
            if key in self._generations:
                raise PinMapAlreadyExistsError(pin_map_id)
            return self._publish(key, xml, parsed)

    def update(self, pin_map_id: str, xml: str) -> StoredPinMap:
        """Replace a pin map's contents, creating it when absent (UpdatePinMapFromXml).

        Raises:
            InvalidPinMapIdError: If the id is empty.
            PinMapParseError: If the XML is malformed, hostile or invalid.
            PinMapTooLargeError: If the XML exceeds a configured limit.
        """
        if not pin_map_id:
            raise InvalidPinMapIdError("pin map id is empty")
        parsed = self._parse(xml, source=pin_map_id, limits=self._limits)
        with self._lock:
            return self._publish(PinMapId(pin_map_id), xml, parsed)

    def _publish(self, key: PinMapId, xml: str, parsed: PinMap) -> StoredPinMap:
        self._store.put_pin_map(key, xml)
        stored = StoredPinMap(key, parsed, estimate_pin_map_bytes(xml))
        self._generations[key] = self._generations.get(key, -1) + 1
        self._cache_insert(stored)
        if self._events is not None:
            self._events.append(EventKind.PIN_MAP_LOADED, reason=key)
        return stored

    def get(self, pin_map_id: str) -> StoredPinMap:
        """Return the registered pin map, parsing it again from the store if it was dropped.

        Raises:
            PinMapNotFoundError: If no pin map has this id (or a stored one no longer loads).
        """
        key = PinMapId(pin_map_id)
        with self._lock:
            stored = self._cached(key)
            if stored is not None:
                return stored
            if key not in self._generations:
                if not self._shared:
                    raise PinMapNotFoundError(pin_map_id)
                self._generations[key] = 0  # perhaps created through another server
            loader = self._loaders.setdefault(key, threading.Lock())
        with loader:  # one parse per pin map, however many callers want it
            with self._lock:
                stored = self._cached(key)
                if stored is not None:
                    return stored
                generation = self._generations.get(key)
            if generation is None:
                raise PinMapNotFoundError(pin_map_id)
            return self._reload(key, generation)

    def _reload(self, key: PinMapId, generation: int) -> StoredPinMap:
        xml = self._store.load_pin_map(key)
        if xml is None:
            with self._lock:
                if self._generations.get(key) == generation:
                    del self._generations[key]
            raise PinMapNotFoundError(key)
        try:
            parsed = self._parse(xml, source=key, limits=self._limits)
        except PinbrokerError as exc:
            _logger.error("stored pin map '%s' no longer loads: %s", key, exc)
            with self._lock:
                if self._generations.get(key) == generation:
                    del self._generations[key]
            raise PinMapNotFoundError(key) from exc
        stored = StoredPinMap(key, parsed, estimate_pin_map_bytes(xml))
        with self._lock:
            if self._generations.get(key) == generation:  # not updated meanwhile
                self._cache_insert(stored)
        _logger.debug("pin map '%s' parsed again from the store", key)
        return stored

    def _cached(self, key: PinMapId) -> StoredPinMap | None:
        stored = self._cache.get(key)
        if stored is not None:
            self._cache.move_to_end(key)
        return stored

    def _cache_insert(self, stored: StoredPinMap) -> None:
        """Hold ``stored`` as the most recently used; drop the least recently used beyond budget."""
        old = self._cache.pop(stored.pin_map_id, None)
        if old is not None:
            self._cached_bytes -= old.size
        self._cache[stored.pin_map_id] = stored
        self._cached_bytes += stored.size
        while self._cached_bytes > self._budget and len(self._cache) > 1:
            dropped_id, dropped = self._cache.popitem(last=False)
            self._cached_bytes -= dropped.size
            _logger.debug(
                "pin map '%s' (~%d MB) dropped from memory: the pin map cache is full",
                dropped_id,
                dropped.size // (1024 * 1024),
            )

    def forget(self, pin_map_id: str | None) -> None:
        """Drop the parsed copy of a pin map that another server changed; it is read again.

        Args:
            pin_map_id: The pin map; None drops every parsed copy (after missed notices).
        """
        with self._lock:
            keys = list(self._generations) if pin_map_id is None else [PinMapId(pin_map_id)]
            for key in keys:
                old = self._cache.pop(key, None)
                if old is not None:
                    self._cached_bytes -= old.size
                self._generations[key] = self._generations.get(key, -1) + 1

    def ids(self) -> list[PinMapId]:
        """Return the ids of all registered pin maps, in registration order."""
        with self._lock:
            return list(self._generations)
