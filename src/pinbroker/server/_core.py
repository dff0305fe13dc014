"""The server's state and its persistence: one host on SQLite, or several on PostgreSQL.

:func:`build_core` wires either the pure core's in-memory tables over the SQLite store (the
default: a state directory) or ``pinbroker.cluster``'s tables on a shared PostgreSQL database
(``--database``). Everything above (services, status page, lease reaper, hold watch) is built
on the :class:`Core` it returns and does not know which.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pinbroker.broker import LeaseManager, PinMapRepository, SessionManager
from pinbroker.events import EventLog
from pinbroker.registry import SessionRegistry
from pinbroker.reservation import LeaseId, LeaseTable, ReservationTable
from pinbroker.store import EventWriter, GroupCommitJournal, Store, open_store

if TYPE_CHECKING:
    from pinbroker.server.app import ServerConfig

__all__ = ["Core", "build_core"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Core:
    """What the services are built on.

    Attributes:
        events: The event log (shared ones are mirrored from the database).
        pin_maps: Pin maps by id.
        sessions: The session manager (its ``table`` is the reservation table).
        leases: Leases and what is bound to them.
        restored_revision: The newest event revision found at start-up.
        close: Flushes and closes the persistence (after the services stopped).
        description: Where the state lives, for the log.
    """

    events: EventLog
    pin_maps: PinMapRepository
    sessions: SessionManager
    leases: LeaseManager
    restored_revision: int
    close: Callable[[], None]
    description: str


def build_core(config: ServerConfig) -> Core:
    """Open the state ``config`` names and build the core on it.

    Raises:
        PinbrokerError: If a preloaded pin map is invalid, or the state cannot be used.
        OSError: If the state directory or a pin map file cannot be read.
    """
    if config.database is not None:
        return _shared_core(config, config.database)
    return _local_core(config)


def _load_pin_maps(config: ServerConfig, pin_maps: PinMapRepository) -> None:
    pin_maps.restore()  # logs each stored pin map that no longer loads
    for path in config.pin_map_files:
        xml = Path(path).read_text(encoding="utf-8-sig")
        pin_maps.update(str(path), xml)


def _local_store(config: ServerConfig) -> Store:
    if config.store is not None:
        return config.store
    if config.in_memory:
        from pinbroker.store import MemoryStore

        return MemoryStore()
    return open_store(config.state_dir)


def _local_core(config: ServerConfig) -> Core:
    store = _local_store(config)
    journal = GroupCommitJournal(store)
    event_writer = EventWriter(store, keep=config.event_history)

    def close() -> None:
        journal.close()  # writes what is pending
        event_writer.close()
        store.close()

    try:
        events = EventLog(capacity=config.event_history, on_append=event_writer.submit)
        events.restore(store.load_events(config.event_history))
        restored_revision = events.latest_revision
        pin_maps = PinMapRepository(
            store,
            limits=config.parse_limits,
            events=events,
            cache_bytes=config.pin_map_cache_bytes,
        )
        _load_pin_maps(config, pin_maps)
        lease_table = LeaseTable(ttl=config.lease_ttl)
        table = ReservationTable(
            journal=journal,
            events=events,
            lease_alive=lambda lease_id: lease_table.is_active(LeaseId(lease_id)),
        )
        leases = LeaseManager(lease_table, table, store)
        leases.restore()
        sessions = SessionManager(
            pin_maps,
            table,
            SessionRegistry(store),
            store,
            naming=config.session_naming,
            max_waiters=config.max_waiters,
            strict_owner=config.strict_owner,
            events=events,
        )
        sessions.restore()
    except BaseException:
        close()
        raise
    where = "memory only" if config.in_memory or config.store is not None else "SQLite"
    return Core(events, pin_maps, sessions, leases, restored_revision, close, where)


def _shared_core(config: ServerConfig, url: str) -> Core:
    from pinbroker.cluster import Cluster

    cluster = Cluster(
        url,
        lease_ttl=config.lease_ttl,
        address=f"{socket.gethostname()}:{config.port}",
        event_history=config.event_history,
    )
    try:
        events = cluster.events
        restored_revision = events.latest_revision
        pin_maps = PinMapRepository(
            cluster.pin_map_store,
            limits=config.parse_limits,
            events=events,
            cache_bytes=config.pin_map_cache_bytes,
            shared=True,
        )
        _load_pin_maps(config, pin_maps)
        leases = LeaseManager(cluster.leases, cluster.table, None)
        sessions = SessionManager(
            pin_maps,
            cluster.table,
            cluster.registry,
            None,
            naming=config.session_naming,
            max_waiters=config.max_waiters,
            strict_owner=config.strict_owner,
            events=events,
        )
        cluster.start(forget_pin_map=pin_maps.forget)
    except BaseException:
        cluster.stop()
        raise
    description = f"PostgreSQL {cluster.database.display} (server {cluster.server_id})"
    return Core(events, pin_maps, sessions, leases, restored_revision, cluster.stop, description)
