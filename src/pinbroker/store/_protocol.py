"""The one persistence Protocol: pin maps, sessions, reservations, leases and events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pinbroker.events import Event
from pinbroker.registry import RegistryStore
from pinbroker.reservation import (
    JournalRecord,
    LeaseRecord,
    Reservation,
    ReservationId,
    ReservationJournal,
)
from pinbroker.types import PinMapId, SessionName

__all__ = ["Store"]


class Store(RegistryStore, ReservationJournal, Protocol):
    """Persistent state of a pinbroker server; every method is thread-safe and atomic.

    Each writing call is one transaction: it happens completely or not at all, and once it
    returns it survives a crash of the process. Loads return what was committed.
    A ``SessionRegistry`` writes through the session methods, and a ``ReservationTable``
    journals through ``apply_journal`` via a ``GroupCommitJournal`` (the server's wiring), or
    through ``put_reservation``/``delete_reservation_sessions`` when the store itself is its
    ``journal``.

    Methods inherited from :class:`~pinbroker.registry.RegistryStore`: ``add_sessions`` and
    ``add_multiplexer_sessions`` raise ``SessionAlreadyRegisteredError`` (writing nothing) when
    a name is stored already or repeated in the batch; ``remove_*`` ignore unknown names;
    ``load_*`` return registration order. From
    :class:`~pinbroker.reservation.ReservationJournal`: ``put_reservation`` inserts or replaces
    a reservation and raises ``ValueError`` (writing nothing) when it has no session or a session
    belongs to another stored reservation; ``delete_reservation_sessions`` removes sessions from
    their reservations and drops reservations left empty. ``put_reservation`` writes no lease,
    an empty client identity and no fences; ``apply_journal`` writes every field of a
    ``PutReservation``'s reservation.

    High-water marks never go down, whatever is deleted: the largest reservation id ever put
    (:meth:`load_reservation_id_high`), each session's largest fence ever put
    (:meth:`load_fences`) and the largest lease id ever put (:meth:`load_lease_id_high`), so
    that ids and fences are not reused after a restart.

    Every method raises ``ValueError`` once the store is closed.
    """

    def put_pin_map(self, pin_map_id: PinMapId, xml: str) -> None:
        """Store a pin map's XML, replacing any under the same id (which keeps its position)."""
        ...

    def delete_pin_map(self, pin_map_id: PinMapId) -> None:
        """Forget a pin map; an unknown id is ignored."""
        ...

    def load_pin_maps(self) -> list[tuple[PinMapId, str]]:
        """Return ``(pin_map_id, xml)`` of every stored pin map, in order of first insertion."""
        ...

    def load_pin_map(self, pin_map_id: PinMapId) -> str | None:
        """Return one stored pin map's XML, or None if no pin map has this id."""
        ...

    def delete_reservation(self, reservation_id: ReservationId) -> None:
        """Forget a reservation with all its sessions; an unknown id is ignored."""
        ...

    def apply_journal(self, records: Sequence[JournalRecord]) -> None:
        """Apply reservation journal records in order, in one transaction (all or nothing).

        A ``PutReservation`` stores the reservation with its lease id, client identity and
        fences (a fence of 0 means none), and raises each of its sessions' fence high-water
        mark and the reservation id high-water mark to at least the reservation's.

        Raises:
            ValueError: If a ``PutReservation`` would be refused by ``put_reservation``;
                nothing is written.
        """
        ...

    def load_reservations(self) -> list[Reservation]:
        """Return every stored reservation by increasing id, sessions in their stored order.

        A reservation's ``fences`` hold its sessions' non-zero fences.
        """
        ...

    def load_reservation_id_high(self) -> int:
        """Return the largest reservation id ever put (also if deleted since); 0 if none."""
        ...

    def load_fences(self) -> dict[SessionName, int]:
        """Return each session's largest non-zero fence ever put (also if released since)."""
        ...

    def put_lease(self, record: LeaseRecord) -> None:
        """Store an active lease, replacing any under the same id; raise the lease id high."""
        ...

    def delete_leases(self, ids: Sequence[int]) -> None:
        """Forget leases (ended ones); unknown ids are ignored. The high-water mark stays."""
        ...

    def load_leases(self) -> list[LeaseRecord]:
        """Return every stored lease by increasing id."""
        ...

    def load_lease_id_high(self) -> int:
        """Return the largest lease id ever put (also if deleted since); 0 if none."""
        ...

    def append_events(self, events: Sequence[Event], *, keep: int) -> None:
        """Store events, then forget all but the newest ``keep`` revisions; one transaction.

        An event with the revision of a stored one replaces it.

        Raises:
            ValueError: If ``keep`` is negative; nothing is written.
        """
        ...

    def load_events(self, limit: int) -> list[Event]:
        """Return the newest ``limit`` stored events, oldest first.

        A stored event of a kind this pinbroker does not know (written by a newer one) is
        skipped with a logged warning, so fewer than ``limit`` may be returned.

        Raises:
            ValueError: If ``limit`` is negative.
        """
        ...

    def close(self) -> None:
        """Release the store's resources; closing twice is harmless."""
        ...
