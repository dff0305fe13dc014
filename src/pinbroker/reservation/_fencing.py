"""Sorting an unreserve's sessions by their fencing tokens (pure; the table's lock is held)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pinbroker.errors import StaleTokenError
from pinbroker.reservation._values import FenceToken, Reservation, ReservationId
from pinbroker.types import SessionName

__all__ = ["sort_by_token"]


def sort_by_token(
    sessions: Iterable[tuple[str, FenceToken | None]],
    holders: Mapping[SessionName, ReservationId],
    reservations: Mapping[ReservationId, Reservation],
    strict: bool,
) -> tuple[dict[SessionName, ReservationId | None], tuple[SessionName, ...]]:
    """Decide what an unreserve may release.

    Args:
        sessions: Each session name with the token it was sent back with, or None.
        holders: Which reservation holds each held session.
        reservations: The held reservations by id.
        strict: Refuse a stale or missing token (``--strict-owner``).

    Returns:
        The sessions to release, each with the reservation it must still be held by (None:
        by anyone, for a session sent without a token), and the sessions whose token is stale.

    Raises:
        StaleTokenError: If ``strict`` and a token is stale or missing.
    """
    wanted: dict[SessionName, ReservationId | None] = {}
    stale: list[SessionName] = []
    for raw_name, token in sessions:
        name = SessionName(raw_name)
        holder = holders.get(name)
        if token is None:
            if strict:
                raise StaleTokenError(
                    f"session '{name}' was given without the pinbroker/reservation_id "
                    "and pinbroker/fence annotations of its grant (--strict-owner)"
                )
            wanted[name] = None
        elif holder is None:
            continue  # free already: nothing to release
        elif (
            holder == token.reservation_id
            and reservations[holder].fences.get(name, token.fence) == token.fence
        ):
            wanted[name] = holder
        else:
            stale.append(name)
    if stale and strict:
        raise StaleTokenError(
            "not released: the token of "
            + ", ".join(f"'{n}'" for n in stale)
            + " is stale: the session was released since and is held by a newer grant"
        )
    return wanted, tuple(stale)
