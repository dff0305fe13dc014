"""Pure formatting for ``pinbroker status|events|release``: the ``--json`` shapes and the tables.

The JSON shapes are a contract documented in ``docs/cli.md``: keys are only ever added. Times
are RFC 3339 UTC strings with milliseconds (``2026-12-01T22:13:15.123Z``); "none" is ``null``.
The readable forms use local time (or the ``tz`` given) and relative times against ``now``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone, tzinfo
from typing import Any

from pinbroker.client._admin_values import (
    AdminEvent,
    AdminStatus,
    ForceReleaseResult,
    LeaseInfo,
    LeaseKind,
    OwnerInfo,
)

__all__ = [
    "dropped_before",
    "event_json",
    "event_line",
    "holder",
    "lease_json",
    "local_time",
    "owner_json",
    "relative_time",
    "release_lines",
    "rfc3339",
    "status_json",
    "status_lines",
    "table",
]

JsonObject = dict[str, Any]

REQUEST_KINDS = frozenset({"queued", "timed_out", "cancelled"})
"""Event kinds whose ``reservation_id`` is the id of a waiting request."""

KIND_WIDTH = len("force_released")
"""Width of the kind column of readable event lines (the longest kind, ``pin_map_loaded``)."""


def rfc3339(moment: datetime) -> str:
    """Return ``moment`` as RFC 3339 in UTC with milliseconds, e.g. ``2026-12-01T22:13:15.123Z``."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def owner_json(owner: OwnerInfo | None) -> JsonObject | None:
    """The ``owner`` object of the JSON output (``null`` when there is none)."""
    if owner is None:
        return None
    return {
        "peer": owner.peer,
        "hostname": owner.hostname,
        "username": owner.username,
        "pid": owner.pid,
    }


def lease_json(lease: LeaseInfo) -> JsonObject:
    """The ``lease`` object of the JSON output."""
    return {
        "kind": lease.kind.value,
        "id": lease.id,
        "state": lease.state,
        "remaining_seconds": lease.remaining_seconds,
    }


def status_json(status: AdminStatus) -> JsonObject:
    """``pinbroker status --json``."""
    return {
        "revision": status.revision,
        "held": [
            {
                "session_name": h.session_name,
                "reservation_id": h.reservation_id,
                "fence": h.fence,
                "since": rfc3339(h.since),
                "owner": owner_json(h.owner),
                "lease": lease_json(h.lease),
                "annotations": dict(h.annotations),
            }
            for h in status.held
        ],
        "waiting": [
            {
                "position": w.position,
                "request_id": w.request_id,
                "session_names": list(w.session_names),
                "since": rfc3339(w.since),
                "deadline": rfc3339(w.deadline) if w.deadline is not None else None,
                "owner": owner_json(w.owner),
                "blocked_by": list(w.blocked_by),
                "lease": lease_json(w.lease),
            }
            for w in status.waiting
        ],
    }


def event_json(event: AdminEvent) -> JsonObject:
    """One line of ``pinbroker events --json``."""
    return {
        "revision": event.revision,
        "time": rfc3339(event.time),
        "kind": event.kind,
        "session_names": list(event.session_names),
        "reservation_id": event.reservation_id,
        "owner": owner_json(event.owner),
        "reason": event.reason,
    }


def holder(owner: OwnerInfo) -> str:
    """``user@host`` if the server knows them, else the gRPC peer (``-`` if not even that)."""
    if owner.username and owner.hostname:
        return f"{owner.username}@{owner.hostname}"
    return owner.username or owner.hostname or owner.peer or "-"


def local_time(moment: datetime, tz: tzinfo | None = None) -> str:
    """``2026-12-01 23:13:15`` in ``tz`` (default: the local time zone)."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def relative_time(moment: datetime, now: datetime) -> str:
    """``5 min ago``, ``in 30 s``, ``now``."""
    seconds = (moment - now).total_seconds()
    magnitude = abs(seconds)
    if magnitude < 1:
        return "now"
    if magnitude < 60:
        amount = f"{int(magnitude)} s"
    elif magnitude < 3600:
        amount = f"{int(magnitude // 60)} min"
    elif magnitude < 86400:
        amount = f"{int(magnitude // 3600)} h"
    else:
        amount = f"{int(magnitude // 86400)} d"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def _when(moment: datetime, now: datetime, tz: tzinfo | None) -> str:
    return f"{local_time(moment, tz)} ({relative_time(moment, now)})"


def _lease_text(lease: LeaseInfo) -> str:
    if lease.kind is LeaseKind.NONE:
        return "none"
    text = f"lease {lease.id if lease.id is not None else '?'} {lease.state}"
    if lease.remaining_seconds is not None:
        text += f", {lease.remaining_seconds:.1f} s left"
    return text


def _holder_with_pid(owner: OwnerInfo) -> str:
    name = holder(owner)
    return f"{name} (pid {owner.pid})" if owner.pid is not None else name


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Align ``rows`` under ``headers`` in columns two spaces apart (no trailing blanks)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = []
    for row in (headers, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def status_lines(
    status: AdminStatus,
    *,
    now: datetime,
    tz: tzinfo | None = None,
    server: str | None = None,
) -> list[str]:
    """The readable ``pinbroker status``: a held table and a queue table.

    Args:
        status: What the server answered.
        now: The current time, for relative times.
        tz: Time zone for absolute times; None = local.
        server: The server's address, for the heading; None = no heading.
    """
    lines: list[str] = []
    if server is not None:
        lines.append(f"pinbroker at {server}, revision {status.revision}")
        lines.append("")
    held_ids = {h.reservation_id for h in status.held}
    waiting_ids = {w.request_id for w in status.waiting}
    if status.held:
        reservations = len(held_ids)
        lines.append(
            f"Held: {len(status.held)} session{'s' * (len(status.held) != 1)} in "
            f"{reservations} reservation{'s' * (reservations != 1)}"
        )
        lines += table(
            ("SESSION", "HOLDER", "SINCE", "LEASE", "RESERVATION", "FENCE"),
            [
                (
                    h.session_name,
                    _holder_with_pid(h.owner),
                    _when(h.since, now, tz),
                    _lease_text(h.lease),
                    str(h.reservation_id),
                    str(h.fence),
                )
                for h in status.held
            ],
        )
    else:
        lines.append("Held: no sessions are held")
    lines.append("")
    if status.waiting:
        lines.append(f"Waiting: {len(status.waiting)} request{'s' * (len(status.waiting) != 1)}")

        def blocker(identifier: int) -> str:
            if identifier in held_ids:
                return f"reservation {identifier}"
            if identifier in waiting_ids:
                return f"request {identifier}"
            return str(identifier)

        lines += table(
            ("#", "SESSIONS", "WAITER", "SINCE", "DEADLINE", "BLOCKED BY", "REQUEST"),
            [
                (
                    str(w.position),
                    ", ".join(w.session_names),
                    _holder_with_pid(w.owner),
                    _when(w.since, now, tz),
                    _when(w.deadline, now, tz) if w.deadline is not None else "none",
                    ", ".join(blocker(b) for b in w.blocked_by) or "-",
                    str(w.request_id),
                )
                for w in status.waiting
            ],
        )
    else:
        lines.append("Waiting: nobody waits")
    return lines


def event_line(event: AdminEvent, *, tz: tzinfo | None = None) -> str:
    """One readable line per event: local time, revision, kind, sessions, id, who, why.

    Example: ``2026-12-01 23:13:15  #4  force_released  niDMM-DMM1  reservation 1  by
    alice@bench7  reason: stuck``.
    """
    text = f"{local_time(event.time, tz)}  #{event.revision}  {event.kind.ljust(KIND_WIDTH)}  " + (
        ", ".join(event.session_names) or "-"
    )
    if event.reservation_id is not None:
        noun = "request" if event.kind in REQUEST_KINDS else "reservation"
        text += f"  {noun} {event.reservation_id}"
    if event.owner is not None:
        text += f"  by {holder(event.owner)}"
    if event.reason:
        text += f"  reason: {event.reason}"
    return text


def release_lines(result: ForceReleaseResult) -> list[str]:
    """``released  NAME`` and ``not held  NAME`` lines, released first."""
    return [f"released  {name}" for name in result.released] + [
        f"not held  {name}" for name in result.not_held
    ]


def dropped_before(since: int, oldest_revision: int) -> int:
    """How many events after ``since`` the server no longer retains (0 if none were dropped)."""
    if oldest_revision <= 0:
        return 0
    return max(0, oldest_revision - since - 1)
