"""Several servers sharing one PostgreSQL database (``pinbroker serve --database``).

Not part of the pure core: this package holds the SQL. It implements the contracts of the
core's reservation table, lease table, session registry and event log on the shared database
(see ``docs/design.md``, "Several hosts"), so the server wires either these or the in-memory
core with the SQLite store, and everything above them is the same.
"""

from __future__ import annotations

from pinbroker.cluster._cluster import Cluster
from pinbroker.cluster._db import Database, redact_url
from pinbroker.cluster._events import SharedEventLog
from pinbroker.cluster._leases import SharedLeaseTable
from pinbroker.cluster._registry import SharedPinMapStore, SharedRegistry
from pinbroker.cluster._schema import SCHEMA_VERSION, migrate
from pinbroker.cluster._table import SharedReservationTable

__all__ = [
    "SCHEMA_VERSION",
    "Cluster",
    "Database",
    "SharedEventLog",
    "SharedLeaseTable",
    "SharedPinMapStore",
    "SharedRegistry",
    "SharedReservationTable",
    "migrate",
    "redact_url",
]
