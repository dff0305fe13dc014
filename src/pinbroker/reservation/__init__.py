"""The reservation table: sessions reserved all-or-nothing, waiters served first come first served.

Pure: no grpc, no protobuf, no I/O. Time comes from an injectable :class:`Clock`
(:class:`MonotonicClock` in production, :class:`FakeClock` in tests); persistence goes through a
:class:`ReservationJournal` (a ``pinbroker.store.Store`` is one, written under the table's lock)
or a :class:`DeferredJournal` (``pinbroker.store.GroupCommitJournal``, waited on outside it).
Timeouts are seconds as ``float | None``; the wire's milliseconds are converted with
:func:`timeout_from_milliseconds`.
"""

from __future__ import annotations

from pinbroker.reservation._clock import Clock, FakeClock, MonotonicClock
from pinbroker.reservation._contracts import LeaseTableLike, ReservationTableLike
from pinbroker.reservation._fencing import sort_by_token
from pinbroker.reservation._journal import (
    DeferredJournal,
    DeleteSessions,
    JournalReceipt,
    JournalRecord,
    PutReservation,
)
from pinbroker.reservation._leases import (
    ClientIdentity,
    Lease,
    LeaseId,
    LeaseRecord,
    LeaseState,
    LeaseTable,
)
from pinbroker.reservation._obstacles import timeout_message
from pinbroker.reservation._snapshot import blocked_by
from pinbroker.reservation._table import ReservationTable
from pinbroker.reservation._timeout import (
    check_timeout,
    timeout_from_milliseconds,
    timeout_to_milliseconds,
)
from pinbroker.reservation._values import (
    FenceToken,
    Reservation,
    ReservationId,
    ReservationJournal,
    TableSnapshot,
    Ticket,
    WaitingRequest,
    event_owner,
    unique_names,
)

__all__ = [
    "ClientIdentity",
    "Clock",
    "DeferredJournal",
    "DeleteSessions",
    "FakeClock",
    "FenceToken",
    "JournalReceipt",
    "JournalRecord",
    "Lease",
    "LeaseId",
    "LeaseRecord",
    "LeaseState",
    "LeaseTable",
    "LeaseTableLike",
    "MonotonicClock",
    "PutReservation",
    "Reservation",
    "ReservationId",
    "ReservationJournal",
    "ReservationTable",
    "ReservationTableLike",
    "TableSnapshot",
    "Ticket",
    "WaitingRequest",
    "blocked_by",
    "check_timeout",
    "event_owner",
    "sort_by_token",
    "timeout_from_milliseconds",
    "timeout_message",
    "timeout_to_milliseconds",
    "unique_names",
]
