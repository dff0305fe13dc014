"""A Store that keeps everything in memory (tests, and servers that should forget on exit)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping, Sequence
from typing import TypeVar

from pinbroker.errors import SessionAlreadyRegisteredError
from pinbroker.events import Event
from pinbroker.registry import MultiplexerRecord, SessionRecord
from pinbroker.reservation import (
    JournalRecord,
    LeaseId,
    LeaseRecord,
    PutReservation,
    Reservation,
    ReservationId,
)
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
        self._fences: dict[SessionName, int] = {}  # high-water marks
        self._reservation_id_high = 0
        self._leases: dict[LeaseId, LeaseRecord] = {}
        self._lease_id_high = 0
        self._events: dict[int, Event] = {}  # by revision

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

    def load_pin_map(self, pin_map_id: PinMapId) -> str | None:
        """Return one stored pin map's XML, or None if no pin map has this id."""
        with self._lock:
            self._check_open()
            return self._pin_maps.get(pin_map_id)

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
        """Insert or replace a reservation (no lease, client or fences).

        Raises:
            ValueError: If it has no session, or a session belongs to another reservation.
        """
        reservation = Reservation(
            reservation_id, tuple(session_names), owner, annotations, acquired_at_wall
        )
        with self._lock:
            self._check_open()
            self._put(reservation)

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

        A ``PutReservation`` stores every field of its reservation and raises the fence and
        reservation id high-water marks.

        Raises:
            ValueError: If a ``PutReservation`` would be refused by :meth:`put_reservation`;
                nothing changes.
        """
        with self._lock:
            self._check_open()
            reservations = dict(self._reservations)
            reservation_of = dict(self._reservation_of)
            fences = dict(self._fences)
            reservation_id_high = self._reservation_id_high
            try:
                for record in records:
                    if isinstance(record, PutReservation):
                        self._put(record.reservation)
                    else:
                        self._delete_sessions(record.session_names)
            except BaseException:
                self._reservations = reservations
                self._reservation_of = reservation_of
                self._fences = fences
                self._reservation_id_high = reservation_id_high
                raise

    def load_reservations(self) -> list[Reservation]:
        """Return every stored reservation by increasing id."""
        with self._lock:
            self._check_open()
            return [self._reservations[key] for key in sorted(self._reservations)]

    def load_reservation_id_high(self) -> int:
        """Return the largest reservation id ever put (also if deleted since); 0 if none."""
        with self._lock:
            self._check_open()
            return self._reservation_id_high

    def load_fences(self) -> dict[SessionName, int]:
        """Return each session's largest non-zero fence ever put (also if released since)."""
        with self._lock:
            self._check_open()
            return dict(sorted(self._fences.items()))

    # ------------------------------------------------------------------ leases

    def put_lease(self, record: LeaseRecord) -> None:
        """Store an active lease, replacing any under the same id; raise the lease id high."""
        with self._lock:
            self._check_open()
            self._leases[record.id] = record
            self._lease_id_high = max(self._lease_id_high, record.id)

    def delete_leases(self, ids: Sequence[int]) -> None:
        """Forget leases; unknown ids are ignored. The high-water mark stays."""
        with self._lock:
            self._check_open()
            for lease_id in ids:
                self._leases.pop(LeaseId(lease_id), None)

    def load_leases(self) -> list[LeaseRecord]:
        """Return every stored lease by increasing id."""
        with self._lock:
            self._check_open()
            return [self._leases[key] for key in sorted(self._leases)]

    def load_lease_id_high(self) -> int:
        """Return the largest lease id ever put (also if deleted since); 0 if none."""
        with self._lock:
            self._check_open()
            return self._lease_id_high

    # ------------------------------------------------------------------ events

    def append_events(self, events: Sequence[Event], *, keep: int) -> None:
        """Store events, then forget all but the newest ``keep`` revisions.

        An event with the revision of a stored one replaces it.

        Raises:
            ValueError: If ``keep`` is negative; nothing changes.
        """
        if keep < 0:
            raise ValueError(f"keep must be >= 0, not {keep}")
        with self._lock:
            self._check_open()
            for event in events:
                self._events[event.revision] = event
            excess = len(self._events) - keep
            if excess > 0:
                for revision in sorted(self._events)[:excess]:
                    del self._events[revision]

    def load_events(self, limit: int) -> list[Event]:
        """Return the newest ``limit`` stored events, oldest first.

        Raises:
            ValueError: If ``limit`` is negative.
        """
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        with self._lock:
            self._check_open()
            newest = sorted(self._events)[len(self._events) - limit :] if limit else []
            return [self._events[revision] for revision in newest]

    def close(self) -> None:
        """Mark the store closed; closing twice is harmless."""
        with self._lock:
            self._closed = True

    def _put(self, reservation: Reservation) -> None:
        """Insert or replace a reservation as ``SqliteStore`` stores it; raise the highs."""
        reservation_id = reservation.id
        names = tuple(dict.fromkeys(reservation.session_names))
        _check_reservation(reservation_id, names, self._reservation_of)
        fences = {n: f for n in names if (f := reservation.fences.get(n, 0))}
        reservation = dataclasses.replace(reservation, session_names=names, fences=fences)
        self._drop(reservation_id)
        self._reservations[reservation_id] = reservation
        self._reservation_of.update(dict.fromkeys(names, reservation_id))
        for name, fence in fences.items():
            self._fences[name] = max(self._fences.get(name, fence), fence)
        self._reservation_id_high = max(self._reservation_id_high, reservation_id)

    def _delete_sessions(self, session_names: Sequence[SessionName]) -> None:
        for name in session_names:
            reservation_id = self._reservation_of.pop(name, None)
            if reservation_id is None:
                continue
            reservation = self._reservations[reservation_id]
            rest = tuple(n for n in reservation.session_names if n != name)
            if rest:
                self._reservations[reservation_id] = dataclasses.replace(
                    reservation,
                    session_names=rest,
                    fences={n: f for n, f in reservation.fences.items() if n != name},
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
