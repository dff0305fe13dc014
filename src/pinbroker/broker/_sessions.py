"""The session manager: resolve pins to sessions, reserve them, keep the registry.

Pure orchestration (no grpc): the Session Management servicer converts protobuf to the values
here and back. Semantics follow session-mapping.md §e; errors are the ``pinbroker.errors`` tree.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from pinbroker.broker._ownership import grant_annotations, without_own_keys
from pinbroker.broker._pinmaps import PinMapRepository
from pinbroker.broker._values import MultiplexerView, ReserveResult, SessionView
from pinbroker.errors import (
    PinbrokerError,
    ReservationTimeoutError,
    ResourceExhaustedError,
    UnreserveError,
)
from pinbroker.events import EventKind, EventLog
from pinbroker.pinmap import MultiplexerResource, SessionResource
from pinbroker.registry import MultiplexerRecord, SessionRecord, SessionRegistryLike
from pinbroker.reservation import (
    FenceToken,
    Reservation,
    ReservationTable,
    ReservationTableLike,
    check_timeout,
)
from pinbroker.store import Store
from pinbroker.types import SessionName, SessionNaming

__all__ = ["CancelHook", "PreparedReservation", "SessionManager"]

_logger = logging.getLogger(__name__)

_R = TypeVar("_R")

_REMEMBERED_GRANTS = 10_000
"""Grants remembered by request id for retries after a lost reply (oldest forgotten first)."""

CancelHook = Callable[[Callable[[], None]], bool]
"""Registers a callback to run if the caller goes away; returns False if it already has."""


@dataclass(frozen=True, slots=True)
class PreparedReservation(Generic[_R]):
    """A reservation request resolved to session names, not yet reserved.

    Attributes:
        session_names: The sessions to reserve together.
        build: Turns the granted reservation into the answer.
    """

    session_names: tuple[SessionName, ...]
    build: Callable[[Reservation], _R]


@dataclass(frozen=True, slots=True)
class _Details:
    """What the manager remembers of a reserved session that may not be registered."""

    resource_name: str
    instrument_type_id: str


class SessionManager:
    """Reserves and registers sessions on behalf of the Session Management Service."""

    def __init__(
        self,
        pin_maps: PinMapRepository,
        table: ReservationTableLike,
        registry: SessionRegistryLike,
        store: Store | None,
        *,
        naming: SessionNaming = SessionNaming.TYPED,
        max_waiters: int = 112,
        strict_owner: bool = False,
        events: EventLog | None = None,
    ) -> None:
        """Create the manager.

        Args:
            pin_maps: Where pin maps are looked up by id.
            table: The reservation table (its journal should be ``store``).
            registry: Registered sessions and multiplexer sessions.
            store: Persistence, used to restore reservations at start-up; None when the table
                keeps its state itself (the shared database of ``pinbroker.cluster``).
            naming: Session naming scheme.
            max_waiters: How many reservation requests may block at once; a further request
                that would have to wait fails with RESOURCE_EXHAUSTED instead of taking the
                last server threads (which unreserve calls need).
            strict_owner: Refuse an unreserve with a stale token or without one
                (``--strict-owner``) instead of ignoring or releasing by name.
            events: Where registrations and unregistrations are recorded.
        """
        self._pin_maps = pin_maps
        self._table = table
        self._registry = registry
        self._store = store
        self._naming = naming
        self._waiters = threading.BoundedSemaphore(max_waiters)
        self._max_waiters = max_waiters
        self._details_lock = threading.Lock()
        self._details: dict[SessionName, _Details] = {}
        self._grants: OrderedDict[str, Reservation] = OrderedDict()  # by request id
        self._strict_owner = strict_owner
        self._events = events

    @property
    def table(self) -> ReservationTableLike:
        """The reservation table (for introspection: who holds, who waits)."""
        return self._table

    def restore(self) -> None:
        """Re-install the reservations persisted before the last stop (fences, id high-water)."""
        if self._store is None or not isinstance(self._table, ReservationTable):
            return  # a shared table lives in its database
        self._table.restore(
            self._store.load_reservations(),
            fences=self._store.load_fences(),
            next_id=self._store.load_reservation_id_high() + 1,
        )

    def shutdown(self) -> None:
        """Fail every waiting reservation with UNAVAILABLE; held reservations persist."""
        self._table.shutdown()

    # ------------------------------------------------------------------ reserving

    def reserve_sessions(
        self,
        *,
        pin_map_id: str,
        sites: Sequence[int],
        names: Sequence[str],
        instrument_type_id: str,
        timeout: float | None,
        annotations: Mapping[str, str],
        owner: str,
        on_cancel: CancelHook | None = None,
    ) -> ReserveResult:
        """Resolve pins x sites x type into sessions and reserve them all together.

        Raises:
            PinMapNotFoundError: If the pin map id is not registered.
            UnknownSiteError: If a site is not defined in the pin map.
            UnknownPinOrRelayError: If a name matches no pin, relay or group.
            InvalidTimeoutError: If the timeout is negative (other than forever = None).
            ReservationTimeoutError: If the sessions were not all free in time.
            ResourceExhaustedError: If too many requests are already waiting.
            CancelledError: If the caller went away while waiting.
            ShuttingDownError: If the server is stopping.
        """
        timeout = check_timeout(timeout)
        prepared = self.prepare_reserve_sessions(
            pin_map_id=pin_map_id, sites=sites, names=names, instrument_type_id=instrument_type_id
        )
        return self._reserve_prepared(prepared, timeout, annotations, owner, on_cancel)

    def prepare_reserve_sessions(
        self,
        *,
        pin_map_id: str,
        sites: Sequence[int],
        names: Sequence[str],
        instrument_type_id: str,
    ) -> PreparedReservation[ReserveResult]:
        """Resolve pins x sites x type into the sessions :meth:`reserve_sessions` would reserve.

        Raises:
            PinMapNotFoundError: If the pin map id is not registered.
            UnknownSiteError: If a site is not defined in the pin map.
            UnknownPinOrRelayError: If a name matches no pin, relay or group.
        """
        pin_map = self._pin_maps.get(pin_map_id).pin_map
        resolution = pin_map.resolve(
            sites=sites, names=names, instrument_type_id=instrument_type_id, naming=self._naming
        )
        with self._details_lock:
            for session in resolution.sessions:
                self._details[session.session_name] = _Details(
                    session.resource_name, session.instrument_type_id
                )

        def build(reservation: Reservation) -> ReserveResult:
            registered = self._registry.registered_among(
                s.session_name for s in resolution.sessions
            )
            multiplexers = (
                self._registry.multiplexers_among(m.session_name for m in resolution.multiplexers)
                if resolution.multiplexers
                else {}
            )
            return ReserveResult(
                sessions=tuple(
                    self._view_of_resolved(
                        s,
                        grant_annotations(reservation, s.session_name),
                        exists=s.session_name in registered,
                    )
                    for s in resolution.sessions
                ),
                multiplexers=tuple(
                    _mux_view_of(m, multiplexers.get(m.session_name))
                    for m in resolution.multiplexers
                ),
                group_mappings=resolution.group_mappings,
            )

        return PreparedReservation(tuple(s.session_name for s in resolution.sessions), build)

    def reserve_all_registered_sessions(
        self,
        *,
        instrument_type_id: str,
        timeout: float | None,
        annotations: Mapping[str, str],
        owner: str,
        on_cancel: CancelHook | None = None,
    ) -> tuple[SessionView, ...]:
        """Reserve every registered session (optionally of one type) together.

        The views carry empty channel lists and mappings, as NI documents.

        Raises:
            InvalidTimeoutError: If the timeout is negative (other than forever = None).
            ReservationTimeoutError: If the sessions were not all free in time.
            ResourceExhaustedError: If too many requests are already waiting.
            CancelledError: If the caller went away while waiting.
            ShuttingDownError: If the server is stopping.
        """
        timeout = check_timeout(timeout)
        prepared = self.prepare_reserve_all_registered_sessions(instrument_type_id)
        return self._reserve_prepared(prepared, timeout, annotations, owner, on_cancel)

    def prepare_reserve_all_registered_sessions(
        self, instrument_type_id: str
    ) -> PreparedReservation[tuple[SessionView, ...]]:
        """The sessions :meth:`reserve_all_registered_sessions` would reserve."""
        records = self._registry.all(instrument_type_id)

        def build(reservation: Reservation) -> tuple[SessionView, ...]:
            return tuple(
                SessionView(
                    session_name=r.session_name,
                    resource_name=r.resource_name,
                    channel_list="",
                    instrument_type_id=r.instrument_type_id,
                    channel_mappings=(),
                    session_exists=True,
                    session_reserved=True,
                    annotations=grant_annotations(reservation, r.session_name),
                )
                for r in records
            )

        return PreparedReservation(tuple(r.session_name for r in records), build)

    def acquire_waiting_slot(self) -> bool:
        """Take one of the ``max_waiters`` slots for a request that may wait; False if none.

        Give it back with :meth:`release_waiting_slot`.
        """
        return self._waiters.acquire(blocking=False)

    def release_waiting_slot(self) -> None:
        """Give back a slot taken with :meth:`acquire_waiting_slot`."""
        self._waiters.release()

    @property
    def max_waiters(self) -> int:
        """How many reservation requests may wait at once."""
        return self._max_waiters

    def _reserve_prepared(
        self,
        prepared: PreparedReservation[_R],
        timeout: float | None,
        annotations: Mapping[str, str],
        owner: str,
        on_cancel: CancelHook | None,
    ) -> _R:
        reservation = self._reserve(
            prepared.session_names,
            timeout=timeout,
            annotations=annotations,
            owner=owner,
            on_cancel=on_cancel,
        )
        return prepared.build(reservation)

    def _reserve(
        self,
        session_names: Sequence[str],
        *,
        timeout: float | None,
        annotations: Mapping[str, str],
        owner: str,
        on_cancel: CancelHook | None,
    ) -> Reservation:
        if timeout == 0:
            return self._table.reserve(
                session_names, owner=owner, timeout=0, annotations=annotations
            )
        if not self._waiters.acquire(blocking=False):
            # Every waiting slot is taken: grant only what needs no waiting.
            try:
                return self._table.reserve(
                    session_names, owner=owner, timeout=0, annotations=annotations
                )
            except ReservationTimeoutError as exc:
                raise ResourceExhaustedError(
                    f"too many reservation requests are waiting ({self._max_waiters}) and "
                    f"this one cannot be granted at once: {exc}"
                ) from exc
        try:
            ticket = self._table.request(session_names, owner=owner, annotations=annotations)

            def cancel() -> None:
                self._table.cancel(ticket)

            if on_cancel is not None and not on_cancel(cancel):
                cancel()  # the caller is gone already
            return self._table.wait(ticket, timeout)
        finally:
            self._waiters.release()

    def unreserve_sessions(self, session_names: Iterable[str]) -> None:
        """Release sessions by name; releasing a free session is not an error.

        Raises:
            UnreserveError: If the release could not be recorded; nothing changed.
        """
        self.unreserve_owned([(name, None) for name in session_names])

    def unreserve_owned(
        self, sessions: Sequence[tuple[str, FenceToken | None]]
    ) -> tuple[SessionName, ...]:
        """Release sessions on behalf of their holder (see ``ReservationTable.release_owned``).

        A session sent back with a stale token (its grant was force released or expired and
        it may have a new holder) is left alone and logged; with ``strict_owner`` the call is
        refused instead, as is a session without a token.

        Returns:
            The sessions left alone because their token is stale.

        Raises:
            StaleTokenError: With ``strict_owner``: a token is stale or missing.
            UnreserveError: If the release could not be recorded; nothing changed.
        """
        names = [name for name, _ in sessions]
        try:
            _, stale = self._table.release_owned(sessions, strict=self._strict_owner)
        except PinbrokerError:
            raise
        except Exception as exc:
            _logger.exception("unreserving %s failed", names)
            raise UnreserveError(
                f"could not unreserve {', '.join(repr(n) for n in names)}: recording the "
                f"release in the state store failed ({type(exc).__name__}; see the server log); "
                "the sessions are still reserved"
            ) from exc
        if stale:
            _logger.warning(
                "unreserve with a stale token ignored for %s: the grant it names has ended "
                "(force released or lease expired); the current holder keeps the session",
                ", ".join(repr(n) for n in stale),
            )
        return stale

    def remember_grant(self, request_id: str, reservation: Reservation) -> None:
        """Remember the grant of a request id, so a retry after a lost reply gets it back."""
        with self._details_lock:
            self._grants[request_id] = reservation
            self._grants.move_to_end(request_id)
            while len(self._grants) > _REMEMBERED_GRANTS:
                self._grants.popitem(last=False)

    def replay_grant(self, request_id: str, lease_id: int | None) -> Reservation | None:
        """The grant of an earlier try with this request id, if it still holds everything."""
        with self._details_lock:
            reservation = self._grants.get(request_id)
        if reservation is None or reservation.lease_id != lease_id:
            return None
        for name in reservation.session_names:
            holder = self._table.holder_of(name)
            if holder is None or holder.id != reservation.id:
                return None
        return reservation

    # ------------------------------------------------------------------ registry

    def register_sessions(self, records: Sequence[SessionRecord]) -> None:
        """Record sessions as open (all or none).

        Raises:
            InvalidSessionError: If a session name is empty.
            SessionAlreadyRegisteredError: If a name is registered already.
        """
        self._registry.register(
            [replace(r, annotations=without_own_keys(r.annotations)) for r in records]
        )
        self._event(EventKind.REGISTERED, [r.session_name for r in records])

    def unregister_sessions(self, session_names: Iterable[str]) -> None:
        """Forget registered sessions; unknown names are ignored."""
        names = list(session_names)
        known = [n for n in names if self._registry.is_registered(n)]
        self._registry.unregister(names)
        self._event(EventKind.UNREGISTERED, known)

    def register_multiplexer_sessions(self, records: Sequence[MultiplexerRecord]) -> None:
        """Record multiplexer sessions as open (all or none).

        Raises:
            InvalidSessionError: If a session name is empty.
            SessionAlreadyRegisteredError: If a name is registered already.
        """
        self._registry.register_multiplexers(records)
        self._event(EventKind.REGISTERED, [r.session_name for r in records], "multiplexer")

    def unregister_multiplexer_sessions(self, session_names: Iterable[str]) -> None:
        """Forget registered multiplexer sessions; unknown names are ignored."""
        names = list(session_names)
        known = [n for n in names if self._registry.get_multiplexer(n) is not None]
        self._registry.unregister_multiplexers(names)
        self._event(EventKind.UNREGISTERED, known, "multiplexer")

    def get_multiplexer_sessions(
        self, *, pin_map_id: str, sites: Sequence[int], multiplexer_type_id: str
    ) -> tuple[MultiplexerView, ...]:
        """Multiplexers connected in the pin map on those sites; reserves nothing.

        Raises:
            PinMapNotFoundError: If the pin map id is not registered.
            UnknownSiteError: If a site is not defined in the pin map.
        """
        pin_map = self._pin_maps.get(pin_map_id).pin_map
        return tuple(
            self._view_of_multiplexer(m)
            for m in pin_map.multiplexers(sites=sites, multiplexer_type_id=multiplexer_type_id)
        )

    def get_all_registered_multiplexer_sessions(
        self, multiplexer_type_id: str = ""
    ) -> tuple[MultiplexerView, ...]:
        """Every registered multiplexer session, optionally of one type."""
        return tuple(
            _multiplexer_view(r) for r in self._registry.all_multiplexers(multiplexer_type_id)
        )

    def get_sessions(
        self, *, instrument_type_id: str = "", multiplexer_type_id: str = ""
    ) -> tuple[tuple[SessionView, ...], tuple[MultiplexerView, ...]]:
        """Every reserved or registered session, and registered multiplexer sessions."""
        views: list[SessionView] = []
        seen: set[str] = set()
        # One instant, one read of a shared table; the queue is left out (not part of the
        # answer: GetSessions costs the same with 1,000 requests waiting).
        snapshot = self._table.snapshot(waiting=False)
        for record in self._registry.all(instrument_type_id):
            seen.add(record.session_name)
            holder = snapshot.held.get(record.session_name)
            reserved = holder is not None
            views.append(
                SessionView(
                    session_name=record.session_name,
                    resource_name=record.resource_name,
                    channel_list=record.channel_list,
                    instrument_type_id=record.instrument_type_id,
                    channel_mappings=record.channel_mappings,
                    session_exists=True,
                    session_reserved=reserved,
                    annotations=grant_annotations(holder, record.session_name)
                    if holder is not None
                    else dict(record.annotations),
                )
            )
        for reservation in snapshot.reservations:
            for name in reservation.session_names:
                if name in seen:
                    continue
                details = self._details_of(name)
                if instrument_type_id and details.instrument_type_id != instrument_type_id:
                    continue
                seen.add(name)
                views.append(
                    SessionView(
                        session_name=name,
                        resource_name=details.resource_name,
                        channel_list="",
                        instrument_type_id=details.instrument_type_id,
                        channel_mappings=(),
                        session_exists=False,
                        session_reserved=True,
                        annotations=grant_annotations(reservation, name),
                    )
                )
        multiplexers = tuple(
            _multiplexer_view(r) for r in self._registry.all_multiplexers(multiplexer_type_id)
        )
        return tuple(views), multiplexers

    # ------------------------------------------------------------------ helpers

    def _event(self, kind: EventKind, names: Sequence[str], reason: str = "") -> None:
        if self._events is not None and names:
            self._events.append(kind, session_names=names, reason=reason)

    def _details_of(self, name: SessionName) -> _Details:
        with self._details_lock:
            return self._details.get(name, _Details("", ""))

    def _view_of_resolved(
        self, session: SessionResource, annotations: Mapping[str, str], *, exists: bool
    ) -> SessionView:
        return SessionView(
            session_name=session.session_name,
            resource_name=session.resource_name,
            channel_list=session.channel_list,
            instrument_type_id=session.instrument_type_id,
            channel_mappings=session.channel_mappings,
            session_exists=exists,
            session_reserved=True,
            annotations=annotations,
        )

    def _view_of_multiplexer(self, multiplexer: MultiplexerResource) -> MultiplexerView:
        """A multiplexer of the pin map, with its registration state and annotations."""
        return _mux_view_of(multiplexer, self._registry.get_multiplexer(multiplexer.session_name))


def _multiplexer_view(record: MultiplexerRecord) -> MultiplexerView:
    return MultiplexerView(
        session_name=record.session_name,
        resource_name=record.resource_name,
        multiplexer_type_id=record.multiplexer_type_id,
        session_exists=True,
        annotations=dict(record.annotations),
    )


def _mux_view_of(
    multiplexer: MultiplexerResource, record: MultiplexerRecord | None
) -> MultiplexerView:
    """A multiplexer of the pin map, with its registration state and annotations."""
    return MultiplexerView(
        session_name=multiplexer.session_name,
        resource_name=multiplexer.resource_name,
        multiplexer_type_id=multiplexer.multiplexer_type_id,
        session_exists=record is not None,
        annotations={} if record is None else dict(record.annotations),
    )
