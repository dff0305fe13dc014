"""Client leases against a real in-process pinbroker: binding, keep-alive, loss, retry, NI mode.

Both clients (the drop-in ``SessionManagementClient`` and ``pinbroker.client``) are exercised.
What the clients send is observed with a client-side interceptor on the channel (it records
each call's metadata and can fail chosen calls as a broken connection or an old server would).

Waiting: nothing sleeps. The keeper's own condition is waited on (``wait_renewals``,
``wait_lost``) with generous bounds: with a 1 s TTL a renewal is due every 1/3 s, so a bound of
30 s only matters when the behaviour is broken.

Pin map ``tests/data/client_two_site.pinmap`` (see ``test_client_seed_live.py``); ``VDD`` on
site 0 is one session (``DCPower1/0, DCPower1/1``).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import ni.measurementlink.pin_map_context_pb2 as pin_map_context_pb2
import ni.measurementlink.sessionmanagement.v1.session_management_service_pb2 as sm_pb2
import ni.measurementlink.sessionmanagement.v1.session_management_service_pb2_grpc as sm_grpc
import pytest

from ni_measurementlink_service.session_management import PinMapContext, SessionManagementClient
from pinbroker._proto.pinbroker.lease.v1 import lease_pb2, lease_pb2_grpc
from pinbroker.client import LeaseKeeper, LeaseLostError, PinbrokerSessionClient, PinMapClient
from pinbroker.client import connect as connect_clients
from pinbroker.client._lease_calls import MAX_TRIES, is_connection_failure
from pinbroker.server.app import RunningServer

ServerFactory = Callable[..., RunningServer]

PIN_MAP = Path(__file__).resolve().parents[2] / "data" / "client_two_site.pinmap"
SITE0_VDD = "niDCPower-DCPower1/0, DCPower1/1"
TTL = 1.0
WAIT = 30.0
"""Bound on waiting for an event that is due within a TTL (see the module docstring)."""

RESERVE = "/ni.measurementlink.sessionmanagement.v1.SessionManagementService/ReserveSessions"
GRANT = "/pinbroker.lease.v1.LeaseService/GrantLease"
KEEP_ALIVE = "/pinbroker.lease.v1.LeaseService/KeepAlive"
PINBROKER_KEYS = ("pinbroker-lease-id", "pinbroker-request-id")


# -- an interceptor that records calls and can fail them -------------------------------------


class FakeRpcError(grpc.RpcError, grpc.Call):
    """What grpc raises for a failed call: an RpcError that is also a Call."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def initial_metadata(self) -> tuple[()]:
        return ()

    def trailing_metadata(self) -> tuple[()]:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float:
        return 0.0

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False


Hook = Callable[[Callable[[], Any], int], Any]
"""(send the call, how many times this method was called before) -> outcome or raise."""


@dataclass
class Wiretap(grpc.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    """Records (method, metadata) of every call; ``hooks[method]`` may replace its outcome."""

    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    hooks: dict[str, Hook] = field(default_factory=dict)
    responses: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        metadata = {k: str(v) for k, v in (details.metadata or ())}
        with self.lock:
            earlier = sum(1 for m, _ in self.calls if m == details.method)
            self.calls.append((details.method, metadata))
        hook = self.hooks.get(details.method)
        if hook is None:
            return continuation(details, request)
        return hook(lambda: continuation(details, request), earlier)

    def of(self, method: str) -> list[dict[str, str]]:
        with self.lock:
            return [m for name, m in self.calls if name == method]


def unimplemented(send: Callable[[], Any], earlier: int) -> Any:
    """Answer like a server without the method (NI's has no pinbroker.lease.v1)."""
    raise FakeRpcError(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")


@dataclass
class Tapped:
    server: RunningServer
    channel: grpc.Channel
    tap: Wiretap
    pin_map_id: str


@pytest.fixture
def start_tapped(start_pinbroker: ServerFactory) -> Iterator[Callable[..., Tapped]]:
    """Start a server (``lease_ttl`` etc. as given) and open an intercepted channel to it."""
    opened: list[grpc.Channel] = []

    def start(**overrides: object) -> Tapped:
        server = start_pinbroker(**overrides)
        raw = grpc.insecure_channel(server.address)
        opened.append(raw)
        grpc.channel_ready_future(raw).result(timeout=10)
        tap = Wiretap()
        channel = grpc.intercept_channel(raw, tap)
        pin_map_id = PinMapClient(grpc_channel=channel).update_pin_map(str(PIN_MAP))
        return Tapped(server, channel, tap, pin_map_id)

    yield start
    for channel in opened:
        channel.close()


@pytest.fixture
def lease_stub(pinbroker_server: RunningServer) -> Iterator[lease_pb2_grpc.LeaseServiceStub]:
    """The lease service on a channel of its own (as an operator or another process)."""
    channel = grpc.insecure_channel(pinbroker_server.address)
    yield lease_pb2_grpc.LeaseServiceStub(channel)
    channel.close()


ClientFactory = Callable[[grpc.Channel], SessionManagementClient]
BOTH_CLIENTS = pytest.mark.parametrize(
    "make_client",
    [
        pytest.param(lambda ch: SessionManagementClient(grpc_channel=ch), id="drop-in"),
        pytest.param(lambda ch: PinbrokerSessionClient(grpc_channel=ch), id="pinbroker"),
    ],
)


def _lease_annotation(reservation: Any) -> str:
    (session,) = reservation._grpc_session_info
    return str(session.annotations["pinbroker/lease_id"])


def _held(server: RunningServer) -> set[str]:
    return set(server.sessions.table.snapshot().held)


def _state(stub: lease_pb2_grpc.LeaseServiceStub, lease_id: int) -> int:
    response = stub.GetLease(lease_pb2.GetLeaseRequest(lease_id=lease_id), timeout=10)
    return int(response.state)


def _keeper(client: SessionManagementClient) -> LeaseKeeper:
    keeper = client.lease
    assert keeper is not None
    return keeper


# -- a lease binds the reservations and lives while the client does -------------------------


@BOTH_CLIENTS
def test_reservation_is_bound_to_the_lease_which_is_kept_alive_while_idle(
    start_tapped: Callable[..., Tapped], make_client: ClientFactory
) -> None:
    tapped = start_tapped(lease_ttl=TTL)
    client = make_client(tapped.channel)
    assert client.lease is None  # lazily: nothing before the first reserve
    lease_stub = lease_pb2_grpc.LeaseServiceStub(tapped.channel)

    reservation = client.reserve_session(PinMapContext(tapped.pin_map_id, [0]), "VDD")
    keeper = _keeper(client)
    lease_id = keeper.lease_id
    assert lease_id is not None
    assert _lease_annotation(reservation) == str(lease_id)
    (reserve_metadata,) = tapped.tap.of(RESERVE)
    assert reserve_metadata["pinbroker-lease-id"] == str(lease_id)
    assert len(reserve_metadata["pinbroker-request-id"]) == 32  # uuid4 hex

    # Idle for more than three TTLs: renewals come every TTL/3, so 11 of them take at least
    # 11/3 s of real time; the lease (and with it the reservation) must survive all of it.
    started = time.monotonic()
    assert keeper.wait_renewals(11, timeout=WAIT)
    assert time.monotonic() - started >= 3.5 * TTL
    assert _state(lease_stub, lease_id) == lease_pb2.LEASE_STATE_ACTIVE
    assert _held(tapped.server) == {SITE0_VDD}
    assert keeper.lease_id == lease_id
    assert not keeper.lost

    reservation.unreserve()
    assert _held(tapped.server) == set()
    assert len(tapped.tap.of(GRANT)) == 1


def test_one_lease_per_channel_shared_by_its_clients(start_tapped: Callable[..., Tapped]) -> None:
    tapped = start_tapped()
    drop_in = SessionManagementClient(grpc_channel=tapped.channel)
    ours = PinbrokerSessionClient(grpc_channel=tapped.channel)
    with (
        drop_in.reserve_session(PinMapContext(tapped.pin_map_id, [0]), "VDD") as first,
        ours.reserve_session(PinMapContext(tapped.pin_map_id, [1]), "VDD") as second,
    ):
        assert _lease_annotation(first) == _lease_annotation(second)
        assert drop_in.lease is ours.lease
    request_ids = {m["pinbroker-request-id"] for m in tapped.tap.of(RESERVE)}
    assert len(request_ids) == 2  # a fresh request id per logical call
    assert len(tapped.tap.of(GRANT)) == 1


def test_connect_clients_take_a_lease_and_close_revokes_it(
    pinbroker_server: RunningServer, lease_stub: lease_pb2_grpc.LeaseServiceStub
) -> None:
    clients = connect_clients(pinbroker_server.address, timeout=10)
    try:
        pin_map_id = clients.pin_map.update_pin_map(str(PIN_MAP))
        sessions = clients.session_management
        reservation = sessions.reserve_session(PinMapContext(pin_map_id, [0]), "VDD")
        lease_id = _keeper(sessions).lease_id
        assert lease_id is not None
        assert _lease_annotation(reservation) == str(lease_id)
    finally:
        clients.close()  # without unreserving: the revoke frees the session at once
    assert _state(lease_stub, lease_id) == lease_pb2.LEASE_STATE_REVOKED
    assert _held(pinbroker_server) == set()


CHILD = """
import sys, grpc
from ni_measurementlink_service.session_management import PinMapContext, SessionManagementClient
channel = grpc.insecure_channel(sys.argv[1])
client = SessionManagementClient(grpc_channel=channel)
client.reserve_session(PinMapContext(sys.argv[2], [0]), "VDD")
print(client.lease.lease_id, flush=True)
# exits without unreserving and without closing the channel
"""


def test_a_clean_exit_revokes_the_lease_at_once(
    start_tapped: Callable[..., Tapped], tmp_path: Path
) -> None:
    tapped = start_tapped(lease_ttl=600.0)  # expiry cannot be what frees the session
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    finished = subprocess.run(
        [sys.executable, str(script), tapped.server.address, tapped.pin_map_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lease_id = int(finished.stdout.strip())
    lease_stub = lease_pb2_grpc.LeaseServiceStub(tapped.channel)
    assert _state(lease_stub, lease_id) == lease_pb2.LEASE_STATE_REVOKED
    assert _held(tapped.server) == set()


# -- a lost lease is visible, and the client recovers ---------------------------------------


@BOTH_CLIENTS
def test_revoked_lease_frees_the_sessions_is_seen_as_lost_and_a_new_lease_is_taken(
    start_tapped: Callable[..., Tapped], make_client: ClientFactory
) -> None:
    tapped = start_tapped(lease_ttl=TTL)
    client = make_client(tapped.channel)
    context = PinMapContext(tapped.pin_map_id, [0])
    other = grpc.insecure_channel(tapped.server.address)  # an operator, elsewhere
    try:
        reservation = client.reserve_session(context, "VDD")
        keeper = _keeper(client)
        old_lease = keeper.lease_id
        assert old_lease is not None
        revoked = lease_pb2_grpc.LeaseServiceStub(other).RevokeLease(
            lease_pb2.RevokeLeaseRequest(lease_id=old_lease), timeout=10
        )
        assert revoked.revoked
    finally:
        other.close()
    assert _held(tapped.server) == set()  # released by the revoke itself

    assert keeper.wait_lost(timeout=WAIT)  # at the next renewal, due within TTL/3
    assert keeper.lost
    assert "revoked" in keeper.lost_reason
    with pytest.raises(LeaseLostError) as lost:
        keeper.check()
    assert lost.value.lease_id == old_lease

    with pytest.raises(LeaseLostError, match=f"lease {old_lease} was lost"), reservation:
        pass
    # The unreserve was still sent (and ignored by the server: its token is stale).
    assert _held(tapped.server) == set()

    with client.reserve_session(context, "VDD") as again:
        new_lease = keeper.lease_id
        assert new_lease is not None
        assert new_lease != old_lease
        assert _lease_annotation(again) == str(new_lease)
        assert not keeper.lost
        assert keeper.lost_reason == ""
        assert _held(tapped.server) == {SITE0_VDD}
    assert _held(tapped.server) == set()
    with pytest.raises(LeaseLostError):  # the old reservation stays marked
        reservation.unreserve()


def test_lease_expires_when_keep_alives_cannot_get_through(
    start_tapped: Callable[..., Tapped],
) -> None:
    tapped = start_tapped(lease_ttl=TTL)
    client = PinbrokerSessionClient(grpc_channel=tapped.channel)
    blocked = threading.Event()
    blocked.set()

    def cut(send: Callable[[], Any], earlier: int) -> Any:
        if blocked.is_set():
            raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "Socket closed")
        return send()

    reservation = client.reserve_session(PinMapContext(tapped.pin_map_id, [0]), "VDD")
    keeper = _keeper(client)
    lease_id = keeper.lease_id
    tapped.tap.hooks[KEEP_ALIVE] = cut
    # The server reaps the lease one TTL after its last renewal and releases the session: a
    # second process waiting for it is granted then (no polling: the grant is the event).
    other = grpc.insecure_channel(tapped.server.address)
    try:
        waiter = SessionManagementClient(grpc_channel=other)
        context = PinMapContext(tapped.pin_map_id, [0])
        with waiter.reserve_session(context, "VDD", timeout=WAIT):
            assert not keeper.lost  # the client cannot know yet: its keep-alives do not arrive
    finally:
        other.close()
    blocked.clear()  # the connection is back: the next keep-alive learns the truth
    assert keeper.wait_lost(timeout=WAIT)
    assert "expired" in keeper.lost_reason
    with pytest.raises(LeaseLostError) as lost:
        reservation.unreserve()
    assert lost.value.lease_id == lease_id


def test_keep_alives_failing_for_less_than_the_ttl_keep_the_lease(
    start_tapped: Callable[..., Tapped],
) -> None:
    # TTL 3 s: the renewal due at 1 s fails, the retry at 1.5 s fails, the one at 2 s gets
    # through, 1 s before the lease would expire.
    tapped = start_tapped(lease_ttl=3.0)
    client = PinbrokerSessionClient(grpc_channel=tapped.channel)

    def flaky(send: Callable[[], Any], earlier: int) -> Any:
        if earlier < 2:
            raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "Socket closed")
        return send()

    tapped.tap.hooks[KEEP_ALIVE] = flaky
    with client.reserve_session(PinMapContext(tapped.pin_map_id, [0]), "VDD"):
        keeper = _keeper(client)
        lease_id = keeper.lease_id
        assert lease_id is not None
        assert keeper.wait_renewals(2, timeout=WAIT)
        assert len(tapped.tap.of(KEEP_ALIVE)) >= 4  # two failed, two got through
        assert not keeper.lost
        assert keeper.lease_id == lease_id
        assert _held(tapped.server) == {SITE0_VDD}
    assert _held(tapped.server) == set()


# -- NI's server: no lease service, exactly 1.2's requests -------------------------------------


@BOTH_CLIENTS
def test_without_lease_service_nothing_is_attached(
    start_tapped: Callable[..., Tapped], make_client: ClientFactory
) -> None:
    tapped = start_tapped()
    tapped.tap.hooks[GRANT] = unimplemented
    # Keep-alive threads of earlier tests' leases may still be ending: only new ones count.
    earlier = {t.ident for t in threading.enumerate() if t.name.startswith("pinbroker-lease")}
    client = make_client(tapped.channel)
    context = PinMapContext(tapped.pin_map_id, [0])
    with client.reserve_session(context, "VDD") as reservation:
        (session,) = reservation._grpc_session_info
        assert "pinbroker/lease_id" not in session.annotations
        assert client.lease is None
    with client.reserve_sessions(context, "VDD"):
        pass
    with client.reserve_all_registered_sessions():
        pass
    assert len(tapped.tap.of(GRANT)) == 1  # asked once, then never again
    for method, metadata in tapped.tap.calls:
        assert not set(metadata) & set(PINBROKER_KEYS), method
    assert not tapped.tap.of(KEEP_ALIVE)
    started = [
        t
        for t in threading.enumerate()
        if t.name.startswith("pinbroker-lease") and t.ident not in earlier
    ]
    assert not started


class RecordingSessionManagement(sm_grpc.SessionManagementServiceServicer):
    """A stand-in for NI's service: no lease service at all; records requests and metadata."""

    def __init__(self) -> None:
        self.seen: list[tuple[bytes, dict[str, str]]] = []

    def ReserveSessions(self, request: Any, context: grpc.ServicerContext) -> Any:
        metadata = {k: str(v) for k, v in context.invocation_metadata()}
        self.seen.append((request.SerializeToString(deterministic=True), metadata))
        return sm_pb2.ReserveSessionsResponse()


@pytest.fixture
def ni_like_server() -> Iterator[tuple[RecordingSessionManagement, str]]:
    executor = futures.ThreadPoolExecutor(max_workers=2)
    server = grpc.server(executor)
    fake = RecordingSessionManagement()  # type: ignore[abstract]  # (NI stubs: abstract)
    sm_grpc.add_SessionManagementServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield fake, f"127.0.0.1:{port}"
    finally:
        server.stop(None).wait()
        executor.shutdown(wait=True)


@BOTH_CLIENTS
def test_against_a_server_without_lease_service_requests_are_those_of_1_2(
    ni_like_server: tuple[RecordingSessionManagement, str], make_client: ClientFactory
) -> None:
    fake, address = ni_like_server
    channel = grpc.insecure_channel(address)
    try:
        client = make_client(channel)
        client.reserve_sessions(PinMapContext("pins", [0]), ["A"], timeout=1.5)
        client.reserve_sessions(PinMapContext("pins", [0]), ["A"], timeout=1.5)
        assert client.lease is None
    finally:
        channel.close()
    expected = sm_pb2.ReserveSessionsRequest(
        pin_map_context=pin_map_context_pb2.PinMapContext(pin_map_id="pins", sites=[0]),
        pin_or_relay_names=["A"],
        timeout_in_milliseconds=1500,
    ).SerializeToString(deterministic=True)
    assert [raw for raw, _ in fake.seen] == [expected, expected]
    for _, metadata in fake.seen:
        assert not set(metadata) & set(PINBROKER_KEYS)


# -- a reply lost to a broken connection is retried with the same request id ------------------


@BOTH_CLIENTS
def test_lost_reply_is_retried_and_the_same_grant_comes_back(
    start_tapped: Callable[..., Tapped], make_client: ClientFactory
) -> None:
    tapped = start_tapped()
    delivered: list[Any] = []

    def break_after_first_grant(send: Callable[[], Any], earlier: int) -> Any:
        outcome = send()
        if earlier == 0:
            delivered.append(outcome.result())  # the server granted it ...
            raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "Socket closed")  # ... reply lost
        return outcome

    tapped.tap.hooks[RESERVE] = break_after_first_grant
    client = make_client(tapped.channel)
    reservation = client.reserve_session(PinMapContext(tapped.pin_map_id, [0]), "VDD", timeout=5)

    first, retry = tapped.tap.of(RESERVE)
    assert retry == first  # same lease id, same request id
    (granted,) = delivered
    (session,) = reservation._grpc_session_info
    reservation_id = session.annotations["pinbroker/reservation_id"]
    assert granted.sessions[0].annotations["pinbroker/reservation_id"] == reservation_id
    snapshot = tapped.server.sessions.table.snapshot()
    assert [str(r.id) for r in snapshot.reservations] == [reservation_id]  # one, not two

    reservation.unreserve()
    assert _held(tapped.server) == set()


def test_retries_are_bounded(start_tapped: Callable[..., Tapped]) -> None:
    tapped = start_tapped()

    def always_broken(send: Callable[[], Any], earlier: int) -> Any:
        send().result()
        raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "Stream removed (Socket closed)")

    tapped.tap.hooks[RESERVE] = always_broken
    client = SessionManagementClient(grpc_channel=tapped.channel)
    with pytest.raises(grpc.RpcError) as error:
        client.reserve_session(PinMapContext(tapped.pin_map_id, [0]), "VDD")
    assert error.value.code() is grpc.StatusCode.UNAVAILABLE
    assert len(tapped.tap.of(RESERVE)) == MAX_TRIES
    assert len({m["pinbroker-request-id"] for m in tapped.tap.of(RESERVE)}) == 1
    # Every try got the same grant back; it is still held (the caller never saw it) until its
    # lease ends: revoke it as a clean exit would.
    assert len(tapped.server.sessions.table.snapshot().reservations) == 1
    keeper = SessionManagementClient(grpc_channel=tapped.channel).lease
    assert keeper is not None
    keeper.close()
    assert _held(tapped.server) == set()


def test_reservation_timeout_is_not_retried(start_tapped: Callable[..., Tapped]) -> None:
    tapped = start_tapped()
    holder = grpc.insecure_channel(tapped.server.address)
    try:
        context = PinMapContext(tapped.pin_map_id, [0])
        with SessionManagementClient(grpc_channel=holder).reserve_session(context, "VDD"):
            client = SessionManagementClient(grpc_channel=tapped.channel)
            with pytest.raises(grpc.RpcError) as error:
                client.reserve_session(context, "VDD", timeout=0)
    finally:
        holder.close()
    assert error.value.code() is grpc.StatusCode.UNAVAILABLE
    assert not is_connection_failure(error.value)
    assert len(tapped.tap.of(RESERVE)) == 1


@pytest.mark.parametrize(
    ("code", "details", "retried"),
    [
        (grpc.StatusCode.UNAVAILABLE, "Socket closed", True),
        (grpc.StatusCode.UNAVAILABLE, "Stream removed (Socket closed)", True),
        (grpc.StatusCode.UNAVAILABLE, "recvmsg:Connection reset by peer", True),
        (grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; last error: x", True),
        (grpc.StatusCode.UNAVAILABLE, "GOAWAY received", True),
        (grpc.StatusCode.UNAVAILABLE, "sessions for request 4 of 'x' were not available", False),
        (grpc.StatusCode.UNAVAILABLE, "the session manager is shutting down", False),
        (grpc.StatusCode.UNAVAILABLE, "something else", False),
        (grpc.StatusCode.INTERNAL, "Socket closed", False),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", False),
    ],
)
def test_retry_rule(code: grpc.StatusCode, details: str, retried: bool) -> None:
    assert is_connection_failure(FakeRpcError(code, details)) is retried
