"""One log line per event of the server's event log (``pinbroker serve``'s operator log).

A thread follows the :class:`~pinbroker.events.EventLog` with a subscription and logs each event
to the ``pinbroker.events`` logger: ``queued`` at DEBUG, every other kind at INFO. The threads
that append events (handlers, the lease reaper) do no logging I/O for it, and lines come out in
revision order. Text lines read like::

    #12 reserved 'niDCPower-SMU1', 'niDMM-DMM1'; reservation 7; by alice@bench7 (ipv4:10.0.0.7:5123)

Session names are quoted, as they may contain commas (``niDCPower-SMU1/0, SMU2/0``).

JSON lines add the event's fields, with the names and shapes of ``pinbroker events --json``:
``revision``, ``kind``, ``session_names``, ``reservation_id``, ``owner`` (``peer``,
``hostname``, ``username``, ``pid``; or null) and ``reason``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Final

from pinbroker._logging import FIELDS
from pinbroker.events import Event, EventKind, EventLog, EventOwner

__all__ = ["EventLogger", "event_fields", "event_message"]

_logger = logging.getLogger("pinbroker.events")

MAX_NAMES_IN_TEXT: Final = 20
"""Session names spelled out in a message; the rest are counted (JSON has them all)."""

_REQUEST_KINDS: Final = frozenset({EventKind.QUEUED, EventKind.TIMED_OUT, EventKind.CANCELLED})
"""Kinds whose ``reservation_id`` is the id of a waiting request."""

_LEVELS: Final = {EventKind.QUEUED: logging.DEBUG}


def _owner_text(owner: EventOwner) -> str:
    who = f"{owner.username}@{owner.hostname}" if owner.username and owner.hostname else ""
    who = who or owner.username or owner.hostname
    details = [part for part in (owner.peer, f"pid {owner.pid}" if owner.pid else "") if part]
    if not who:
        return " ".join(details) or "-"
    return f"{who} ({', '.join(details)})" if details else who


def event_message(event: Event) -> str:
    """The readable message of an event's log line (see the module docstring)."""
    names = event.session_names
    shown = ", ".join(repr(name) for name in names[:MAX_NAMES_IN_TEXT]) or "-"
    if len(names) > MAX_NAMES_IN_TEXT:
        shown += f" and {len(names) - MAX_NAMES_IN_TEXT} more"
    if event.kind is EventKind.PIN_MAP_LOADED:
        parts = [f"#{event.revision} pin_map_loaded {event.reason or '-'}"]
    else:
        parts = [f"#{event.revision} {event.kind.value} {shown}"]
        if event.reservation_id is not None:
            noun = "request" if event.kind in _REQUEST_KINDS else "reservation"
            parts.append(f"{noun} {event.reservation_id}")
    if event.owner is not None:
        parts.append(f"by {_owner_text(event.owner)}")
    if event.reason and event.kind is not EventKind.PIN_MAP_LOADED:
        parts.append(f"reason: {event.reason}")
    return "; ".join(parts)


def event_fields(event: Event) -> dict[str, Any]:
    """The JSON fields of an event's log line (those of ``pinbroker events --json``)."""
    owner = event.owner
    return {
        "revision": event.revision,
        "kind": event.kind.value,
        "session_names": list(event.session_names),
        "reservation_id": event.reservation_id,
        "owner": None
        if owner is None
        else {
            "peer": owner.peer,
            "hostname": owner.hostname,
            "username": owner.username,
            "pid": owner.pid,
        },
        "reason": event.reason,
    }


class EventLogger:
    """Log the events appended to an event log after a given revision, until :meth:`close`."""

    def __init__(self, events: EventLog, *, after: int) -> None:
        """Start a thread that logs every event after revision ``after``.

        Args:
            events: The server's event log.
            after: The last revision not to log (e.g. the newest one restored from the state
                store at start-up, so that only this run's events are logged).
        """
        self._subscription = events.subscribe(after=after)
        self._thread = threading.Thread(target=self._run, name="pinbroker-event-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        subscription = self._subscription
        while subscription.wait():
            self._log_batch()
        self._log_batch()  # what arrived before close()

    def _log_batch(self) -> None:
        batch = self._subscription.poll()
        if batch.lost:
            _logger.warning(
                "%d event(s) were not logged: they left the event history before the log "
                "caught up (see `pinbroker events`)",
                batch.lost,
            )
        for event in batch.events:
            level = _LEVELS.get(event.kind, logging.INFO)
            if _logger.isEnabledFor(level):
                _logger.log(level, "%s", event_message(event), extra={FIELDS: event_fields(event)})

    def close(self) -> None:
        """Log what is still pending, then stop the thread; idempotent."""
        self._subscription.close()
        self._thread.join()
