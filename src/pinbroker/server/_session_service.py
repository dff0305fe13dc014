"""Session Management Service servicer: thin, over the session manager."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import TypeVar

import grpc
import grpc.aio
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2 as pb
from ni.measurementlink.sessionmanagement.v1 import (
    session_management_service_pb2_grpc as pb_grpc,
)

from pinbroker.broker import PreparedReservation, ReserveResult, SessionManager
from pinbroker.broker._ownership import token_of, without_own_keys
from pinbroker.errors import InvalidArgumentError
from pinbroker.reservation import ClientIdentity, LeaseId, LeaseTableLike, timeout_from_milliseconds
from pinbroker.server._async_reserve import reserve_on_loop
from pinbroker.server._convert_sessions import (
    multiplexer_record_from_pb,
    multiplexer_view_to_pb,
    reserve_result_to_pb,
    session_names_of,
    session_record_from_pb,
    session_view_to_pb,
)

__all__ = ["SessionManagementServicer"]


LEASE_ID_METADATA = "pinbroker-lease-id"
REQUEST_ID_METADATA = "pinbroker-request-id"


def _owner(context: grpc.aio.ServicerContext[object, object], annotations: dict[str, str]) -> str:
    """Who asks: the peer address, plus the host/user the client annotated, if any."""
    who = [
        annotations[key]
        for key in ("ni/reserved.username", "ni/reserved.hostname")
        if annotations.get(key)
    ]
    return f"{context.peer()} ({'@'.join(who)})" if who else context.peer()


_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Caller:
    """What a reserve call says about its caller."""

    owner: str
    annotations: dict[str, str]
    lease_id: int | None
    request_id: str | None
    client: ClientIdentity


def _caller(
    context: grpc.aio.ServicerContext[object, object],
    raw_annotations: Mapping[str, str],
    leases: LeaseTableLike | None,
) -> _Caller:
    annotations = without_own_keys(raw_annotations)
    metadata = {key: str(value) for key, value in (context.invocation_metadata() or ())}
    lease_id: int | None = None
    raw_lease = metadata.get(LEASE_ID_METADATA)
    if raw_lease is not None:
        try:
            lease_id = int(raw_lease)
        except ValueError:
            raise InvalidArgumentError(
                f"the {LEASE_ID_METADATA} metadata must be a lease id, not {raw_lease!r}"
            ) from None
    lease = None if lease_id is None or leases is None else leases.get(LeaseId(lease_id))
    if lease is not None:
        client = replace(lease.identity, peer=context.peer())
    else:
        client = ClientIdentity(
            hostname=annotations.get("ni/reserved.hostname", ""),
            username=annotations.get("ni/reserved.username", ""),
            peer=context.peer(),
        )
    return _Caller(
        owner=_owner(context, annotations),
        annotations=annotations,
        lease_id=lease_id,
        request_id=metadata.get(REQUEST_ID_METADATA) or None,
        client=client,
    )


class SessionManagementServicer(pb_grpc.SessionManagementServiceServicer):
    """Implements ``ni.measurementlink.sessionmanagement.v1.SessionManagementService``.

    The two reserve methods and UnreserveSessions are coroutines: a request that waits holds
    no thread. With ``finish_on_loop`` (a table whose only I/O is its journal, see
    :func:`~pinbroker.server._async_reserve.reserve_on_loop`) they take the table's outcome and
    release on the loop's thread; otherwise on the executor. The other methods are plain
    functions run on the server's thread pool.
    """

    def __init__(
        self,
        sessions: SessionManager,
        executor: Executor,
        leases: LeaseTableLike | None = None,
        *,
        finish_on_loop: bool = False,
    ) -> None:
        self._sessions = sessions
        self._executor = executor
        self._leases = leases
        self._finish_on_loop = finish_on_loop

    async def ReserveSessions(
        self, request: pb.ReserveSessionsRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> pb.ReserveSessionsResponse:
        """Resolve pins x sites x type into sessions and reserve them."""
        timeout = timeout_from_milliseconds(request.timeout_in_milliseconds)
        if not request.HasField("pin_map_context"):
            raise InvalidArgumentError(
                "pin_map_context is required: pinbroker has no session-management plug-ins "
                "that reserve I/O resources without a pin map"
            )

        def prepare() -> tuple[_Caller, PreparedReservation[ReserveResult]]:
            caller = _caller(context, request.annotations, self._leases)
            return caller, self._sessions.prepare_reserve_sessions(
                pin_map_id=request.pin_map_context.pin_map_id,
                sites=list(request.pin_map_context.sites),
                names=list(request.pin_or_relay_names),
                instrument_type_id=request.instrument_type_id,
            )

        caller, prepared = await self._off_loop(prepare)
        reservation = await reserve_on_loop(
            self._sessions,
            self._executor,
            prepared.session_names,
            timeout=timeout,
            owner=caller.owner,
            annotations=caller.annotations,
            lease_id=caller.lease_id,
            client=caller.client,
            request_id=caller.request_id,
            finish_on_loop=self._finish_on_loop,
        )
        return reserve_result_to_pb(await self._off_loop(prepared.build, reservation))

    async def _off_loop(self, work: Callable[..., _T], *args: object) -> _T:
        """Run ``work`` on the loop, or on the executor for a table on a shared database.

        The database's reads must not stall the loop's other calls; the in-memory table's
        work is cheaper than a thread hand-off.
        """
        if self._finish_on_loop:
            return work(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(work, *args))

    async def UnreserveSessions(
        self,
        request: pb.UnreserveSessionsRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> pb.UnreserveSessionsResponse:
        """Release the sessions, keyed by session name."""
        owned = [
            (s.session.name, token_of(s.session.name, s.annotations)) for s in request.sessions
        ]
        # On a worker the release runs to its end even if the caller goes away meanwhile.
        await self._off_loop(self._sessions.unreserve_owned, owned)
        return pb.UnreserveSessionsResponse()

    def RegisterSessions(
        self, request: pb.RegisterSessionsRequest, context: grpc.ServicerContext
    ) -> pb.RegisterSessionsResponse:
        """Record sessions as open."""
        self._sessions.register_sessions([session_record_from_pb(s) for s in request.sessions])
        return pb.RegisterSessionsResponse()

    def UnregisterSessions(
        self, request: pb.UnregisterSessionsRequest, context: grpc.ServicerContext
    ) -> pb.UnregisterSessionsResponse:
        """Forget registered sessions."""
        self._sessions.unregister_sessions(session_names_of(request.sessions))
        return pb.UnregisterSessionsResponse()

    async def ReserveAllRegisteredSessions(
        self,
        request: pb.ReserveAllRegisteredSessionsRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> pb.ReserveAllRegisteredSessionsResponse:
        """Reserve every registered session (optionally of one type)."""
        timeout = timeout_from_milliseconds(request.timeout_in_milliseconds)
        caller = await self._off_loop(_caller, context, request.annotations, self._leases)
        prepared = await self._off_loop(
            self._sessions.prepare_reserve_all_registered_sessions, request.instrument_type_id
        )
        reservation = await reserve_on_loop(
            self._sessions,
            self._executor,
            prepared.session_names,
            timeout=timeout,
            owner=caller.owner,
            annotations=caller.annotations,
            lease_id=caller.lease_id,
            client=caller.client,
            request_id=caller.request_id,
            finish_on_loop=self._finish_on_loop,
        )
        return pb.ReserveAllRegisteredSessionsResponse(
            sessions=[
                session_view_to_pb(v) for v in await self._off_loop(prepared.build, reservation)
            ]
        )

    def RegisterMultiplexerSessions(
        self, request: pb.RegisterMultiplexerSessionsRequest, context: grpc.ServicerContext
    ) -> pb.RegisterMultiplexerSessionsResponse:
        """Record multiplexer sessions as open."""
        self._sessions.register_multiplexer_sessions(
            [multiplexer_record_from_pb(m) for m in request.multiplexer_sessions]
        )
        return pb.RegisterMultiplexerSessionsResponse()

    def UnregisterMultiplexerSessions(
        self, request: pb.UnregisterMultiplexerSessionsRequest, context: grpc.ServicerContext
    ) -> pb.UnregisterMultiplexerSessionsResponse:
        """Forget registered multiplexer sessions."""
        self._sessions.unregister_multiplexer_sessions(
            session_names_of(request.multiplexer_sessions)
        )
        return pb.UnregisterMultiplexerSessionsResponse()

    def GetMultiplexerSessions(
        self, request: pb.GetMultiplexerSessionsRequest, context: grpc.ServicerContext
    ) -> pb.GetMultiplexerSessionsResponse:
        """Multiplexers connected in the pin map for the context's sites."""
        views = self._sessions.get_multiplexer_sessions(
            pin_map_id=request.pin_map_context.pin_map_id,
            sites=list(request.pin_map_context.sites),
            multiplexer_type_id=request.multiplexer_type_id,
        )
        return pb.GetMultiplexerSessionsResponse(
            multiplexer_sessions=[multiplexer_view_to_pb(v) for v in views]
        )

    def GetAllRegisteredMultiplexerSessions(
        self,
        request: pb.GetAllRegisteredMultiplexerSessionsRequest,
        context: grpc.ServicerContext,
    ) -> pb.GetAllRegisteredMultiplexerSessionsResponse:
        """Every registered multiplexer session, optionally of one type."""
        views = self._sessions.get_all_registered_multiplexer_sessions(request.multiplexer_type_id)
        return pb.GetAllRegisteredMultiplexerSessionsResponse(
            multiplexer_sessions=[multiplexer_view_to_pb(v) for v in views]
        )

    def GetSessions(
        self, request: pb.GetSessionsRequest, context: grpc.ServicerContext
    ) -> pb.GetSessionsResponse:
        """Every reserved or registered session (and registered multiplexer sessions)."""
        sessions, multiplexers = self._sessions.get_sessions(
            instrument_type_id=request.instrument_type_id,
            multiplexer_type_id=request.multiplexer_type_id,
        )
        return pb.GetSessionsResponse(
            sessions=[session_view_to_pb(s) for s in sessions],
            multiplexer_sessions=[multiplexer_view_to_pb(m) for m in multiplexers],
        )
