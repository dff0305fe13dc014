"""The JSON of the ``/api/`` endpoints, built from the objects the servers already hold (pure).

No HTTP here: each function takes the session manager, the lease table or the event log and
returns plain ``dict``/``list`` values. ``status`` and ``events`` reuse the shapes of
``pinbroker status --json`` and ``pinbroker events --json`` (:mod:`pinbroker.admin_cli._format`)
by converting through the admin API's messages, so the schemas cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pinbroker.admin_cli._format import event_json, rfc3339, status_json
from pinbroker.broker import PinMapRepository, SessionManager
from pinbroker.client._admin import event_from_pb, status_from_pb
from pinbroker.events import Event, EventKind, EventLog
from pinbroker.reservation import LeaseTableLike, TableSnapshot
from pinbroker.server._admin_service import event_to_pb, status_pb
from pinbroker.types import SessionNaming

__all__ = ["BrokerState", "SessionState"]

JsonObject = dict[str, Any]


class SessionState:
    """The three states a session is shown in (``data-state``)."""

    FREE = "free"
    HELD = "held"
    WANTED = "wanted"


def _state_of(name: str, snapshot: TableSnapshot, wanted: frozenset[str]) -> str:
    if name in snapshot.held:
        return SessionState.HELD
    return SessionState.WANTED if name in wanted else SessionState.FREE


def _wanted(snapshot: TableSnapshot) -> frozenset[str]:
    return frozenset(name for w in snapshot.waiting for name in w.session_names)


@dataclass(frozen=True)
class BrokerState:
    """Read-only views of a running server for the web API.

    Attributes:
        sessions: The session manager (reservation table and registry behind it).
        pin_maps: The pin map repository.
        leases: The client lease table.
        events: The event log.
        naming: How session names are formed (as the server was configured).
    """

    sessions: SessionManager
    pin_maps: PinMapRepository
    leases: LeaseTableLike
    events: EventLog
    naming: SessionNaming

    def status(self) -> JsonObject:
        """``GET /api/status``: exactly ``pinbroker status --json``."""
        message = status_pb(self.sessions.table, self.leases, self.events)
        return status_json(status_from_pb(message))

    def event(self, event: Event) -> JsonObject:
        """One event as ``pinbroker events --json`` prints it."""
        return event_json(event_from_pb(event_to_pb(event)))

    def events_since(self, revision: int) -> JsonObject:
        """``GET /api/events?since=REV``: the retained events after ``revision``."""
        self.events.catch_up()
        return {
            "oldest_revision": self.events.oldest_revision,
            "latest_revision": self.events.latest_revision,
            "events": [self.event(e) for e in self.events.since(revision)],
        }

    def _loaded_times(self) -> dict[str, str]:
        times: dict[str, str] = {}
        for event in self.events.since(0):
            if event.kind is EventKind.PIN_MAP_LOADED and event.reason:
                times[event.reason] = rfc3339(datetime.fromtimestamp(event.time, timezone.utc))
        return times

    def pin_maps_summary(self) -> JsonObject:
        """``GET /api/pin-maps``: every registered pin map, registration order."""
        loaded = self._loaded_times()
        items = []
        for pin_map_id in self.pin_maps.ids():
            pin_map = self.pin_maps.get(pin_map_id).pin_map
            items.append(
                {
                    "id": pin_map_id,
                    "pins": [p.name for p in pin_map.pins],
                    "sites": list(pin_map.sites),
                    "instruments": len(pin_map.instruments),
                    "loaded": loaded.get(pin_map_id),
                }
            )
        return {"pin_maps": items}

    def pin_map_grid(self, pin_map_id: str) -> JsonObject:
        """``GET /api/pin-maps/{id}``: for each pin (and relay) and site, its sessions and state.

        Raises:
            PinMapNotFoundError: If no pin map has that id.
        """
        pin_map = self.pin_maps.get(pin_map_id).pin_map
        snapshot = self.sessions.table.snapshot()
        wanted = _wanted(snapshot)
        resolution = pin_map.resolve(naming=self.naming)
        cells: dict[tuple[str, int], list[JsonObject]] = {}
        for session in resolution.sessions:
            state = _state_of(session.session_name, snapshot, wanted)
            for mapping in session.channel_mappings:
                cells.setdefault((mapping.pin_or_relay_name, mapping.site), []).append(
                    {
                        "session_name": session.session_name,
                        "instrument_type_id": session.instrument_type_id,
                        "resource_name": session.resource_name,
                        "channel": mapping.channel,
                        "multiplexer": mapping.multiplexer_resource_name or None,
                        "state": state,
                    }
                )

        def row(key: str, name: str, system: bool) -> JsonObject:
            sites: Sequence[int] = (-1,) if system else pin_map.sites
            return {
                key: name,
                "system": system,
                "sites": [
                    {"site": site, "connections": cells.get((name, site), [])} for site in sites
                ],
            }

        return {
            "id": pin_map_id,
            "sites": list(pin_map.sites),
            "pins": [row("pin", pin.name, pin.is_system) for pin in pin_map.pins],
            "relays": [row("relay", relay.name, relay.is_system) for relay in pin_map.relays],
        }

    def registered_sessions(self) -> JsonObject:
        """``GET /api/sessions``: registered (or reserved) sessions and multiplexer sessions."""
        views, multiplexers = self.sessions.get_sessions()
        snapshot = self.sessions.table.snapshot()
        wanted = _wanted(snapshot)
        return {
            "sessions": [
                {
                    "session_name": v.session_name,
                    "resource_name": v.resource_name,
                    "channel_list": v.channel_list,
                    "instrument_type_id": v.instrument_type_id,
                    "registered": v.session_exists,
                    "state": _state_of(v.session_name, snapshot, wanted),
                }
                for v in views
            ],
            "multiplexers": [
                {
                    "session_name": m.session_name,
                    "resource_name": m.resource_name,
                    "multiplexer_type_id": m.multiplexer_type_id,
                    "registered": m.session_exists,
                }
                for m in multiplexers
            ],
        }
