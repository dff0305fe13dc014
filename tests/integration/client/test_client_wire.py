"""What the clients put on the wire, observed by a recording fake service on a real gRPC server.

The real pinbroker server cannot show the exact bytes a client sends; this fake can. It answers
with canned responses and records every request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import ni.measurementlink.pinmap.v1.pin_map_service_pb2 as pm_pb2
import ni.measurementlink.pinmap.v1.pin_map_service_pb2_grpc as pm_grpc
import ni.measurementlink.sessionmanagement.v1.session_management_service_pb2 as sm_pb2
import ni.measurementlink.sessionmanagement.v1.session_management_service_pb2_grpc as sm_grpc
import pytest
import session_pb2
from google.protobuf.message import Message

from ni_measurementlink_service.session_management import (
    PinMapContext,
    SessionManagementClient,
)
from pinbroker.client import PinbrokerSessionClient, PinMapClient


class Recorder(sm_grpc.SessionManagementServiceServicer, pm_grpc.PinMapServiceServicer):
    """Records requests; answers with ``responses[method]`` (a message or a callable)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Message]] = []
        self.responses: dict[str, Any] = {}

    def _answer(
        self, method: str, request: Message, context: grpc.ServicerContext, empty: Message
    ) -> Any:
        self.requests.append((method, request))
        response = self.responses.get(method, empty)
        if callable(response):
            return response(request, context)
        return response

    def of(self, method: str) -> list[Any]:
        return [r for m, r in self.requests if m == method]

    def ReserveSessions(self, request: Any, context: Any) -> Any:
        return self._answer("ReserveSessions", request, context, sm_pb2.ReserveSessionsResponse())

    def UnreserveSessions(self, request: Any, context: Any) -> Any:
        return self._answer(
            "UnreserveSessions", request, context, sm_pb2.UnreserveSessionsResponse()
        )

    def RegisterSessions(self, request: Any, context: Any) -> Any:
        return self._answer("RegisterSessions", request, context, sm_pb2.RegisterSessionsResponse())

    def UnregisterSessions(self, request: Any, context: Any) -> Any:
        return self._answer(
            "UnregisterSessions", request, context, sm_pb2.UnregisterSessionsResponse()
        )

    def ReserveAllRegisteredSessions(self, request: Any, context: Any) -> Any:
        return self._answer(
            "ReserveAllRegisteredSessions",
            request,
            context,
            sm_pb2.ReserveAllRegisteredSessionsResponse(),
        )

    def UpdatePinMapFromXml(self, request: Any, context: Any) -> Any:
        return self._answer(
            "UpdatePinMapFromXml", request, context, pm_pb2.PinMap(pin_map_id=request.pin_map_id)
        )


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, grpc.Channel]]:
    executor = futures.ThreadPoolExecutor(max_workers=2)
    server = grpc.server(executor)
    fake = Recorder()
    sm_grpc.add_SessionManagementServiceServicer_to_server(fake, server)
    pm_grpc.add_PinMapServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield fake, channel
    finally:
        channel.close()
        server.stop(None).wait()
        executor.shutdown(wait=True)


def _session(name: str, **kwargs: Any) -> sm_pb2.SessionInformation:
    return sm_pb2.SessionInformation(
        session=session_pb2.Session(name=name),
        resource_name=name,
        channel_list="DCPower1/0",
        instrument_type_id="niDCPower",
        session_reserved=True,
        channel_mappings=[
            sm_pb2.ChannelMapping(
                pin_or_relay_name="A",
                site=0,
                channel="DCPower1/0",
                multiplexer_resource_name="Mux1",
                multiplexer_route="C1->r0",
            )
        ],
        annotations={"ni/reserved.hostname": "bench", "custom": "kept"},
        **kwargs,
    )


def _bytes(message: Message) -> bytes:
    return message.SerializeToString(deterministic=True)


CONTEXT = PinMapContext(pin_map_id="pins.pinmap", sites=[1, 0])

ClientFactory = Callable[[grpc.Channel], SessionManagementClient]
BOTH_CLIENTS = pytest.mark.parametrize(
    "make_client",
    [
        pytest.param(lambda ch: SessionManagementClient(grpc_channel=ch), id="seed"),
        pytest.param(lambda ch: PinbrokerSessionClient(grpc_channel=ch), id="pinbroker"),
    ],
)


@BOTH_CLIENTS
def test_reserve_request_fields(
    recorder: tuple[Recorder, grpc.Channel], make_client: ClientFactory
) -> None:
    fake, channel = recorder
    client = make_client(channel)
    client.reserve_sessions(CONTEXT)
    client.reserve_sessions(CONTEXT, ["A", "G"], "niDCPower", timeout=2.5)
    client.reserve_sessions(PinMapContext("p", None), "A", timeout=-3)
    plain, full, single_name = fake.of("ReserveSessions")
    assert plain.pin_map_context.pin_map_id == "pins.pinmap"
    assert list(plain.pin_map_context.sites) == [1, 0]
    assert list(plain.pin_or_relay_names) == []
    assert plain.instrument_type_id == ""
    assert plain.timeout_in_milliseconds == 0
    assert dict(plain.annotations) == {}
    assert list(full.pin_or_relay_names) == ["A", "G"]
    assert full.instrument_type_id == "niDCPower"
    assert full.timeout_in_milliseconds == 2500
    assert list(single_name.pin_or_relay_names) == ["A"]
    assert list(single_name.pin_map_context.sites) == []
    assert single_name.timeout_in_milliseconds == -1


@BOTH_CLIENTS
def test_unreserve_and_register_send_what_was_received(
    recorder: tuple[Recorder, grpc.Channel], make_client: ClientFactory
) -> None:
    fake, channel = recorder
    received = [_session("S1"), _session("S2", session_exists=True)]
    fake.responses["ReserveSessions"] = sm_pb2.ReserveSessionsResponse(sessions=received)
    client = make_client(channel)
    with client.reserve_sessions(CONTEXT) as reservation:
        infos = reservation.session_info
        client.register_sessions(infos)
        client.unregister_sessions(infos)
        # A changed NamedTuple is not mistaken for the received message: built from its fields.
        changed = infos[0]._replace(channel_list="other")
        client.register_sessions([changed])
    (unreserve,) = fake.of("UnreserveSessions")
    assert [_bytes(s) for s in unreserve.sessions] == [_bytes(s) for s in received]
    register, changed_register = fake.of("RegisterSessions")
    assert [_bytes(s) for s in register.sessions] == [_bytes(s) for s in received]
    (unregister,) = fake.of("UnregisterSessions")
    assert [_bytes(s) for s in unregister.sessions] == [_bytes(s) for s in received]
    (rebuilt,) = changed_register.sessions
    assert rebuilt.channel_list == "other"
    assert rebuilt.session.name == "S1"
    assert dict(rebuilt.annotations) == {}
    assert rebuilt.channel_mappings[0].pin_or_relay_name == "A"
    assert rebuilt.channel_mappings[0].multiplexer_resource_name == ""


def test_hand_built_session_information_is_sent_field_by_field(
    recorder: tuple[Recorder, grpc.Channel],
) -> None:
    from ni_measurementlink_service.session_management import ChannelMapping, SessionInformation

    fake, channel = recorder
    client = SessionManagementClient(grpc_channel=channel)
    info = SessionInformation("S", "R", "0", "niDMM", True, [ChannelMapping("P", -1, "0")])
    client.register_sessions([info])
    (request,) = fake.of("RegisterSessions")
    assert request.sessions[0] == sm_pb2.SessionInformation(
        session=session_pb2.Session(name="S"),
        resource_name="R",
        channel_list="0",
        instrument_type_id="niDMM",
        session_exists=True,
        channel_mappings=[sm_pb2.ChannelMapping(pin_or_relay_name="P", site=-1, channel="0")],
    )


@BOTH_CLIENTS
def test_reserve_session_with_no_session(
    recorder: tuple[Recorder, grpc.Channel], make_client: ClientFactory
) -> None:
    fake, channel = recorder
    with pytest.raises(
        ValueError, match=r"^No sessions reserved\. Expected single session, got 0 sessions\.$"
    ):
        make_client(channel).reserve_session(CONTEXT)
    assert fake.of("UnreserveSessions") == []


@BOTH_CLIENTS
def test_reserve_session_with_two_sessions_unreserves_them_first(
    recorder: tuple[Recorder, grpc.Channel], make_client: ClientFactory
) -> None:
    fake, channel = recorder
    received = [_session("S1"), _session("S2")]
    fake.responses["ReserveSessions"] = sm_pb2.ReserveSessionsResponse(sessions=received)
    with pytest.raises(
        ValueError,
        match=r"^Too many sessions reserved\. Expected single session, got 2 sessions\.$",
    ):
        make_client(channel).reserve_session(CONTEXT)
    (unreserve,) = fake.of("UnreserveSessions")
    assert [_bytes(s) for s in unreserve.sessions] == [_bytes(s) for s in received]


@BOTH_CLIENTS
def test_reserve_session_with_one_session(
    recorder: tuple[Recorder, grpc.Channel], make_client: ClientFactory
) -> None:
    fake, channel = recorder
    fake.responses["ReserveSessions"] = sm_pb2.ReserveSessionsResponse(sessions=[_session("S1")])
    reservation = make_client(channel).reserve_session(CONTEXT)
    assert reservation.session_info.session_name == "S1"
    assert reservation.session_info.channel_mappings == [("A", 0, "DCPower1/0")]
    reservation.unreserve()
    assert len(fake.of("UnreserveSessions")) == 1


@BOTH_CLIENTS
def test_context_manager_unreserves_and_lets_the_exception_through(
    recorder: tuple[Recorder, grpc.Channel], make_client: ClientFactory
) -> None:
    fake, channel = recorder
    fake.responses["ReserveSessions"] = sm_pb2.ReserveSessionsResponse(sessions=[_session("S1")])
    with (
        pytest.raises(RuntimeError, match="measurement failed"),
        make_client(channel).reserve_sessions(CONTEXT),
    ):
        raise RuntimeError("measurement failed")
    assert len(fake.of("UnreserveSessions")) == 1


@BOTH_CLIENTS
def test_service_errors_reach_the_caller_unchanged(
    recorder: tuple[Recorder, grpc.Channel], make_client: ClientFactory
) -> None:
    fake, channel = recorder

    def busy(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNAVAILABLE, "session 'DMM1' is reserved")

    fake.responses["ReserveSessions"] = busy
    with pytest.raises(grpc.RpcError) as caught:
        make_client(channel).reserve_session(CONTEXT, timeout=0)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert caught.value.details() == "session 'DMM1' is reserved"  # type: ignore[attr-defined]


@BOTH_CLIENTS
def test_reserve_all_registered_request(
    recorder: tuple[Recorder, grpc.Channel], make_client: ClientFactory
) -> None:
    fake, channel = recorder
    fake.responses["ReserveAllRegisteredSessions"] = sm_pb2.ReserveAllRegisteredSessionsResponse(
        sessions=[_session("S1")]
    )
    client = make_client(channel)
    with client.reserve_all_registered_sessions() as everything:
        assert [i.session_name for i in everything.session_info] == ["S1"]
    client.reserve_all_registered_sessions("niDMM", timeout=-1)
    first, second = fake.of("ReserveAllRegisteredSessions")
    assert (first.instrument_type_id, first.timeout_in_milliseconds) == ("", 0)
    assert (second.instrument_type_id, second.timeout_in_milliseconds) == ("niDMM", -1)
    assert len(fake.of("UnreserveSessions")) == 1


def test_pinbroker_client_sends_its_annotations(recorder: tuple[Recorder, grpc.Channel]) -> None:
    fake, channel = recorder
    client = PinbrokerSessionClient(grpc_channel=channel, annotations={"team": "bench-3"})
    client.reserve_sessions(CONTEXT)
    client.reserve_all_registered_sessions()
    (reserve,) = fake.of("ReserveSessions")
    (reserve_all,) = fake.of("ReserveAllRegisteredSessions")
    assert dict(reserve.annotations) == {"team": "bench-3"}
    assert dict(reserve_all.annotations) == {"team": "bench-3"}


def test_pinbroker_client_registers_session_details_losslessly(
    recorder: tuple[Recorder, grpc.Channel],
) -> None:
    fake, channel = recorder
    received = _session("S1")
    fake.responses["ReserveSessions"] = sm_pb2.ReserveSessionsResponse(sessions=[received])
    client = PinbrokerSessionClient(grpc_channel=channel)
    reservation = client.reserve_sessions(CONTEXT)
    client.register_sessions(reservation.session_details)
    (register,) = fake.of("RegisterSessions")
    assert _bytes(register.sessions[0]) == _bytes(received)


def test_update_pin_map_uses_the_path_as_given_and_strips_the_bom(
    recorder: tuple[Recorder, grpc.Channel], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, channel = recorder
    monkeypatch.chdir(tmp_path)
    Path("bench.pinmap").write_text("\ufeff<PinMap/>", encoding="utf-8")
    assert PinMapClient(grpc_channel=channel).update_pin_map("bench.pinmap") == "bench.pinmap"
    (request,) = fake.of("UpdatePinMapFromXml")
    assert request.pin_map_id == "bench.pinmap"
    assert request.pin_map_xml == "<PinMap/>"
