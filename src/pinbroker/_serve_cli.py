"""``pinbroker serve``: arguments -> :class:`ServerConfig`, checks, logging, run until a signal.

Every start-up failure ends in exactly one line on stderr, ``pinbroker: cannot start: <what and
where>``, and exit status :data:`EXIT_CANNOT_START`; ``--debug`` prints the traceback before it.
Flags are checked before anything starts: the host must resolve, the port must be free, the
``--pin-map`` files and the ``--admin-token-file`` readable, the TLS files usable PEM that pair
up. What :func:`start_server` raises (an invalid pin map, an unusable state directory or
database, a port taken meanwhile) is reported the same way.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import socket
import sys
import threading
import traceback
from pathlib import Path
from types import FrameType
from typing import Final, TextIO

from pinbroker._event_logging import EventLogger
from pinbroker._logging import LogFormat, configure_logging
from pinbroker._tls import TlsFileError, read_server_tls
from pinbroker.errors import PinbrokerError
from pinbroker.server.app import RunningServer, ServerConfig, start_server
from pinbroker.store import STORE_FILE_NAME, default_state_dir
from pinbroker.types import SessionNaming

__all__ = [
    "EXIT_CANNOT_START",
    "EXIT_OK",
    "CannotStartError",
    "check_flags",
    "config_from_args",
    "one_line",
    "run_serve",
]

_logger = logging.getLogger("pinbroker.serve")

EXIT_OK: Final = 0
"""The server ran and stopped on SIGINT or SIGTERM."""

EXIT_CANNOT_START: Final = 1
"""The server did not start (invalid usage of the flags exits 2, as argparse does)."""

PREFIX: Final = "pinbroker: cannot start: "

_MAX_MESSAGE: Final = 1000
"""Characters of an error message printed at most (the rest is cut)."""


class CannotStartError(Exception):
    """A flag names something that cannot be used (raised by :func:`check_flags`)."""


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Build the server configuration from ``pinbroker serve``'s parsed arguments."""
    host: str = args.host
    if host.startswith("[") and host.endswith("]"):  # [::1] -> ::1
        host = host[1:-1]
    return ServerConfig(
        host=host,
        port=args.port,
        state_dir=Path(args.state_dir) if args.state_dir else None,
        database=args.database or os.environ.get("PINBROKER_DATABASE") or None,
        pin_map_files=tuple(Path(p) for p in args.pin_map),
        session_naming=SessionNaming(args.session_names),
        discovery_key_file=Path(args.discovery_key_file)
        if args.discovery_key_file is not None
        else None,
        lease_ttl=args.lease_ttl,
        max_hold=args.max_hold,
        release_on_disconnect=args.release_on_disconnect,
        strict_owner=args.strict_owner,
        admin_token_file=Path(args.admin_token_file) if args.admin_token_file else None,
        pin_map_cache_bytes=args.pin_map_cache * 1024 * 1024,
        http_port=args.http_port,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        tls_client_ca=Path(args.tls_client_ca) if args.tls_client_ca else None,
    )


def check_flags(config: ServerConfig) -> None:
    """Check what the flags name before anything starts.

    Raises:
        CannotStartError: If the host does not resolve, the port is in use or not allowed,
            a ``--pin-map`` file cannot be read, the admin token file cannot be read or is
            empty, or the TLS flags do not pair up or name unusable files; the message says
            which and why.
    """
    try:
        read_server_tls(config.tls_cert, config.tls_key, config.tls_client_ca)
    except TlsFileError as exc:
        raise CannotStartError(str(exc)) from exc
    _check_address(config.host, config.port)
    if config.http_port:
        _check_address(config.host, config.http_port)
    for path in config.pin_map_files:
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise CannotStartError(f"cannot read pin map {path}: {_reason(exc)}") from exc
    if config.admin_token_file is not None:
        path = config.admin_token_file
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CannotStartError(f"cannot read admin token file {path}: {_reason(exc)}") from exc
        except UnicodeDecodeError as exc:
            raise CannotStartError(f"admin token file {path} is not UTF-8 text") from exc
        if not token:
            raise CannotStartError(f"admin token file {path} is empty")


def _check_address(host: str, port: int) -> None:
    """Resolve ``host`` and, for a fixed port, try to bind it as the server will."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise CannotStartError(f"host {host!r} does not resolve: {reason}") from exc
    if port == 0 or not infos:
        return
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC does
        try:
            probe.bind(address)
        except OSError as exc:
            where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            if exc.errno == errno.EADDRINUSE:
                message = f"{where} is already in use (another process listens on it)"
            elif exc.errno == errno.EACCES:
                message = f"no permission to listen on {where} (ports below 1024 need privileges)"
            elif exc.errno == errno.EADDRNOTAVAIL:
                message = f"cannot listen on {where}: {host} is not an address of this machine"
            else:
                message = f"cannot listen on {where}: {_reason(exc)}"
            raise CannotStartError(message) from exc


def _transport(config: ServerConfig) -> str:
    if config.tls_cert is None:
        return "insecure"
    return "TLS" if config.tls_client_ca is None else "mutual TLS"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def one_line(exc: BaseException) -> str:
    """Describe a start-up failure in one line: what was wrong and where.

    A message of several lines keeps its first and counts the rest; an ``OSError`` is shown as
    ``<file>: <reason>`` rather than ``[Errno N] ...``; an exception that is neither a
    :class:`PinbrokerError`, an ``OSError`` nor a :class:`CannotStartError` is named by type.
    """
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
        if exc.filename is not None:
            text = f"{exc.filename}: {text}"
    else:
        text = str(exc)
        if not isinstance(exc, (PinbrokerError, OSError, CannotStartError)) or not text:
            text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    if len(lines) > 1:
        text += f" (and {len(lines) - 1} more line(s); --debug shows all)"
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 1] + "…"
    return text


def _fail(exc: BaseException, *, debug: bool, err: TextIO) -> int:
    if debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=err)
    print(PREFIX + one_line(exc), file=err, flush=True)
    return EXIT_CANNOT_START


def run_serve(args: argparse.Namespace) -> int:
    """Run ``pinbroker serve`` until SIGINT or SIGTERM; return the exit status."""
    debug: bool = args.debug
    err = sys.stderr
    configure_logging(args.log_level, LogFormat(args.log_format))
    running: RunningServer
    try:
        config = config_from_args(args)
        check_flags(config)
        running = start_server(config)
    except Exception as exc:
        return _fail(exc, debug=debug, err=err)

    stop_requested = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"pinbroker listening on {running.host}:{running.port}", flush=True)
    _logger.info("listening on %s (gRPC, %s)", running.address, _transport(config))
    if running.http_url is not None:
        _logger.info("status page at %s (HTTP, insecure)", running.http_url)
    if config.database is not None:
        _logger.info("state shared in %s", running.state)
    elif config.in_memory or config.store is not None:
        _logger.info("state kept in memory only")
    else:
        state_dir = config.state_dir or default_state_dir()
        _logger.info("state directory %s (database %s)", state_dir, state_dir / STORE_FILE_NAME)
    if running.key_file is not None:
        _logger.info("discovery key file %s", running.key_file)
    elif config.tls_cert is not None:
        _logger.log(
            logging.WARNING if args.discovery_key_file else logging.INFO,
            "no discovery key file written: the port serves TLS, and NI's clients read the file "
            "to dial an insecure port (pinbroker's clients: --address or $PINBROKER_ADDRESS)",
        )
    else:
        _logger.info("no discovery key file written")
    event_logger = (
        EventLogger(running.events, after=running.restored_revision)
        if logging.getLogger("pinbroker.events").isEnabledFor(logging.INFO)
        else None
    )
    stop_requested.wait()
    _logger.info("stopping: finishing in-flight calls")
    try:
        running.stop()
    finally:
        if event_logger is not None:
            event_logger.close()
    _logger.info("stopped")
    return EXIT_OK
