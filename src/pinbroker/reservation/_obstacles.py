"""What stands in a request's way: the message of a reservation timeout."""

from __future__ import annotations

from collections.abc import Mapping

from pinbroker.reservation._request import Request
from pinbroker.reservation._values import Reservation, ReservationId
from pinbroker.types import SessionName

__all__ = ["describe_obstacles"]


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
        ``sessions for request N of 'owner' were not available ...: 'A' is held by ...``.
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
            obstacles.append(f"'{name}' is held by '{reservation.owner}' (reservation {holder})")
        elif name in ahead:
            other = ahead[name]
            obstacles.append(
                f"'{name}' is wanted by earlier request {other.ticket.id} of '{other.ticket.owner}'"
            )
    when = "at once" if timeout == 0 else f"within {timeout:g} s"
    return (
        f"sessions for request {request.ticket.id} of '{request.ticket.owner}' were not "
        f"available {when}: " + "; ".join(obstacles)
    )
