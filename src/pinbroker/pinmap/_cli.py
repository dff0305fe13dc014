"""``pinbroker pinmap check`` and ``pinbroker pinmap show``: the pin map engine on the command line.

Output goes only to the streams passed in; nothing here calls ``print`` on ``sys.stdout``
directly, so tests can capture everything.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from pinbroker.errors import PinbrokerError, PinMapParseError
from pinbroker.pinmap._pinmap import PinMap, load_pinmap_file
from pinbroker.pinmap._results import Resolution
from pinbroker.types import SessionNaming

__all__ = ["format_resolution", "run_check", "run_show"]


def run_check(files: Sequence[str], *, out: TextIO) -> int:
    """Load each file and report every problem, one line each.

    Problems are written as ``FILE: pin map line N: ...``; warnings as ``FILE: warning: ...``
    (they do not fail the check). Nothing is written for a file without problems or warnings.

    Args:
        files: Paths of ``.pinmap`` files.
        out: Where to write the report.

    Returns:
        0 if every file loads, 1 if any has a problem or cannot be read.
    """
    status = 0
    for file in files:
        try:
            pin_map = load_pinmap_file(file)
        except PinMapParseError as exc:
            status = 1
            for problem in exc.problems:
                out.write(f"{file}: {problem}\n")
        except PinbrokerError as exc:
            status = 1
            out.write(f"{_with_source(file, str(exc))}\n")
        except OSError as exc:
            status = 1
            out.write(f"{file}: cannot read: {exc.strerror or exc}\n")
        else:
            for warning in pin_map.warnings:
                out.write(f"{file}: warning: {warning}\n")
    return status


def run_show(
    file: str,
    *,
    sites: Sequence[int] = (),
    names: Sequence[str] = (),
    instrument_type_id: str = "",
    session_names: str = "typed",
    out: TextIO,
    err: TextIO | None = None,
) -> int:
    """Print the sessions a pin map resolves to, and each session's connections.

    Args:
        file: Path of the ``.pinmap`` file.
        sites: Sites to show (empty: all).
        names: Pins, relays or groups to show (empty: all).
        instrument_type_id: Only sessions of this instrument type ("" = all).
        session_names: ``"typed"`` or ``"resource"`` session naming.
        out: Where to write the tables.
        err: Where to write errors and warnings (default: ``sys.stderr``).

    Returns:
        0 on success, 1 if the file cannot be loaded or the request is invalid.
    """
    errors = sys.stderr if err is None else err
    try:
        naming = SessionNaming(session_names)
    except ValueError:
        errors.write(f"unknown session naming '{session_names}' (use typed or resource)\n")
        return 1
    try:
        pin_map = load_pinmap_file(file)
        resolution = pin_map.resolve(
            sites=sites, names=names, instrument_type_id=instrument_type_id, naming=naming
        )
    except PinMapParseError as exc:
        for problem in exc.problems:
            errors.write(f"{file}: {problem}\n")
        return 1
    except PinbrokerError as exc:
        errors.write(f"{_with_source(file, str(exc))}\n")
        return 1
    except OSError as exc:
        errors.write(f"{file}: cannot read: {exc.strerror or exc}\n")
        return 1
    for warning in pin_map.warnings:
        errors.write(f"{file}: warning: {warning}\n")
    out.write(_summary(file, pin_map))
    out.write(format_resolution(resolution))
    return 0


def _with_source(file: str, message: str) -> str:
    return message if message.startswith(f"{file}: ") else f"{file}: {message}"


def _summary(file: str, pin_map: PinMap) -> str:
    sites = ", ".join(str(site) for site in pin_map.sites) or "none"
    return (
        f"{file}: schemaVersion {pin_map.schema_version or '?'}, {len(pin_map.pins)} pins, "
        f"{len(pin_map.relays)} relays, sites {sites}, {pin_map.connection_count} connections\n\n"
    )


def format_resolution(resolution: Resolution) -> str:
    """Render a resolution as aligned text tables (sessions, then connections per session).

    Args:
        resolution: What :meth:`PinMap.resolve` returned.

    Returns:
        The text, ending with a newline.
    """
    if not resolution.sessions:
        return "no sessions\n"
    parts = [
        _table(
            ("SESSION", "TYPE", "RESOURCE", "CHANNELS"),
            [
                (s.session_name, s.instrument_type_id, s.resource_name, s.channel_list)
                for s in resolution.sessions
            ],
        )
    ]
    for session in resolution.sessions:
        rows = [
            (
                m.pin_or_relay_name,
                str(m.site),
                m.channel,
                m.multiplexer_resource_name,
                m.multiplexer_route,
            )
            for m in session.channel_mappings
        ]
        parts.append(
            f"{session.session_name}\n"
            + _table(("PIN", "SITE", "CHANNEL", "MULTIPLEXER", "ROUTE"), rows, indent="  ")
        )
    if resolution.multiplexers:
        listed = ", ".join(
            f"{m.resource_name} ({m.multiplexer_type_id or 'no type id'})"
            for m in resolution.multiplexers
        )
        parts.append(f"multiplexers: {listed}\n")
    for group, members in resolution.group_mappings.items():
        parts.append(f"group {group}: {', '.join(members)}\n")
    return "\n".join(parts)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> str:
    widths = [len(title) for title in header]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = []
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append((indent + "  ".join(cells)).rstrip())
    return "\n".join(lines) + "\n"
