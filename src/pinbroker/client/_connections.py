"""Which reserved connections match a query, and in what order (pure: no grpc, no protobuf).

The order follows NI's published session management client, so code ported from it sees the
same sequence (see docs: session-mapping.md §c5):

1. sites: the sites asked for, else the reservation's sites (the sites of its pin map context,
   else the sites seen in its channel mappings), then the system site -1 if not already there;
2. within a site, pins and relays: the names asked for, else the reservation's names (the names
   it was reserved for, else the names seen in its channel mappings), with pin and relay groups
   replaced by their members (``group_mappings``) and duplicates dropped;
3. within a pin, instrument types: the type asked for, else every reserved type, sorted.

Several connections of one (pin, site, type) are all returned, in channel mapping order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

from pinbroker.client._sessions import Connection
from pinbroker.types import SITE_SYSTEM

__all__ = ["ConnectionIndex", "resolve_names"]

_T = TypeVar("_T")
_Key = tuple[str, int, str]  # (pin_or_relay_name, site, instrument_type_id)


def _as_list(value: _T | Iterable[_T] | None, kind: type[_T]) -> list[_T] | None:
    """None stays None; a single ``kind`` value becomes a one-item list."""
    if value is None:
        return None
    if isinstance(value, kind):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    raise TypeError(f"expected {kind.__name__}, an iterable of {kind.__name__} or None: {value!r}")


def _unique(values: Iterable[_T]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys(values))


def resolve_names(
    names: Iterable[str], group_mappings: Mapping[str, Sequence[str]]
) -> tuple[str, ...]:
    """Replace each group name by its members; keep order, drop duplicates."""
    resolved: list[str] = []
    for name in names:
        resolved.extend(group_mappings.get(name, (name,)))
    return _unique(resolved)


def _quoted(values: Iterable[object]) -> str:
    return ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values)


def _describe(
    names: Sequence[str] | None, sites: Sequence[int] | None, instrument_type_id: str | None
) -> str:
    parts = []
    if names is not None:
        parts.append(f"pin or relay name(s) {_quoted(names)}")
    if sites is not None:
        parts.append(f"site(s) {_quoted(sites)}")
    if instrument_type_id is not None:
        parts.append(f"instrument type ID '{instrument_type_id}'")
    return "; ".join(parts)


@dataclass(frozen=True)
class ConnectionIndex:
    """The connections of one reservation, ready to be queried.

    Build it with :meth:`build`. Attributes are the reservation's defaults for a query.

    Attributes:
        connections: Every connection, in session then channel mapping order.
        pin_or_relay_names: The reservation's names, groups resolved.
        sites: The reservation's sites (without the implicit system site).
        instrument_type_ids: The reserved instrument types, sorted.
        group_mappings: Group name -> members, as the service resolved the request.
    """

    connections: tuple[Connection, ...]
    pin_or_relay_names: tuple[str, ...]
    sites: tuple[int, ...]
    instrument_type_ids: tuple[str, ...]
    group_mappings: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    _by_key: Mapping[_Key, tuple[Connection, ...]] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )

    @classmethod
    def build(
        cls,
        connections: Iterable[Connection],
        *,
        instrument_type_ids: Iterable[str],
        group_mappings: Mapping[str, tuple[str, ...]] | None = None,
        reserved_pin_or_relay_names: str | Iterable[str] | None = None,
        reserved_sites: Iterable[int] | None = None,
    ) -> ConnectionIndex:
        """Index the connections of a reservation.

        Args:
            connections: Every connection of the reserved sessions.
            instrument_type_ids: Instrument types of the reserved sessions.
            group_mappings: Group name -> members, as the service resolved them.
            reserved_pin_or_relay_names: Names the reservation was made for; None or empty if it
                was made for every pin and relay.
            reserved_sites: Sites of the reservation's pin map context; None or empty for all.
        """
        connections = tuple(connections)
        mappings = MappingProxyType(dict(group_mappings or {}))
        names = _as_list(reserved_pin_or_relay_names, str)
        if not names:
            # None or empty: the reservation was made for every pin and relay.
            resolved = _unique(c.pin_or_relay_name for c in connections)
        else:
            resolved = resolve_names(names, mappings)
        sites = _unique(reserved_sites or ())
        if not sites:
            # An empty context means "all sites"; use the sites the mappings show.
            sites = _unique(c.site for c in connections if c.site != SITE_SYSTEM)
        by_key: dict[_Key, list[Connection]] = {}
        for connection in connections:
            key = (connection.pin_or_relay_name, connection.site, connection.instrument_type_id)
            by_key.setdefault(key, []).append(connection)
        return cls(
            connections=connections,
            pin_or_relay_names=resolved,
            sites=sites,
            instrument_type_ids=tuple(sorted(set(instrument_type_ids))),
            group_mappings=mappings,
            _by_key=MappingProxyType({k: tuple(v) for k, v in by_key.items()}),
        )

    def select(
        self,
        pin_or_relay_names: str | Iterable[str] | None = None,
        sites: int | Iterable[int] | None = None,
        instrument_type_id: str | None = None,
    ) -> tuple[Connection, ...]:
        """Return the connections matching every given criterion (None = no restriction).

        Raises:
            ValueError: If a given name, site or instrument type is not part of the reservation,
                if a given name matched no connection, or if criteria were given and nothing
                matched. The message names the criteria.
            TypeError: If a criterion has the wrong type.
        """
        names_asked = _as_list(pin_or_relay_names, str)
        sites_asked = _as_list(sites, int)
        if instrument_type_id is not None and not isinstance(instrument_type_id, str):
            raise TypeError(f"instrument_type_id must be a str or None: {instrument_type_id!r}")

        names = resolve_names(
            names_asked if names_asked is not None else self.pin_or_relay_names,
            self.group_mappings,
        )
        site_order = _unique(sites_asked if sites_asked is not None else self.sites)
        types = (
            (instrument_type_id,) if instrument_type_id is not None else self.instrument_type_ids
        )

        if names_asked is not None:
            self._check_known("pin or relay name(s)", names, self.pin_or_relay_names)
        if sites_asked is not None:
            self._check_known("site(s)", site_order, (*self.sites, SITE_SYSTEM))
        if instrument_type_id is not None:
            self._check_known("instrument type ID", types, self.instrument_type_ids)

        if SITE_SYSTEM not in site_order:
            site_order = (*site_order, SITE_SYSTEM)
        results: list[Connection] = []
        matched: set[str] = set()
        for site in site_order:
            for name in names:
                for type_id in types:
                    found = self._by_key.get((name, site, type_id), ())
                    results.extend(found)
                    if found:
                        matched.add(name)

        criteria_without_names = _describe(None, sites_asked, instrument_type_id)
        if names_asked is not None:
            unmatched = [n for n in names if n not in matched]
            if unmatched:
                message = (
                    f"No reserved connections matched pin or relay name(s) {_quoted(unmatched)}"
                )
                if criteria_without_names:
                    message += f" with the specified criteria: {criteria_without_names}"
                raise ValueError(message + ".")
        asked = names_asked is not None or sites_asked is not None or instrument_type_id is not None
        if asked and not results:
            criteria = _describe(names_asked, sites_asked, instrument_type_id)
            raise ValueError(f"No reserved connections matched the specified criteria: {criteria}.")
        return tuple(results)

    def select_one(
        self,
        pin_or_relay_name: str | None = None,
        site: int | None = None,
        instrument_type_id: str | None = None,
    ) -> Connection:
        """Return the single connection matching the criteria.

        Raises:
            ValueError: If no connection or more than one matches (see :meth:`select`).
            TypeError: If a criterion has the wrong type.
        """
        if pin_or_relay_name is not None and not isinstance(pin_or_relay_name, str):
            raise TypeError(f"pin_or_relay_name must be a str or None: {pin_or_relay_name!r}")
        if site is not None and not isinstance(site, int):
            raise TypeError(f"site must be an int or None: {site!r}")
        results = self.select(pin_or_relay_name, site, instrument_type_id)
        if not results:
            raise ValueError(
                "No reserved connections matched the specified criteria. "
                "Expected single connection, got 0 connections."
            )
        if len(results) > 1:
            raise ValueError(
                "Too many reserved connections matched the specified criteria. "
                f"Expected single connection, got {len(results)} connections."
            )
        return results[0]

    @staticmethod
    def _check_known(what: str, asked: Iterable[_T], known: Iterable[_T]) -> None:
        known_set = set(known)
        unknown = [value for value in asked if value not in known_set]
        if unknown:
            raise ValueError(f"No reserved connections matched {what} {_quoted(unknown)}.")
