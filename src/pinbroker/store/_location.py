"""Where the default store lives: the state directory, its lock and the SQLite file in it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from pinbroker.errors import StateNotWritableError
from pinbroker.store._lock import lock_state_dir
from pinbroker.store._protocol import Store
from pinbroker.store._sqlite import SqliteStore

__all__ = ["STATE_DIR_ENV", "STORE_FILE_NAME", "default_state_dir", "open_store"]

STATE_DIR_ENV: Final = "PINBROKER_STATE_DIR"
"""Environment variable naming the state directory explicitly."""

STORE_FILE_NAME: Final = "pinbroker.sqlite3"
"""Name of the SQLite file in the state directory."""


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the state directory: ``$PINBROKER_STATE_DIR``, else XDG's, else ``~/.local/state``.

    ``$XDG_STATE_HOME`` counts only when absolute (as the XDG spec requires) and gets
    ``/pinbroker`` appended; the fallback is ``$HOME/.local/state/pinbroker``. Empty variables
    count as unset.

    Args:
        environ: The environment to read; ``os.environ`` by default.
    """
    env = os.environ if environ is None else environ
    explicit = env.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg_state_home = env.get("XDG_STATE_HOME")
    if xdg_state_home and Path(xdg_state_home).is_absolute():
        return Path(xdg_state_home) / "pinbroker"
    home = env.get("HOME")
    return (Path(home) if home else Path.home()) / ".local" / "state" / "pinbroker"


def open_store(state_dir: Path | None = None) -> Store:
    """Lock the state directory and open the SQLite store in it (creating both if needed).

    The directory is created with mode 0o700. Its lock (``pinbroker.lock``) is taken before
    the database is opened and released when the store is closed (or by the kernel when the
    process dies), so only one pinbroker at a time uses a state directory.

    Args:
        state_dir: The directory; :func:`default_state_dir` when None.

    Returns:
        A ``SqliteStore`` on ``<state_dir>/pinbroker.sqlite3``.

    Raises:
        StateInUseError: If another pinbroker process holds the directory.
        StateNotWritableError: If the directory cannot be created or written, or the database
            file cannot be written.
        StateDatabaseError: If the database is empty, damaged, foreign or of a newer schema.
        StateDiskFullError: If the disk is full while the database is created or migrated.
    """
    directory = default_state_dir() if state_dir is None else state_dir
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StateNotWritableError(
            f"cannot create the state directory {directory} ({exc.strerror or exc}); "
            "choose another --state-dir"
        ) from exc
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StateNotWritableError(
            f"state directory {directory} is not writable; fix its permissions or choose "
            "another --state-dir"
        )
    lock = lock_state_dir(directory)
    try:
        return SqliteStore(directory / STORE_FILE_NAME, on_close=lock.release)
    except BaseException:
        lock.release()
        raise
