"""The broker: pin map repository and session manager (pure orchestration, no grpc)."""

from __future__ import annotations

from pinbroker.broker._holds import HoldWatch
from pinbroker.broker._leases import LeaseManager, LeaseStore
from pinbroker.broker._pinmaps import PinMapRepository, StoredPinMap
from pinbroker.broker._sessions import CancelHook, PreparedReservation, SessionManager
from pinbroker.broker._values import MultiplexerView, ReserveResult, SessionView

__all__ = [
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
]
