"""pinbroker's session management client: the documented client plus what 1.2 lacked."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import grpc
import ni.measurementlink.pin_map_context_pb2 as pin_map_context_pb2
import ni.measurementlink.sessionmanagement.v1.session_management_service_pb2 as sm_pb2

from ni_measurementlink_service.session_management import (
    PinMapContext,
    SessionInformation,
    SessionManagementClient,
)
from pinbroker.client._convert import (
    group_mappings_from_grpc,
    multiplexer_session_from_grpc,
    multiplexer_session_to_grpc,
    session_details_to_grpc,
    session_snapshot_from_grpc,
)
from pinbroker.client._reservation import MultiReservation, SingleReservation
from pinbroker.client._sessions import MultiplexerSessionDetails, SessionDetails, SessionSnapshot

__all__ = ["PinbrokerSessionClient"]


class PinbrokerSessionClient(SessionManagementClient):
    """The documented :class:`SessionManagementClient`, with richer reservations and more calls.

    It is a drop-in for the documented client (same methods, same arguments, same errors); its
    reservations additionally offer :meth:`~pinbroker.client.Reservation.get_connection`,
    ``get_connections``, ``session_details``, ``multiplexer_sessions`` and
    ``group_mappings``. It also covers the service calls 1.2 had no method for: ``get_sessions``
    and the multiplexer session calls.

    Every method raises :class:`grpc.RpcError` with the service's status code and message when
    the service reports an error.

    Args:
        grpc_channel: Channel to the session management service.
        annotations: Annotations to attach to every session this client reserves (the service
            returns them in ``SessionDetails.annotations`` while the reservation lasts).
    """

    def __init__(
        self, *, grpc_channel: grpc.Channel, annotations: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(grpc_channel=grpc_channel)
        self._reservation_annotations = dict(annotations or {})

    def reserve_session(
        self,
        context: PinMapContext,
        pin_or_relay_names: Iterable[str] | None = None,
        instrument_type_id: str | None = None,
        timeout: float | None = None,
    ) -> SingleReservation:
        """Reserve a single session; see the documented ``reserve_session``.

        Raises:
            ValueError: If the service reserved no session, or more than one (those are
                unreserved before raising).
            grpc.RpcError: If the service reports an error.
        """
        names = _materialize(pin_or_relay_names)
        response = self._reserve_sessions(context, names, instrument_type_id, timeout)
        self._require_single_session(response.sessions)
        return SingleReservation(
            self,
            response.sessions,
            multiplexer_session_info=response.multiplexer_sessions,
            group_mappings=group_mappings_from_grpc(response.group_mappings),
            reserved_pin_or_relay_names=names,
            reserved_sites=context.sites,
        )

    def reserve_sessions(
        self,
        context: PinMapContext,
        pin_or_relay_names: Iterable[str] | None = None,
        instrument_type_id: str | None = None,
        timeout: float | None = None,
    ) -> MultiReservation:
        """Reserve multiple sessions; see the documented ``reserve_sessions``.

        Raises:
            grpc.RpcError: If the service reports an error.
        """
        names = _materialize(pin_or_relay_names)
        response = self._reserve_sessions(context, names, instrument_type_id, timeout)
        return MultiReservation(
            self,
            response.sessions,
            multiplexer_session_info=response.multiplexer_sessions,
            group_mappings=group_mappings_from_grpc(response.group_mappings),
            reserved_pin_or_relay_names=names,
            reserved_sites=context.sites,
        )

    def reserve_all_registered_sessions(
        self, instrument_type_id: str | None = None, timeout: float | None = None
    ) -> MultiReservation:
        """Reserve every registered session; see the documented method.

        The sessions carry no channel mappings, so ``get_connections`` finds nothing.

        Raises:
            grpc.RpcError: If the service reports an error.
        """
        response = self._reserve_all_registered_sessions(instrument_type_id, timeout)
        return MultiReservation(self, response.sessions)

    def register_sessions(
        self, session_info: Iterable[SessionInformation | SessionDetails]
    ) -> None:
        """Register sessions as open; accepts documented SessionInformation or SessionDetails.

        Raises:
            grpc.RpcError: ALREADY_EXISTS if a session of the same name is registered,
                INVALID_ARGUMENT for an empty session name.
        """
        sessions = [self._any_to_grpc(info) for info in session_info]
        self._stub.RegisterSessions(sm_pb2.RegisterSessionsRequest(sessions=sessions))

    def unregister_sessions(
        self, session_info: Iterable[SessionInformation | SessionDetails]
    ) -> None:
        """Unregister sessions (they were closed); accepts SessionInformation or SessionDetails.

        Raises:
            grpc.RpcError: If the service reports an error.
        """
        sessions = [self._any_to_grpc(info) for info in session_info]
        self._stub.UnregisterSessions(sm_pb2.UnregisterSessionsRequest(sessions=sessions))

    def get_sessions(
        self, instrument_type_id: str = "", multiplexer_type_id: str = ""
    ) -> SessionSnapshot:
        """Return every reserved or registered session, without reserving anything.

        Args:
            instrument_type_id: Only instrument sessions of this type; "" for all.
            multiplexer_type_id: Only multiplexer sessions of this type; "" for all.

        Raises:
            grpc.RpcError: If the service reports an error.
        """
        request = sm_pb2.GetSessionsRequest(
            instrument_type_id=instrument_type_id, multiplexer_type_id=multiplexer_type_id
        )
        return session_snapshot_from_grpc(self._stub.GetSessions(request))

    def register_multiplexer_sessions(self, sessions: Iterable[MultiplexerSessionDetails]) -> None:
        """Register multiplexer sessions as open.

        Raises:
            grpc.RpcError: ALREADY_EXISTS if a multiplexer session of the same name is
                registered, INVALID_ARGUMENT for an empty session name.
        """
        request = sm_pb2.RegisterMultiplexerSessionsRequest(
            multiplexer_sessions=[multiplexer_session_to_grpc(s) for s in sessions]
        )
        self._stub.RegisterMultiplexerSessions(request)

    def unregister_multiplexer_sessions(
        self, sessions: Iterable[MultiplexerSessionDetails]
    ) -> None:
        """Unregister multiplexer sessions (they were closed).

        Raises:
            grpc.RpcError: If the service reports an error.
        """
        request = sm_pb2.UnregisterMultiplexerSessionsRequest(
            multiplexer_sessions=[multiplexer_session_to_grpc(s) for s in sessions]
        )
        self._stub.UnregisterMultiplexerSessions(request)

    def get_multiplexer_sessions(
        self, context: PinMapContext, multiplexer_type_id: str = ""
    ) -> tuple[MultiplexerSessionDetails, ...]:
        """Return the multiplexer sessions of a pin map for the context's sites (nothing reserved).

        Raises:
            grpc.RpcError: NOT_FOUND for an unknown pin map id, INVALID_ARGUMENT for a site the
                pin map does not define.
        """
        request = sm_pb2.GetMultiplexerSessionsRequest(
            pin_map_context=pin_map_context_pb2.PinMapContext(
                pin_map_id=context.pin_map_id, sites=context.sites
            ),
            multiplexer_type_id=multiplexer_type_id,
        )
        response = self._stub.GetMultiplexerSessions(request)
        return tuple(multiplexer_session_from_grpc(s) for s in response.multiplexer_sessions)

    def get_all_registered_multiplexer_sessions(
        self, multiplexer_type_id: str = ""
    ) -> tuple[MultiplexerSessionDetails, ...]:
        """Return every registered multiplexer session, optionally of one type.

        Raises:
            grpc.RpcError: If the service reports an error.
        """
        request = sm_pb2.GetAllRegisteredMultiplexerSessionsRequest(
            multiplexer_type_id=multiplexer_type_id
        )
        response = self._stub.GetAllRegisteredMultiplexerSessions(request)
        return tuple(multiplexer_session_from_grpc(s) for s in response.multiplexer_sessions)

    def _any_to_grpc(self, info: SessionInformation | SessionDetails) -> sm_pb2.SessionInformation:
        if isinstance(info, SessionDetails):
            return session_details_to_grpc(info)
        return self._to_grpc(info)


def _materialize(names: Iterable[str] | None) -> str | tuple[str, ...] | None:
    """Read a one-shot iterable once, so it can be both sent and remembered."""
    if names is None or isinstance(names, str):
        return names
    return tuple(names)
