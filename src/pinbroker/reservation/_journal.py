"""How the reservation table records changes: journal records, receipts, two journal kinds.

The table queues a record for each change it must survive a restart with while holding its
lock (so records are queued in the table's order) and waits for the record to be durable
*outside* the lock:

* a :class:`DeferredJournal` (e.g. ``pinbroker.store.GroupCommitJournal``) accepts records at
  once and makes them durable later, on its own thread, several at a time;
* a plain :class:`~pinbroker.reservation.ReservationJournal` (a ``Store``) is wrapped by
  :func:`as_deferred`, which writes each record synchronously when it is queued (under the
  table's lock) and hands back a receipt that is already complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeAlias, runtime_checkable

from pinbroker.reservation._values import Reservation, ReservationJournal
from pinbroker.types import SessionName

__all__ = [
    "DeferredJournal",
    "DeleteSessions",
    "JournalReceipt",
    "JournalRecord",
    "PutReservation",
    "as_deferred",
]


@dataclass(frozen=True, slots=True)
class PutReservation:
    """Record a granted reservation (replacing any record with the same id).

    Attributes:
        reservation: The reservation as granted.
    """

    reservation: Reservation


@dataclass(frozen=True, slots=True)
class DeleteSessions:
    """Record that sessions were released; a reservation left empty is gone.

    Attributes:
        session_names: The released sessions.
    """

    session_names: tuple[SessionName, ...]


JournalRecord: TypeAlias = PutReservation | DeleteSessions
"""One change to the reservations, as a journal applies it."""


class JournalReceipt(Protocol):
    """Tells whether a queued record is durable."""

    def wait(self) -> None:
        """Block until the record is durable.

        Raises:
            Exception: Whatever writing the record raised; then it was not written.
        """
        ...


@runtime_checkable
class DeferredJournal(Protocol):
    """A journal that accepts records at once and makes them durable later, in queue order.

    Records are applied in the order they were submitted; a record is durable once its
    receipt's ``wait`` returns. If writing fails, the receipt's ``wait`` raises and the record
    was not written.
    """

    def submit(self, record: JournalRecord) -> JournalReceipt:
        """Queue a record; never blocks on I/O.

        Raises:
            ValueError: If the journal is closed.
        """
        ...


class _Done:
    """A receipt that is complete already."""

    __slots__ = ("_error",)

    def __init__(self, error: Exception | None) -> None:
        self._error = error

    def wait(self) -> None:
        if self._error is not None:
            raise self._error


class _Immediate:
    """Writes each record to a plain journal when it is submitted."""

    __slots__ = ("_journal",)

    def __init__(self, journal: ReservationJournal) -> None:
        self._journal = journal

    def submit(self, record: JournalRecord) -> JournalReceipt:
        try:
            if isinstance(record, PutReservation):
                r = record.reservation
                self._journal.put_reservation(
                    r.id, r.session_names, r.owner, r.annotations, r.acquired_at
                )
            else:
                self._journal.delete_reservation_sessions(record.session_names)
        except Exception as exc:
            return _Done(exc)
        return _Done(None)


def as_deferred(journal: ReservationJournal | DeferredJournal) -> DeferredJournal:
    """Return ``journal`` if it is deferred, else one that writes to it on submission."""
    if isinstance(journal, DeferredJournal):
        return journal
    return _Immediate(journal)


def submit(journal: DeferredJournal, record: JournalRecord) -> JournalReceipt:
    """Submit ``record``; an exception from ``submit`` itself comes back in the receipt."""
    try:
        return journal.submit(record)
    except Exception as exc:
        return _Done(exc)
