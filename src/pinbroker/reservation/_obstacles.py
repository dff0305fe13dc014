"""What stands in a request's way: the message of a reservation timeout."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pinbroker.reservation._request import Request
from pinbroker.reservation._values import Reservation, ReservationId
from pinbroker.types import SessionName

__all__ = ["MAX_NAMED_OBSTACLES", "describe_obstacles", "timeout_message"]

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
        See :func:`timeout_message`.
    """
    ahead: dict[str, tuple[int, str]] = {}
    for other in queue.values():
        if other is request:
            break
        for name in other.ticket.session_names:
            ahead.setdefault(name, (other.ticket.id, other.ticket.owner))
    held: dict[str, tuple[int, str]] = {
        name: (holder, reservations[holder].owner)
        for name in request.ticket.session_names
        if (holder := holders.get(name)) is not None
    }
    ticket = request.ticket
    return timeout_message(ticket.id, ticket.owner, timeout, ticket.session_names, held, ahead)


def timeout_message(
    request_id: int,
    owner: str,
    timeout: float | None,
    session_names: Iterable[str],
    held: Mapping[str, tuple[int, str]],
    ahead: Mapping[str, tuple[int, str]],
) -> str:
    """The message of a reservation timeout (for every table that has one).

    Args:
        request_id: The request that timed out.
        owner: Who asked.
        timeout: Its timeout in seconds; None = it waited until now.
        session_names: The sessions it asked for, in order.
        held: For the held ones among them, the holding reservation's id and owner.
        ahead: For free ones wanted by an earlier waiting request, its id and owner.

    Returns:
        ``sessions for request N of 'owner' were not available ...: 'A' is held by ...``; at
        most :data:`MAX_NAMED_OBSTACLES` obstacles are named, then ``... and N more``; names
        longer than :data:`MAX_NAME_CHARS` are cut.
    """
    obstacles: list[str] = []
    for name in session_names:
        if name in held:
            holder, holder_owner = held[name]
            obstacles.append(
                f"'{_short(name)}' is held by '{_short(holder_owner)}' (reservation {holder})"
            )
        elif name in ahead:
            other, other_owner = ahead[name]
            obstacles.append(
                f"'{_short(name)}' is wanted by earlier request {other} of '{_short(other_owner)}'"
            )
    if timeout == 0:
        when = "at once"
    elif timeout is not None:
        when = f"within {timeout:g} s"
    else:
        when = "in time"
    named = obstacles[:MAX_NAMED_OBSTACLES]
    if len(obstacles) > len(named):
        named.append(f"... and {len(obstacles) - len(named)} more")
    return (
        f"sessions for request {request_id} of '{_short(owner)}' were not "
        f"available {when}: " + "; ".join(named)
    )
