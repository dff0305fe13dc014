"""Error messages stay small however many sessions stand in a request's way (real server)."""

from __future__ import annotations

import grpc
import pytest
import session_pb2
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2 as sm
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2_grpc as sm_grpc

SESSIONS = 300


def test_timeout_behind_300_held_sessions_is_unavailable_with_a_short_message(
    grpc_channel: grpc.Channel,
) -> None:
    stub = sm_grpc.SessionManagementServiceStub(grpc_channel)
    names = [f"instrument-session-with-a-fairly-long-name-{i:04}" for i in range(SESSIONS)]
    stub.RegisterSessions(
        sm.RegisterSessionsRequest(
            sessions=[
                sm.SessionInformation(session=session_pb2.Session(name=name), resource_name=name)
                for name in names
            ]
        )
    )
    held = stub.ReserveAllRegisteredSessions(
        sm.ReserveAllRegisteredSessionsRequest(timeout_in_milliseconds=0)
    )
    assert len(held.sessions) == SESSIONS

    with pytest.raises(grpc.RpcError) as info:
        stub.ReserveAllRegisteredSessions(
            sm.ReserveAllRegisteredSessionsRequest(timeout_in_milliseconds=0)
        )

    error = info.value
    assert error.code() is grpc.StatusCode.UNAVAILABLE  # not RESOURCE_EXHAUSTED
    message = error.details() or ""
    assert len(message.encode()) < 2048
    assert f"'{names[0]}' is held by" in message
    assert message.endswith(f"... and {SESSIONS - 10} more")
