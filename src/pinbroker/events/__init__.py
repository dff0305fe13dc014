"""The event log: what happened to sessions and reservations, numbered by revision.

Pure: no grpc, no protobuf, no I/O. The server appends an :class:`Event` for every
reservation, release, expiry and registration; followers read them with
:meth:`EventLog.since`, a :class:`Subscription` (threads) or :meth:`EventLog.add_listener`
(asyncio wake-ups). Persistence is fed through the log's ``on_append`` hook and read back
with :meth:`EventLog.restore`.
"""

from __future__ import annotations

from pinbroker.events._log import (
    Event,
    EventBatch,
    EventKind,
    EventLog,
    EventOwner,
    Subscription,
)

__all__ = [
    "Event",
    "EventBatch",
    "EventKind",
    "EventLog",
    "EventOwner",
    "Subscription",
]
