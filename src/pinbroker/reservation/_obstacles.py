"""What stands in a request's way: the message of a reservation timeout."""

from __future__ import annotations

from collections.abc import Mapping

from pinbroker.reservation._request import Request
from pinbroker.reservation._values import Reservation, ReservationId
from pinbroker.types import SessionName

__all__ = ["MAX_NAMED_OBSTACLES", "describe_obstacles"]

MAX_NAMED_OBSTACLES = 10
"""Obstacles named in a timeout message; the rest are counted, so the message stays small."""

MAX_NAME_CHARS = 80
"""Longer session and owner names are cut (with ``...``) in the message."""


def _short(text: str) -> str:
    return text if len(text) <= MAX_NAME_CHARS else text[: MAX_NAME_CHARS - 3] + "..."


def describe_obstacles(
    request: Request,
    timeout: float | None,
    queue: Mapping[ReservationId, Request],
    holders: Mapping[SessionName, ReservationId],
    reservations: Mapping[ReservationId, Reservation],
) -> str:
    """Say which sessions stand in the request's way and who holds or wants them.

    Args:
        request: The request that timed out.
        timeout: Its timeout in seconds, for the message.
        queue: The table's waiting requests in arrival order.
        holders: Which reservation holds each held session.
        reservations: The held reservations by id.

    Returns:
        ``sessions for request N of 'owner' were not available ...: 'A' is held by ...``; at
        most :data:`MAX_NAMED_OBSTACLES` obstacles are named, then ``... and N more``; names
        longer than :data:`MAX_NAME_CHARS` are cut.
    """
    obstacles: list[str] = []
    ahead: dict[SessionName, Request] = {}
    for other in queue.values():
        if other is request:
            break
        for name in other.ticket.session_names:
            ahead.setdefault(name, other)
    for name in request.ticket.session_names:
        holder = holders.get(name)
        if holder is not None:
            reservation = reservations[holder]
            obstacles.append(
                f"'{_short(name)}' is held by '{_short(reservation.owner)}' (reservation {holder})"
            )
        elif name in ahead:
            other = ahead[name]
            obstacles.append(
                f"'{_short(name)}' is wanted by earlier request {other.ticket.id} of "
                f"'{_short(other.ticket.owner)}'"
            )
    when = "at once" if timeout == 0 else f"within {timeout:g} s"
    named = obstacles[:MAX_NAMED_OBSTACLES]
    if len(obstacles) > len(named):
        named.append(f"... and {len(obstacles) - len(named)} more")
    return (
        f"sessions for request {request.ticket.id} of '{_short(request.ticket.owner)}' were not "
        f"available {when}: " + "; ".join(named)
    )
