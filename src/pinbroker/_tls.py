"""Reading and checking the PEM files of TLS, for the server and pinbroker's own clients.

``pinbroker serve --tls-cert --tls-key [--tls-client-ca]`` and the clients' ``--tls-ca``,
``--tls-cert``, ``--tls-key`` (or ``$PINBROKER_TLS_CA``, ``$PINBROKER_TLS_CERT``,
``$PINBROKER_TLS_KEY``) name PEM files. gRPC reads them only when the first connection is made
and then fails with a vague handshake error, so they are checked here first, with Python's
``ssl`` module (the same OpenSSL formats): readable, PEM, parsable, not encrypted (gRPC cannot
decrypt keys), and the key belongs to the certificate. Every problem is a :class:`TlsFileError`
whose message names the file and what is wrong with it.

This module is stdlib only; building gRPC credentials from the bytes is the edge's job
(``pinbroker.server._tls``, ``pinbroker.client._tls``).
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "KeyPair",
    "ServerTls",
    "TlsFileError",
    "read_certificates",
    "read_key_pair",
    "read_server_tls",
]

_CERTIFICATE = "-----BEGIN CERTIFICATE-----"
_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_ENCRYPTED = re.compile(r"-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED")


class TlsFileError(ValueError):
    """A TLS file cannot be read, is not PEM, does not parse, or does not fit its partner.

    The message names the file (and, for a key, its certificate) and the problem.
    """


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A certificate chain and its private key, PEM bytes as gRPC takes them.

    Attributes:
        certificate_chain: The certificate first, then any intermediate certificates.
        private_key: The unencrypted private key of the certificate.
    """

    certificate_chain: bytes
    private_key: bytes


@dataclass(frozen=True, slots=True)
class ServerTls:
    """What ``pinbroker serve`` serves TLS with.

    Attributes:
        key_pair: The server's certificate chain and key (``--tls-cert``, ``--tls-key``).
        client_ca: The CA certificates client certificates must be signed by
            (``--tls-client-ca``): mutual TLS. None: clients need no certificate.
    """

    key_pair: KeyPair
    client_ca: bytes | None


def _read_text(path: Path, what: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise TlsFileError(f"cannot read {what} {path}: {reason}") from exc
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise TlsFileError(
            f"{what} {path} is not a PEM file (binary content; DER needs converting: "
            "openssl x509 -inform der -in FILE -out FILE.pem)"
        ) from None


def _ssl_reason(exc: ssl.SSLError) -> str:
    return exc.reason or exc.strerror or str(exc)


def read_certificates(path: Path, what: str) -> bytes:
    """Read a PEM file of one or more certificates (a certificate chain or a CA bundle).

    Args:
        path: The file.
        what: How messages name it, e.g. ``"--tls-client-ca file"``.

    Returns:
        The file's bytes, as gRPC takes them.

    Raises:
        TlsFileError: If the file cannot be read, holds no PEM certificate, or a certificate
            in it does not parse.
    """
    text = _read_text(path, what)
    if _CERTIFICATE not in text:
        raise TlsFileError(f"{what} {path} holds no PEM certificate ({_CERTIFICATE} ...)")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=text)
    except ssl.SSLError as exc:
        raise TlsFileError(
            f"{what} {path} holds a certificate that does not parse ({_ssl_reason(exc)})"
        ) from None
    return text.encode("ascii")


def read_key_pair(certificate: Path, key: Path, *, what_certificate: str, what_key: str) -> KeyPair:
    """Read a certificate chain and its private key, and check that they belong together.

    Args:
        certificate: The PEM certificate chain (the certificate first).
        key: The PEM private key of the certificate.
        what_certificate: How messages name the certificate file, e.g. ``"--tls-cert file"``.
        what_key: How messages name the key file.

    Returns:
        Both files' bytes.

    Raises:
        TlsFileError: If a file cannot be read or parsed, the key is encrypted, or the key
            does not belong to the certificate.
    """
    chain = read_certificates(certificate, what_certificate)
    text = _read_text(key, what_key)
    if _ENCRYPTED.search(text):
        raise TlsFileError(
            f"{what_key} {key} is encrypted; gRPC needs an unencrypted key "
            "(openssl pkey -in KEY -out PLAIN_KEY, and keep PLAIN_KEY readable by the user only)"
        )
    if not _PRIVATE_KEY.search(text):
        raise TlsFileError(
            f"{what_key} {key} holds no PEM private key (-----BEGIN PRIVATE KEY----- ...)"
        )
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(
            certificate, key, password=lambda: b""
        )
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise TlsFileError(
                f"{what_key} {key} is not the key of the certificate in {certificate}"
            ) from None
        raise TlsFileError(
            f"{what_key} {key} holds a private key that does not parse ({_ssl_reason(exc)})"
        ) from None
    except OSError as exc:  # the file went away between the reads
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise TlsFileError(f"cannot read {what_key} {key}: {reason}") from exc
    return KeyPair(certificate_chain=chain, private_key=text.encode("ascii"))


def read_server_tls(
    certificate: Path | None, key: Path | None, client_ca: Path | None
) -> ServerTls | None:
    """Read the files of ``--tls-cert``, ``--tls-key`` and ``--tls-client-ca``.

    Args:
        certificate: ``--tls-cert``: the server's PEM certificate chain, or None.
        key: ``--tls-key``: its PEM private key, or None.
        client_ca: ``--tls-client-ca``: PEM CA certificates for mutual TLS, or None.

    Returns:
        None when none is given (the port is insecure), else what to serve TLS with.

    Raises:
        TlsFileError: If only one of certificate and key is given, a client CA without them,
            or a file is unusable (see :func:`read_key_pair`).
    """
    if certificate is None and key is None:
        if client_ca is not None:
            raise TlsFileError(
                "--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)"
            )
        return None
    if key is None:
        raise TlsFileError("--tls-cert needs --tls-key (the certificate's private key)")
    if certificate is None:
        raise TlsFileError("--tls-key needs --tls-cert (the certificate of that key)")
    pair = read_key_pair(
        certificate, key, what_certificate="--tls-cert file", what_key="--tls-key file"
    )
    ca = None if client_ca is None else read_certificates(client_ca, "--tls-client-ca file")
    return ServerTls(key_pair=pair, client_ca=ca)
