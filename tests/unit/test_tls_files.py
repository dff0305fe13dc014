"""The TLS files of the server and the clients: read, checked, paired; flags and environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from _tls_certs import TlsFiles, write_tls_files
from pinbroker._tls import TlsFileError, read_server_tls
from pinbroker.client import TLS_CA_ENV_VAR, TLS_CERT_ENV_VAR, TLS_KEY_ENV_VAR
from pinbroker.client._tls import client_tls


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return write_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def _no_tls_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (TLS_CA_ENV_VAR, TLS_CERT_ENV_VAR, TLS_KEY_ENV_VAR):
        monkeypatch.delenv(name, raising=False)


def test_no_files_means_an_insecure_port() -> None:
    assert read_server_tls(None, None, None) is None


def test_server_files_are_read(tls: TlsFiles) -> None:
    plain = read_server_tls(tls.server_cert, tls.server_key, None)
    assert plain is not None
    assert plain.key_pair.certificate_chain == tls.server_cert.read_bytes()
    assert plain.key_pair.private_key == tls.server_key.read_bytes()
    assert plain.client_ca is None
    mutual = read_server_tls(tls.server_cert, tls.server_key, tls.ca)
    assert mutual is not None
    assert mutual.client_ca == tls.ca.read_bytes()


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"certificate"}, "--tls-cert needs --tls-key (the certificate's private key)"),
        ({"key"}, "--tls-key needs --tls-cert (the certificate of that key)"),
        ({"client_ca"}, "--tls-client-ca needs --tls-cert and --tls-key"),
        ({"certificate", "client_ca"}, "--tls-cert needs --tls-key"),
    ],
)
def test_server_flags_must_pair_up(tls: TlsFiles, given: set[str], message: str) -> None:
    files = {"certificate": tls.server_cert, "key": tls.server_key, "client_ca": tls.ca}
    arguments = {name: (path if name in given else None) for name, path in files.items()}
    with pytest.raises(TlsFileError) as caught:
        read_server_tls(**arguments)
    assert str(caught.value).startswith(message)


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_unusable_server_files_are_named(tls: TlsFiles, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    not_pem = _write(tmp_path / "notes.txt", "hello\n")
    binary = _write(tmp_path / "cert.der", b"\x30\x82\x01\xff")
    garbage = _write(
        tmp_path / "garbage.pem", "-----BEGIN CERTIFICATE-----\nabcd\n-----END CERTIFICATE-----\n"
    )
    encrypted = _write(
        tmp_path / "encrypted.key",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nabcd\n-----END ENCRYPTED PRIVATE KEY-----\n",
    )
    broken_key = _write(
        tmp_path / "broken.key", "-----BEGIN PRIVATE KEY-----\nabcd\n-----END PRIVATE KEY-----\n"
    )
    cases = [
        ((missing, tls.server_key, None), f"cannot read --tls-cert file {missing}: No such file"),
        ((tls.server_cert, missing, None), f"cannot read --tls-key file {missing}: No such file"),
        (
            (tls.server_cert, tls.server_key, missing),
            f"cannot read --tls-client-ca file {missing}: No such file",
        ),
        ((not_pem, tls.server_key, None), f"--tls-cert file {not_pem} holds no PEM certificate"),
        ((binary, tls.server_key, None), f"--tls-cert file {binary} is not a PEM file"),
        ((garbage, tls.server_key, None), f"--tls-cert file {garbage} holds a certificate that"),
        (
            (tls.server_key, tls.server_key, None),
            f"--tls-cert file {tls.server_key} holds no PEM certificate",
        ),
        (
            (tls.server_cert, tls.server_cert, None),
            f"--tls-key file {tls.server_cert} holds no PEM private key",
        ),
        ((tls.server_cert, encrypted, None), f"--tls-key file {encrypted} is encrypted"),
        ((tls.server_cert, broken_key, None), f"--tls-key file {broken_key} holds a private key"),
        (
            (tls.server_cert, tls.client_key, None),
            f"--tls-key file {tls.client_key} is not the key of the certificate in "
            f"{tls.server_cert}",
        ),
        (
            (tls.server_cert, tls.server_key, tls.server_key),
            f"--tls-client-ca file {tls.server_key} holds no PEM certificate",
        ),
    ]
    for arguments, message in cases:
        with pytest.raises(TlsFileError) as caught:
            read_server_tls(*arguments)
        assert str(caught.value).startswith(message), (arguments, str(caught.value))
        assert "\n" not in str(caught.value)


def test_clients_dial_insecure_without_a_ca() -> None:
    assert client_tls() is None
    assert client_tls(tls=False) is None


def test_client_arguments_come_first_then_the_environment(
    tls: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = client_tls(tls.ca)
    assert settings is not None
    assert (settings.ca, settings.cert, settings.key) == (tls.ca, None, None)
    assert settings.ca_what == "TLS CA file"

    monkeypatch.setenv(TLS_CA_ENV_VAR, str(tls.other_ca))
    monkeypatch.setenv(TLS_CERT_ENV_VAR, str(tls.client_cert))
    monkeypatch.setenv(TLS_KEY_ENV_VAR, str(tls.client_key))
    from_env = client_tls()
    assert from_env is not None
    assert (from_env.ca, from_env.cert, from_env.key) == (
        tls.other_ca,
        tls.client_cert,
        tls.client_key,
    )
    assert from_env.ca_what == "TLS CA file ($PINBROKER_TLS_CA)"
    mixed = client_tls(tls.ca)
    assert mixed is not None
    assert (mixed.ca, mixed.cert) == (tls.ca, tls.client_cert)
    assert client_tls(tls=False) is None  # the environment is ignored


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"cert": "c.pem"}, "a TLS certificate file needs a TLS key file too"),
        ({"key": "k.pem"}, "a TLS key file needs a TLS certificate file too"),
        ({"cert": "c.pem", "key": "k.pem"}, "a client certificate needs a TLS CA file"),
        ({"tls": True}, "TLS needs a CA file"),
        ({"ca": "ca.pem", "tls": False}, "TLS files were given for an insecure channel"),
    ],
)
def test_client_settings_must_pair_up(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(TlsFileError, match=message):
        client_tls(**arguments)  # type: ignore[arg-type]


def test_client_files_are_checked_when_dialling(tls: TlsFiles, tmp_path: Path) -> None:
    settings = client_tls(tls.ca, tls.client_cert, tls.client_key)
    assert settings is not None
    settings.credentials()  # usable
    wrong_key = client_tls(tls.ca, tls.client_cert, tls.stranger_key)
    assert wrong_key is not None
    with pytest.raises(TlsFileError, match=r"TLS key file .* is not the key of the certificate"):
        wrong_key.credentials()
    missing = client_tls(tmp_path / "missing.pem")
    assert missing is not None
    with pytest.raises(TlsFileError, match=r"cannot read TLS CA file .*missing\.pem"):
        missing.credentials()
