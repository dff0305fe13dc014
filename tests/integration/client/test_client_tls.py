"""TLS and mutual TLS against a real in-process server, by ``connect`` and raw gRPC channels.

The server is started as ``--tls-cert``, ``--tls-key`` and ``--tls-client-ca`` start it.

Certificates are made for each test by ``trustme`` (``tests/_tls_certs.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ni.measurementlink.discovery.v1 import discovery_service_pb2, discovery_service_pb2_grpc

from _tls_certs import TlsFiles, write_tls_files
from ni_measurementlink_service.session_management import PinMapContext
from pinbroker.client import (
    TLS_CA_ENV_VAR,
    TLS_CERT_ENV_VAR,
    TLS_KEY_ENV_VAR,
    Clients,
    ServerNotFoundError,
    TlsFileError,
    connect,
)
from pinbroker.ni_linux._run import _check_server
from pinbroker.server.app import RunningServer

ServerFactory = Callable[..., RunningServer]

PIN_MAP = Path(__file__).resolve().parents[2] / "data" / "client_two_site.pinmap"
SESSION_MANAGEMENT = "ni.measurementlink.sessionmanagement.v1.SessionManagementService"


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TlsFiles:
    for name in (TLS_CA_ENV_VAR, TLS_CERT_ENV_VAR, TLS_KEY_ENV_VAR):
        monkeypatch.delenv(name, raising=False)
    return write_tls_files(tmp_path / "tls")


@pytest.fixture
def tls_server(start_pinbroker: ServerFactory, tls: TlsFiles) -> RunningServer:
    return start_pinbroker(tls_cert=tls.server_cert, tls_key=tls.server_key)


@pytest.fixture
def mtls_server(start_pinbroker: ServerFactory, tls: TlsFiles) -> RunningServer:
    return start_pinbroker(tls_cert=tls.server_cert, tls_key=tls.server_key, tls_client_ca=tls.ca)


def _assert_unavailable(channel: grpc.Channel) -> None:
    """A health check, without waiting for the channel, fails with UNAVAILABLE."""
    with pytest.raises(grpc.RpcError) as caught:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert isinstance(caught.value, grpc.Call)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def _reserve_round_trip(clients: Clients) -> None:
    pin_map_id = clients.pin_map.update_pin_map(str(PIN_MAP))
    sessions = clients.session_management
    with sessions.reserve_sessions(PinMapContext(pin_map_id, [1]), ["Vmeas"]) as reservation:
        names = [info.session_name for info in reservation.session_info]
        assert names
        assert [s.session_name for s in sessions.get_sessions().sessions] == names
    assert sessions.get_sessions().sessions == ()  # unreserved on leaving the block


def test_a_client_with_the_ca_reserves_and_unreserves(
    tls_server: RunningServer, tls: TlsFiles
) -> None:
    with connect(tls_server.address, tls_ca=tls.ca) as clients:
        _reserve_round_trip(clients)


def test_the_server_certificate_is_checked_by_host_name_too(
    tls_server: RunningServer, tls: TlsFiles
) -> None:
    with connect(f"localhost:{tls_server.port}", tls_ca=tls.ca) as clients:
        assert clients.pin_map.update_pin_map(str(PIN_MAP)) == str(PIN_MAP)


def test_an_insecure_client_is_unavailable(tls_server: RunningServer) -> None:
    with grpc.insecure_channel(tls_server.address) as channel:
        _assert_unavailable(channel)


def test_a_client_trusting_another_ca_is_unavailable(
    tls_server: RunningServer, tls: TlsFiles
) -> None:
    credentials = grpc.ssl_channel_credentials(tls.other_ca.read_bytes())
    with grpc.secure_channel(tls_server.address, credentials) as channel:
        _assert_unavailable(channel)
    with pytest.raises(ServerNotFoundError, match=r"over TLS, trusting .*other-ca\.pem"):
        connect(tls_server.address, tls_ca=tls.other_ca, timeout=0.5)


def test_a_tls_client_cannot_reach_an_insecure_server(
    start_pinbroker: ServerFactory, tls: TlsFiles
) -> None:
    server = start_pinbroker()
    credentials = grpc.ssl_channel_credentials(tls.ca.read_bytes())
    with grpc.secure_channel(server.address, credentials) as channel:
        _assert_unavailable(channel)


def test_mutual_tls_refuses_a_client_without_a_certificate(
    mtls_server: RunningServer, tls: TlsFiles
) -> None:
    credentials = grpc.ssl_channel_credentials(tls.ca.read_bytes())
    with grpc.secure_channel(mtls_server.address, credentials) as channel:
        _assert_unavailable(channel)


def test_mutual_tls_refuses_a_certificate_from_another_ca(
    mtls_server: RunningServer, tls: TlsFiles
) -> None:
    credentials = grpc.ssl_channel_credentials(
        tls.ca.read_bytes(), tls.stranger_key.read_bytes(), tls.stranger_cert.read_bytes()
    )
    with grpc.secure_channel(mtls_server.address, credentials) as channel:
        _assert_unavailable(channel)


def test_mutual_tls_accepts_a_client_certificate(mtls_server: RunningServer, tls: TlsFiles) -> None:
    with connect(
        mtls_server.address, tls_ca=tls.ca, tls_cert=tls.client_cert, tls_key=tls.client_key
    ) as clients:
        _reserve_round_trip(clients)


def test_connect_takes_the_files_from_the_environment(
    mtls_server: RunningServer, tls: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TLS_CA_ENV_VAR, str(tls.ca))
    monkeypatch.setenv(TLS_CERT_ENV_VAR, str(tls.client_cert))
    monkeypatch.setenv(TLS_KEY_ENV_VAR, str(tls.client_key))
    monkeypatch.setenv("PINBROKER_ADDRESS", mtls_server.address)
    with connect() as clients:
        _reserve_round_trip(clients)


def test_connect_is_insecure_without_a_ca(pinbroker_server: RunningServer, tls: TlsFiles) -> None:
    with connect(pinbroker_server.address) as clients:
        _reserve_round_trip(clients)


def test_tls_false_ignores_the_environment(
    pinbroker_server: RunningServer, tls: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TLS_CA_ENV_VAR, str(tls.ca))
    with connect(pinbroker_server.address, tls=False) as clients:
        _reserve_round_trip(clients)
    # pinbroker run checks the server as NI's clients will dial it: insecure.
    assert _check_server(pinbroker_server.address, "a test", 10.0) is None


def test_connect_reports_unusable_files_before_dialling(
    tls_server: RunningServer, tls: TlsFiles, tmp_path: Path
) -> None:
    with pytest.raises(TlsFileError, match=r"cannot read TLS CA file .*missing\.pem"):
        connect(tls_server.address, tls_ca=tmp_path / "missing.pem")
    with pytest.raises(TlsFileError, match=r"is not the key of the certificate"):
        connect(
            tls_server.address,
            tls_ca=tls.ca,
            tls_cert=tls.client_cert,
            tls_key=tls.stranger_key,
        )


def test_discovery_lists_the_services_at_the_tls_port(
    start_pinbroker: ServerFactory, tls: TlsFiles, tmp_path: Path
) -> None:
    key_file = tmp_path / "key" / "DiscoveryService.json"
    server = start_pinbroker(
        tls_cert=tls.server_cert,
        tls_key=tls.server_key,
        publish_key_file=True,
        discovery_key_file=key_file,
    )
    # NI's clients read the key file to dial an insecure port: none is written with TLS.
    assert server.key_file is None
    assert not key_file.exists()
    credentials = grpc.ssl_channel_credentials(tls.ca.read_bytes())
    with grpc.secure_channel(server.address, credentials) as channel:
        stub = discovery_service_pb2_grpc.DiscoveryServiceStub(channel)
        reply = stub.ResolveService(
            discovery_service_pb2.ResolveServiceRequest(provided_interface=SESSION_MANAGEMENT),
            timeout=10,
        )
    assert reply.ssl_authenticated_port == str(server.port)
    assert reply.insecure_port == ""
