"""Waiting for a reservation on the event loop: no thread is held while a request waits.

The reservation table is thread-safe and free of I/O; a request that must wait is woken by
the table's ``on_change`` callback (through ``loop.call_soon_threadsafe``) or by its own
deadline, then :meth:`~pinbroker.reservation.ReservationTable.finish` takes the outcome. With
``finish_on_loop`` (the single-host table, whose only I/O is its SQLite journal: a commit without
an fsync, tens of microseconds) it runs right on the loop, and the loop's thread writes the
grant's record itself (group commit's leader); otherwise (a table on a shared database) on a
worker thread. A thread hand-off there and back costs more than the write: two wake-ups of
threads, each a scheduler latency on a busy machine (see docs/performance.md).

A caller that goes away (cancelled, deadline passed, connection lost: grpc.aio cancels the
handler's task) never becomes a holder: while it waits its request leaves the queue; if the
grant's record is being written, the table withdraws the grant once written; if the grant was
delivered in the instant the task was cancelled, it is released again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

from pinbroker.broker import SessionManager
from pinbroker.errors import ReservationTimeoutError, ResourceExhaustedError
from pinbroker.reservation import ClientIdentity, Reservation, ReservationTableLike, Ticket

__all__ = ["reserve_on_loop"]

_T = TypeVar("_T")

_logger = logging.getLogger(__name__)


async def reserve_on_loop(
    sessions: SessionManager,
    executor: Executor,
    session_names: Sequence[str],
    *,
    timeout: float | None,
    owner: str,
    annotations: Mapping[str, str],
    lease_id: int | None = None,
    client: ClientIdentity | None = None,
    request_id: str | None = None,
    finish_on_loop: bool = False,
) -> Reservation:
    """Reserve the sessions all together, waiting on the running loop up to ``timeout``.

    With ``finish_on_loop`` the outcome is taken on the loop's thread (the table's only
    blocking is its journal's write); otherwise on a worker thread of ``executor``.

    With a ``request_id`` that was granted before (a retry after a lost reply) and whose grant
    still holds all its sessions, that grant is returned again.

    Raises:
        ReservationTimeoutError: If the sessions were not all free in time.
        ResourceExhaustedError: If ``max_waiters`` requests wait already and this one cannot
            be granted at once.
        LeaseNotFoundError: If ``lease_id`` names a lease that is not active.
        CancelledError: If the table withdrew the request (e.g. a lease ended).
        ShuttingDownError: If the server is stopping.
        asyncio.CancelledError: If the caller went away; the request is withdrawn.
    """
    if request_id:
        replayed = sessions.replay_grant(request_id, lease_id)
        if replayed is not None:
            _logger.info(
                "request %s retried: its grant %s is returned again", request_id, replayed.id
            )
            return replayed
    reservation = await _reserve(
        sessions,
        executor,
        session_names,
        _Asking(owner, annotations, lease_id, client, timeout),
        finish_on_loop,
    )
    if request_id:
        sessions.remember_grant(request_id, reservation)
    return reservation


@dataclass(frozen=True, slots=True)
class _Asking:
    """Who asks, and how long they wait."""

    owner: str
    annotations: Mapping[str, str]
    lease_id: int | None
    client: ClientIdentity | None
    timeout: float | None

    def request(
        self,
        table: ReservationTableLike,
        session_names: Sequence[str],
        on_change: Callable[[], None] | None = None,
    ) -> Ticket:
        return table.request(
            session_names,
            owner=self.owner,
            annotations=self.annotations,
            on_change=on_change,
            lease_id=self.lease_id,
            client=self.client,
            timeout=self.timeout,
        )


async def _reserve(
    sessions: SessionManager,
    executor: Executor,
    session_names: Sequence[str],
    asking: _Asking,
    finish_on_loop: bool,
) -> Reservation:
    table = sessions.table
    timeout = asking.timeout

    async def finish(ticket: Ticket, timeout: float | None) -> Reservation:
        if finish_on_loop:  # nothing to await: the task cannot be cancelled half-way
            return table.finish(ticket, timeout)
        return await _finish_on_worker(table, executor, ticket, timeout)

    async def ask(on_change: Callable[[], None] | None = None) -> Ticket:
        if finish_on_loop:  # the in-memory table: no I/O
            return asking.request(table, session_names, on_change)
        return await _request_on_worker(table, executor, asking, session_names, on_change)

    if timeout == 0:
        if not finish_on_loop:  # one trip to a worker for the request and its outcome
            return await _at_once_on_worker(table, executor, asking, session_names)
        return await finish(await ask(), timeout)
    if not sessions.acquire_waiting_slot():
        try:
            return await finish(await ask(), 0)
        except ReservationTimeoutError as exc:
            raise ResourceExhaustedError(
                f"too many reservation requests are waiting ({sessions.max_waiters}) and "
                f"this one cannot be granted at once: {exc}"
            ) from exc
    try:
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(woken.set)

        ticket = await ask(wake)
        try:
            if timeout is None:
                await woken.wait()
            else:
                await asyncio.wait_for(woken.wait(), timeout)
        except asyncio.TimeoutError:
            pass  # finish() says who stands in the way
        except asyncio.CancelledError:
            table.cancel(ticket)
            _discard(table, ticket, timeout)
            raise
        return await finish(ticket, timeout)
    finally:
        sessions.release_waiting_slot()


async def _request_on_worker(
    table: ReservationTableLike,
    executor: Executor,
    asking: _Asking,
    session_names: Sequence[str],
    on_change: Callable[[], None] | None,
) -> Ticket:
    """Make the request on a worker thread (a table on a shared database does I/O).

    A caller that goes away meanwhile leaves nothing behind: once the request is made, it is
    cancelled (a grant given back) and its outcome taken.
    """
    return await _on_worker(
        executor,
        functools.partial(asking.request, table, session_names, on_change),
        lambda ticket: _withdraw_unwanted(table, ticket, asking.timeout),
    )


async def _at_once_on_worker(
    table: ReservationTableLike,
    executor: Executor,
    asking: _Asking,
    session_names: Sequence[str],
) -> Reservation:
    """Request with timeout 0 and take the outcome, in one trip to a worker thread.

    A grant whose caller went away meanwhile is released again.
    """

    def at_once() -> Reservation:
        return table.finish(asking.request(table, session_names), 0)

    return await _on_worker(executor, at_once, functools.partial(_release_undelivered, table))


def _withdraw_unwanted(table: ReservationTableLike, ticket: Ticket, timeout: float | None) -> None:
    """Withdraw a request whose caller went away while it was made."""
    table.cancel(ticket)
    _discard(table, ticket, timeout)


async def _finish_on_worker(
    table: ReservationTableLike, executor: Executor, ticket: Ticket, timeout: float | None
) -> Reservation:
    """Take the outcome on a worker thread; undo a grant whose caller went away meanwhile."""
    try:
        return await _on_worker(
            executor,
            functools.partial(table.finish, ticket, timeout),
            functools.partial(_release_undelivered, table),
        )
    except asyncio.CancelledError:
        table.cancel(ticket)  # still waiting: withdrawn; delivered already: released once done
        raise


async def _on_worker(executor: Executor, work: Callable[[], _T], undo: Callable[[_T], None]) -> _T:
    """Run ``work`` on a worker thread; if the caller goes away meanwhile, ``undo`` its result.

    The work is not interrupted (it may be a database transaction); once it has succeeded,
    ``undo`` runs on a worker thread too. A failure nobody awaits is retrieved (not logged).
    """
    loop = asyncio.get_running_loop()
    outcome = loop.run_in_executor(executor, work)
    try:
        return await asyncio.shield(outcome)
    except asyncio.CancelledError:

        def then(done: asyncio.Future[_T]) -> None:
            if done.cancelled() or done.exception() is not None:
                return
            loop.run_in_executor(executor, undo, done.result())

        outcome.add_done_callback(then)
        raise


def _discard(table: ReservationTableLike, ticket: Ticket, timeout: float | None) -> None:
    """Forget a cancelled request (its outcome is the CancelledError; nothing blocks)."""
    try:
        table.finish(ticket, timeout)
    except Exception as exc:
        _logger.debug("request %s withdrawn: %s", ticket.id, exc)
    else:  # cannot happen after cancel(); release defensively
        _logger.warning("request %s was granted after it was cancelled", ticket.id)


def _release_undelivered(table: ReservationTableLike, reservation: Reservation) -> None:
    """Release a reservation whose caller went away as it was granted."""
    try:
        released = table.release_reservation(
            reservation.id, reservation.session_names, "its caller went away as it was granted"
        )
    except Exception:
        _logger.exception("releasing undelivered reservation %s failed", reservation.id)
        return
    _logger.info(
        "reservation %s of %s released: its caller went away as it was granted (%s)",
        reservation.id,
        reservation.owner,
        ", ".join(released),
    )
