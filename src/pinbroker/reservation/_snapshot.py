"""The queue as frozen values for snapshots: deadlines and what blocks each request (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from pinbroker.reservation._request import Request
from pinbroker.reservation._values import ReservationId, WaitingRequest
from pinbroker.types import SessionName

__all__ = ["blocked_by", "waiting_requests"]


def waiting_requests(
    queue: Iterable[Request], holders: Mapping[SessionName, ReservationId]
) -> tuple[WaitingRequest, ...]:
    """The waiting requests in arrival order, each with its deadline and blockers.

    Args:
        queue: The waiting requests, first come first.
        holders: Which reservation holds each held session.
    """
    requests = list(queue)
    tickets = [request.ticket for request in requests]
    return tuple(
        WaitingRequest(
            ticket.id,
            ticket.session_names,
            ticket.owner,
            request.annotations,
            request.waiting_since,
            ticket.lease_id,
            ticket.client,
            None if ticket.timeout is None else request.waiting_since + ticket.timeout,
            blockers,
        )
        for request, ticket, blockers in zip(
            requests, tickets, blocked_by(tickets, holders), strict=True
        )
    )


class _Queued(Protocol):
    @property
    def id(self) -> ReservationId: ...

    @property
    def session_names(self) -> tuple[SessionName, ...]: ...


def blocked_by(
    queue: Iterable[_Queued], holders: Mapping[SessionName, ReservationId]
) -> list[tuple[ReservationId, ...]]:
    """What blocks each waiting request (first come first), for every table that queues.

    A request is blocked by the reservations holding its sessions and, for sessions that are
    free, by the earliest earlier request that wants them (it is served first).

    Args:
        queue: The waiting requests (tickets or waiting requests), first come first.
        holders: Which reservation holds each held session.
    """
    wanted_by: dict[SessionName, ReservationId] = {}
    result: list[tuple[ReservationId, ...]] = []
    for request in queue:
        blockers: dict[ReservationId, None] = {}
        for name in request.session_names:
            holder = holders.get(name)
            if holder is not None:
                blockers[holder] = None
            elif name in wanted_by:
                blockers[wanted_by[name]] = None
            wanted_by.setdefault(name, request.id)
        result.append(tuple(blockers))
    return result
