"""A Store that keeps everything in memory (tests, and servers that should forget on exit)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TypeVar

from pinbroker.errors import SessionAlreadyRegisteredError
from pinbroker.registry import MultiplexerRecord, SessionRecord
from pinbroker.reservation import JournalRecord, PutReservation, Reservation, ReservationId
from pinbroker.types import PinMapId, SessionName

__all__ = ["MemoryStore"]

_R = TypeVar("_R", SessionRecord, MultiplexerRecord)


class MemoryStore:
    """In-memory :class:`~pinbroker.store.Store`: same semantics as ``SqliteStore``, no file.

    See :class:`~pinbroker.store.Store` for what each method does and raises; every method
    raises ``ValueError`` once the store is closed.
    """

    def __init__(self) -> None:
        """Create an empty store."""
        self._lock = threading.Lock()
        self._closed = False
        self._pin_maps: dict[PinMapId, str] = {}
        self._sessions: dict[SessionName, SessionRecord] = {}
        self._multiplexers: dict[SessionName, MultiplexerRecord] = {}
        self._reservations: dict[ReservationId, Reservation] = {}
        self._reservation_of: dict[SessionName, ReservationId] = {}

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("the store is closed")

    # ------------------------------------------------------------------ pin maps

    def put_pin_map(self, pin_map_id: PinMapId, xml: str) -> None:
        """Store a pin map's XML, replacing any under the same id (which keeps its position)."""
        with self._lock:
            self._check_open()
            self._pin_maps[pin_map_id] = xml

    def delete_pin_map(self, pin_map_id: PinMapId) -> None:
        """Forget a pin map; an unknown id is ignored."""
        with self._lock:
            self._check_open()
            self._pin_maps.pop(pin_map_id, None)

    def load_pin_maps(self) -> list[tuple[PinMapId, str]]:
        """Return ``(pin_map_id, xml)`` of every stored pin map, in order of first insertion."""
        with self._lock:
            self._check_open()
            return list(self._pin_maps.items())

    # ------------------------------------------------------------------ sessions

    def add_sessions(self, records: Sequence[SessionRecord]) -> None:
        """Store new sessions, all or none.

        Raises:
            SessionAlreadyRegisteredError: If a name is stored already or repeated.
        """
        with self._lock:
            self._check_open()
            _add_all(self._sessions, records, "session")

    def remove_sessions(self, session_names: Sequence[SessionName]) -> None:
        """Forget sessions; unknown names are ignored."""
        with self._lock:
            self._check_open()
            for name in session_names:
                self._sessions.pop(name, None)

    def load_sessions(self) -> list[SessionRecord]:
        """Return every stored session in registration order."""
        with self._lock:
            self._check_open()
            return list(self._sessions.values())

    def add_multiplexer_sessions(self, records: Sequence[MultiplexerRecord]) -> None:
        """Store new multiplexer sessions, all or none.

        Raises:
            SessionAlreadyRegisteredError: If a name is stored already or repeated.
        """
        with self._lock:
            self._check_open()
            _add_all(self._multiplexers, records, "multiplexer session")

    def remove_multiplexer_sessions(self, session_names: Sequence[SessionName]) -> None:
        """Forget multiplexer sessions; unknown names are ignored."""
        with self._lock:
            self._check_open()
            for name in session_names:
                self._multiplexers.pop(name, None)

    def load_multiplexer_sessions(self) -> list[MultiplexerRecord]:
        """Return every stored multiplexer session in registration order."""
        with self._lock:
            self._check_open()
            return list(self._multiplexers.values())

    # ------------------------------------------------------------------ reservations

    def put_reservation(
        self,
        reservation_id: ReservationId,
        session_names: Sequence[SessionName],
        owner: str,
        annotations: Mapping[str, str],
        acquired_at_wall: float,
    ) -> None:
        """Insert or replace a reservation.

        Raises:
            ValueError: If it has no session, or a session belongs to another reservation.
        """
        with self._lock:
            self._check_open()
            self._put(reservation_id, session_names, owner, annotations, acquired_at_wall)

    def delete_reservation(self, reservation_id: ReservationId) -> None:
        """Forget a reservation with all its sessions; an unknown id is ignored."""
        with self._lock:
            self._check_open()
            self._drop(reservation_id)

    def delete_reservation_sessions(self, session_names: Sequence[SessionName]) -> None:
        """Remove sessions from their reservations; reservations left empty are dropped."""
        with self._lock:
            self._check_open()
            self._delete_sessions(session_names)

    def apply_journal(self, records: Sequence[JournalRecord]) -> None:
        """Apply journal records in order, all or nothing.

        Raises:
            ValueError: If a ``PutReservation`` would be refused by :meth:`put_reservation`;
                nothing changes.
        """
        with self._lock:
            self._check_open()
            reservations = dict(self._reservations)
            reservation_of = dict(self._reservation_of)
            try:
                for record in records:
                    if isinstance(record, PutReservation):
                        r = record.reservation
                        self._put(r.id, r.session_names, r.owner, r.annotations, r.acquired_at)
                    else:
                        self._delete_sessions(record.session_names)
            except BaseException:
                self._reservations = reservations
                self._reservation_of = reservation_of
                raise

    def load_reservations(self) -> list[Reservation]:
        """Return every stored reservation by increasing id."""
        with self._lock:
            self._check_open()
            return [self._reservations[key] for key in sorted(self._reservations)]

    def close(self) -> None:
        """Mark the store closed; closing twice is harmless."""
        with self._lock:
            self._closed = True

    def _put(
        self,
        reservation_id: ReservationId,
        session_names: Sequence[SessionName],
        owner: str,
        annotations: Mapping[str, str],
        acquired_at_wall: float,
    ) -> None:
        names = tuple(dict.fromkeys(session_names))
        _check_reservation(reservation_id, names, self._reservation_of)
        reservation = Reservation(reservation_id, names, owner, annotations, acquired_at_wall)
        self._drop(reservation_id)
        self._reservations[reservation_id] = reservation
        self._reservation_of.update(dict.fromkeys(names, reservation_id))

    def _delete_sessions(self, session_names: Sequence[SessionName]) -> None:
        for name in session_names:
            reservation_id = self._reservation_of.pop(name, None)
            if reservation_id is None:
                continue
            reservation = self._reservations[reservation_id]
            rest = tuple(n for n in reservation.session_names if n != name)
            if rest:
                self._reservations[reservation_id] = Reservation(
                    reservation_id,
                    rest,
                    reservation.owner,
                    reservation.annotations,
                    reservation.acquired_at,
                )
            else:
                del self._reservations[reservation_id]

    def _drop(self, reservation_id: ReservationId) -> None:
        reservation = self._reservations.pop(reservation_id, None)
        if reservation is not None:
            for name in reservation.session_names:
                del self._reservation_of[name]


def _add_all(table: dict[SessionName, _R], records: Sequence[_R], kind: str) -> None:
    seen: set[SessionName] = set()
    for record in records:
        if record.session_name in table or record.session_name in seen:
            raise SessionAlreadyRegisteredError(record.session_name, kind=kind)
        seen.add(record.session_name)
    for record in records:
        table[record.session_name] = record


def _check_reservation(
    reservation_id: ReservationId,
    session_names: Sequence[SessionName],
    reservation_of: Mapping[SessionName, ReservationId],
) -> None:
    """Raise ``ValueError`` unless the reservation holds sessions no other one holds."""
    if not session_names:
        raise ValueError(f"reservation {reservation_id} holds no session")
    for name in session_names:
        other = reservation_of.get(name, reservation_id)
        if other != reservation_id:
            raise ValueError(
                f"session '{name}' belongs to reservation {other}, not {reservation_id}"
            )
