"""A small, thread-safe, bounded memory of protobuf messages received from a service.

The session management client uses it to send back the exact message the service returned when
the caller hands it only the NamedTuple made from that message.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

__all__ = ["RecentMessages"]

K = TypeVar("K", bound=Hashable)
M = TypeVar("M")


class RecentMessages(Generic[K, M]):
    """The most recently received message for each key, least recently stored dropped first.

    Args:
        capacity: How many keys to keep.
    """

    def __init__(self, capacity: int = 1024) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._lock = threading.Lock()
        self._messages: OrderedDict[K, M] = OrderedDict()

    def put_all(self, items: Iterable[tuple[K, M]]) -> None:
        """Remember each message under its key, replacing an older message of the same key."""
        with self._lock:
            for key, message in items:
                self._messages[key] = message
                self._messages.move_to_end(key)
            while len(self._messages) > self._capacity:
                self._messages.popitem(last=False)

    def get(self, key: K) -> M | None:
        """Return the message stored under ``key``, or None."""
        with self._lock:
            return self._messages.get(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)
