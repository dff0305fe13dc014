"""Checking reservations loaded from persistence before the table re-installs them (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pinbroker.reservation._values import Reservation, ReservationId
from pinbroker.types import SessionName

__all__ = ["claims_of"]


def claims_of(
    incoming: Sequence[Reservation],
    holders: Mapping[SessionName, ReservationId],
    reservations: Mapping[ReservationId, Reservation],
) -> dict[SessionName, ReservationId]:
    """Return which reservation each incoming session belongs to, after checking them all.

    Args:
        incoming: The reservations to restore.
        holders: Sessions the table holds already, and by which reservation.
        reservations: Reservations the table holds already, by id.

    Raises:
        ValueError: If a session would be held twice, a reservation id is in use, or a
            reservation holds no session or an empty session name.
    """
    ids: set[ReservationId] = set()
    claimed: dict[SessionName, ReservationId] = {}
    for reservation in incoming:
        if reservation.id in ids or reservation.id in reservations:
            raise ValueError(f"reservation {reservation.id} is restored twice")
        if not reservation.session_names or not all(reservation.session_names):
            raise ValueError(
                f"reservation {reservation.id} has no sessions or an empty session name"
            )
        ids.add(reservation.id)
        for name in reservation.session_names:
            other = claimed.get(name, holders.get(name))
            if other is not None:
                raise ValueError(
                    f"session '{name}' is held by reservation {other} and "
                    f"reservation {reservation.id}"
                )
            claimed[name] = reservation.id
    return claimed
