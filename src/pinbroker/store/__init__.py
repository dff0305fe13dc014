"""Persistence behind one Protocol: pin maps, registered sessions, reservations.

:class:`SqliteStore` (the default, via :func:`open_store`) keeps a SQLite file in the state
directory; :class:`MemoryStore` forgets everything on exit. Both satisfy :class:`Store`, which
the registries write through and the reservation table journals through, in batches off its
lock, via :class:`GroupCommitJournal`. :func:`open_store` locks the state directory
(``pinbroker.lock``) so one pinbroker process at a time uses it, and the SQLite file is
identified (:data:`APPLICATION_ID`) and checked before anything is started on it. Pure: no grpc.
"""

from __future__ import annotations

from pinbroker.store._event_writer import EventWriter
from pinbroker.store._group_commit import GroupCommitJournal
from pinbroker.store._location import (
    STATE_DIR_ENV,
    STORE_FILE_NAME,
    default_state_dir,
    open_store,
)
from pinbroker.store._lock import LOCK_FILE_NAME
from pinbroker.store._memory import MemoryStore
from pinbroker.store._protocol import Store
from pinbroker.store._sqlite import SCHEMA_VERSION, SqliteStore, migrate
from pinbroker.store._sqlite_schema import APPLICATION_ID

__all__ = [
    "APPLICATION_ID",
    "LOCK_FILE_NAME",
    "SCHEMA_VERSION",
    "STATE_DIR_ENV",
    "STORE_FILE_NAME",
    "EventWriter",
    "GroupCommitJournal",
    "MemoryStore",
    "SqliteStore",
    "Store",
    "default_state_dir",
    "migrate",
    "open_store",
]
