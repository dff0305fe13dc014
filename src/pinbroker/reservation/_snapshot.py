"""The queue as frozen values for snapshots: deadlines and what blocks each request (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pinbroker.reservation._request import Request
from pinbroker.reservation._values import ReservationId, WaitingRequest
from pinbroker.types import SessionName

__all__ = ["waiting_requests"]


def waiting_requests(
    queue: Iterable[Request], holders: Mapping[SessionName, ReservationId]
) -> tuple[WaitingRequest, ...]:
    """The waiting requests in arrival order, each with its deadline and blockers.

    A request is blocked by the reservations holding its sessions and, for sessions that are
    free, by the earliest earlier request that wants them (it is served first).

    Args:
        queue: The waiting requests, first come first.
        holders: Which reservation holds each held session.
    """
    waiting: list[WaitingRequest] = []
    wanted_by: dict[SessionName, ReservationId] = {}  # the earliest waiter wanting it
    for request in queue:
        ticket = request.ticket
        blockers: dict[ReservationId, None] = {}
        for name in ticket.session_names:
            holder = holders.get(name)
            if holder is not None:
                blockers[holder] = None
            elif name in wanted_by:
                blockers[wanted_by[name]] = None
            wanted_by.setdefault(name, ticket.id)
        waiting.append(
            WaitingRequest(
                ticket.id,
                ticket.session_names,
                ticket.owner,
                request.annotations,
                request.waiting_since,
                ticket.lease_id,
                ticket.client,
                None if ticket.timeout is None else request.waiting_since + ticket.timeout,
                tuple(blockers),
            )
        )
    return tuple(waiting)
