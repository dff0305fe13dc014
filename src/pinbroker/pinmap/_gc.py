"""Pausing Python's cyclic garbage collector while a large pin map is read.

Loading half a million connections allocates millions of objects, none of them in reference
cycles; the collector's repeated passes over them cost about a tenth of the load. The collector
is process-wide, so pauses are counted: it is re-enabled when the last concurrent load ends,
and only if it was enabled when the first began. Nothing is lost meanwhile -- cycles created
by other threads are collected once it runs again.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


class _Pauses:
    """Counts concurrent pauses of the process-wide collector."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.resume = False


_PAUSES = _Pauses()


@contextmanager
def gc_paused(pause: bool = True) -> Iterator[None]:
    """Run the block with the cyclic garbage collector paused (if ``pause``)."""
    if not pause:
        yield
        return
    with _PAUSES.lock:
        if _PAUSES.active == 0:
            _PAUSES.resume = gc.isenabled()
            gc.disable()
        _PAUSES.active += 1
    try:
        yield
    finally:
        with _PAUSES.lock:
            _PAUSES.active -= 1
            if _PAUSES.active == 0 and _PAUSES.resume:
                gc.enable()
