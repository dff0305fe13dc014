"""Pin maps and registered sessions in the shared database.

Registered sessions are read from the database on every call (a session registered through one
server is seen by the next call to any other). Pin maps' XML is stored here too; each server
keeps its parsed copies (``PinMapRepository``) and drops one when ``pinbroker_pin_maps`` says
it changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import psycopg.errors

from pinbroker.cluster._db import Cursor, Database
from pinbroker.errors import InvalidSessionError, SessionAlreadyRegisteredError
from pinbroker.registry import MultiplexerRecord, SessionRecord
from pinbroker.store._codec import (
    decode_annotations,
    decode_channel_mappings,
    encode_annotations,
    encode_channel_mappings,
)
from pinbroker.types import InstrumentTypeId, PinMapId, SessionName

__all__ = ["PIN_MAPS_CHANNEL", "SharedPinMapStore", "SharedRegistry"]

PIN_MAPS_CHANNEL: Final = "pinbroker_pin_maps"
"""Notified with a pin map's id when it is created or updated."""

_SESSION_COLUMNS: Final = (
    "session_name, resource_name, channel_list, instrument_type_id, channel_mappings, annotations"
)
_MUX_COLUMNS: Final = "session_name, resource_name, multiplexer_type_id, annotations"


class SharedPinMapStore:
    """Pin maps' XML in the shared database (what ``PinMapRepository`` reads and writes)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def put_pin_map(self, pin_map_id: PinMapId, xml: str) -> None:
        """Store a pin map's XML (replacing any under the id) and notify the other servers."""

        def work(cursor: Cursor) -> None:
            cursor.execute(
                "INSERT INTO pin_maps (id, xml) VALUES (%s, %s) "
                "ON CONFLICT (id) DO UPDATE SET xml = excluded.xml",
                (pin_map_id, xml),
            )
            cursor.execute("SELECT pg_notify(%s, %s)", (PIN_MAPS_CHANNEL, pin_map_id[:7000]))

        self._db.run(work)

    def delete_pin_map(self, pin_map_id: PinMapId) -> None:
        """Forget a pin map; an unknown id is ignored."""

        def work(cursor: Cursor) -> None:
            cursor.execute("DELETE FROM pin_maps WHERE id = %s", (pin_map_id,))
            cursor.execute("SELECT pg_notify(%s, %s)", (PIN_MAPS_CHANNEL, pin_map_id[:7000]))

        self._db.run(work)

    def load_pin_maps(self) -> list[tuple[PinMapId, str]]:
        """Every stored pin map, in order of first insertion."""
        rows = self._db.call("SELECT id, xml FROM pin_maps ORDER BY position", ())
        return [(PinMapId(row[0]), row[1]) for row in rows]

    def load_pin_map(self, pin_map_id: PinMapId) -> str | None:
        """One stored pin map's XML, or None."""
        rows = self._db.call("SELECT xml FROM pin_maps WHERE id = %s", (pin_map_id,))
        return str(rows[0][0]) if rows else None


def _session(row: Sequence[Any]) -> SessionRecord:
    name, resource, channels, instrument_type, mappings, annotations = row
    return SessionRecord(
        SessionName(name),
        resource,
        channels,
        InstrumentTypeId(instrument_type),
        decode_channel_mappings(mappings),
        decode_annotations(annotations),
    )


def _multiplexer(row: Sequence[Any]) -> MultiplexerRecord:
    name, resource, mux_type, annotations = row
    return MultiplexerRecord(SessionName(name), resource, mux_type, decode_annotations(annotations))


class SharedRegistry:
    """:class:`~pinbroker.registry.SessionRegistry`'s contract on the shared database."""

    def __init__(self, database: Database) -> None:
        self._db = database

    # ------------------------------------------------------------------ instrument sessions

    def register(self, records: Iterable[SessionRecord]) -> None:
        """Register instrument sessions, all or none (see SessionRegistry.register)."""
        batch = _checked(list(records), "session")
        if not batch:
            return

        def insert(cursor: Cursor) -> None:
            cursor.executemany(
                f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (
                        r.session_name,
                        r.resource_name,
                        r.channel_list,
                        r.instrument_type_id,
                        encode_channel_mappings(r.channel_mappings),
                        encode_annotations(r.annotations),
                    )
                    for r in batch
                ],
            )

        _insert(self._db, "sessions", [r.session_name for r in batch], "session", insert)

    def unregister(self, session_names: Iterable[str]) -> tuple[SessionRecord, ...]:
        """Unregister instrument sessions by name; names not registered are ignored."""
        names = list(dict.fromkeys(session_names))

        def work(cursor: Cursor) -> tuple[SessionRecord, ...]:
            cursor.execute(
                f"DELETE FROM sessions WHERE session_name = ANY(%s) RETURNING {_SESSION_COLUMNS}",
                (names,),
            )
            found = {row[0]: _session(row) for row in cursor.fetchall()}
            return tuple(found[n] for n in names if n in found)

        return self._db.run(work)

    def get(self, session_name: str) -> SessionRecord | None:
        """Return the registered instrument session of that name, or None."""
        rows = self._db.call(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE session_name = %s", (session_name,)
        )
        return _session(rows[0]) if rows else None

    def is_registered(self, session_name: str) -> bool:
        """Return whether an instrument session of that name is registered."""
        return self.get(session_name) is not None

    def registered_among(self, session_names: Iterable[str]) -> frozenset[SessionName]:
        """Return those of the names that are registered instrument sessions (one query)."""
        names = list(session_names)
        if not names:
            return frozenset()
        rows = self._db.call(
            "SELECT session_name FROM sessions WHERE session_name = ANY(%s)", (names,)
        )
        return frozenset(SessionName(row[0]) for row in rows)

    def multiplexers_among(
        self, session_names: Iterable[str]
    ) -> dict[SessionName, MultiplexerRecord]:
        """Return the registered multiplexer sessions among the names, by name (one query)."""
        names = list(session_names)
        if not names:
            return {}
        rows = self._db.call(
            f"SELECT {_MUX_COLUMNS} FROM multiplexer_sessions WHERE session_name = ANY(%s)",
            (names,),
        )
        return {SessionName(row[0]): _multiplexer(row) for row in rows}

    def all(self, instrument_type_id: str = "") -> tuple[SessionRecord, ...]:
        """Return the registered instrument sessions in registration order (of a type, or all)."""
        if instrument_type_id:
            rows = self._db.call(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE instrument_type_id = %s "
                "ORDER BY position",
                (instrument_type_id,),
            )
        else:
            rows = self._db.call(f"SELECT {_SESSION_COLUMNS} FROM sessions ORDER BY position", ())
        return tuple(_session(row) for row in rows)

    # ------------------------------------------------------------------ multiplexer sessions

    def register_multiplexers(self, records: Iterable[MultiplexerRecord]) -> None:
        """Register multiplexer sessions, all or none."""
        batch = _checked(list(records), "multiplexer session")
        if not batch:
            return

        def insert(cursor: Cursor) -> None:
            cursor.executemany(
                f"INSERT INTO multiplexer_sessions ({_MUX_COLUMNS}) VALUES (%s, %s, %s, %s)",
                [
                    (
                        r.session_name,
                        r.resource_name,
                        r.multiplexer_type_id,
                        encode_annotations(r.annotations),
                    )
                    for r in batch
                ],
            )

        names = [r.session_name for r in batch]
        _insert(self._db, "multiplexer_sessions", names, "multiplexer session", insert)

    def unregister_multiplexers(
        self, session_names: Iterable[str]
    ) -> tuple[MultiplexerRecord, ...]:
        """Unregister multiplexer sessions by name; names not registered are ignored."""
        names = list(dict.fromkeys(session_names))

        def work(cursor: Cursor) -> tuple[MultiplexerRecord, ...]:
            cursor.execute(
                "DELETE FROM multiplexer_sessions WHERE session_name = ANY(%s) "
                f"RETURNING {_MUX_COLUMNS}",
                (names,),
            )
            found = {row[0]: _multiplexer(row) for row in cursor.fetchall()}
            return tuple(found[n] for n in names if n in found)

        return self._db.run(work)

    def get_multiplexer(self, session_name: str) -> MultiplexerRecord | None:
        """Return the registered multiplexer session of that name, or None."""
        rows = self._db.call(
            f"SELECT {_MUX_COLUMNS} FROM multiplexer_sessions WHERE session_name = %s",
            (session_name,),
        )
        return _multiplexer(rows[0]) if rows else None

    def is_multiplexer_registered(self, session_name: str) -> bool:
        """Return whether a multiplexer session of that name is registered."""
        return self.get_multiplexer(session_name) is not None

    def all_multiplexers(self, multiplexer_type_id: str = "") -> tuple[MultiplexerRecord, ...]:
        """Return the registered multiplexer sessions in registration order."""
        if multiplexer_type_id:
            rows = self._db.call(
                f"SELECT {_MUX_COLUMNS} FROM multiplexer_sessions "
                "WHERE multiplexer_type_id = %s ORDER BY position",
                (multiplexer_type_id,),
            )
        else:
            rows = self._db.call(
                f"SELECT {_MUX_COLUMNS} FROM multiplexer_sessions ORDER BY position", ()
            )
        return tuple(_multiplexer(row) for row in rows)


def _checked(batch: list[Any], kind: str) -> list[Any]:
    """Refuse empty names and names repeated in the batch (as SessionRegistry does)."""
    seen: set[str] = set()
    for index, record in enumerate(batch):
        if not record.session_name:
            raise InvalidSessionError(
                f"{kind} {index + 1} of {len(batch)} has an empty name "
                f"(resource '{record.resource_name}')"
            )
    for record in batch:
        if record.session_name in seen:
            raise SessionAlreadyRegisteredError(record.session_name, kind=kind)
        seen.add(record.session_name)
    return batch


def _refuse_taken(cursor: Cursor, table: str, names: Sequence[str], kind: str) -> None:
    """Raise ``SessionAlreadyRegisteredError`` for the first of ``names`` registered already."""
    cursor.execute(f"SELECT session_name FROM {table} WHERE session_name = ANY(%s)", (list(names),))
    taken = {row[0] for row in cursor.fetchall()}
    for name in names:
        if name in taken:
            raise SessionAlreadyRegisteredError(name, kind=kind)


def _insert(database: Database, table: str, names: Sequence[str], kind: str, insert: Any) -> None:
    """Insert a batch unless a name is taken; a concurrent registration is named afterwards."""

    def work(cursor: Cursor) -> None:
        _refuse_taken(cursor, table, names, kind)
        insert(cursor)

    try:
        database.run(work)
    except psycopg.errors.UniqueViolation:
        database.run(lambda cursor: _refuse_taken(cursor, table, names, kind))
        raise
