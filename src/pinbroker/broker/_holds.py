"""Opt-in limits on holds (pure): ``--max-hold`` and ``--release-on-disconnect``.

NI's unmodified clients (Python 3.x, LabVIEW, TestStand) cannot keep a lease, so by default
their reservations are held until unreserved, as NI does. Two opt-in policies bound that:

* ``max_hold``: no reservation (leased or not) is held longer than this many seconds.
* ``release_on_disconnect``: a reservation made without a lease is released once the
  connection it was made on (its gRPC peer, e.g. ``ipv4:10.0.0.7:51234``) has been gone for
  this many seconds. The server tells :meth:`HoldWatch.scan` which peers are connected.
  Caveat: gRPC clients close idle connections (NI's Python clients after 30 minutes by
  default) and reconnect on the next call from a new port, so an idle holder loses its
  reservation too; reservations restored after a restart have no connection either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable

from pinbroker.events import EventKind
from pinbroker.reservation import Reservation, ReservationId, ReservationTableLike

__all__ = ["HoldWatch"]

_logger = logging.getLogger(__name__)


class HoldWatch:
    """Applies ``max_hold`` and ``release_on_disconnect`` to the table when scanned."""

    def __init__(
        self,
        table: ReservationTableLike,
        *,
        now: Callable[[], float],
        max_hold: float | None = None,
        release_on_disconnect: float | None = None,
        connected_here: Callable[[], Iterable[Reservation]] | None = None,
    ) -> None:
        """Create the watch.

        Args:
            table: The reservation table.
            now: Monotonic seconds (the table's clock).
            max_hold: Longest hold in seconds; None = unlimited.
            release_on_disconnect: Grace in seconds after a lease-less holder's connection is
                gone; None = never.
            connected_here: The reservations whose holder's connection is to this server
                (a table shared by several servers holds others' too); None: every one.
        """
        self._table = table
        self._now = now
        self._max_hold = max_hold
        self._grace = release_on_disconnect
        self._gone_since: dict[ReservationId, float] = {}
        self._connected_here = connected_here

    @property
    def watches_connections(self) -> bool:
        """Whether :meth:`scan` needs the connected peers."""
        return self._grace is not None

    def period(self) -> float:
        """How often to scan: a quarter of the shortest limit, between 0.1 s and 5 s."""
        limits = [x for x in (self._max_hold, self._grace) if x is not None]
        return min(5.0, max(0.1, min(limits) / 4)) if limits else 5.0

    def scan(self, connected_peers: Collection[str] | None = None) -> None:
        """Release what is held too long, or whose connection is gone for longer than grace.

        Args:
            connected_peers: The peers with an open connection now (needed with
                ``release_on_disconnect``).
        """
        if self._max_hold is not None:
            for reservation in self._table.held_longer_than(self._max_hold):
                self._release(
                    reservation.id,
                    reservation.session_names,
                    f"held longer than --max-hold {self._max_hold:g} s",
                )
        if self._grace is None or connected_peers is None:
            return
        now = self._now()
        candidates = (
            self._table.snapshot().reservations
            if self._connected_here is None
            else self._connected_here()
        )
        held = {r.id: r for r in candidates if r.lease_id is None}
        for rid in list(self._gone_since):
            if rid not in held:
                del self._gone_since[rid]
        for rid, reservation in held.items():
            if reservation.client.peer in connected_peers:
                self._gone_since.pop(rid, None)
                continue
            gone = self._gone_since.setdefault(rid, now)
            if now - gone >= self._grace:
                del self._gone_since[rid]
                self._release(
                    rid,
                    reservation.session_names,
                    f"its connection {reservation.client.peer or '(unknown)'} has been gone "
                    f"for {self._grace:g} s (--release-on-disconnect)",
                )

    def _release(self, rid: ReservationId, names: tuple[str, ...], reason: str) -> None:
        try:
            released = self._table.release_reservation(rid, names, reason, EventKind.EXPIRED)
        except Exception:
            _logger.exception("releasing reservation %s (%s) failed", rid, reason)
            return
        if released:  # also an `expired` event, which pinbroker serve logs
            _logger.debug(
                "reservation %s released: %s (%s)",
                rid,
                reason,
                ", ".join(repr(n) for n in released),
            )
