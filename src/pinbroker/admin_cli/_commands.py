"""``pinbroker status``, ``pinbroker release`` and ``pinbroker events``: connect, call, print.

Errors are one line on stderr, prefixed ``pinbroker: ``, with an exit code from
:class:`ExitCode` (documented in ``docs/cli.md``); never a traceback.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple, TextIO

import grpc

from pinbroker._tls import TlsFileError
from pinbroker.admin_cli._format import (
    dropped_before,
    event_json,
    event_line,
    release_lines,
    status_json,
    status_lines,
)
from pinbroker.client._admin import AdminClient
from pinbroker.client._connect import ServerLocation, ServerNotFoundError, locate_server
from pinbroker.client._tls import client_tls, open_channel

__all__ = [
    "ExitCode",
    "TlsFlags",
    "rpc_error_message",
    "run_events",
    "run_release",
    "run_status",
]

CALL_TIMEOUT = 30.0
"""Seconds a status or release call, or reading the retained history, may take."""


class ExitCode(enum.IntEnum):
    """Exit codes of the admin commands (a contract: see ``docs/cli.md``)."""

    OK = 0
    NOT_HELD = 1  # release: at least one named session was not held
    USAGE = 2  # bad arguments (argparse or rejected by the server), unreadable token file
    NO_SERVER = 3  # no server found, or it cannot be reached (UNAVAILABLE, deadline)
    PERMISSION_DENIED = 4  # the server refused the call (PERMISSION_DENIED)
    SERVER_ERROR = 5  # any other error status from the server
    INTERRUPTED = 130  # Ctrl-C (except for `events --follow`, which ends with 0)


class TlsFlags(NamedTuple):
    """``--tls-ca``, ``--tls-cert`` and ``--tls-key`` as given; None falls back to the environment.

    Attributes:
        ca: PEM CA file to trust (``$PINBROKER_TLS_CA``): with one, the command dials TLS.
        cert: The client's PEM certificate chain, for mutual TLS (``$PINBROKER_TLS_CERT``).
        key: The unencrypted PEM key of ``cert`` (``$PINBROKER_TLS_KEY``).
    """

    ca: str | None = None
    cert: str | None = None
    key: str | None = None


NO_TLS_FLAGS = TlsFlags()
"""No TLS flag given: a CA from ``$PINBROKER_TLS_CA`` makes it TLS, else insecure."""


class CommandError(Exception):
    """A failure to report as one ``pinbroker: ...`` line and exit with ``code``."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def rpc_error_message(
    code: grpc.StatusCode | None, details: str, location: ServerLocation, *, tls: bool = False
) -> tuple[str, ExitCode]:
    """The one-line message (without the ``pinbroker: `` prefix) and exit code for an RPC error.

    Args:
        code: The call's status code.
        details: The server's (or gRPC's) message.
        location: Which server was called and how it was found.
        tls: The call was made over TLS (the message says so).
    """
    details = _one_line(details) or "(no details)"
    over = ", over TLS" if tls else ""
    where = f"the pinbroker at {location.address} (from {location.source}{over})"
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"cannot reach {where}: {details}{_tls_hint(details, tls)}", ExitCode.NO_SERVER
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"{where} did not answer in time: {details}", ExitCode.NO_SERVER
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return f"permission denied: {details}", ExitCode.PERMISSION_DENIED
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return details, ExitCode.USAGE
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return (
            f"{where} has no admin service (an older pinbroker, or another server): {details}",
            ExitCode.SERVER_ERROR,
        )
    name = code.name if code is not None else "UNKNOWN"
    return f"{where} failed the call ({name}): {details}", ExitCode.SERVER_ERROR


def _tls_hint(details: str, tls: bool) -> str:
    """A hint for a connection that fails as TLS mismatches do (the server closes it)."""
    if tls and ("handshake" in details.lower() or "socket closed" in details.lower()):
        return (
            " (check --tls-ca, and give --tls-cert and --tls-key if the server wants a "
            "client certificate)"
        )
    if not tls and "socket closed" in details.lower():
        return " (if the server serves TLS, give its CA: --tls-ca or $PINBROKER_TLS_CA)"
    return ""


@contextmanager
def _admin(
    address: str | None, tls_flags: TlsFlags
) -> Iterator[tuple[AdminClient, ServerLocation]]:
    """An admin client for the server ``address`` names or discovery finds; errors as one line.

    The channel is TLS when a CA is given (``--tls-ca``, else ``$PINBROKER_TLS_CA``).
    """
    try:
        tls = client_tls(*tls_flags)
        location = locate_server(address)
        channel = open_channel(location.address, tls)
    except TlsFileError as error:
        raise CommandError(_one_line(str(error)), ExitCode.USAGE) from None
    except ServerNotFoundError as error:
        raise CommandError(_one_line(str(error)), ExitCode.NO_SERVER) from None
    try:
        yield AdminClient(channel), location
    except grpc.RpcError as error:
        code = error.code() if isinstance(error, grpc.Call) else None
        details = (error.details() if isinstance(error, grpc.Call) else None) or str(error)
        message, exit_code = rpc_error_message(code, details, location, tls=tls is not None)
        raise CommandError(message, exit_code) from None
    finally:
        channel.close()


def _report(error: CommandError, err: TextIO) -> int:
    err.write(f"pinbroker: {error}\n")
    err.flush()
    return error.code


def run_status(
    address: str | None, *, as_json: bool, out: TextIO, err: TextIO, tls: TlsFlags = NO_TLS_FLAGS
) -> int:
    """``pinbroker status``: print who holds and who waits."""
    try:
        with _admin(address, tls) as (admin, location):
            status = admin.status(timeout=CALL_TIMEOUT)
    except CommandError as error:
        return _report(error, err)
    if as_json:
        out.write(json.dumps(status_json(status), indent=2) + "\n")
    else:
        lines = status_lines(status, now=datetime.now(timezone.utc), server=location.address)
        out.write("\n".join(lines) + "\n")
    return ExitCode.OK


def _read_token(path: str) -> str:
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(
            f"cannot read the admin token file {path}: {_one_line(str(error))}", ExitCode.USAGE
        ) from None
    if not token:
        raise CommandError(f"the admin token file {path} is empty", ExitCode.USAGE)
    return token


def run_release(
    session_names: Sequence[str],
    *,
    reason: str,
    address: str | None,
    admin_token_file: str | None,
    out: TextIO,
    err: TextIO,
    tls: TlsFlags = NO_TLS_FLAGS,
) -> int:
    """``pinbroker release``: force release sessions; 1 if some were not held."""
    try:
        token = _read_token(admin_token_file) if admin_token_file is not None else None
        with _admin(address, tls) as (admin, _):
            result = admin.force_release(session_names, reason, token, timeout=CALL_TIMEOUT)
    except CommandError as error:
        return _report(error, err)
    lines = release_lines(result)
    out.write("\n".join(lines) + "\n")
    return ExitCode.NOT_HELD if result.not_held else ExitCode.OK


def run_events(
    since: int,
    *,
    follow: bool,
    as_json: bool,
    address: str | None,
    out: TextIO,
    err: TextIO,
    tls: TlsFlags = NO_TLS_FLAGS,
) -> int:
    """``pinbroker events``: print the retained events after ``since``; follow if asked.

    Ctrl-C ends ``--follow`` with exit code 0.
    """
    if since < 0:
        return _report(CommandError(f"--since must be 0 or more, not {since}", ExitCode.USAGE), err)
    try:
        with _admin(address, tls) as (admin, _):
            batches = admin.events(since, follow=follow, timeout=None if follow else CALL_TIMEOUT)
            try:
                first = True
                for batch in batches:
                    if first:
                        first = False
                        dropped = dropped_before(since, batch.oldest_revision)
                        if dropped:
                            err.write(
                                f"pinbroker: warning: {dropped} event{'s' * (dropped != 1)} "
                                f"after revision {since} were dropped from the server's bounded "
                                f"history (the oldest retained is {batch.oldest_revision})\n"
                            )
                            err.flush()
                    for event in batch.events:
                        line = json.dumps(event_json(event)) if as_json else event_line(event)
                        out.write(line + "\n")
                    out.flush()
            except KeyboardInterrupt:
                if not follow:
                    raise
            finally:
                batches.close()
    except CommandError as error:
        return _report(error, err)
    return ExitCode.OK
