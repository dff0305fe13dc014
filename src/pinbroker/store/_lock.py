"""The state directory's lock: one pinbroker process per state directory.

Two servers on one SQLite file would each keep their own reservation table in memory and hand
the same instrument to two clients. :func:`lock_state_dir` takes an exclusive ``flock`` on
``<state-dir>/pinbroker.lock`` (created if needed, never deleted) and writes the owner's pid
into it, so a second server can say who holds the directory. The kernel drops the lock when
the process ends, however it ends (``kill -9`` included); a stale pid in the file means
nothing once the lock is free.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import Final

from pinbroker.errors import StateInUseError, StateNotWritableError

__all__ = ["LOCK_FILE_NAME", "StateDirLock", "lock_state_dir"]

LOCK_FILE_NAME: Final = "pinbroker.lock"
"""Name of the lock file in the state directory."""


class StateDirLock:
    """An exclusive lock held on a state directory; :meth:`release` gives it back."""

    def __init__(self, directory: Path, path: Path, fd: int) -> None:
        self.directory = directory
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        """Clear the pid and drop the lock; releasing twice is harmless."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the only descriptor drops the flock


def lock_state_dir(directory: Path) -> StateDirLock:
    """Take the state directory's lock without waiting.

    Args:
        directory: The state directory; it must exist.

    Returns:
        The held lock, with this process's pid written into the lock file.

    Raises:
        StateInUseError: If another process holds the lock (the message names its pid).
        StateNotWritableError: If the lock file cannot be created or opened for writing.
    """
    path = directory / LOCK_FILE_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StateNotWritableError(
            f"state directory {directory} is not writable: cannot create the lock file "
            f"{path} ({exc.strerror or exc}); fix its permissions or choose another --state-dir"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _read_pid(fd)
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
            raise StateInUseError(str(directory), str(path), holder) from exc
        raise StateNotWritableError(
            f"cannot lock the state directory {directory} ({exc.strerror or exc})"
        ) from exc
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    except OSError as exc:
        os.close(fd)
        raise StateNotWritableError(
            f"state directory {directory} is not writable: cannot write the lock file "
            f"{path} ({exc.strerror or exc}); fix its permissions or choose another --state-dir"
        ) from exc
    return StateDirLock(directory, path, fd)


def _read_pid(fd: int) -> int | None:
    """The pid written in a lock file, or None if it is empty or unreadable."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
