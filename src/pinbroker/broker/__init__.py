"""The broker: pin map repository and session manager (pure orchestration, no grpc)."""

from __future__ import annotations

from pinbroker.broker._holds import HoldWatch
from pinbroker.broker._leases import LeaseManager, LeaseStore
from pinbroker.broker._pinmaps import (
    DEFAULT_PIN_MAP_CACHE_BYTES,
    PinMapRepository,
    StoredPinMap,
    estimate_pin_map_bytes,
)
from pinbroker.broker._sessions import CancelHook, PreparedReservation, SessionManager
from pinbroker.broker._values import MultiplexerView, ReserveResult, SessionView

__all__ = [
    "DEFAULT_PIN_MAP_CACHE_BYTES",
    "CancelHook",
    "HoldWatch",
    "LeaseManager",
    "LeaseStore",
    "MultiplexerView",
    "PinMapRepository",
    "PreparedReservation",
    "ReserveResult",
    "SessionManager",
    "SessionView",
    "StoredPinMap",
    "estimate_pin_map_bytes",
]
