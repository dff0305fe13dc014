"""One server's calls of the shared table's database functions, and their results as values.

Each decision is one statement (``Database.call``): the function takes its locks in the global
order, decides, writes, records its events and notifies, and returns what the server needs,
including the events it recorded, numbered, so the server mirrors them without reading back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pinbroker.cluster import _sql as sql
from pinbroker.cluster._db import Cursor, Database
from pinbroker.cluster._rows import (
    decode_fences,
)
from pinbroker.events import Event, EventKind
from pinbroker.reservation import ClientIdentity, FenceToken, ReservationId, Ticket, event_owner
from pinbroker.store._codec import (
    decode_event_owner,
    encode_annotations,
    encode_client_identity,
)
from pinbroker.types import SessionName

__all__ = ["Calls", "Decision"]

_REQUEST: Final = "SELECT * FROM pinbroker_request(%s, %s, %s, %s, %s, %s, %s, %s, %s)"
_ATTEMPT: Final = "SELECT * FROM pinbroker_attempt(%s, %s, %s, %s, %s, %s, %s, %s, %s)"
_RELEASE: Final = "SELECT * FROM pinbroker_release(%s, %s::bigint[], %s::bigint[], %s, %s, %s, %s)"
_WITHDRAW: Final = "SELECT pinbroker_withdraw(%s, %s, %s, %s, %s)"


@dataclass(frozen=True, slots=True)
class Decision:
    """What a request or a retry came to.

    Attributes:
        outcome: ``granted``, ``queued`` (a new request), ``waiting`` (a retry), ``withdrawn``
            (its row is gone), or ``lease`` (its lease is not active; ``reason`` says why).
        request_id: The request's id.
        fences: Each session's fence, when granted.
        event: The event recorded (``reserved`` or ``queued``), if any.
        reason: Why the lease is not active.
    """

    outcome: str
    request_id: ReservationId
    fences: Mapping[SessionName, int]
    event: Event | None
    reason: str = ""


class Calls:
    """The database functions, as one server calls them."""

    def __init__(self, database: Database, *, server_id: int, keep: int) -> None:
        self._db = database
        self._server_id = server_id
        self._keep = keep

    def next_id(self) -> ReservationId:
        """An id for a request that needs no decision (it wants no session)."""
        return self._db.run(sql.next_id)

    def request(
        self,
        names: Sequence[SessionName],
        *,
        owner: str,
        annotations: Mapping[str, str],
        now: float,
        lease_id: int | None,
        client: ClientIdentity,
        timeout: float | None,
    ) -> Decision:
        """Grant a new request at once, or queue it (``pinbroker_request``)."""
        ((outcome, rid, fences, last, why),) = self._db.call(
            _REQUEST,
            (
                self._server_id,
                list(names),
                owner,
                encode_annotations(annotations),
                now,
                lease_id,
                encode_client_identity(client),
                timeout,
                self._keep,
            ),
        )
        if outcome == "lease":
            return Decision(outcome, ReservationId(0), {}, None, str(why))
        granted = outcome == "granted"
        kind, reason = (EventKind.RESERVED, "") if granted else (EventKind.QUEUED, owner)
        who = event_owner(client, owner)
        event = Event(last, now, kind, tuple(names), rid, who, reason)
        return Decision(outcome, ReservationId(rid), decode_fences(fences or "{}"), event)

    def attempt(self, ticket: Ticket, annotations: Mapping[str, str], now: float) -> Decision:
        """Grant a queued request if nothing stands in its way now (``pinbroker_attempt``)."""
        ((outcome, fences, last),) = self._db.call(
            _ATTEMPT,
            (
                ticket.id,
                self._server_id,
                list(ticket.session_names),
                ticket.owner,
                encode_annotations(annotations),
                now,
                ticket.lease_id,
                encode_client_identity(ticket.client),
                self._keep,
            ),
        )
        event = None
        if outcome == "granted":
            who = event_owner(ticket.client, ticket.owner)
            event = Event(last, now, EventKind.RESERVED, ticket.session_names, ticket.id, who)
        return Decision(outcome, ticket.id, decode_fences(fences or "{}"), event)

    def release(
        self,
        wanted: Mapping[SessionName, FenceToken | None],
        kind: EventKind,
        reason: str,
        now: float,
    ) -> tuple[tuple[SessionName, ...], tuple[SessionName, ...], list[Event]]:
        """Free each session held under its token (fence 0: any; None: by anyone).

        Returns:
            The sessions freed, those held under another grant (stale tokens), the events.
        """
        tokens = list(wanted.values())
        ((held, last, recorded, refused),) = self._db.call(
            _RELEASE,
            (
                list(wanted),
                [None if t is None else t.reservation_id for t in tokens],
                [None if t is None or t.fence == 0 else t.fence for t in tokens],
                kind.value,
                reason,
                now,
                self._keep,
            ),
        )
        released = tuple(SessionName(name) for name in held)
        events = _events_of(recorded, last, now) if released else []
        return released, tuple(SessionName(name) for name in refused), events

    def withdraw(self, ticket: Ticket, kind: EventKind, reason: str, now: float) -> Event | None:
        """Withdraw a queued request; its event, or None if its row was gone already."""
        ((last,),) = self._db.call(_WITHDRAW, (ticket.id, kind.value, reason, now, self._keep))
        if last is None:
            return None
        who = event_owner(ticket.client, ticket.owner)
        return Event(last, now, kind, ticket.session_names, ticket.id, who, reason)

    def withdraw_lease(self, lease_id: int, reason: str, now: float) -> None:
        """Withdraw every server's waiters bound to a lease that ended (``cancelled`` each)."""

        def work(cursor: Cursor) -> None:
            sql.cancel_waiters(
                cursor,
                "w.lease_id = %s",
                (lease_id,),
                lambda _server: reason,
                now=now,
                keep=self._keep,
            )

        self._db.run(work)

    def lease_holds(self, lease_id: int) -> dict[SessionName, ReservationId | None]:
        """The sessions held under a lease, each with its reservation."""

        def work(cursor: Cursor) -> dict[SessionName, ReservationId | None]:
            cursor.execute(
                "SELECT id, session_names FROM reservations WHERE lease_id = %s ORDER BY id",
                (lease_id,),
            )
            return {
                SessionName(name): ReservationId(int(rid))
                for rid, names in cursor.fetchall()
                for name in names
            }

        return self._db.run(work)

    def blocked(self) -> dict[int, bool]:
        """This server's waiters, each with whether one of its sessions is held (one query).

        A local request missing here lost its row (withdrawn elsewhere).
        """

        def work(cursor: Cursor) -> dict[int, bool]:
            cursor.execute(
                "SELECT w.id, EXISTS (SELECT 1 FROM session_state s "
                "WHERE s.session_name = ANY(w.session_names) AND s.holder IS NOT NULL) "
                "FROM waiters w WHERE w.server_id = %s",
                (self._server_id,),
            )
            return {int(row[0]): bool(row[1]) for row in cursor.fetchall()}

        return self._db.run(work)

    def delete_waiters(self, ids: set[ReservationId]) -> None:
        """Delete waiter rows whose withdrawal could not be written (the database was away)."""

        def work(cursor: Cursor) -> None:
            cursor.execute(
                "DELETE FROM waiters WHERE id = ANY(%s) RETURNING session_names", (list(ids),)
            )
            names = {n: None for row in cursor.fetchall() for n in row[0]}
            if names:
                sql.notify_changed(cursor, names)

        self._db.run(work)


def _events_of(recorded: Sequence[Mapping[str, Any]], last: int, now: float) -> list[Event]:
    """The events ``pinbroker_release`` recorded (JSON objects), numbered up to ``last``."""
    first = last - len(recorded) + 1
    return [
        Event(
            revision=first + offset,
            time=now,
            kind=EventKind(item["kind"]),
            session_names=tuple(item["names"]),
            reservation_id=item["rid"],
            owner=decode_event_owner(item["owner"]),
            reason=item.get("reason", ""),
        )
        for offset, item in enumerate(recorded)
    ]
