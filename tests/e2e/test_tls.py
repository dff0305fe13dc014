"""``pinbroker serve --tls-cert --tls-key [--tls-client-ca]`` and ``pinbroker status --tls-ca``
as subprocesses: TLS end to end, and the one-line errors of bad TLS flags.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _serve import Serve

from _tls_certs import TlsFiles, write_tls_files

TLS_ENV_VARS = ("PINBROKER_TLS_CA", "PINBROKER_TLS_CERT", "PINBROKER_TLS_KEY")


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    return write_tls_files(tmp_path / "tls")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No server to discover, no TLS settings inherited: every command says what it uses."""
    environment = dict(os.environ)
    for name in ("PINBROKER_ADDRESS", *TLS_ENV_VARS):
        environment.pop(name, None)
    environment["PINBROKER_DISCOVERY_KEY_FILE"] = str(tmp_path / "key" / "DiscoveryService.json")
    environment["PINBROKER_STATE_DIR"] = str(tmp_path / "state")
    return environment


def pinbroker(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pinbroker.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def tls_serve(tls: TlsFiles, env: dict[str, str], tmp_path: Path) -> Iterator[Serve]:
    server = Serve(
        "--tls-cert",
        str(tls.server_cert),
        "--tls-key",
        str(tls.server_key),
        env=env,
        stderr=tmp_path / "serve.log",
    )
    yield server
    assert server.stop() == 0


@pytest.fixture
def mtls_serve(tls: TlsFiles, env: dict[str, str], tmp_path: Path) -> Iterator[Serve]:
    server = Serve(
        "--tls-cert",
        str(tls.server_cert),
        "--tls-key",
        str(tls.server_key),
        "--tls-client-ca",
        str(tls.ca),
        env=env,
        stderr=tmp_path / "serve.log",
    )
    yield server
    assert server.stop() == 0


def test_status_over_tls(tls_serve: Serve, tls: TlsFiles, env: dict[str, str]) -> None:
    result = pinbroker(
        "status", "--address", tls_serve.address, "--tls-ca", str(tls.ca), "--json", env=env
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["held"] == []


def test_status_takes_the_ca_from_the_environment(
    tls_serve: Serve, tls: TlsFiles, env: dict[str, str]
) -> None:
    result = pinbroker(
        "status",
        "--address",
        tls_serve.address,
        env={**env, "PINBROKER_TLS_CA": str(tls.ca)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"pinbroker at {tls_serve.address}, revision ")


def test_status_without_the_ca_cannot_reach_a_tls_server(
    tls_serve: Serve, env: dict[str, str]
) -> None:
    result = pinbroker("status", "--address", tls_serve.address, env=env)
    assert result.returncode == 3
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"pinbroker: cannot reach the pinbroker at {tls_serve.address}")


def test_status_trusting_another_ca_cannot_reach_it(
    tls_serve: Serve, tls: TlsFiles, env: dict[str, str]
) -> None:
    result = pinbroker(
        "status", "--address", tls_serve.address, "--tls-ca", str(tls.other_ca), env=env
    )
    assert result.returncode == 3
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # gRPC's own log of the failed handshake is quiet
    assert "(from the address argument, over TLS)" in lines[0]
    assert lines[0].endswith("if the server wants a client certificate)")


def test_the_log_says_tls_and_no_key_file_is_written(
    tls_serve: Serve, env: dict[str, str], tmp_path: Path
) -> None:
    tls_serve.stop()
    log = (tmp_path / "serve.log").read_text()
    assert f"listening on {tls_serve.address} (gRPC, TLS)" in log
    assert "no discovery key file written: the port serves TLS" in log
    assert not Path(env["PINBROKER_DISCOVERY_KEY_FILE"]).exists()


def test_mutual_tls_status_needs_the_client_certificate(
    mtls_serve: Serve, tls: TlsFiles, env: dict[str, str], tmp_path: Path
) -> None:
    address = ("--address", mtls_serve.address, "--tls-ca", str(tls.ca))
    refused = pinbroker("status", *address, env=env)
    assert refused.returncode == 3, refused.stderr
    assert len(refused.stderr.splitlines()) == 1, refused.stderr
    client = ("--tls-cert", str(tls.client_cert), "--tls-key", str(tls.client_key))
    accepted = pinbroker("status", *address, *client, env=env)
    assert accepted.returncode == 0, accepted.stderr
    events = pinbroker("events", *address, *client, "--json", env=env)
    assert events.returncode == 0, events.stderr
    mtls_serve.stop()
    assert "(gRPC, mutual TLS)" in (tmp_path / "serve.log").read_text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tls-cert", "client.pem"], "a TLS certificate file needs a TLS key file too"),
        (
            ["--tls-cert", "client.pem", "--tls-key", "client.key"],
            "a client certificate needs a TLS CA file",
        ),
        (["--tls-ca", "missing.pem"], "cannot read TLS CA file missing.pem"),
    ],
)
def test_bad_client_tls_flags_are_usage_errors(
    tls: TlsFiles, env: dict[str, str], flags: list[str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pinbroker.cli", "status", "--address", "127.0.0.1:1", *flags],
        capture_output=True,
        text=True,
        env=env,
        cwd=tls.ca.parent,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.rstrip("\n")]
    assert result.stderr.startswith(f"pinbroker: {message}"), result.stderr


def _serve_flags(tls: TlsFiles, tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    missing = tmp_path / "missing.pem"
    return {
        "cert without key": (
            ["--tls-cert", str(tls.server_cert)],
            "--tls-cert needs --tls-key",
        ),
        "key without cert": (["--tls-key", str(tls.server_key)], "--tls-key needs --tls-cert"),
        "client CA without cert": (
            ["--tls-client-ca", str(tls.ca)],
            "--tls-client-ca needs --tls-cert and --tls-key",
        ),
        "missing cert": (
            ["--tls-cert", str(missing), "--tls-key", str(tls.server_key)],
            f"cannot read --tls-cert file {missing}: No such file or directory",
        ),
        "key as cert": (
            ["--tls-cert", str(tls.server_key), "--tls-key", str(tls.server_key)],
            f"--tls-cert file {tls.server_key} holds no PEM certificate",
        ),
        "cert as key": (
            ["--tls-cert", str(tls.server_cert), "--tls-key", str(tls.server_cert)],
            f"--tls-key file {tls.server_cert} holds no PEM private key",
        ),
        "key of another certificate": (
            ["--tls-cert", str(tls.server_cert), "--tls-key", str(tls.client_key)],
            f"--tls-key file {tls.client_key} is not the key of the certificate",
        ),
        "missing client CA": (
            [
                "--tls-cert",
                str(tls.server_cert),
                "--tls-key",
                str(tls.server_key),
                "--tls-client-ca",
                str(missing),
            ],
            f"cannot read --tls-client-ca file {missing}",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "cert without key",
        "key without cert",
        "client CA without cert",
        "missing cert",
        "key as cert",
        "cert as key",
        "key of another certificate",
        "missing client CA",
    ],
)
def test_bad_serve_tls_flags_give_one_line(
    tls: TlsFiles, env: dict[str, str], tmp_path: Path, case: str
) -> None:
    flags, message = _serve_flags(tls, tmp_path)[case]
    result = pinbroker("serve", "--port", "0", *flags, env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"pinbroker: cannot start: {message}"), lines[0]
