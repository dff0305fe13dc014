"""The event log: every change of who holds what, numbered by revision, kept for followers.

Each :class:`Event` gets the next *revision* (1, 2, 3, ...; like etcd's revision, it only
grows, also across restarts once :meth:`EventLog.restore` has run). The log keeps the newest
``capacity`` events in memory; older ones are only in persistence, which the log feeds through
its ``on_append`` hook.

Followers read in three ways:

* :meth:`EventLog.since` answers "what happened after revision N" (history pages, SSE resume);
* a :class:`Subscription` blocks a thread until something new arrives, and its
  :meth:`~Subscription.poll` says how many events it missed if it fell behind the retained
  window;
* :meth:`EventLog.add_listener` registers a cheap callback run after each append, e.g. the
  server's ``loop.call_soon_threadsafe`` to wake asyncio followers.

Pure: no I/O; one lock (with a condition for subscribers) makes every method thread-safe.
"""

from __future__ import annotations

import enum
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType

__all__ = [
    "Event",
    "EventBatch",
    "EventKind",
    "EventLog",
    "EventOwner",
    "Subscription",
]

_logger = logging.getLogger(__name__)


class EventKind(enum.Enum):
    """What happened."""

    RESERVED = "reserved"  # sessions were granted to a reservation
    RELEASED = "released"  # their owner released sessions
    FORCE_RELEASED = "force_released"  # an administrator released someone else's sessions
    EXPIRED = "expired"  # a reservation ended because its lease expired
    QUEUED = "queued"  # a request waits for busy sessions
    TIMED_OUT = "timed_out"  # a waiting request gave up at its timeout
    CANCELLED = "cancelled"  # a waiting request was withdrawn (caller went away, shutdown)
    REGISTERED = "registered"  # sessions were registered
    UNREGISTERED = "unregistered"  # sessions were unregistered
    PIN_MAP_LOADED = "pin_map_loaded"  # a pin map was created or updated


@dataclass(frozen=True, slots=True)
class EventOwner:
    """Who caused an event or held the sessions it is about; for display only.

    Attributes:
        peer: The transport's peer address (e.g. ``ipv4:10.0.0.7:51234``).
        hostname: The client's host name.
        username: The user running the client.
        pid: The client's process id, or None if not known.
    """

    peer: str = ""
    hostname: str = ""
    username: str = ""
    pid: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened, as recorded by :meth:`EventLog.append`.

    Attributes:
        revision: Position in the log: 1 for the first event, one more for each next one.
        time: Wall-clock seconds since the epoch when it was appended; for display only.
        kind: What happened.
        session_names: The sessions concerned, in the order given (a tuple, also if a list
            was passed).
        reservation_id: The reservation (or request) concerned, or None.
        owner: Who caused it or held the sessions, or None.
        reason: Why, in words, e.g. ``lease 7 expired: not kept alive for 10 s``; may be empty.
    """

    revision: int
    time: float
    kind: EventKind
    session_names: tuple[str, ...] = ()
    reservation_id: int | None = None
    owner: EventOwner | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.revision < 1:
            raise ValueError(f"an event's revision must be >= 1, not {self.revision}")
        object.__setattr__(self, "session_names", tuple(self.session_names))


@dataclass(frozen=True, slots=True)
class EventBatch:
    """What :meth:`Subscription.poll` found.

    Attributes:
        events: The new events, oldest first; they follow the subscription's previous
            position, after the ``lost`` ones.
        lost: How many events the subscriber missed because they had left the retained window
            (``capacity``) before this poll; 0 when it kept up. Read them from persistence, or
            start over (e.g. reload the full state).
    """

    events: tuple[Event, ...]
    lost: int


class Subscription:
    """A follower's position in an :class:`EventLog`; created by :meth:`EventLog.subscribe`.

    Meant for one follower thread (:meth:`wait` then :meth:`poll`, in a loop); :meth:`close`
    may be called from any thread and wakes that follower. Also a context manager that closes
    it. A subscription holds no resources in the log, so one that is dropped without closing
    costs nothing.
    """

    def __init__(self, log: EventLog, after: int) -> None:
        """Start after revision ``after``; use :meth:`EventLog.subscribe` rather than this."""
        self._log = log
        self._seen = after
        self._closed = False

    @property
    def position(self) -> int:
        """The revision up to which events were delivered by :meth:`poll` or counted as lost."""
        with self._log._lock:
            return self._seen

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        with self._log._lock:
            return self._closed

    def wait(self, timeout: float | None = None) -> bool:
        """Block until an event newer than :attr:`position` is in the log, or until closed.

        Returns at once if one is there already. Blocks on the log's condition; never polls.

        Args:
            timeout: Real seconds to wait at most; None waits until an event arrives or the
                subscription is closed; 0 (or less) only checks.

        Returns:
            True if :meth:`poll` now has something (events or a ``lost`` count); False on
            timeout or if the subscription is closed.
        """
        log = self._log
        with log._changed:
            log._changed.wait_for(lambda: self._closed or log._latest > self._seen, timeout)
            return not self._closed and log._latest > self._seen

    def poll(self) -> EventBatch:
        """Take every event after :attr:`position` and move the position to the newest one.

        Never blocks (beyond the log's lock) and works also after :meth:`close`.

        Returns:
            The retained events after :attr:`position`, and how many events after it had
            already left the retained window; both empty (0) if nothing is new.
        """
        log = self._log
        with log._lock:
            lost = max(0, log._oldest() - 1 - self._seen)
            events = log._since(self._seen)
            self._seen = max(self._seen, log._latest)
            return EventBatch(events=events, lost=lost)

    def close(self) -> None:
        """Stop waiting: wake a thread blocked in :meth:`wait` (it returns False); idempotent."""
        log = self._log
        with log._changed:
            self._closed = True
            log._changed.notify_all()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class EventLog:
    """Numbered events, the newest ``capacity`` of them kept in memory.

    Retained events always have consecutive revisions, from :attr:`oldest_revision` to
    :attr:`latest_revision`, so :meth:`since` finds its answer by index arithmetic.
    """

    def __init__(
        self,
        *,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.time,
        on_append: Callable[[Sequence[Event]], None] | None = None,
    ) -> None:
        """Create an empty log.

        Args:
            capacity: How many of the newest events to keep in memory (>= 1).
            clock: Wall-clock time source for :attr:`Event.time`, in seconds since the epoch.
            on_append: Called with newly appended events, e.g. to persist them. It runs after
                the log's lock is released, so it does not block readers, but the
                :meth:`append` that triggered it waits for it: it must not block long, and it
                must not append to this log. Calls are serialised and see every event exactly
                once, in revision order (one call may carry events of several concurrent
                appends).

        Raises:
            ValueError: If ``capacity`` is less than 1.
        """
        if capacity < 1:
            raise ValueError(f"an event log's capacity must be >= 1, not {capacity}")
        self._capacity = capacity
        self._clock = clock
        self._on_append = on_append
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._events: deque[Event] = deque(maxlen=capacity)
        self._latest = 0
        self._pending: list[Event] = []  # appended, not yet handed to on_append
        self._delivering = threading.Lock()  # serialises on_append calls, outside _lock
        self._listeners: dict[int, Callable[[], None]] = {}
        self._listener_ids = itertools.count()
        self._listener_list: tuple[Callable[[], None], ...] = ()  # copy read without the lock

    @property
    def capacity(self) -> int:
        """How many of the newest events the log keeps in memory."""
        return self._capacity

    @property
    def latest_revision(self) -> int:
        """The revision of the newest event; 0 if nothing was appended or restored."""
        with self._lock:
            return self._latest

    @property
    def oldest_revision(self) -> int:
        """The revision of the oldest retained event; ``latest_revision + 1`` when empty."""
        with self._lock:
            return self._oldest()

    def append(
        self,
        kind: EventKind,
        *,
        session_names: Iterable[str] = (),
        reservation_id: int | None = None,
        owner: EventOwner | None = None,
        reason: str = "",
    ) -> Event:
        """Record an event with the next revision and the current time.

        Then wakes subscribers, hands the event to ``on_append`` and calls every listener, the
        last two outside the log's lock. A listener that raises is logged and skipped.

        Args:
            kind: What happened.
            session_names: The sessions concerned.
            reservation_id: The reservation (or request) concerned, if any.
            owner: Who caused it or held the sessions, if known.
            reason: Why, in words.

        Returns:
            The recorded event.

        Raises:
            Exception: Whatever ``on_append`` raises, after the event is in the log (it is not
                offered to ``on_append`` again); the listeners are still called.
        """
        names = tuple(session_names)
        with self._lock:
            event = Event(
                revision=self._latest + 1,
                time=self._clock(),
                kind=kind,
                session_names=names,
                reservation_id=reservation_id,
                owner=owner,
                reason=reason,
            )
            self._events.append(event)
            self._latest = event.revision
            if self._on_append is not None:
                self._pending.append(event)
            self._changed.notify_all()
        try:
            self._deliver()
        finally:
            self._notify_listeners()
        return event

    def since(self, revision: int) -> tuple[Event, ...]:
        """Return the retained events with a revision greater than ``revision``, oldest first.

        Takes time proportional to the answer, not to the log.

        Args:
            revision: The last revision the caller has; 0 (or anything below
                :attr:`oldest_revision`) returns every retained event.

        Returns:
            The events, empty if ``revision`` >= :attr:`latest_revision`. If ``revision`` is
            below ``oldest_revision - 1``, events in between are no longer retained; compare
            the first event's revision with ``revision + 1`` to notice.
        """
        with self._lock:
            return self._since(revision)

    def restore(self, events: Iterable[Event]) -> None:
        """Load events from persistence at start-up, before the first :meth:`append`.

        New revisions continue after the largest restored one. The log keeps the newest
        consecutive run of revisions (at most ``capacity`` events): if persistence has a gap,
        the events before it are not retained. Neither ``on_append`` nor listeners are
        called.

        Args:
            events: Events as persisted, in any order.

        Raises:
            ValueError: If two events have the same revision, or the log already has
                revisions (something was appended or restored); nothing is restored.
        """
        incoming = sorted(events, key=lambda event: event.revision)
        for earlier, later in itertools.pairwise(incoming):
            if earlier.revision == later.revision:
                raise ValueError(f"event revision {later.revision} is restored twice")
        start = len(incoming) - 1  # back to the first of the newest consecutive run
        while start > 0 and incoming[start - 1].revision == incoming[start].revision - 1:
            start -= 1
        run = incoming[max(start, 0) :]
        with self._changed:
            if self._latest != 0:
                raise ValueError(
                    f"events must be restored before the first append "
                    f"(the log is at revision {self._latest})"
                )
            if not run:
                return
            self._events.extend(run)  # the deque keeps the newest `capacity`
            self._latest = run[-1].revision
            self._changed.notify_all()

    def catch_up(self) -> None:
        """Bring the log up to date with where its events are recorded, before a reader reads.

        This log is where they are recorded, so it always is; a log that mirrors events kept
        elsewhere (``pinbroker.cluster.SharedEventLog``) reads what it has not seen yet.
        """

    def ingest(self, events: Sequence[Event]) -> None:
        """Append events numbered elsewhere (a log shared by several servers), in order.

        Events at or below :attr:`latest_revision` are skipped. Where one does not follow
        its predecessor, the retained window starts over at it (subscribers
        behind see the gap as ``lost``). Subscribers and listeners are woken; ``on_append`` is
        not called (the events are persisted already).

        Args:
            events: Events by increasing, consecutive revision.
        """
        with self._lock:
            fresh = [event for event in events if event.revision > self._latest]
            if not fresh:
                return
            for event in fresh:
                if event.revision != self._latest + 1:
                    self._events.clear()
                self._events.append(event)
                self._latest = event.revision
            self._changed.notify_all()
        self._notify_listeners()

    def subscribe(self, after: int | None = None) -> Subscription:
        """Return a subscription that delivers events after revision ``after``.

        Args:
            after: The last revision the follower has (e.g. an SSE ``Last-Event-ID``); None
                means "from now on": only events appended after this call.
        """
        with self._lock:
            return Subscription(self, self._latest if after is None else after)

    def add_listener(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` after each append, outside the log's lock, in the appending thread.

        It must be cheap and must not block (the server passes a function that does
        ``loop.call_soon_threadsafe``); it learns that something is new, not what, so it reads
        with :meth:`since` or a subscription. Exceptions it raises are logged and ignored.

        Args:
            callback: The function to call.

        Returns:
            A function that removes the listener (idempotent). An append already running may
            still call it once.
        """
        with self._lock:
            token = next(self._listener_ids)
            self._listeners[token] = callback
            self._listener_list = tuple(self._listeners.values())

        def remove() -> None:
            with self._lock:
                if self._listeners.pop(token, None) is not None:
                    self._listener_list = tuple(self._listeners.values())

        return remove

    # ------------------------------------------------------------------ internals

    def _oldest(self) -> int:
        """Return the oldest retained revision (``_latest + 1`` when empty); lock held."""
        return self._events[0].revision if self._events else self._latest + 1

    def _since(self, revision: int) -> tuple[Event, ...]:
        """Return the retained events after ``revision``, reading from the newest end."""
        count = self._latest - max(revision, self._oldest() - 1)
        if count <= 0:
            return ()
        newest_first = list(itertools.islice(reversed(self._events), count))
        newest_first.reverse()
        return tuple(newest_first)

    def _deliver(self) -> None:
        """Hand pending events to ``on_append``, one caller at a time, in revision order."""
        if self._on_append is None:
            return
        with self._delivering:
            with self._lock:
                batch, self._pending = self._pending, []
            if batch:  # else a concurrent append delivered ours already
                self._on_append(batch)

    def _notify_listeners(self) -> None:
        """Call each listener; log and skip those that raise."""
        for callback in self._listener_list:
            try:
                callback()
            except Exception:
                _logger.exception("event log listener %r failed", callback)
