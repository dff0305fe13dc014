"""The pin map repository: pin maps by id, parsed once, persisted through the store."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from pinbroker.errors import (
    InvalidPinMapIdError,
    PinbrokerError,
    PinMapAlreadyExistsError,
    PinMapNotFoundError,
)
from pinbroker.events import EventKind, EventLog
from pinbroker.pinmap import DEFAULT_LIMITS, ParseLimits, PinMap, load_pinmap
from pinbroker.store import Store
from pinbroker.types import PinMapId

__all__ = ["PinMapRepository", "StoredPinMap"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredPinMap:
    """A registered pin map: its id, the XML it was loaded from, and the parsed model."""

    pin_map_id: PinMapId
    xml: str
    pin_map: PinMap


class PinMapRepository:
    """Thread-safe registry of pin maps keyed by pin map id.

    XML is parsed outside the lock (a large pin map takes a while), persisted, then published, so a
    pin map that fails to parse or to persist changes nothing.
    """

    def __init__(
        self,
        store: Store,
        *,
        limits: ParseLimits = DEFAULT_LIMITS,
        parse: Callable[..., PinMap] = load_pinmap,
        events: EventLog | None = None,
    ) -> None:
        self._store = store
        self._events = events
        self._limits = limits
        self._parse = parse
        self._lock = threading.Lock()
        self._pin_maps: dict[PinMapId, StoredPinMap] = {}

    def restore(self) -> list[str]:
        """Load every persisted pin map; return one message per pin map that no longer loads.

        A persisted pin map that fails to parse (e.g. after an upgrade made validation stricter) is
        kept in the store untouched and reported, never deleted.
        """
        problems: list[str] = []
        for pin_map_id, xml in self._store.load_pin_maps():
            try:
                parsed = self._parse(xml, source=pin_map_id, limits=self._limits)
            except PinbrokerError as exc:
                problems.append(f"stored pin map '{pin_map_id}' no longer loads: {exc}")
                continue
            with self._lock:
                self._pin_maps[PinMapId(pin_map_id)] = StoredPinMap(
                    PinMapId(pin_map_id), xml, parsed
                )
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
            if key in self._pin_maps:
                raise PinMapAlreadyExistsError(pin_map_id)
        parsed = self._parse(xml, source=pin_map_id, limits=self._limits)
        with self._lock:
            if key in self._pin_maps:
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
        stored = StoredPinMap(key, xml, parsed)
        self._pin_maps[key] = stored
        if self._events is not None:
            self._events.append(EventKind.PIN_MAP_LOADED, reason=key)
        return stored

    def get(self, pin_map_id: str) -> StoredPinMap:
        """Return the registered pin map.

        Raises:
            PinMapNotFoundError: If no pin map has this id.
        """
        with self._lock:
            stored = self._pin_maps.get(PinMapId(pin_map_id))
        if stored is None:
            raise PinMapNotFoundError(pin_map_id)
        return stored

    def ids(self) -> list[PinMapId]:
        """Return the ids of all registered pin maps, in registration order."""
        with self._lock:
            return list(self._pin_maps)
