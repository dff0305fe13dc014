"""The broker: pin map repository and session manager (pure orchestration, no grpc)."""

from __future__ import annotations

from pinbroker.broker._pinmaps import PinMapRepository, StoredPinMap
from pinbroker.broker._sessions import CancelHook, SessionManager
from pinbroker.broker._values import MultiplexerView, ReserveResult, SessionView

__all__ = [
    "CancelHook",
    "MultiplexerView",
    "PinMapRepository",
    "ReserveResult",
    "SessionManager",
    "SessionView",
    "StoredPinMap",
]
