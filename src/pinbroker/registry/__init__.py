"""Registered sessions and multiplexer sessions: what clients have opened, keyed by name.

Pure: no grpc, no protobuf. Registrations persist through a :class:`RegistryStore` (every
``pinbroker.store.Store`` is one); registering is all-or-nothing per call.
"""

from __future__ import annotations

from pinbroker.registry._records import MultiplexerRecord, SessionRecord
from pinbroker.registry._registry import RegistryStore, SessionRegistry, SessionRegistryLike

__all__ = [
    "MultiplexerRecord",
    "RegistryStore",
    "SessionRecord",
    "SessionRegistry",
    "SessionRegistryLike",
]
