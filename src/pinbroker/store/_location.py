"""Where the default store lives: the state directory and the SQLite file in it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

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
    """Open the SQLite store in the state directory, creating the directory (mode 0o700).

    Args:
        state_dir: The directory; :func:`default_state_dir` when None.

    Returns:
        A ``SqliteStore`` on ``<state_dir>/pinbroker.sqlite3``.

    Raises:
        OSError: If the directory cannot be created.
        ValueError: If the file's schema is newer than this pinbroker knows.
        sqlite3.Error: If the file cannot be opened or is not a database.
    """
    directory = default_state_dir() if state_dir is None else state_dir
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return SqliteStore(directory / STORE_FILE_NAME)
