"""Events shared by every server on the database: numbered there, mirrored in each server.

A transaction that records events takes the ``event_revision`` counter row last (after every
session, waiter and lease row it locks), numbers its events from it and notifies
``pinbroker_events``; so revisions follow commit order without gaps, and a reader that sees
revision N sees every revision below it. Each server's :class:`SharedEventLog` pulls what is
new into its in-memory :class:`~pinbroker.events.EventLog` (what WatchEvents, the status page
and the event logger read) when notified, after its own writes, and after a reconnect.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from psycopg.types.json import Jsonb

from pinbroker.cluster._db import Cursor, Database
from pinbroker.events import Event, EventKind, EventLog, EventOwner
from pinbroker.store._codec import decode_event_owner, encode_event_owner

__all__ = ["EVENTS_CHANNEL", "NewEvent", "SharedEventLog", "insert_events"]

EVENTS_CHANNEL: Final = "pinbroker_events"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to record; the database gives it its revision."""

    kind: EventKind
    session_names: tuple[str, ...] = ()
    reservation_id: int | None = None
    owner: EventOwner | None = None
    reason: str = ""


def insert_events(
    cursor: Cursor, events: Sequence[NewEvent], *, now: float, keep: int
) -> tuple[Event, ...]:
    """Number and store events inside the caller's transaction; take the counter lock last.

    The database function ``pinbroker_record`` does it (the hot-path functions call it too):
    it keeps the newest ``keep`` revisions and notifies :data:`EVENTS_CHANNEL` (delivered when
    the transaction commits).
    """
    if not events:
        return ()
    recorded = [
        {
            "kind": event.kind.value,
            "names": list(event.session_names),
            "rid": event.reservation_id,
            "owner": None if event.owner is None else encode_event_owner(event.owner),
            "reason": event.reason,
        }
        for event in events
    ]
    cursor.execute("SELECT pinbroker_record(%s, %s, %s)", (Jsonb(recorded), now, keep))
    row = cursor.fetchone()
    assert row is not None
    assert row[0] is not None, "pinbroker_record numbered nothing"
    first = int(row[0]) - len(events) + 1
    return tuple(
        Event(
            revision=first + offset,
            time=now,
            kind=event.kind,
            session_names=event.session_names,
            reservation_id=event.reservation_id,
            owner=event.owner,
            reason=event.reason,
        )
        for offset, event in enumerate(events)
    )


def _event_of(row: tuple[object, ...]) -> Event:
    revision, at, kind, names, reservation_id, owner, reason = row
    assert isinstance(revision, int)
    assert isinstance(at, float)
    assert isinstance(kind, str)
    assert isinstance(names, list)
    assert isinstance(reason, str)
    return Event(
        revision=revision,
        time=at,
        kind=EventKind(kind),
        session_names=tuple(str(name) for name in names),
        reservation_id=reservation_id if isinstance(reservation_id, int) else None,
        owner=decode_event_owner(owner) if isinstance(owner, str) else None,
        reason=reason,
    )


_SELECT: Final = (
    "SELECT revision, time, kind, session_names, reservation_id, owner, reason FROM events "
)


class SharedEventLog(EventLog):
    """An :class:`EventLog` whose events are numbered and kept in the shared database.

    :meth:`append` writes to the database (its own transaction) and then pulls, so the
    caller's event is in the mirror when it returns; :meth:`pull` brings in what other
    servers (and this server's reservation transactions) recorded.
    """

    def __init__(
        self, database: Database, *, capacity: int, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(capacity=capacity, clock=clock)
        self._database = database
        self._wall = clock
        self._pull_lock = threading.Lock()
        self._flight_lock = threading.Lock()
        self._in_flight = 0

    def load(self) -> None:
        """Mirror the newest ``capacity`` stored events (at start-up)."""

        def work(cursor: Cursor) -> list[Event]:
            cursor.execute(_SELECT + "ORDER BY revision DESC LIMIT %s", (self.capacity,))
            return [_event_of(row) for row in cursor.fetchall()]

        self.ingest(sorted(self._database.run(work), key=lambda e: e.revision))

    def append(
        self,
        kind: EventKind,
        *,
        session_names: Iterable[str] = (),
        reservation_id: int | None = None,
        owner: EventOwner | None = None,
        reason: str = "",
    ) -> Event:
        """Record an event in the database, then mirror it (and anything newer found)."""
        event = NewEvent(kind, tuple(session_names), reservation_id, owner, reason)
        (stored,) = self._database.run(
            lambda cursor: insert_events(cursor, (event,), now=self._wall(), keep=self.capacity)
        )
        self.pull()
        return stored

    def offer(self, events: Sequence[Event]) -> None:
        """Mirror events this server just recorded, without a read when they come next.

        If they do not follow the newest mirrored event (another server recorded some in
        between), everything newer is read instead.
        """
        if not events:
            return
        with self._pull_lock:
            latest = self.latest_revision
            if events[-1].revision <= latest:
                return  # pulled already
            if events[0].revision == latest + 1:
                self.ingest(events)
                return
        self.pull()

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Around a call that records events and then offers them (see :meth:`offer`)."""
        with self._flight_lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._flight_lock:
                self._in_flight -= 1

    @property
    def recording_now(self) -> bool:
        """Whether a call of this server is recording events it has not offered yet."""
        with self._flight_lock:
            return self._in_flight > 0

    def catch_up(self) -> None:
        """Read what other servers recorded and this mirror has not seen yet (see pull)."""
        self.pull()

    def pull(self) -> None:
        """Mirror every stored event newer than the newest mirrored one."""
        with self._pull_lock:
            after = self.latest_revision

            def read() -> list[Event]:
                rows = self._database.call(
                    _SELECT + "WHERE revision > %s ORDER BY revision LIMIT %s",
                    (after, self.capacity),
                )
                return [_event_of(row) for row in rows]

            while True:
                events = read()
                if not events:
                    return
                self.ingest(events)
                if len(events) < self.capacity:
                    return
                after = events[-1].revision
