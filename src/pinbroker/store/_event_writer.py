"""Persisting the event log: a writer thread appends events to the store in batches.

The event log hands each appended event to :meth:`EventWriter.submit` (cheap: a queue put,
under the reservation table's lock); one thread writes whatever has piled up in one
``append_events`` call (one transaction), keeping the newest ``keep`` events. On a clean stop
:meth:`close` writes the rest; a ``kill -9`` can lose the events of the last batch in flight
(never reservations, which have their own journal). A batch that cannot be written (a full
state disk, say) is logged and dropped: the events stay in memory for ``pinbroker events``,
the writer thread keeps running, and later batches are written once the disk has room again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from pinbroker.errors import StateDiskFullError
from pinbroker.events import Event

__all__ = ["EventWriter"]

_logger = logging.getLogger(__name__)


class _EventStore(Protocol):
    def append_events(self, events: Sequence[Event], *, keep: int) -> None: ...


class EventWriter:
    """Writes events to a store on a thread of its own. Thread-safe."""

    def __init__(self, store: _EventStore, *, keep: int) -> None:
        """Start the writer thread.

        Args:
            store: Where events go.
            keep: How many of the newest events the store keeps.
        """
        self._store = store
        self._keep = keep
        self._changed = threading.Condition(threading.Lock())
        self._pending: list[Event] = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="pinbroker-events", daemon=True)
        self._thread.start()

    def submit(self, events: Sequence[Event]) -> None:
        """Queue events for writing; never blocks on I/O."""
        with self._changed:
            if self._closed:
                return
            self._pending.extend(events)
            self._changed.notify()

    def close(self) -> None:
        """Write what is pending and stop the thread."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._closed)
                batch, self._pending = self._pending, []
                closing = self._closed
            if batch:
                try:
                    self._store.append_events(batch, keep=self._keep)
                except StateDiskFullError as exc:
                    _logger.warning("%d event(s) not stored, dropped: %s", len(batch), exc)
                except Exception:
                    _logger.exception("writing %d event(s) to the state store failed", len(batch))
            if closing and not batch:
                return
