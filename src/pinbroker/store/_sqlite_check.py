"""Opening the state database safely: create it whole, identify it, check it, map SQLite errors.

A state file is never started on unless it is ours and sound. :func:`open_checked` refuses,
with one line naming the file and what to do (:class:`~pinbroker.errors.StateDatabaseError`,
:class:`~pinbroker.errors.StateNotWritableError`):

* an empty file (0 pages: a truncated file, or a crash while it was created) — starting on it
  would silently drop every pin map, session and reservation;
* a damaged file (``SQLITE_NOTADB``, ``SQLITE_CORRUPT``, or ``PRAGMA quick_check`` not ``ok``);
* a foreign database (another ``PRAGMA application_id``, or application id 0 with tables that
  are not pinbroker's);
* a schema newer than this pinbroker (raised by ``migrate``);
* a file or directory that cannot be written (a write is tried and rolled back at start).

A new database is created under a temporary name, migrated and renamed into place, so a
half-created file never carries the real name. Files of ours from before the application id
(application id 0, schema 1 or 2, pinbroker's tables) are accepted and stamped by ``migrate``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Final

from pinbroker.errors import StateDatabaseError, StateDiskFullError, StateNotWritableError
from pinbroker.store._sqlite_schema import APPLICATION_ID, SCHEMA_VERSION, migrate

__all__ = ["disk_full", "is_disk_full", "open_checked"]

_SQLITE_CORRUPT: Final = 11
_SQLITE_FULL: Final = 13
_SQLITE_NOTADB: Final = 26
_SQLITE_READONLY: Final = 8

_OUR_TABLES: Final = frozenset({"pin_maps", "sessions", "reservations"})
"""Tables every pinbroker schema has: how a file from before the application id is known."""

_WHAT_TO_DO: Final = "restore it from a backup, or move it away to start with no state"


def open_checked(path: Path, *, timeout: float) -> sqlite3.Connection:
    """Open the state database (creating it if absent), check it and migrate it.

    Args:
        path: The database file; its directory must exist.
        timeout: SQLite's busy timeout, seconds.

    Returns:
        A connection in autocommit mode, usable from any thread, at :data:`SCHEMA_VERSION`.

    Raises:
        StateDatabaseError: If the file is empty, damaged, foreign, newer, or cannot be opened.
        StateNotWritableError: If the file or its directory cannot be written.
        StateDiskFullError: If the disk is full while creating or migrating it.
    """
    directory = path.parent
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StateNotWritableError(
            f"state directory {directory} is not writable; fix its permissions or choose "
            "another --state-dir"
        )
    if not path.exists():
        _create(path)
    try:
        connection = sqlite3.connect(
            path.absolute().as_uri() + "?mode=rw",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            timeout=timeout,
        )
    except sqlite3.Error as exc:
        raise StateDatabaseError(f"cannot open the state database {path} ({exc})") from exc
    try:
        _identify(connection, path)
        _check_writable(connection, path)
        migrate(connection)
    except sqlite3.Error as exc:
        connection.close()
        if is_disk_full(exc):
            raise disk_full(path, "opening it") from exc
        raise StateDatabaseError(f"cannot use the state database {path} ({exc})") from exc
    except BaseException:
        connection.close()
        raise
    return connection


def is_disk_full(exc: sqlite3.Error) -> bool:
    """Whether SQLite failed with ``SQLITE_FULL`` ("database or disk is full")."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == _SQLITE_FULL


def disk_full(path: Path, doing: str) -> StateDiskFullError:
    """The error for a write refused by a full disk (or SQLite's page limit)."""
    return StateDiskFullError(
        f"the state disk is full: {doing} could not be written to {path}, nothing was changed; "
        "free space on that file system (reads keep working, writes resume without a restart)"
    )


def _create(path: Path) -> None:
    """Create an empty database at ``path``: built under a temporary name, then renamed."""
    temporary = path.with_name(path.name + ".new")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    try:
        connection = sqlite3.connect(temporary, isolation_level=None)
        try:
            connection.execute("PRAGMA synchronous = FULL")
            migrate(connection)
        finally:
            connection.close()
        os.replace(temporary, path)
    except (OSError, sqlite3.Error) as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        if isinstance(exc, sqlite3.Error) and is_disk_full(exc):
            raise disk_full(path, "a new state database") from exc
        raise StateNotWritableError(
            f"cannot create the state database {path} ({_reason(exc)}); fix the permissions "
            "of its directory or choose another --state-dir"
        ) from exc
    _sync_directory(path.parent)


def _identify(connection: sqlite3.Connection, path: Path) -> None:
    """Refuse an empty, damaged, foreign or newer file (see the module docstring)."""
    try:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        if pages == 0:
            raise StateDatabaseError(
                f"state database {path} is empty (0 bytes) although it should hold pinbroker's "
                f"state: it was truncated or never written; {_WHAT_TO_DO}"
            )
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code in (_SQLITE_NOTADB, _SQLITE_CORRUPT):
            raise StateDatabaseError(
                f"state database {path} is damaged ({exc}); {_WHAT_TO_DO}"
            ) from exc
        raise
    if problems != ["ok"]:
        more = f" and {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
        raise StateDatabaseError(
            f"state database {path} is damaged (integrity check: {problems[0]}{more}); "
            f"{_WHAT_TO_DO}"
        )
    ours = application_id == APPLICATION_ID or (
        application_id == 0 and (not tables if version == 0 else tables >= _OUR_TABLES)
    )
    if not ours:
        owner = (
            f"application id {application_id:#010x}"
            if application_id
            else "tables " + ", ".join(repr(t) for t in sorted(tables)[:5])
        )
        raise StateDatabaseError(
            f"state database {path} is not a pinbroker database ({owner}); move it away or "
            "choose another --state-dir"
        )
    if version > SCHEMA_VERSION:
        raise StateDatabaseError(
            f"state database {path} has schema version {version}, newer than the "
            f"{SCHEMA_VERSION} this pinbroker understands; upgrade pinbroker or choose another "
            "--state-dir"
        )


def _check_writable(connection: sqlite3.Connection, path: Path) -> None:
    """Try a write and roll it back: refuse a read-only file now, not at the first request."""
    if not os.access(path, os.W_OK):
        raise StateNotWritableError(
            f"state database {path} is not writable; fix its permissions or mount"
        )
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(f"PRAGMA user_version = {int(version):d}")
        finally:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
    except sqlite3.Error as exc:
        if is_disk_full(exc):
            return  # a full disk is not a reason to refuse: reads work, writes resume later
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code == _SQLITE_READONLY or "readonly" in str(exc):
            raise StateNotWritableError(
                f"state database {path} is not writable ({exc}); fix its permissions or mount"
            ) from exc
        raise


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
