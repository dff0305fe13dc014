"""The hot path of the reader: one ``Connection`` element -> one connection row.

Half a million of these make up a large pin map, so the handler is a closure that keeps every
tool in a local variable, interns the four attribute values, appends the row to the
column-wise table, notes the channel and pin per instrument, and files the row under
(pin, site) -- all in one call, with no further pass over the rows later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pinbroker.pinmap._items import ItemBuilder, ItemContext
from pinbroker.pinmap._model import ConnectionKind

__all__ = ["Handler", "SlowRow", "connection_handler"]

Handler = Callable[[Mapping[str, str], int], ItemBuilder | None]
"""Handles a top-level item: (attributes, element ordinal) -> the builder of its children."""

SlowRow = Callable[[str, int, Mapping[str, str], int], None]
"""The general row path: (tag, kind, attributes, ordinal); reports missing attributes."""

_PIN = int(ConnectionKind.PIN)


def connection_handler(reader: ItemContext, slow_row: SlowRow) -> Handler:
    """Build the handler of ``Connection`` (the hot path: a closure over its tools)."""
    intern = reader.intern
    table = reader.raw.connections
    kinds_append = table.kinds.append
    names_append = table.names.append
    sites_append = table.site_texts.append
    targets_append = table.targets.append
    channels_append = table.channels.append
    ordinals_append = table.ordinals.append
    channels_by_target = table.channels_by_target
    names_by_target = table.names_by_target
    site_rows = table.site_rows
    site_lists = table.site_lists
    sites_of = table.sites_of
    kinds = table.kinds

    def connection(attrib: Mapping[str, str], ordinal: int) -> ItemBuilder | None:
        get = attrib.get
        pin = get("pin")
        sites = get("siteNumber")
        instrument = get("instrument")
        channel = get("channel")
        if not (pin and sites and instrument and channel is not None):
            slow_row("Connection", _PIN, attrib, ordinal)
            return None
        pin = intern(pin, pin)
        sites = intern(sites, sites)
        instrument = intern(instrument, instrument)
        channel = intern(channel, channel)
        row = len(kinds)
        kinds_append(_PIN)
        names_append(pin)
        sites_append(sites)
        targets_append(instrument)
        channels_append(channel)
        ordinals_append(ordinal)
        seen = channels_by_target.get(instrument)
        if seen is None:
            seen = channels_by_target[instrument] = set()
            names_by_target[instrument] = set()
        seen.add(channel)
        names_by_target[instrument].add(pin)
        # File the row under (pin, site): what ConnectionTable.file does, inlined.
        per_site = site_rows.get(pin)
        if per_site is None:
            per_site = site_rows[pin] = {}
        numbers = site_lists.get(sites)
        if numbers is None:
            numbers = sites_of(sites)
        for site in numbers:
            current = per_site.get(site)
            if current is None:
                per_site[site] = row
            elif isinstance(current, int):
                per_site[site] = [current, row]
            else:
                current.append(row)
        return None

    return connection
