"""Reservations of :class:`PinbrokerSessionClient`: the documented ones plus connection lookup."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property

import ni.measurementlink.sessionmanagement.v1.session_management_service_pb2 as sm_pb2

from ni_measurementlink_service import session_management as seed
from pinbroker.client._connections import ConnectionIndex
from pinbroker.client._convert import multiplexer_session_from_grpc, session_details_from_grpc
from pinbroker.client._sessions import (
    Connection,
    MultiplexerSessionDetails,
    SessionDetails,
    freeze_group_mappings,
)

__all__ = ["MultiReservation", "Reservation", "SingleReservation"]


class Reservation(seed.BaseReservation):
    """A reservation that also knows its connections, multiplexers and group mappings.

    Like the documented reservations it is a context manager that unreserves on exit, sending
    back the session messages exactly as the service returned them.

    Args:
        session_manager: The client that reserved the sessions.
        session_info: The session messages as the service returned them.
        multiplexer_session_info: The multiplexer session messages of the response.
        group_mappings: Group name -> member names, as the service resolved the request.
        reserved_pin_or_relay_names: The names the reservation was requested for; None if for
            every pin and relay.
        reserved_sites: The sites of the request's pin map context; None or empty for all.
    """

    def __init__(
        self,
        session_manager: seed.SessionManagementClient,
        session_info: Sequence[sm_pb2.SessionInformation],
        *,
        multiplexer_session_info: Sequence[sm_pb2.MultiplexerSessionInformation] = (),
        group_mappings: Mapping[str, Iterable[str]] | None = None,
        reserved_pin_or_relay_names: str | Iterable[str] | None = None,
        reserved_sites: Iterable[int] | None = None,
    ) -> None:
        super().__init__(session_manager, session_info)
        self._grpc_multiplexer_info = tuple(multiplexer_session_info)
        self._group_mappings = freeze_group_mappings(group_mappings)
        self._reserved_names: str | tuple[str, ...] | None = (
            reserved_pin_or_relay_names
            if reserved_pin_or_relay_names is None or isinstance(reserved_pin_or_relay_names, str)
            else tuple(reserved_pin_or_relay_names)
        )
        self._reserved_sites = None if reserved_sites is None else tuple(reserved_sites)

    @cached_property
    def session_details(self) -> tuple[SessionDetails, ...]:
        """Every reserved session with all fields the service reported, in response order.

        Includes ``session_reserved``, ``session_exists``, annotations and the multiplexer
        fields of the channel mappings.
        """
        return tuple(session_details_from_grpc(m) for m in self._grpc_session_info)

    @cached_property
    def multiplexer_sessions(self) -> tuple[MultiplexerSessionDetails, ...]:
        """Multiplexer sessions used by the reserved connections (not themselves reserved)."""
        return tuple(multiplexer_session_from_grpc(m) for m in self._grpc_multiplexer_info)

    @property
    def group_mappings(self) -> Mapping[str, tuple[str, ...]]:
        """For each requested pin or relay group, its members as the service resolved them."""
        return self._group_mappings

    @cached_property
    def _connection_index(self) -> ConnectionIndex:
        multiplexers = {m.resource_name: m for m in self.multiplexer_sessions}
        connections = [
            Connection(
                pin_or_relay_name=mapping.pin_or_relay_name,
                site=mapping.site,
                channel_name=mapping.channel,
                session_info=details,
                multiplexer_resource_name=mapping.multiplexer_resource_name,
                multiplexer_route=mapping.multiplexer_route,
                multiplexer_session_info=multiplexers.get(mapping.multiplexer_resource_name)
                if mapping.multiplexer_resource_name
                else None,
            )
            for details in self.session_details
            for mapping in details.channel_mappings
        ]
        return ConnectionIndex.build(
            connections,
            instrument_type_ids=(d.instrument_type_id for d in self.session_details),
            group_mappings=self._group_mappings,
            reserved_pin_or_relay_names=self._reserved_names,
            reserved_sites=self._reserved_sites,
        )

    def get_connection(
        self,
        pin_or_relay_name: str | None = None,
        site: int | None = None,
        instrument_type_id: str | None = None,
    ) -> Connection:
        """Return the one reserved connection matching the criteria (None = any).

        Raises:
            ValueError: If no connection or more than one matches, or a criterion names a pin,
                site or instrument type that is not part of the reservation.
            TypeError: If a criterion has the wrong type.
        """
        return self._connection_index.select_one(pin_or_relay_name, site, instrument_type_id)

    def get_connections(
        self,
        pin_or_relay_names: str | Iterable[str] | None = None,
        sites: int | Iterable[int] | None = None,
        instrument_type_id: str | None = None,
    ) -> tuple[Connection, ...]:
        """Return every reserved connection matching the criteria (None = any).

        Order: by site (system site -1 last), then by pin or relay as requested (groups
        expanded), then by instrument type; see ``pinbroker.client._connections``.

        Raises:
            ValueError: If criteria were given and nothing matched, a given name matched no
                connection, or a criterion names a pin, site or instrument type that is not part
                of the reservation.
            TypeError: If a criterion has the wrong type.
        """
        return self._connection_index.select(pin_or_relay_names, sites, instrument_type_id)


class SingleReservation(Reservation, seed.SingleSessionReservation):
    """A reservation of exactly one session (``session_info`` is one SessionInformation)."""


class MultiReservation(Reservation, seed.MultiSessionReservation):
    """A reservation of any number of sessions (``session_info`` is a list)."""
