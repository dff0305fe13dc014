"""``pinbroker pinmap check`` and ``pinbroker pinmap show``: the pin map engine on the command line.

Output goes only to the streams passed in; nothing here calls ``print`` on ``sys.stdout``
directly, so tests can capture everything.

``show`` fits its tables to a width (the terminal's by default): a cell too long for its column
keeps the list items that fit and counts the rest, ``SMU1/0, SMU1/1, … (+62)``. ``show --json``
prints :func:`resolution_to_json`'s document, whose keys are stable (keys are only ever added).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from pinbroker.errors import PinbrokerError, PinMapParseError
from pinbroker.pinmap._pinmap import PinMap, load_pinmap_file
from pinbroker.pinmap._results import Resolution
from pinbroker.types import SessionNaming

__all__ = ["format_resolution", "resolution_to_json", "run_check", "run_show"]

ELLIPSIS = "\u2026"
"""Marks where a summarised cell was cut."""
MIN_COLUMN = 12
"""Narrowest a column is squeezed to (its header may be wider)."""


def run_check(files: Sequence[str], *, out: TextIO) -> int:
    """Load each file and report every problem, one line each.

    Problems are written as ``FILE: pin map line N: ...``; warnings as ``FILE: warning: ...``.
    Warnings do not fail the check, except a probable misspelling of an element name (a
    warning ending ``did you mean <Name>?``): the server would load such a file, but not as
    its author meant, so the check fails and says so in a last line for that file. Nothing is
    written for a file without problems or warnings.

    Args:
        files: Paths of ``.pinmap`` files.
        out: Where to write the report.

    Returns:
        0 if every file loads without a misspelled element name, 1 if any has a problem or a
        misspelled element name, or cannot be read.
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
            misspelled = pin_map.misspelled_elements
            if misspelled:
                status = 1
                names = "element name looks" if misspelled == 1 else "element names look"
                out.write(
                    f"{file}: {misspelled} {names} misspelled (see 'did you mean' above): "
                    "check fails though the server would load this pin map\n"
                )
    return status


def run_show(
    file: str,
    *,
    sites: Sequence[int] = (),
    names: Sequence[str] = (),
    instrument_type_id: str = "",
    session_names: str = "typed",
    width: int | None = None,
    as_json: bool = False,
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
        width: Columns the tables must fit in; ``0`` = no limit; None = ``$COLUMNS`` if set,
            else the width of the terminal ``out`` writes to, else (not a terminal) no limit.
        as_json: Print :func:`resolution_to_json`'s document instead of tables.
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
    if as_json:
        json.dump(resolution_to_json(file, pin_map, resolution), out, indent=2)
        out.write("\n")
        return 0
    limit = _terminal_width(out) if width is None else width
    summary = _summary(file, pin_map).rstrip("\n")
    if 0 < limit < len(summary):
        summary = summary[: limit - 1] + ELLIPSIS
    out.write(summary + "\n\n")
    out.write(format_resolution(resolution, width=limit))
    return 0


def _terminal_width(out: TextIO) -> int:
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)
    try:
        if out.isatty():
            return os.get_terminal_size(out.fileno()).columns
    except (OSError, ValueError):
        pass
    return 0


def resolution_to_json(file: str, pin_map: PinMap, resolution: Resolution) -> dict[str, Any]:
    """Return the ``show --json`` document (see ``docs/cli.md``; keys are only ever added).

    Args:
        file: The file as named on the command line.
        pin_map: The loaded pin map.
        resolution: What was resolved from it.

    Returns:
        ``{"file", "schema_version", "sites", "pin_count", "relay_count", "connection_count",
        "warnings", "sessions": [{"name", "type", "resource", "channel_list", "channels",
        "connections": [{"pin", "site", "channel", "multiplexer", "route"}]}],
        "multiplexers": [{"name", "type_id"}], "groups": {name: [member, ...]}}``; ``site`` is
        -1 for system pins and relays, ``multiplexer`` and ``route`` are null for direct
        connections.
    """
    return {
        "file": file,
        "schema_version": pin_map.schema_version,
        "sites": list(pin_map.sites),
        "pin_count": len(pin_map.pins),
        "relay_count": len(pin_map.relays),
        "connection_count": pin_map.connection_count,
        "warnings": list(pin_map.warnings),
        "sessions": [
            {
                "name": session.session_name,
                "type": session.instrument_type_id,
                "resource": session.resource_name,
                "channel_list": session.channel_list,
                "channels": session.channel_list.split(", ") if session.channel_list else [],
                "connections": [
                    {
                        "pin": mapping.pin_or_relay_name,
                        "site": mapping.site,
                        "channel": mapping.channel,
                        "multiplexer": mapping.multiplexer_resource_name or None,
                        "route": mapping.multiplexer_route or None,
                    }
                    for mapping in session.channel_mappings
                ],
            }
            for session in resolution.sessions
        ],
        "multiplexers": [
            {"name": mux.resource_name, "type_id": mux.multiplexer_type_id}
            for mux in resolution.multiplexers
        ],
        "groups": {group: list(members) for group, members in resolution.group_mappings.items()},
    }


def _with_source(file: str, message: str) -> str:
    return message if message.startswith(f"{file}: ") else f"{file}: {message}"


def _summary(file: str, pin_map: PinMap) -> str:
    sites = ", ".join(str(site) for site in pin_map.sites) or "none"
    return (
        f"{file}: schemaVersion {pin_map.schema_version or '?'}, {len(pin_map.pins)} pins, "
        f"{len(pin_map.relays)} relays, sites {sites}, {pin_map.connection_count} connections\n\n"
    )


def format_resolution(resolution: Resolution, *, width: int = 0) -> str:
    """Render a resolution as aligned text tables (sessions, then connections per session).

    Args:
        resolution: What :meth:`PinMap.resolve` returned.
        width: Columns every line must fit in (``0``: no limit). Long cells are summarised:
            the list items that fit, then ``… (+N)``; a table whose fixed columns alone are
            wider may still overflow.

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
            width=width,
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
            _fit(session.session_name, width)
            + "\n"
            + _table(
                ("PIN", "SITE", "CHANNEL", "MULTIPLEXER", "ROUTE"), rows, indent="  ", width=width
            )
        )
    if resolution.multiplexers:
        listed = ", ".join(
            f"{m.resource_name} ({m.multiplexer_type_id or 'no type id'})"
            for m in resolution.multiplexers
        )
        parts.append(_fit(f"multiplexers: {listed}", width) + "\n")
    for group, members in resolution.group_mappings.items():
        parts.append(_fit(f"group {group}: {', '.join(members)}", width) + "\n")
    return "\n".join(parts)


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "", width: int = 0
) -> str:
    widths = [len(title) for title in header]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    if width > 0:
        widths = _squeeze(widths, header, width - len(indent) - 2 * (len(header) - 1))
    lines = []
    for row in (header, *rows):
        cells = [_fit(cell, w).ljust(w) for cell, w in zip(row, widths, strict=True)]
        lines.append((indent + "  ".join(cells)).rstrip())
    return "\n".join(lines) + "\n"


def _squeeze(widths: list[int], header: Sequence[str], room: int) -> list[int]:
    """Narrow the widest columns, one character at a time, until they fit in ``room``."""
    widths = list(widths)
    floors = [max(MIN_COLUMN, len(title)) for title in header]
    excess = sum(widths) - room
    while excess > 0:
        column = max(range(len(widths)), key=lambda i: widths[i] - floors[i])
        spare = widths[column] - floors[column]
        if spare <= 0:
            break
        # Take from the widest column down to the next widest (at least one character).
        others = [widths[i] - floors[i] for i in range(len(widths)) if i != column]
        step = max(1, min(excess, spare - max(others, default=0)))
        widths[column] -= min(step, spare)
        excess -= min(step, spare)
    return widths


def _fit(text: str, width: int) -> str:
    """Return ``text`` cut to ``width`` characters (0: uncut), summarising ", "-lists."""
    if width <= 0 or len(text) <= width:
        return text
    items = text.split(", ")
    if len(items) > 1:
        fits, length = 0, -2
        for count, item in enumerate(items[:-1], start=1):
            length += 2 + len(item)
            if length + len(f", {ELLIPSIS} (+{len(items) - count})") > width:
                break
            fits = count
        head = ", ".join(items[:fits]) + ", " if fits else ""
        summary = f"{head}{ELLIPSIS} (+{len(items) - fits})"
        if len(summary) <= width:
            return summary
    return text[: max(width - 1, 0)] + ELLIPSIS
