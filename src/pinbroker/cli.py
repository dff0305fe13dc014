"""Command line: ``pinbroker serve``, ``pinmap``, ``status``, ``release``, ``events``, ``run``.

Thin by design: parse arguments, build a configuration, call the module that does the work.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

__all__ = ["build_parser", "main", "version"]


def version() -> str:
    """Return pinbroker's version: the installed distribution's, else ``pinbroker.__version__``."""
    from importlib import metadata

    try:
        return metadata.version("pinbroker")
    except metadata.PackageNotFoundError:
        from pinbroker import __version__

        return __version__


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors can be one line with a fixed prefix.

    ``pinbroker serve --port 70000`` prints ``pinbroker: cannot start: argument --port: ...``
    (exit status 2) like every other start-up failure, instead of argparse's usage block.
    """

    def __init__(self, *args: Any, failure_prefix: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._failure_prefix = failure_prefix

    def error(self, message: str) -> NoReturn:
        """Exit with status 2 after printing the usage error (one line if a prefix is set)."""
        if self._failure_prefix is None:
            super().error(message)
        self.exit(2, f"{self._failure_prefix}{message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    """Parse a TCP port, 0 to 65535 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {value}")
    return value


def _positive_seconds(text: str) -> float:
    """Parse a positive, finite number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


DEFAULT_PIN_MAP_CACHE_MB = 256
"""``--pin-map-cache`` default (``pinbroker.broker.DEFAULT_PIN_MAP_CACHE_BYTES``)."""


def _megabytes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of megabytes") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} MB: must not be negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser for the ``pinbroker`` command."""
    parser = _Parser(prog="pinbroker", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"pinbroker {version()}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    serve = commands.add_parser(
        "serve",
        help="run the Pin Map, Session Management and Discovery services",
        failure_prefix="pinbroker: cannot start: ",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=0,
        help="port to listen on, 0 to 65535; 0 picks a free port (default)",
    )
    serve.add_argument(
        "--http-port",
        type=_port,
        default=None,
        metavar="PORT",
        help="also serve the live status page and its JSON API (docs/web.md) on this port of "
        "the same host, 0 to 65535; 0 picks a free port (default: no web page)",
    )
    serve.add_argument(
        "--state-dir",
        default=None,
        help="directory of the SQLite state file (default: the user's state directory); "
        "with --database it holds no state",
    )
    serve.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help="keep the state in this PostgreSQL database, shared with every server given the "
        "same one: postgresql://USER:PASSWORD@HOST:PORT/DB (default: $PINBROKER_DATABASE, "
        "else the SQLite file in --state-dir)",
    )
    serve.add_argument(
        "--pin-map",
        action="append",
        default=[],
        metavar="FILE",
        help="preload a pin map; its id is the file path (repeatable)",
    )
    serve.add_argument(
        "--session-names",
        choices=["typed", "resource"],
        default="typed",
        help="session naming: typed = '<type>-<resource>' (NI 2025 Q3+), "
        "resource = resource name (default: %(default)s)",
    )
    serve.add_argument(
        "--discovery-key-file",
        default=None,
        help="where to write the discovery key file (default: see docs/design.md)",
    )
    serve.add_argument(
        "--lease-ttl",
        type=_positive_seconds,
        default=10.0,
        metavar="SECONDS",
        help="a client lease ends this long after its last keep-alive, releasing its "
        "reservations (default: %(default)g)",
    )
    serve.add_argument(
        "--max-hold",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="release any reservation held longer than this (default: no limit)",
    )
    serve.add_argument(
        "--release-on-disconnect",
        type=_positive_seconds,
        default=None,
        metavar="GRACE_SECONDS",
        help="release a reservation made without a lease (NI's clients) once its connection "
        "has been gone this long; see docs/design.md for the caveats (default: never)",
    )
    serve.add_argument(
        "--strict-owner",
        action="store_true",
        help="refuse (FAILED_PRECONDITION) an unreserve whose fencing token is stale or "
        "missing, instead of ignoring it or releasing by name",
    )
    serve.add_argument(
        "--pin-map-cache",
        type=_megabytes,
        default=DEFAULT_PIN_MAP_CACHE_MB,
        metavar="MB",
        help="memory for parsed pin maps; beyond it the least recently used are dropped and "
        "parsed again from the state store when next used (default: %(default)s)",
    )
    serve.add_argument(
        "--admin-token-file",
        default=None,
        metavar="FILE",
        help="file with the token that lets other hosts force release sessions "
        "(local callers need none)",
    )
    serve.add_argument(
        "--tls-cert",
        default=None,
        metavar="FILE",
        help="serve TLS with this PEM certificate chain (needs --tls-key; NI's clients only "
        "dial insecure ports, see docs/deploy.md) (default: an insecure port)",
    )
    serve.add_argument(
        "--tls-key", default=None, metavar="FILE", help="the unencrypted PEM key of --tls-cert"
    )
    serve.add_argument(
        "--tls-client-ca",
        default=None,
        metavar="FILE",
        help="mutual TLS: refuse clients without a certificate signed by these PEM CA "
        "certificates (needs --tls-cert)",
    )
    serve.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="least severe log lines written to stderr (default: %(default)s)",
    )
    serve.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="text lines, or one JSON object per line (default: %(default)s)",
    )
    serve.add_argument(
        "--debug",
        action="store_true",
        help="print the traceback of a start-up failure, not only its one-line summary",
    )

    pinmap = commands.add_parser("pinmap", help="check or show .pinmap files")
    pinmap_commands = pinmap.add_subparsers(
        dest="pinmap_command", required=True, metavar="SUBCOMMAND"
    )
    check = pinmap_commands.add_parser("check", help="validate pin map files; one line per problem")
    check.add_argument("files", nargs="+", metavar="FILE")
    show = pinmap_commands.add_parser(
        "show", help="print the sessions and connections of a pin map"
    )
    show.add_argument("file", metavar="FILE")
    show.add_argument(
        "--site",
        type=int,
        action="append",
        default=[],
        help="site to show (repeatable; default all)",
    )
    show.add_argument(
        "--pin",
        action="append",
        default=[],
        help="pin, relay or group to show (repeatable; default all)",
    )
    show.add_argument("--type", default="", help="instrument type id filter, e.g. niDCPower")
    show.add_argument("--session-names", choices=["typed", "resource"], default="typed")
    show.add_argument(
        "--width",
        type=int,
        default=None,
        metavar="N",
        help="fit the tables in N columns, summarising long lists (0 = no limit; "
        "default: $COLUMNS, else the terminal's width, else no limit)",
    )
    show.add_argument(
        "--json", action="store_true", help="print a stable JSON document instead of tables"
    )
    _add_admin_commands(commands)
    _add_run_command(commands)
    return parser


def _add_run_command(commands: argparse._SubParsersAction[Any]) -> None:
    run = commands.add_parser(
        "run",
        help="run COMMAND so that NI's discovery client (plug-ins, NI's clients) finds pinbroker",
        description="Run COMMAND with NI's Python discovery client pointed at pinbroker "
        "(see docs/ni-plugins-on-linux.md). Put -- before COMMAND.",
    )
    _add_address(run)
    run.add_argument(
        "--print-env",
        action="store_true",
        help="print the NAME=value lines it would set, and exit",
    )
    run.add_argument("run_command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]")


def _add_address(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address",
        default=None,
        metavar="HOST:PORT",
        help="the server to ask (default: $PINBROKER_ADDRESS, else the discovery key file)",
    )


def _add_tls(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tls-ca",
        default=None,
        metavar="FILE",
        help="dial over TLS, trusting the server certificates these PEM CA certificates signed "
        "(default: $PINBROKER_TLS_CA, else an insecure channel)",
    )
    parser.add_argument(
        "--tls-cert",
        default=None,
        metavar="FILE",
        help="mutual TLS: this client's PEM certificate chain (default: $PINBROKER_TLS_CERT)",
    )
    parser.add_argument(
        "--tls-key",
        default=None,
        metavar="FILE",
        help="the unencrypted PEM key of --tls-cert (default: $PINBROKER_TLS_KEY)",
    )


def _add_admin_commands(commands: argparse._SubParsersAction[Any]) -> None:
    status = commands.add_parser("status", help="show held sessions and who waits for them")
    _add_address(status)
    _add_tls(status)
    status.add_argument("--json", action="store_true", help="print the stable JSON form")

    release = commands.add_parser(
        "release", help="force release sessions, whoever holds them (destructive)"
    )
    release.add_argument("sessions", nargs="+", metavar="SESSION")
    release.add_argument(
        "--reason", required=True, help="why, for people: recorded in the event history"
    )
    _add_address(release)
    _add_tls(release)
    release.add_argument(
        "--admin-token-file",
        default=None,
        metavar="FILE",
        help="file with the server's admin token (needed only from another host)",
    )

    events = commands.add_parser("events", help="print the event history; --follow for new ones")
    events.add_argument(
        "--since",
        type=int,
        default=0,
        metavar="REV",
        help="print the events after revision REV (default: 0 = all retained)",
    )
    events.add_argument(
        "--follow", action="store_true", help="keep printing new events until Ctrl-C"
    )
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    _add_address(events)
    _add_tls(events)


def _run_admin_command(args: argparse.Namespace) -> int:
    # gRPC's core logs each failed TLS handshake on stderr at INFO; errors here are one line.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    from pinbroker.admin_cli import ExitCode, TlsFlags, run_events, run_release, run_status

    tls = TlsFlags(ca=args.tls_ca, cert=args.tls_cert, key=args.tls_key)
    try:
        if args.command == "status":
            return run_status(
                args.address, as_json=args.json, out=sys.stdout, err=sys.stderr, tls=tls
            )
        if args.command == "release":
            return run_release(
                args.sessions,
                reason=args.reason,
                address=args.address,
                admin_token_file=args.admin_token_file,
                out=sys.stdout,
                err=sys.stderr,
                tls=tls,
            )
        return run_events(
            args.since,
            follow=args.follow,
            as_json=args.json,
            address=args.address,
            out=sys.stdout,
            err=sys.stderr,
            tls=tls,
        )
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`pinbroker events | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pinbroker`` command and return its exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from pinbroker._serve_cli import run_serve

        return run_serve(args)
    if args.command in ("status", "release", "events"):
        return _run_admin_command(args)
    if args.command == "run":
        from pinbroker.ni_linux._run import run_command

        command = args.run_command[1:] if args.run_command[:1] == ["--"] else args.run_command
        return run_command(
            command, address=args.address, print_env=args.print_env, out=sys.stdout, err=sys.stderr
        )
    from pinbroker.pinmap._cli import run_check, run_show

    if args.pinmap_command == "check":
        return run_check(args.files, out=sys.stdout)
    return run_show(
        args.file,
        sites=args.site,
        names=args.pin,
        instrument_type_id=args.type,
        session_names=args.session_names,
        width=args.width,
        as_json=args.json,
        out=sys.stdout,
    )


if __name__ == "__main__":
    sys.exit(main())
