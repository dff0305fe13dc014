"""Rows of the shared database <-> the core's frozen values (one caller per table: this package)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pinbroker.reservation import Reservation, ReservationId, WaitingRequest
from pinbroker.store._codec import (
    decode_annotations,
    decode_client_identity,
)
from pinbroker.types import SessionName

__all__ = [
    "RESERVATION_COLUMNS",
    "WAITER_COLUMNS",
    "decode_fences",
    "encode_fences",
    "reservation_of",
    "waiter_of",
]

RESERVATION_COLUMNS: Final = (
    "r.id, r.session_names, r.owner, r.annotations, r.acquired_at, r.lease_id, r.client, r.fences"
)
"""Columns :func:`reservation_of` reads, of ``reservations`` aliased ``r``."""

WAITER_COLUMNS: Final = (
    "w.id, w.session_names, w.owner, w.annotations, w.since, w.lease_id, w.client, w.timeout"
)
"""Columns :func:`waiter_of` reads, of ``waiters`` aliased ``w``."""


def encode_fences(fences: Mapping[SessionName, int]) -> str:
    """A JSON object of each session's fence."""
    return json.dumps(dict(fences), separators=(",", ":"))


def decode_fences(text: str) -> dict[SessionName, int]:
    """Parse :func:`encode_fences` output (damaged text gives no fences)."""
    try:
        value: Any = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {SessionName(k): v for k, v in value.items() if isinstance(v, int)}


def reservation_of(row: Sequence[Any]) -> Reservation:
    """A :class:`Reservation` from a row of :data:`RESERVATION_COLUMNS`."""
    rid, names, owner, annotations, acquired_at, lease_id, client, fences = row
    return Reservation(
        ReservationId(int(rid)),
        tuple(SessionName(n) for n in names),
        owner,
        decode_annotations(annotations),
        float(acquired_at),
        None if lease_id is None else int(lease_id),
        decode_client_identity(client),
        decode_fences(fences),
    )


def waiter_of(row: Sequence[Any]) -> WaitingRequest:
    """A :class:`WaitingRequest` from a row of :data:`WAITER_COLUMNS`."""
    rid, names, owner, annotations, since, lease_id, client, timeout = row
    return WaitingRequest(
        ReservationId(int(rid)),
        tuple(SessionName(n) for n in names),
        owner,
        decode_annotations(annotations),
        float(since),
        None if lease_id is None else int(lease_id),
        decode_client_identity(client),
        None if timeout is None else float(since) + float(timeout),
    )
