"""The per-channel registry of lease keepers: one :class:`LeaseKeeper` per gRPC channel.

A module-level ``weakref.WeakKeyDictionary[grpc.Channel, LeaseKeeper]`` guarded by a lock, so
every client on a channel shares one lease, and a channel that is garbage-collected takes its
keeper with it. This is the one piece of module-level state of the client package; it is what
``atexit`` walks to revoke the leases when the interpreter exits (so a clean exit frees the
sessions at once). A forked child starts with an empty registry (its reserves take a lease of
its own).
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref

import grpc

from pinbroker.client._lease import EXIT_REVOKE_TIMEOUT, LeaseKeeper

__all__ = ["existing_lease_keeper", "lease_keeper_for"]

_registry_lock = threading.Lock()
_keepers: weakref.WeakKeyDictionary[grpc.Channel, LeaseKeeper] = weakref.WeakKeyDictionary()
_exit_hook_registered = False


def lease_keeper_for(channel: grpc.Channel) -> LeaseKeeper:
    """The keeper of ``channel``, created (without a lease yet) on first use."""
    global _exit_hook_registered
    with _registry_lock:
        keeper = _keepers.get(channel)
        if keeper is None:
            keeper = _keepers[channel] = LeaseKeeper(channel)
            if not _exit_hook_registered:
                atexit.register(_close_all)
                _exit_hook_registered = True
        return keeper


def existing_lease_keeper(channel: grpc.Channel) -> LeaseKeeper | None:
    """The keeper of ``channel`` if one was created, else None (nothing is created)."""
    with _registry_lock:
        return _keepers.get(channel)


def _forget_after_fork() -> None:
    """In a forked child: the parent's leases and threads are not the child's; start afresh."""
    global _registry_lock, _keepers
    _registry_lock = threading.Lock()
    _keepers = weakref.WeakKeyDictionary()


if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_forget_after_fork)


def _close_all() -> None:
    """At interpreter exit: revoke every lease so its reservations are free at once."""
    with _registry_lock:
        keepers = list(_keepers.values())
    for keeper in keepers:
        keeper.close(timeout=EXIT_REVOKE_TIMEOUT)
