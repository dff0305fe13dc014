"""The hot path of the reader: ``Connection`` elements -> connection rows, in bulk.

Half a million of these make up a large pin map. The handler lxml's callback reaches for each
one only keeps the element's attribute dict and ordinal; every 4,096 of them (and before any
other row is added, so rows stay in document order) :meth:`ConnectionBatch.flush` turns the
batch into rows with C-level operations -- ``itemgetter`` over the dicts, ``map`` to intern,
``list.extend`` into the table's columns. A batch with a missing or empty attribute falls back to
the general path, row by row, which reports the problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter

from pinbroker.pinmap._items import ItemBuilder, ItemContext
from pinbroker.pinmap._model import ConnectionKind

__all__ = ["BATCH", "ConnectionBatch", "Handler", "SlowRow"]

BATCH = 4096
"""Connections collected before they are turned into rows."""

Handler = Callable[[Mapping[str, str], int], ItemBuilder | None]
"""Handles a top-level item: (attributes, element ordinal) -> the builder of its children."""

SlowRow = Callable[[str, int, Mapping[str, str], int], None]
"""The general row path: (tag, kind, attributes, ordinal); reports missing attributes."""

_PIN = int(ConnectionKind.PIN)
_VALUES = itemgetter("pin", "siteNumber", "instrument", "channel")


class ConnectionBatch:
    """Collects ``Connection`` elements and appends them to the table in bulk."""

    def __init__(self, context: ItemContext, slow_row: SlowRow) -> None:
        """Collect into ``context``'s table; ``slow_row`` handles rows that need reporting."""
        self._context = context
        self._slow_row = slow_row
        self._attributes: list[Mapping[str, str]] = []
        self._ordinals: list[int] = []

    def handler(self) -> Handler:
        """Return the per-element handler (a closure: this is the hottest code of a load)."""
        attributes = self._attributes
        keep_attributes = attributes.append
        keep_ordinal = self._ordinals.append
        flush = self.flush

        def connection(attrib: Mapping[str, str], ordinal: int) -> ItemBuilder | None:
            keep_attributes(attrib)
            keep_ordinal(ordinal)
            if len(attributes) >= BATCH:
                flush()
            return None

        return connection

    def flush(self) -> None:
        """Turn the collected elements into rows."""
        attributes = self._attributes
        if not attributes:
            return
        ordinals = self._ordinals
        try:
            pins, sites, instruments, channels = zip(*map(_VALUES, attributes), strict=True)
        except KeyError:
            self._one_by_one()
            return
        if "" in pins or "" in instruments or any(not text.strip() for text in set(sites)):
            self._one_by_one()
            return
        intern = self._context.intern
        self._context.raw.connections.extend_pins(
            list(map(intern, pins, pins)),
            list(map(intern, sites, sites)),
            list(map(intern, instruments, instruments)),
            list(map(intern, channels, channels)),
            ordinals,
        )
        attributes.clear()
        ordinals.clear()

    def _one_by_one(self) -> None:
        batch = list(zip(self._attributes, self._ordinals, strict=True))
        self._attributes.clear()
        self._ordinals.clear()
        for attrib, ordinal in batch:
            self._slow_row("Connection", _PIN, attrib, ordinal)
