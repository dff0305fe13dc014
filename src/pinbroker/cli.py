"""Command line: ``pinbroker serve`` and ``pinbroker pinmap check|show``.

Thin by design: parse arguments, build a configuration, call the module that does the work.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def _positive_seconds(text: str) -> float:
    """Parse a positive, finite number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser for the ``pinbroker`` command."""
    parser = argparse.ArgumentParser(prog="pinbroker", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="run the Pin Map, Session Management and Discovery services"
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port", type=int, default=0, help="port to listen on; 0 picks a free port (default)"
    )
    serve.add_argument(
        "--state-dir",
        default=None,
        help="directory of the SQLite state file (default: the user's state directory)",
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
        "--strict-owner",
        action="store_true",
        help="refuse (FAILED_PRECONDITION) an unreserve whose fencing token is stale or "
        "missing, instead of ignoring it or releasing by name",
    )
    serve.add_argument(
        "--admin-token-file",
        default=None,
        metavar="FILE",
        help="file with the token that lets other hosts force release sessions "
        "(local callers need none)",
    )
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pinbroker`` command and return its exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from pinbroker.server.app import serve_from_args

        return serve_from_args(args)
    from pinbroker.pinmap._cli import run_check, run_show

    if args.pinmap_command == "check":
        return run_check(args.files, out=sys.stdout)
    return run_show(
        args.file,
        sites=args.site,
        names=args.pin,
        instrument_type_id=args.type,
        session_names=args.session_names,
        out=sys.stdout,
    )


if __name__ == "__main__":
    sys.exit(main())
