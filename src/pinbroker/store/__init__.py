"""Persistence behind one Protocol: pin maps, registered sessions, reservations.

:class:`SqliteStore` (the default, via :func:`open_store`) keeps a SQLite file in the state
directory; :class:`MemoryStore` forgets everything on exit. Both satisfy :class:`Store`, which
the registries write through and the reservation table journals through, in batches off its
lock, via :class:`GroupCommitJournal`. Pure: no grpc.
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
from pinbroker.store._memory import MemoryStore
from pinbroker.store._protocol import Store
from pinbroker.store._sqlite import SCHEMA_VERSION, SqliteStore, migrate

__all__ = [
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
