"""Guards the public API of the pure packages: an exact ``__all__`` and no grpc or protobuf."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

EXPECTED: dict[str, set[str]] = {
    "pinbroker.events": {
        "Event",
        "EventBatch",
        "EventKind",
        "EventLog",
        "EventOwner",
        "Subscription",
    },
    "pinbroker.registry": {
        "MultiplexerRecord",
        "RegistryStore",
        "SessionRecord",
        "SessionRegistry",
        "SessionRegistryLike",
    },
    "pinbroker.reservation": {
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
        "timeout_message",
        "timeout_from_milliseconds",
        "timeout_to_milliseconds",
        "unique_names",
    },
    "pinbroker.store": {
        "APPLICATION_ID",
        "LOCK_FILE_NAME",
        "SCHEMA_VERSION",
        "STATE_DIR_ENV",
        "STORE_FILE_NAME",
        "EventWriter",
        "GroupCommitJournal",
        "MemoryStore",
        "SqliteStore",
        "Store",
        "default_state_dir",
        "migrate",
        "open_store",
    },
}


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_all_is_exactly_the_public_api(module_name: str) -> None:
    package = importlib.import_module(module_name)
    assert len(package.__all__) == len(set(package.__all__))
    assert set(package.__all__) == EXPECTED[module_name]
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"  # from __future__ import annotations
    }
    assert public == EXPECTED[module_name]


@pytest.mark.parametrize(
    "module_name",
    [*sorted(EXPECTED), "pinbroker.pinmap", "pinbroker.discovery", "pinbroker.broker"],
)
def test_importing_it_pulls_in_no_grpc_or_protobuf(module_name: str) -> None:
    code = (
        f"import sys, {module_name}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'grpc' "
        "or m.startswith('google.protobuf')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
