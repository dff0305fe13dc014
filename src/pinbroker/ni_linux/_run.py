"""``pinbroker run [--address HOST:PORT] [--print-env] -- COMMAND [ARGS...]``."""

from __future__ import annotations

import enum
import os
from collections.abc import Sequence
from typing import TextIO

from pinbroker.ni_linux._env import run_environment

__all__ = ["READY_TIMEOUT", "RunExit", "run_command"]

READY_TIMEOUT = 3.0
"""Seconds ``pinbroker run`` waits for the server to answer before giving up."""


class RunExit(enum.IntEnum):
    """Exit codes of ``pinbroker run`` itself (a contract: see ``docs/cli.md``).

    Once COMMAND starts, ``pinbroker run`` *is* COMMAND (``exec``): its exit status and signals
    are COMMAND's.
    """

    OK = 0  # --print-env printed the environment
    USAGE = 2  # bad arguments, or no COMMAND
    NO_SERVER = 3  # no address found, or no server answers there
    NOT_EXECUTABLE = 126  # COMMAND exists but cannot be executed
    NOT_FOUND = 127  # COMMAND not found


def _check_server(address: str, source: str, timeout: float) -> str | None:
    """Return None if a gRPC server answers at ``address`` within ``timeout``, else a reason.

    Always over an insecure channel, whatever ``$PINBROKER_TLS_CA`` says: NI's clients, which
    COMMAND runs, only dial insecure ports.
    """
    from pinbroker.client import ServerNotFoundError, connect

    try:
        connect(address, timeout=timeout, tls=False).close()
    except ServerNotFoundError:
        return f"no pinbroker server answers at {address} (from {source}) within {timeout:g} s"
    return None


def run_command(
    command: Sequence[str],
    *,
    address: str | None,
    print_env: bool,
    out: TextIO,
    err: TextIO,
    timeout: float = READY_TIMEOUT,
) -> int:
    """Run ``command`` so that NI's discovery client finds pinbroker; return an exit code.

    Resolves the server's address (``address``, else ``$PINBROKER_ADDRESS``, else the discovery
    key file), checks that a server answers there, sets ``PYTHONPATH`` and
    ``PINBROKER_ADDRESS`` and replaces this process with ``command`` (``os.execvpe``), so this
    function returns only on failure. With ``print_env`` it writes the ``NAME=value`` lines it
    would set to ``out`` and returns :attr:`RunExit.OK` (without checking the server).
    """
    from pinbroker.client import ServerNotFoundError, locate_server

    try:
        location = locate_server(address)
    except ServerNotFoundError as error:
        err.write(f"pinbroker: cannot run: {error}\n")
        return RunExit.NO_SERVER
    env = run_environment(location.address, os.environ)
    if print_env:
        for name, value in env.items():
            out.write(f"{name}={value}\n")
        return RunExit.OK
    if not command:
        err.write("pinbroker: cannot run: no COMMAND given (pinbroker run -- COMMAND [ARGS...])\n")
        return RunExit.USAGE
    problem = _check_server(location.address, location.source, timeout)
    if problem is not None:
        err.write(f"pinbroker: cannot run: {problem}\n")
        return RunExit.NO_SERVER
    out.flush()
    err.flush()
    try:
        os.execvpe(command[0], list(command), {**os.environ, **env})
    except FileNotFoundError:
        err.write(f"pinbroker: cannot run: {command[0]}: command not found\n")
        return RunExit.NOT_FOUND
    except OSError as error:
        err.write(f"pinbroker: cannot run: {command[0]}: {error.strerror}\n")
        return RunExit.NOT_EXECUTABLE
    return RunExit.OK  # not reached: execvpe returns only by raising
