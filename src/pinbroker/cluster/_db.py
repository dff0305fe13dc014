"""The shared PostgreSQL database: a connection pool, transactions, one-line failures.

Every call runs in its own transaction on a pooled connection (READ COMMITTED, the
PostgreSQL default; the statements take explicit row locks where they decide something, see
``docs/design.md``). A connection that broke (the database restarted, failed over or the
network dropped) is noticed when it is taken from the pool and replaced; while no new one can
be made, calls fail with :class:`~pinbroker.errors.DatabaseUnavailableError` (UNAVAILABLE) and
change nothing.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg.errors
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from pinbroker.errors import DatabaseUnavailableError, StateDatabaseError

__all__ = ["Cursor", "Database", "redact_url"]

_logger = logging.getLogger(__name__)

_T = TypeVar("_T")

Cursor = psycopg.Cursor[TupleRow]

CONNECT_TIMEOUT: Final = 5.0
"""Seconds to wait for a connection (from the pool, or a new one) before UNAVAILABLE."""

_PING_AFTER: Final = 1.0
"""Seconds a pooled connection may sit unused before it is checked when taken again."""

_RETRIES: Final = 5
"""Attempts of a transaction that lost a deadlock or a serialization conflict."""

_RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)

_AWAY = (
    psycopg.OperationalError,  # connection failures, shutdown, restart (SQLSTATE 08, 57)
    psycopg.InterfaceError,  # a connection the driver found unusable
    psycopg.errors.ReadOnlySqlTransaction,  # failed over to a standby that is read-only
)
"""What a database that is away (or not writable yet) raises: UNAVAILABLE, not INTERNAL."""


def redact_url(url: str) -> str:
    """Return ``url`` without its password, for logs and messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable database URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class Database:
    """A pool of connections to the shared database. Thread-safe."""

    def __init__(self, url: str, *, max_connections: int = 16, name: str = "pinbroker") -> None:
        """Connect to ``url`` (``postgresql://USER:PASSWORD@HOST:PORT/DB``).

        Raises:
            StateDatabaseError: If no connection can be made within :data:`CONNECT_TIMEOUT`;
                the message names the database (without its password) and the reason.
        """
        if not url.startswith(("postgresql://", "postgres://")):
            raise StateDatabaseError(
                f"--database {redact_url(url)!r} is not a "
                "postgresql://USER:PASSWORD@HOST:PORT/DB URL"
            )
        self.url = url
        self.display = redact_url(url)
        self._max_connections = max_connections
        self._last_used: weakref.WeakKeyDictionary[psycopg.Connection[TupleRow], float] = (
            weakref.WeakKeyDictionary()
        )
        self._pool: ConnectionPool[psycopg.Connection[TupleRow]] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            open=False,
            name=name,
            timeout=CONNECT_TIMEOUT,
            kwargs={
                "connect_timeout": int(CONNECT_TIMEOUT),
                "application_name": name,
                "autocommit": True,  # one statement, one transaction (see call)
            },
            check=self._check_if_idle,
            reset=self._returned,
            reconnect_timeout=0,  # keep trying: the database may come back
        )
        try:
            probe = psycopg.connect(url, connect_timeout=int(CONNECT_TIMEOUT))
        except psycopg.Error as exc:
            raise StateDatabaseError(
                f"cannot connect to database {self.display}: {first_line(exc)}"
            ) from exc
        probe.close()
        self._pool.open(wait=False)

    def close(self) -> None:
        """Close every connection; later calls fail."""
        self._pool.close()

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One transaction on a pooled connection; committed when the block ends normally.

        Prefer :meth:`run`, which also survives connections broken by a database restart.

        Raises:
            DatabaseUnavailableError: If the database cannot be reached or the connection
                broke (then it may or may not have committed if it broke at the commit).
        """
        try:
            with (
                self._pool.connection() as connection,
                connection.transaction(),
                connection.cursor() as cursor,
            ):
                yield cursor
        except PoolTimeout as exc:
            raise self._unavailable(f"no connection within {CONNECT_TIMEOUT:g} s") from exc
        except PoolClosed as exc:
            raise self._unavailable("the server is stopping") from exc
        except _AWAY as exc:
            if isinstance(exc, _RETRYABLE):
                raise
            raise self._unavailable(first_line(exc)) from exc

    def call(self, query: str, args: Sequence[object]) -> list[tuple[Any, ...]]:
        """Run one statement as its own transaction (autocommit: one round trip); its rows.

        Tried again on another connection when the statement certainly did not run: the
        connection was closed before it was sent, or the server ended the session
        (``AdminShutdown``: it aborted the transaction). Any other break may have come after
        the commit, so it is not retried.

        Raises:
            DatabaseUnavailableError: If the database cannot be reached, or the connection
                broke while the statement ran (it may or may not have committed).
        """
        broken = 0
        while True:
            sent = False
            try:
                with self._pool.connection() as connection:
                    if connection.closed:
                        raise psycopg.OperationalError("the connection is closed")
                    sent = True
                    return connection.execute(query.encode(), args).fetchall()
            except PoolTimeout as exc:
                raise self._unavailable(f"no connection within {CONNECT_TIMEOUT:g} s") from exc
            except PoolClosed as exc:
                raise self._unavailable("the server is stopping") from exc
            except _AWAY as exc:
                certain = not sent or isinstance(exc, psycopg.errors.AdminShutdown)
                broken += 1
                if not certain or broken > self._max_connections + 1:
                    raise self._unavailable(first_line(exc)) from exc
                _logger.info("database connection found broken, retried: %s", first_line(exc))

    def _returned(self, connection: psycopg.Connection[TupleRow]) -> None:
        self._last_used[connection] = time.monotonic()

    def _check_if_idle(self, connection: psycopg.Connection[TupleRow]) -> None:
        """Ping a connection that sat unused for a while (a restart may have closed it)."""
        last = self._last_used.get(connection)
        if last is None or time.monotonic() - last > _PING_AFTER:
            connection.execute(b"")

    def run(self, work: Callable[[Cursor], _T]) -> _T:
        """Run ``work`` in one transaction and commit; return what it returned.

        Tried again, on another connection, when the transaction certainly did not commit: it
        lost a deadlock or a serialization conflict, or its connection was found broken before
        the commit (a pooled connection that a database restart closed). A connection that
        breaks *at* the commit is not retried: the commit may have happened.

        Raises:
            DatabaseUnavailableError: If the database cannot be reached, or the connection
                broke at the commit.
        """
        broken = 0
        conflicts = 0
        while True:
            body_done = False
            try:
                with (
                    self._pool.connection() as connection,
                    connection.transaction(),
                    connection.cursor() as cursor,
                ):
                    result = work(cursor)
                    body_done = True
                return result
            except PoolTimeout as exc:
                raise self._unavailable(f"no connection within {CONNECT_TIMEOUT:g} s") from exc
            except PoolClosed as exc:
                raise self._unavailable("the server is stopping") from exc
            except _RETRYABLE as exc:
                conflicts += 1
                if conflicts > _RETRIES:
                    raise
                _logger.warning("database transaction retried (%s): %s", conflicts, exc)
            except _AWAY as exc:
                broken += 1
                if body_done or broken > self._max_connections + 1:
                    raise self._unavailable(first_line(exc)) from exc
                _logger.info("database connection found broken, retried: %s", first_line(exc))

    def _unavailable(self, why: str) -> DatabaseUnavailableError:
        return DatabaseUnavailableError(f"database {self.display} is unavailable: {why}")

    def connect_listener(self) -> psycopg.Connection[Any]:
        """A new autocommit connection of its own (for LISTEN), outside the pool.

        Raises:
            DatabaseUnavailableError: If it cannot be made.
        """
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT))
        except psycopg.Error as exc:
            raise DatabaseUnavailableError(
                f"database {self.display} is unavailable: {first_line(exc)}"
            ) from exc


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (psycopg's span several)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__
