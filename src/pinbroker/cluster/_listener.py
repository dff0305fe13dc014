"""LISTEN on the shared database's channels, on a connection and thread of its own.

PostgreSQL does not replay notifications sent while a listener was disconnected, so after
every (re)connection ``on_connect`` runs: the callers re-scan what they would have been told.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Final

import psycopg

from pinbroker.cluster._db import Database, first_line
from pinbroker.errors import DatabaseUnavailableError

__all__ = ["Listener"]

_logger = logging.getLogger(__name__)

_POLL: Final = 0.25
"""Seconds between checks for :meth:`Listener.close` while no notification comes."""

_RETRY: Final = (0.1, 0.2, 0.5, 1.0, 2.0)
"""Seconds between reconnection attempts (the last repeats)."""


class Listener:
    """Calls ``handlers[channel](payload)`` for each notification, on its own thread.

    Handlers must be quick and must not raise (one that does is logged and skipped).
    """

    def __init__(
        self,
        database: Database,
        handlers: Mapping[str, Callable[[str], None]],
        on_connect: Callable[[], None],
    ) -> None:
        self._db = database
        self._handlers = dict(handlers)
        self._on_connect = on_connect
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pinbroker-listen", daemon=True)
        self._thread.start()

    def wait_connected(self, timeout: float) -> bool:
        """Block until the listener is connected (or ``timeout`` seconds passed)."""
        return self._connected.wait(timeout)

    def close(self) -> None:
        """Stop listening (returns within about :data:`_POLL` seconds)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                connection = self._db.connect_listener()
            except DatabaseUnavailableError as exc:
                if failures == 0:
                    _logger.warning("listening for changes paused: %s; reconnecting", exc)
                self._stop.wait(_RETRY[min(failures, len(_RETRY) - 1)])
                failures += 1
                continue
            try:
                with connection:
                    for channel in self._handlers:
                        connection.execute(f"LISTEN {channel}".encode())
                    if failures:
                        _logger.warning("listening for changes again")
                    failures = 0
                    self._connected.set()
                    self._call(self._on_connect)
                    while not self._stop.is_set():
                        for note in connection.notifies(timeout=_POLL):
                            handler = self._handlers.get(note.channel)
                            if handler is not None:
                                self._call(functools.partial(handler, note.payload))
            except psycopg.Error as exc:
                self._connected.clear()
                _logger.warning("listening for changes paused: %s; reconnecting", first_line(exc))
                failures += 1
                self._stop.wait(_RETRY[0])

    @staticmethod
    def _call(callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            _logger.exception("handling a database notification failed")
