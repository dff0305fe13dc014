"""Persisting the event log: a writer thread appends events to the store in batches.

The event log hands each appended event to :meth:`EventWriter.submit` (cheap: a queue put,
under the reservation table's lock); one thread writes whatever has piled up in one
``append_events`` call (one transaction), keeping the newest ``keep`` events. After the first
event of a batch the thread lingers ``linger`` seconds (0.1 by default) for more: a busy server
writes ten event transactions a second instead of one per event, each of which would otherwise
compete with the reservation journal for the store (measured: two per reserve + unreserve
cycle, and the trim of the history reads ``keep`` index entries each time, see
docs/performance.md). On a clean stop :meth:`close` writes the rest at once; a ``kill -9`` can
lose the events of the last batch in flight, at most ``linger`` seconds of them (never
reservations, which have their own journal). A batch that cannot be written (a full
state disk, say) is logged and dropped: the events stay in memory for ``pinbroker events``,
the writer thread keeps running, and later batches are written once the disk has room again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from pinbroker.errors import StateDiskFullError
from pinbroker.events import Event

__all__ = ["DEFAULT_LINGER", "EventWriter"]

DEFAULT_LINGER = 0.1
"""Seconds the writer waits after the first event of a batch for more."""

_CHUNK = 500
"""Events per transaction: a burst (1,000 requests queued at once) holds the store briefly."""

_logger = logging.getLogger(__name__)


class _EventStore(Protocol):
    def append_events(self, events: Sequence[Event], *, keep: int) -> None: ...


class EventWriter:
    """Writes events to a store on a thread of its own. Thread-safe."""

    def __init__(self, store: _EventStore, *, keep: int, linger: float = DEFAULT_LINGER) -> None:
        """Start the writer thread.

        Args:
            store: Where events go.
            keep: How many of the newest events the store keeps.
            linger: Seconds to wait after the first event of a batch for more (0: write at
                once).
        """
        self._store = store
        self._keep = keep
        self._linger = linger
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
            first = not self._pending
            self._pending.extend(events)
            if first:  # a lingering writer needs no wake-up per event
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
                if self._linger > 0 and not self._closed:  # let a batch gather
                    deadline = time.monotonic() + self._linger
                    while not self._closed and (left := deadline - time.monotonic()) > 0:
                        self._changed.wait(left)  # close() wakes it early
                batch, self._pending = self._pending, []
                closing = self._closed
            # In chunks: the journal waits for the store between them, never for a burst.
            for start in range(0, len(batch), _CHUNK):
                chunk = batch[start : start + _CHUNK]
                try:
                    self._store.append_events(chunk, keep=self._keep)
                except StateDiskFullError as exc:
                    _logger.warning("%d event(s) not stored, dropped: %s", len(chunk), exc)
                except Exception:
                    _logger.exception("writing %d event(s) to the state store failed", len(chunk))
            if closing and not batch:
                return
