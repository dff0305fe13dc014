"""The one persistence Protocol: pin maps, registered sessions and reservations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pinbroker.registry import RegistryStore
from pinbroker.reservation import JournalRecord, Reservation, ReservationId, ReservationJournal
from pinbroker.types import PinMapId

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
    their reservations and drops reservations left empty.

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

    def delete_reservation(self, reservation_id: ReservationId) -> None:
        """Forget a reservation with all its sessions; an unknown id is ignored."""
        ...

    def apply_journal(self, records: Sequence[JournalRecord]) -> None:
        """Apply reservation journal records in order, in one transaction (all or nothing).

        Raises:
            ValueError: If a ``PutReservation`` would be refused by ``put_reservation``;
                nothing is written.
        """
        ...

    def load_reservations(self) -> list[Reservation]:
        """Return every stored reservation by increasing id, sessions in their stored order."""
        ...

    def close(self) -> None:
        """Release the store's resources; closing twice is harmless."""
        ...
