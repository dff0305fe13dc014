"""Group commit: one writer thread makes the reservation table's records durable in batches.

The reservation table queues its records while holding its lock and waits for them outside it
(see :class:`~pinbroker.reservation.DeferredJournal`). :class:`GroupCommitJournal` is that
journal for a :class:`~pinbroker.store.Store`: its writer thread takes *everything* pending,
applies it with one ``Store.apply_journal`` call (one transaction), then completes every
receipt of the batch, or fails every one of them with the exception. While a batch is being
written, new records pile up and go into the next one, so the number of transactions falls as
the load rises, and no statement runs under the table's lock (``sqlite3`` releases the GIL
around each statement; beside busy Python threads each one may wait for the GIL for up to the
switch interval, which under the table's lock stalled every other request).

Records are applied in submission order: the table submits under its lock, so that is the
table's order. The writer and the receipts block on two conditions of one lock; nothing polls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from pinbroker.reservation import JournalReceipt, JournalRecord

__all__ = ["GroupCommitJournal"]

_logger = logging.getLogger(__name__)


class _JournalStore(Protocol):
    """What the writer needs of a store."""

    def apply_journal(self, records: Sequence[JournalRecord]) -> None: ...


class _Receipt:
    """Completion of one submitted record (guarded by the journal's condition)."""

    __slots__ = ("_done", "_error", "_written")

    def __init__(self, written: threading.Condition) -> None:
        self._written = written
        self._done = False
        self._error: Exception | None = None

    def wait(self) -> None:
        """Block until the record's batch is written.

        Raises:
            Exception: Whatever ``apply_journal`` raised for the batch; nothing of it was written.
        """
        with self._written:
            self._written.wait_for(lambda: self._done)
        if self._error is not None:
            raise self._error


class GroupCommitJournal:
    """A :class:`~pinbroker.reservation.DeferredJournal` writing batches to a store.

    Thread-safe. Call :meth:`close` to write what is pending and stop the writer (before
    closing the store).
    """

    def __init__(self, store: _JournalStore) -> None:
        """Start the writer thread.

        Args:
            store: Where batches go, one ``apply_journal`` call (one transaction) per batch.
        """
        self._store = store
        lock = threading.Lock()
        self._work = threading.Condition(lock)  # the writer waits for records or close
        self._written = threading.Condition(lock)  # receipts wait for their batch
        self._pending: list[tuple[JournalRecord, _Receipt]] = []
        self._closing = False
        self._writer = threading.Thread(
            target=self._write_loop, name="pinbroker-group-commit", daemon=True
        )
        self._writer.start()

    def submit(self, record: JournalRecord) -> JournalReceipt:
        """Queue a record for the next batch; never blocks on I/O.

        Args:
            record: The change to record.

        Returns:
            The receipt; its ``wait`` returns once the record is durable.

        Raises:
            ValueError: If :meth:`close` was called.
        """
        with self._work:
            if self._closing:
                raise ValueError("the reservation journal is closed")
            receipt = _Receipt(self._written)
            self._pending.append((record, receipt))
            if len(self._pending) == 1:
                self._work.notify()  # the writer may be idle
            return receipt

    def close(self) -> None:
        """Write what is pending, then stop the writer; closing twice is harmless."""
        with self._work:
            self._closing = True
            self._work.notify()
        if self._writer is not threading.current_thread():
            self._writer.join()

    def _write_loop(self) -> None:
        """Take every pending record, write them in one transaction, complete their receipts."""
        while True:
            with self._work:
                self._work.wait_for(lambda: bool(self._pending) or self._closing)
                if not self._pending:
                    return  # closing, nothing left
                batch, self._pending = self._pending, []
            error: Exception | None = None
            try:
                self._store.apply_journal([record for record, _ in batch])
            except Exception as exc:
                _logger.exception("writing %d reservation record(s) failed", len(batch))
                error = exc
            with self._written:
                for _, receipt in batch:
                    receipt._done = True
                    receipt._error = error
                self._written.notify_all()
