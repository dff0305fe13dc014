"""The ``pinbroker/`` annotations a grant carries: reservation id, fencing counter, lease (pure).

pinbroker hands each reserved session back with these annotations; NI's clients and the seed
client send the session back unchanged on unreserve, so the server can tell a current holder
from a stale one (:class:`~pinbroker.reservation.FenceToken`). Clients cannot set them: any
``pinbroker/`` key a client sends on reserve or register is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from pinbroker.errors import InvalidSessionError
from pinbroker.reservation import FenceToken, Reservation, ReservationId

__all__ = [
    "FENCE_KEY",
    "LEASE_ID_KEY",
    "OWN_PREFIX",
    "RESERVATION_ID_KEY",
    "grant_annotations",
    "token_of",
    "without_own_keys",
]

OWN_PREFIX: Final = "pinbroker/"
RESERVATION_ID_KEY: Final = "pinbroker/reservation_id"
FENCE_KEY: Final = "pinbroker/fence"
LEASE_ID_KEY: Final = "pinbroker/lease_id"


def without_own_keys(annotations: Mapping[str, str]) -> dict[str, str]:
    """The annotations without any ``pinbroker/`` key (clients cannot set those)."""
    return {k: v for k, v in annotations.items() if not k.startswith(OWN_PREFIX)}


def grant_annotations(reservation: Reservation, session_name: str) -> dict[str, str]:
    """A held session's annotations: the holder's, plus its grant's ``pinbroker/`` keys."""
    annotations = dict(reservation.annotations)
    annotations[RESERVATION_ID_KEY] = str(reservation.id)
    fence = reservation.fences.get(session_name)  # type: ignore[call-overload]
    if fence is not None:
        annotations[FENCE_KEY] = str(fence)
    if reservation.lease_id is not None:
        annotations[LEASE_ID_KEY] = str(reservation.lease_id)
    return annotations


def token_of(session_name: str, annotations: Mapping[str, str]) -> FenceToken | None:
    """The fencing token a session was sent back with, or None if it carries none.

    Raises:
        InvalidSessionError: If the ``pinbroker/`` keys are there but malformed.
    """
    reservation_id = annotations.get(RESERVATION_ID_KEY)
    fence = annotations.get(FENCE_KEY)
    if reservation_id is None and fence is None:
        return None
    try:
        return FenceToken(ReservationId(int(reservation_id or "")), int(fence or "0"))
    except ValueError:
        raise InvalidSessionError(
            f"session '{session_name}' carries malformed {RESERVATION_ID_KEY!r}/{FENCE_KEY!r} "
            f"annotations ({reservation_id!r}, {fence!r}); send them back as they were granted"
        ) from None
