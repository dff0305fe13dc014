"""One server's membership of a cluster sharing a PostgreSQL database, and its background work.

Each server has a row in ``servers`` whose heartbeat it renews every third of its lease TTL.
A server whose heartbeat is older than its TTL is dead: its waiters stop counting at once
(every grant decision joins ``waiters`` with live ``servers``), and the next heartbeat of any
live server deletes its row and its waiters, with a ``cancelled`` event each, and notifies the
sessions concerned so younger waiters elsewhere are tried. A server that was only stalled
(SIGSTOP, a long pause) finds its row gone at its next heartbeat, registers again under the
same id, and its own waiters fail with ``CancelledError`` (their rows are gone).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Final

from pinbroker.cluster._db import Cursor, Database
from pinbroker.cluster._events import EVENTS_CHANNEL, SharedEventLog
from pinbroker.cluster._leases import SharedLeaseTable
from pinbroker.cluster._listener import Listener
from pinbroker.cluster._registry import PIN_MAPS_CHANNEL, SharedPinMapStore, SharedRegistry
from pinbroker.cluster._schema import migrate
from pinbroker.cluster._sql import CHANGED_CHANNEL, cancel_waiters
from pinbroker.cluster._table import SharedReservationTable
from pinbroker.errors import DatabaseUnavailableError

__all__ = ["Cluster"]

_logger = logging.getLogger(__name__)

_MAX_BEAT: Final = 2.0
"""Seconds between heartbeats at most, whatever the TTL."""

_OFFER_WAIT: Final = 0.02
"""Seconds an events notice waits for the server's own call to offer them before a read."""


class Cluster:
    """Everything one server shares with the others through the database. Thread-safe.

    Attributes:
        database: The connection pool.
        events: The shared event log (mirrored here).
        table: The shared reservation table.
        leases: The shared lease table.
        registry: Registered sessions and multiplexer sessions.
        pin_map_store: Pin maps' XML.
        server_id: This server's row in ``servers``.
    """

    def __init__(
        self,
        url: str,
        *,
        lease_ttl: float,
        address: str,
        event_history: int,
    ) -> None:
        """Connect, migrate the schema, join the cluster and start listening.

        Raises:
            StateDatabaseError: If the database cannot be reached or its schema is newer.
        """
        self.database = Database(url)
        try:
            migrate(self.database)
            self._ttl = lease_ttl
            self._address = address
            self.server_id = self._join()
            self.events = SharedEventLog(self.database, capacity=event_history)
            self.events.load()
            self.table = SharedReservationTable(
                self.database, self.events, server_id=self.server_id
            )
            self.leases = SharedLeaseTable(self.database, ttl=lease_ttl)
            self.registry = SharedRegistry(self.database)
            self.pin_map_store = SharedPinMapStore(self.database)
        except BaseException:
            self.database.close()
            raise
        self._forget_pin_map: Callable[[str | None], None] | None = None
        self._connected_since: datetime | None = None  # database time of the first beat in a row
        self._stop = threading.Event()
        self._pull_wanted = threading.Event()
        self._notified = 0  # the newest revision an events notice named
        self._listener: Listener | None = None
        self._threads: list[threading.Thread] = []

    def start(self, forget_pin_map: Callable[[str | None], None] | None = None) -> None:
        """Start listening, pulling events and the heartbeat.

        Args:
            forget_pin_map: Called with a pin map id when another server changed it (the
                repository drops its parsed copy), and with None after a reconnection.
        """
        self._forget_pin_map = forget_pin_map
        self._listener = Listener(
            self.database,
            {
                CHANGED_CHANNEL: self.table.on_changed,
                EVENTS_CHANNEL: self._events_recorded,
                PIN_MAPS_CHANNEL: self._pin_map_changed_to,
            },
            self._on_connect,
        )
        self._listener.wait_connected(5.0)
        for target, name in (
            (self._pull_loop, "pinbroker-events"),
            (self._beat_loop, "pinbroker-heartbeat"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Leave the cluster: stop the threads, delete this server's row, close the pool."""
        self._stop.set()
        self._pull_wanted.set()
        if self._listener is not None:
            self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.table.close()
        try:
            self.database.run(
                lambda cursor: cursor.execute(
                    "DELETE FROM servers WHERE id = %s", (self.server_id,)
                )
            )
        except DatabaseUnavailableError as exc:
            _logger.warning("could not leave the cluster cleanly: %s", exc)
        self.database.close()

    # ------------------------------------------------------------------ internals

    def _join(self) -> int:
        def work(cursor: Cursor) -> int:
            cursor.execute(
                "INSERT INTO servers (hostname, pid, address, ttl) VALUES (%s, %s, %s, %s) "
                "RETURNING id",
                (socket.gethostname(), os.getpid(), self._address, self._ttl),
            )
            row = cursor.fetchone()
            assert row is not None
            return int(row[0])

        return self.database.run(work)

    def _on_connect(self) -> None:
        self.table.on_reconnect()
        self._pull_wanted.set()
        if self._forget_pin_map is not None:
            self._forget_pin_map(None)

    def _events_recorded(self, payload: str) -> None:
        """Events up to revision ``payload`` were recorded: pull unless mirrored already."""
        try:
            revision = int(payload)
        except ValueError:
            revision = 0
        if 0 < revision <= self.events.latest_revision:
            return  # this server's own, offered to the mirror as they were recorded
        self._notified = max(self._notified, revision)
        self._pull_wanted.set()

    def _pin_map_changed_to(self, pin_map_id: str) -> None:
        if self._forget_pin_map is not None:
            self._forget_pin_map(pin_map_id)

    def _pull_loop(self) -> None:
        while not self._stop.is_set():
            notified = self._pull_wanted.wait(1.0)  # else: the slow safety read
            self._pull_wanted.clear()
            if notified and self._offered_soon(self._notified):
                continue  # this server's own events: offered, no read needed
            if self._stop.is_set():
                return
            try:
                self.events.pull()
            except DatabaseUnavailableError:
                pass  # the listener reports it; pulled again after it reconnects
            except Exception:
                _logger.exception("reading events from the database failed")

    def _offered_soon(self, revision: int) -> bool:
        """Whether the mirror reaches ``revision`` within :data:`_OFFER_WAIT` without a read.

        A notice often arrives before the call that recorded the events has returned and
        offered them to the mirror.
        """
        deadline = time.monotonic() + _OFFER_WAIT
        while self.events.latest_revision < revision:
            if not self.events.recording_now:
                return False  # another server's: read at once
            if time.monotonic() >= deadline or self._stop.wait(_OFFER_WAIT / 10):
                return False
        return True

    def _beat_loop(self) -> None:
        period = min(self._ttl / 3, _MAX_BEAT)
        while not self._stop.wait(period):
            try:
                self._beat()
                self._reap()
            except DatabaseUnavailableError as exc:
                self._connected_since = None  # the others may have missed beats too
                _logger.warning("heartbeat missed: %s", exc)
            except Exception:
                _logger.exception("heartbeat failed")

    def _beat(self) -> None:
        def work(cursor: Cursor) -> bool:
            cursor.execute(
                "UPDATE servers SET heartbeat = clock_timestamp() WHERE id = %s "
                "RETURNING heartbeat",
                (self.server_id,),
            )
            row = cursor.fetchone()
            if row is not None:
                if self._connected_since is None:
                    self._connected_since = row[0]
                return True
            cursor.execute(
                "INSERT INTO servers (id, hostname, pid, address, ttl) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (self.server_id, socket.gethostname(), os.getpid(), self._address, self._ttl),
            )
            return False

        if not self.database.run(work):
            _logger.warning(
                "this server's heartbeat had lapsed (stalled longer than the lease TTL, %g s): "
                "its waiters were dropped by the other servers; it rejoined",
                self._ttl,
            )
            self.table.on_reconnect()

    def _reap(self) -> None:
        """Delete dead servers and their waiters (any live server may; each row goes once).

        Only once this server has itself reached the database for a dead one's TTL without a
        miss: after an outage every server's heartbeat is old, and the first to come back must
        give the others one TTL to beat again before it judges them.
        """
        since = self._connected_since
        if since is None:
            return

        def work(cursor: Cursor) -> None:
            cursor.execute(
                "DELETE FROM servers "
                "WHERE heartbeat < clock_timestamp() - make_interval(secs => ttl) "
                "AND %s < clock_timestamp() - make_interval(secs => ttl) "
                "RETURNING id, hostname, pid",
                (since,),
            )
            dead = cursor.fetchall()
            if not dead:
                return
            reasons = {
                int(i): f"its server (host {h}, pid {p}) stopped: no heartbeat" for i, h, p in dead
            }
            cancel_waiters(
                cursor,
                "w.server_id = ANY(%s)",
                (list(reasons),),
                reasons.__getitem__,
                now=time.time(),
                keep=self.events.capacity,
            )
            for server_id, reason in reasons.items():
                _logger.warning("server %s left the cluster: %s", server_id, reason)

        self.database.run(work)
