"""Contains methods related to managing driver sessions.

This is pinbroker's re-implementation of the documented ``ni_measurementlink_service`` 1.2
``session_management`` module: the same names, signatures, NamedTuple fields and behaviour, built
on NI's published protobuf packages. Code written against 1.2 runs unchanged.

Behaviour worth knowing (all as in 1.2 unless marked):

* ``timeout`` is in seconds. ``None`` sends 0 (the service does not wait); 0 fails at once when a
  session is held elsewhere; a negative value waits forever (sent as -1); a positive value waits
  that long (sent as milliseconds, rounded). Exact rule in ``ni_measurementlink_service._timeout``.
* Errors from the service reach the caller unchanged as :class:`grpc.RpcError` carrying the
  service's status code and message.
* A reservation keeps the protobuf ``SessionInformation`` messages exactly as the service sent
  them and sends those back on unreserve. ``register_sessions``/``unregister_sessions`` send the
  received message too when the given :class:`SessionInformation` still matches it, so
  annotations and multiplexer fields survive the round trip. (1.2 rebuilt the message from the
  NamedTuple and dropped them.)
* ``pin_or_relay_names`` given as a single ``str`` is one name. (1.2 split it into characters.)
* Leases (additive; pinbroker only). Against a pinbroker server the client takes one lease per
  channel on its first reserve and keeps it alive in the background
  (``pinbroker.client._lease``); every reserve is bound to it and carries a request id, so a
  reservation whose holder process died is released after the lease's TTL, and a reserve whose
  reply was lost to a broken connection is retried safely (rule in
  ``pinbroker.client._lease_calls``). :attr:`SessionManagementClient.lease` tells whether the
  lease is still held; releasing a reservation whose lease was lost raises
  ``pinbroker.client.LeaseLostError``. Against NI's own server (no lease service) the requests
  are exactly 1.2's: no metadata, no retry, no thread.
"""

from __future__ import annotations

import abc
import warnings
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

import grpc
import ni.measurementlink.pin_map_context_pb2 as _pin_map_context_pb2
import ni.measurementlink.sessionmanagement.v1.session_management_service_pb2 as _sm_pb2
import ni.measurementlink.sessionmanagement.v1.session_management_service_pb2_grpc as _sm_grpc
import session_pb2 as _session_pb2

from ni_measurementlink_service._received import RecentMessages as _RecentMessages
from ni_measurementlink_service._timeout import (
    ni_timeout_to_milliseconds as _ni_timeout_to_milliseconds,
)

if TYPE_CHECKING:
    from pinbroker.client._lease import LeaseKeeper

__all__ = [
    "GRPC_SERVICE_CLASS",
    "GRPC_SERVICE_INTERFACE_NAME",
    "INSTRUMENT_TYPE_NI_DAQMX",
    "INSTRUMENT_TYPE_NI_DCPOWER",
    "INSTRUMENT_TYPE_NI_DIGITAL_PATTERN",
    "INSTRUMENT_TYPE_NI_DMM",
    "INSTRUMENT_TYPE_NI_FGEN",
    "INSTRUMENT_TYPE_NI_HSDIO",
    "INSTRUMENT_TYPE_NI_MODEL_BASED_INSTRUMENT",
    "INSTRUMENT_TYPE_NI_RELAY_DRIVER",
    "INSTRUMENT_TYPE_NI_RFMX",
    "INSTRUMENT_TYPE_NI_RFPM",
    "INSTRUMENT_TYPE_NI_RFSA",
    "INSTRUMENT_TYPE_NI_RFSG",
    "INSTRUMENT_TYPE_NI_SCOPE",
    "INSTRUMENT_TYPE_NI_SWITCH_EXECUTIVE_VIRTUAL_DEVICE",
    "INSTRUMENT_TYPE_NONE",
    "BaseReservation",
    "ChannelMapping",
    "Client",
    "MultiSessionReservation",
    "PinMapContext",
    "SessionInformation",
    "SessionManagementClient",
    "SingleSessionReservation",
]

GRPC_SERVICE_INTERFACE_NAME = "ni.measurementlink.sessionmanagement.v1.SessionManagementService"
GRPC_SERVICE_CLASS = "ni.measurementlink.sessionmanagement.v1.SessionManagementService"

# Instrument type ids accepted by ``instrument_type_id`` parameters. Plain ``str`` values, as in
# 1.2 (pinbroker.types holds the same values as NewTypes for pinbroker's own code).
INSTRUMENT_TYPE_NONE = ""
INSTRUMENT_TYPE_NI_DCPOWER = "niDCPower"
INSTRUMENT_TYPE_NI_HSDIO = "niHSDIO"
INSTRUMENT_TYPE_NI_RFSA = "niRFSA"
INSTRUMENT_TYPE_NI_RFMX = "niRFmx"
INSTRUMENT_TYPE_NI_RFSG = "niRFSG"
INSTRUMENT_TYPE_NI_RFPM = "niRFPM"
INSTRUMENT_TYPE_NI_DMM = "niDMM"
INSTRUMENT_TYPE_NI_DIGITAL_PATTERN = "niDigitalPattern"
INSTRUMENT_TYPE_NI_SCOPE = "niScope"
INSTRUMENT_TYPE_NI_FGEN = "niFGen"
INSTRUMENT_TYPE_NI_DAQMX = "niDAQmx"
INSTRUMENT_TYPE_NI_RELAY_DRIVER = "niRelayDriver"
INSTRUMENT_TYPE_NI_MODEL_BASED_INSTRUMENT = "niModelBasedInstrument"
INSTRUMENT_TYPE_NI_SWITCH_EXECUTIVE_VIRTUAL_DEVICE = "niSwitchExecutiveVirtualDevice"


class PinMapContext(NamedTuple):
    """The pin map and the sites a call applies to.

    Attributes:
        pin_map_id: Id of the pin map resource in the Pin Map Service to use for the call.
        sites: Site numbers the call applies to; None or an empty list means every site of the
            pin map.
    """

    pin_map_id: str
    sites: list[int] | None  # documented as Optional[List[int]]: the same type


class ChannelMapping(NamedTuple):
    """Which pin or relay on which site one channel of a session is wired to.

    Attributes:
        pin_or_relay_name: The pin or relay wired to the channel.
        site: The site of that pin or relay; -1 for system pins and relays, which belong to no
            site.
        channel: The instrument channel the pin or relay is wired to on that site.
    """

    pin_or_relay_name: str
    site: int
    channel: str


class SessionInformation(NamedTuple):
    """What a measurement needs to open or reuse one instrument session.

    Attributes:
        session_name: Name of the session in the session management service and in driver
            services such as NI gRPC Device Server.
        resource_name: Resource name to open the session with in the driver.
        channel_list: Channel list for driver initialization and measurement calls; empty for
            sessions returned by ``reserve_all_registered_sessions``.
        instrument_type_id: Which kind of instrument the session is for, e.g.
            ``INSTRUMENT_TYPE_NI_DCPOWER``, or the instrument type id a pin map gives a custom
            instrument.
        session_exists: Whether the session is registered with the session management service,
            i.e. someone has already opened it.
        channel_mappings: For each channel of ``channel_list``, in that order, the pin or relay
            and site wired to it; empty for sessions returned by
            ``reserve_all_registered_sessions``.
    """

    session_name: str
    resource_name: str
    channel_list: str
    instrument_type_id: str
    session_exists: bool
    channel_mappings: Iterable[ChannelMapping]


def _channel_mapping_from_grpc(mapping: _sm_pb2.ChannelMapping) -> ChannelMapping:
    return ChannelMapping(
        pin_or_relay_name=mapping.pin_or_relay_name, site=mapping.site, channel=mapping.channel
    )


def _session_info_from_grpc(info: _sm_pb2.SessionInformation) -> SessionInformation:
    return SessionInformation(
        session_name=info.session.name,
        resource_name=info.resource_name,
        channel_list=info.channel_list,
        instrument_type_id=info.instrument_type_id,
        session_exists=info.session_exists,
        channel_mappings=[_channel_mapping_from_grpc(m) for m in info.channel_mappings],
    )


def _session_info_to_grpc(info: SessionInformation) -> _sm_pb2.SessionInformation:
    return _sm_pb2.SessionInformation(
        session=_session_pb2.Session(name=info.session_name),
        resource_name=info.resource_name,
        channel_list=info.channel_list,
        instrument_type_id=info.instrument_type_id,
        session_exists=info.session_exists,
        channel_mappings=[
            _sm_pb2.ChannelMapping(
                pin_or_relay_name=m.pin_or_relay_name, site=m.site, channel=m.channel
            )
            for m in info.channel_mappings
        ],
    )


def _hashable(info: SessionInformation) -> SessionInformation:
    return info._replace(channel_mappings=tuple(info.channel_mappings))


_TReservation = TypeVar("_TReservation", bound="BaseReservation")
_TResponse = TypeVar("_TResponse")


class BaseReservation(abc.ABC):  # noqa: B024 - documented base is abc.ABC, no abstract methods
    """Manages session reservation.

    Use it as a context manager: leaving the ``with`` block unreserves the sessions, also when
    the block raises (the exception is not suppressed).

    Args:
        session_manager: The client that reserved the sessions.
        session_info: The session messages exactly as the service returned them; they are sent
            back unchanged by :meth:`unreserve`.
    """

    def __init__(
        self,
        session_manager: SessionManagementClient,
        session_info: Sequence[_sm_pb2.SessionInformation],
    ) -> None:
        self._session_manager = session_manager
        self._grpc_session_info: tuple[_sm_pb2.SessionInformation, ...] = tuple(session_info)

    def __enter__(self: _TReservation) -> _TReservation:
        """Context management protocol. Returns self."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        """Context management protocol. Calls unreserve(); never suppresses an exception.

        Raises:
            pinbroker.client.LeaseLostError: As :meth:`unreserve`.
        """
        self.unreserve()
        return False

    def unreserve(self) -> None:
        """Unreserve sessions.

        Raises:
            grpc.RpcError: If the service reports an error (NI documents RESOURCE_EXHAUSTED).
            pinbroker.client.LeaseLostError: (pinbroker only) If the sessions were reserved under
                a lease that was lost since (expired or revoked): the server had released them
                already and may have granted them to someone else. The unreserve is sent first
                (the server ignores it).
        """
        self._session_manager._unreserve_sessions(self._grpc_session_info)
        self._session_manager._check_leases(self._grpc_session_info)


# In 1.2 ``session_info`` is a ``functools.cached_property`` on both reservation classes; the
# generated API reference lists it as ``.. py:method:: session_info()`` only because the doc tool
# renders cached properties as methods. Code written for 1.2 reads ``reservation.session_info``
# without calling it, so it is a cached property here too.


class SingleSessionReservation(BaseReservation):
    """Manages reservation for a single session."""

    @cached_property
    def session_info(self) -> SessionInformation:
        """Single session information object."""
        if len(self._grpc_session_info) != 1:
            raise ValueError(
                "Expected single session, got "
                f"{len(self._grpc_session_info)} sessions in a SingleSessionReservation."
            )
        return _session_info_from_grpc(self._grpc_session_info[0])


class MultiSessionReservation(BaseReservation):
    """Manages reservation for multiple sessions."""

    @cached_property
    def session_info(self) -> list[SessionInformation]:
        """Multiple session information objects, in the order the service returned them."""
        return [_session_info_from_grpc(info) for info in self._grpc_session_info]


def __getattr__(name: str) -> type[MultiSessionReservation]:
    """Resolve the pre-1.1 name ``Reservation`` (deprecated) to MultiSessionReservation.

    Raises:
        AttributeError: For any other unknown name.
    """
    if name == "Reservation":
        warnings.warn(
            "Reservation is deprecated as of 1.1.0. Use MultiSessionReservation instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return MultiSessionReservation
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _names_to_list(pin_or_relay_names: Iterable[str] | None) -> list[str]:
    if pin_or_relay_names is None:
        return []
    if isinstance(pin_or_relay_names, str):
        return [pin_or_relay_names]
    return list(pin_or_relay_names)


class SessionManagementClient:
    """Class that manages driver sessions.

    Args:
        grpc_channel: Channel to the session management service (pinbroker or NI's).
    """

    def __init__(self, *, grpc_channel: grpc.Channel) -> None:
        self._channel = grpc_channel
        self._stub = _sm_grpc.SessionManagementServiceStub(grpc_channel)
        # Received session messages by the SessionInformation they show, to send back unchanged.
        self._received: _RecentMessages[SessionInformation, _sm_pb2.SessionInformation] = (
            _RecentMessages()
        )
        # Annotations attached to every reservation this client makes. 1.2 sent none; pinbroker's
        # own client (pinbroker.client) may set them.
        self._reservation_annotations: dict[str, str] = {}

    def reserve_session(
        self,
        context: PinMapContext,
        pin_or_relay_names: Iterable[str] | None = None,
        instrument_type_id: str | None = None,
        timeout: float | None = None,
    ) -> SingleSessionReservation:
        """Reserve a single session.

        Reserves the one session that serves the given pins or relays on the context's sites,
        optionally only of one instrument type, and returns what is needed to open or reuse it.

        Args:
            context: The pin map id (a pin map registered with the Pin Map Service) and the sites
                of the measurement.
            pin_or_relay_names: Pins, pin groups, relays or relay groups to reserve for; None
                means every pin and relay of the pin map.
            instrument_type_id: Only reserve sessions of this instrument type, e.g.
                ``INSTRUMENT_TYPE_NI_DCPOWER`` or a custom instrument type id from the pin map;
                None means every instrument type.
            timeout: Seconds to wait for the session: 0 fails at once if it is held elsewhere,
                -1 (any negative value) waits forever, a positive value waits that long. None
                sends 0.

        Returns:
            A context manager whose exit unreserves the session.

        Raises:
            ValueError: If the service reserved no session, or more than one; in the latter case
                they are unreserved before raising.
            grpc.RpcError: If the service reports an error, e.g. UNAVAILABLE when the session was
                not free in time, INVALID_ARGUMENT for an unknown pin or site, NOT_FOUND for an
                unknown pin map id.
        """
        response = self._reserve_sessions(context, pin_or_relay_names, instrument_type_id, timeout)
        self._require_single_session(response.sessions)
        return SingleSessionReservation(session_manager=self, session_info=response.sessions)

    def reserve_sessions(
        self,
        context: PinMapContext,
        pin_or_relay_names: Iterable[str] | None = None,
        instrument_type_id: str | None = None,
        timeout: float | None = None,
    ) -> MultiSessionReservation:
        """Reserve multiple sessions.

        Reserves every session that serves the given pins or relays on the context's sites,
        optionally only of one instrument type, and returns what is needed to open or reuse them.

        Args:
            context: The pin map id (a pin map registered with the Pin Map Service) and the sites
                of the measurement.
            pin_or_relay_names: Pins, pin groups, relays or relay groups to reserve for; None
                means every pin and relay of the pin map.
            instrument_type_id: Only reserve sessions of this instrument type, e.g.
                ``INSTRUMENT_TYPE_NI_DCPOWER`` or a custom instrument type id from the pin map;
                None means every instrument type.
            timeout: Seconds to wait for the sessions: 0 fails at once if one is held elsewhere,
                -1 (any negative value) waits forever, a positive value waits that long. None
                sends 0.

        Returns:
            A context manager whose exit unreserves the sessions (possibly none).

        Raises:
            grpc.RpcError: If the service reports an error, e.g. UNAVAILABLE when the sessions
                were not free in time, INVALID_ARGUMENT for an unknown pin or site, NOT_FOUND for
                an unknown pin map id.
        """
        response = self._reserve_sessions(context, pin_or_relay_names, instrument_type_id, timeout)
        return MultiSessionReservation(session_manager=self, session_info=response.sessions)

    def register_sessions(self, session_info: Iterable[SessionInformation]) -> None:
        """Register the sessions with the Session Manager.

        Tells the service that the sessions are open and will have to be closed later.

        Args:
            session_info: The sessions to register.

        Raises:
            grpc.RpcError: If the service reports an error, e.g. ALREADY_EXISTS when a session of
                the same name is already registered, INVALID_ARGUMENT for an empty session name.
        """
        request = _sm_pb2.RegisterSessionsRequest(
            sessions=[self._to_grpc(info) for info in session_info]
        )
        self._stub.RegisterSessions(request)

    def unregister_sessions(self, session_info: Iterable[SessionInformation]) -> None:
        """Unregisters the sessions from the Session Manager.

        Tells the service that the sessions have been closed and have to be opened again before
        they are used.

        Args:
            session_info: The sessions to unregister.

        Raises:
            grpc.RpcError: If the service reports an error.
        """
        request = _sm_pb2.UnregisterSessionsRequest(
            sessions=[self._to_grpc(info) for info in session_info]
        )
        self._stub.UnregisterSessions(request)

    def reserve_all_registered_sessions(
        self, instrument_type_id: str | None = None, timeout: float | None = None
    ) -> MultiSessionReservation:
        """Reserves and gets all sessions currently registered in the Session Manager.

        The returned sessions have an empty ``channel_list`` and no ``channel_mappings``. Cleanup
        code uses this to find and close every open session.

        Args:
            instrument_type_id: Only reserve registered sessions of this instrument type; None
                means every instrument type.
            timeout: Seconds to wait for the sessions: 0 fails at once if one is held elsewhere,
                -1 (any negative value) waits forever, a positive value waits that long. None
                sends 0.

        Returns:
            A context manager whose exit unreserves the sessions.

        Raises:
            grpc.RpcError: If the service reports an error, e.g. UNAVAILABLE when the sessions
                were not free in time.
        """
        response = self._reserve_all_registered_sessions(instrument_type_id, timeout)
        return MultiSessionReservation(session_manager=self, session_info=response.sessions)

    @property
    def lease(self) -> LeaseKeeper | None:
        """The lease this client's reservations are bound to (pinbroker only; not in 1.2).

        The channel's :class:`pinbroker.client.LeaseKeeper` (shared by every client on the
        channel): ``lease.lost`` / ``lease.lost_reason`` / ``lease.check()`` tell whether the
        lease still holds. None before the first reserve and against a server without
        pinbroker's lease service (NI's).
        """
        from pinbroker.client._lease_registry import (
            existing_lease_keeper,  # see _reserve_under_lease
        )

        keeper = existing_lease_keeper(self._channel)
        if keeper is None or not keeper.has_lease_service:
            return None
        return keeper

    # -- shared with pinbroker.client.PinbrokerSessionClient ------------------------------------

    def _reserve_under_lease(
        self, method: Callable[..., _TResponse], request: Any, timeout: float | None
    ) -> _TResponse:
        # Imported here: pinbroker.client imports this module, so a module-level import would
        # be circular.
        from pinbroker.client._lease_calls import reserve_under_lease

        return reserve_under_lease(self._channel, method, request, timeout)

    def _check_leases(self, session_info: Iterable[_sm_pb2.SessionInformation]) -> None:
        from pinbroker.client._lease_calls import check_leases_of  # see _reserve_under_lease

        check_leases_of(self._channel, session_info)

    def _reserve_sessions(
        self,
        context: PinMapContext,
        pin_or_relay_names: Iterable[str] | None,
        instrument_type_id: str | None,
        timeout: float | None,
    ) -> _sm_pb2.ReserveSessionsResponse:
        request = _sm_pb2.ReserveSessionsRequest(
            pin_map_context=_pin_map_context_pb2.PinMapContext(
                pin_map_id=context.pin_map_id, sites=context.sites
            ),
            pin_or_relay_names=_names_to_list(pin_or_relay_names),
            timeout_in_milliseconds=_ni_timeout_to_milliseconds(timeout),
            annotations=self._reservation_annotations,
        )
        if instrument_type_id is not None:
            request.instrument_type_id = instrument_type_id
        response: _sm_pb2.ReserveSessionsResponse = self._reserve_under_lease(
            self._stub.ReserveSessions, request, timeout
        )
        self._remember(response.sessions)
        return response

    def _reserve_all_registered_sessions(
        self, instrument_type_id: str | None, timeout: float | None
    ) -> _sm_pb2.ReserveAllRegisteredSessionsResponse:
        request = _sm_pb2.ReserveAllRegisteredSessionsRequest(
            timeout_in_milliseconds=_ni_timeout_to_milliseconds(timeout),
            annotations=self._reservation_annotations,
        )
        if instrument_type_id is not None:
            request.instrument_type_id = instrument_type_id
        response: _sm_pb2.ReserveAllRegisteredSessionsResponse = self._reserve_under_lease(
            self._stub.ReserveAllRegisteredSessions, request, timeout
        )
        self._remember(response.sessions)
        return response

    def _require_single_session(self, sessions: Sequence[_sm_pb2.SessionInformation]) -> None:
        if not sessions:
            raise ValueError("No sessions reserved. Expected single session, got 0 sessions.")
        if len(sessions) > 1:
            message = (
                "Too many sessions reserved. Expected single session, got "
                f"{len(sessions)} sessions."
            )
            try:
                self._unreserve_sessions(sessions)
            except grpc.RpcError as error:
                raise ValueError(message) from error
            raise ValueError(message)

    def _remember(self, messages: Iterable[_sm_pb2.SessionInformation]) -> None:
        self._received.put_all((_hashable(_session_info_from_grpc(m)), m) for m in messages)

    def _to_grpc(self, info: SessionInformation) -> _sm_pb2.SessionInformation:
        """The received message ``info`` was made from (a copy), else one built from ``info``."""
        info = _hashable(info)
        received = self._received.get(info)
        if received is None:
            return _session_info_to_grpc(info)
        message = _sm_pb2.SessionInformation()
        message.CopyFrom(received)
        return message

    def _unreserve_sessions(self, session_info: Iterable[_sm_pb2.SessionInformation]) -> None:
        """Unreserves sessions so other clients can reserve them."""
        self._stub.UnreserveSessions(_sm_pb2.UnreserveSessionsRequest(sessions=session_info))


Client = SessionManagementClient
"""Alias for compatibility with code that uses session_management.Client."""
