"""How pinbroker's own clients dial: over TLS when given a CA, else an insecure channel.

:func:`pinbroker.client.connect` and ``pinbroker status|release|events`` take a CA file (and,
for mutual TLS, a client certificate and key) as arguments, else from ``$PINBROKER_TLS_CA``,
``$PINBROKER_TLS_CERT`` and ``$PINBROKER_TLS_KEY``; each argument that is None falls back to its
variable. Without a CA the channel is insecure, as NI's clients dial.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import grpc

from pinbroker._tls import TlsFileError, read_certificates, read_key_pair

__all__ = [
    "TLS_CA_ENV_VAR",
    "TLS_CERT_ENV_VAR",
    "TLS_KEY_ENV_VAR",
    "ClientTls",
    "client_tls",
    "open_channel",
]

TLS_CA_ENV_VAR = "PINBROKER_TLS_CA"
"""Environment variable naming the PEM CA file pinbroker's clients trust: set, they dial TLS."""

TLS_CERT_ENV_VAR = "PINBROKER_TLS_CERT"
"""Environment variable naming the client's PEM certificate chain, for mutual TLS."""

TLS_KEY_ENV_VAR = "PINBROKER_TLS_KEY"
"""Environment variable naming the unencrypted PEM key of the client's certificate."""

PathArg: TypeAlias = "str | os.PathLike[str] | None"
"""A file name argument; None: take it from the environment."""


@dataclass(frozen=True, slots=True)
class ClientTls:
    """The files a client dials TLS with, and how messages name them.

    Attributes:
        ca: PEM CA certificates the server's certificate must be signed by.
        cert: The client's PEM certificate chain (mutual TLS), or None.
        key: The unencrypted PEM key of ``cert``, or None.
        ca_what: How messages name ``ca`` (with the variable it came from, if any).
        cert_what: How messages name ``cert``.
        key_what: How messages name ``key``.
    """

    ca: Path
    cert: Path | None = None
    key: Path | None = None
    ca_what: str = "TLS CA file"
    cert_what: str = "TLS certificate file"
    key_what: str = "TLS key file"

    def credentials(self) -> grpc.ChannelCredentials:
        """Read the files and build the channel credentials.

        Raises:
            TlsFileError: If a file cannot be read or parsed, or the key does not belong to
                the certificate.
        """
        ca = read_certificates(self.ca, self.ca_what)
        if self.cert is None or self.key is None:
            return grpc.ssl_channel_credentials(root_certificates=ca)
        pair = read_key_pair(
            self.cert, self.key, what_certificate=self.cert_what, what_key=self.key_what
        )
        return grpc.ssl_channel_credentials(
            root_certificates=ca,
            private_key=pair.private_key,
            certificate_chain=pair.certificate_chain,
        )


def _pick(argument: PathArg, variable: str, what: str) -> tuple[Path | None, str]:
    if argument is not None and os.fspath(argument) != "":
        return Path(argument), what
    from_env = os.environ.get(variable, "").strip()
    if from_env:
        return Path(from_env), f"{what} (${variable})"
    return None, what


def client_tls(
    ca: PathArg = None, cert: PathArg = None, key: PathArg = None, *, tls: bool | None = None
) -> ClientTls | None:
    """Decide how to dial: TLS with these files, or None for an insecure channel.

    Each argument that is None (or empty) is taken from its environment variable
    (``$PINBROKER_TLS_CA``, ``$PINBROKER_TLS_CERT``, ``$PINBROKER_TLS_KEY``). The files are
    not read here (see :meth:`ClientTls.credentials`).

    Args:
        ca: PEM CA certificates to trust.
        cert: The client's PEM certificate chain, for mutual TLS (needs ``key`` and a CA).
        key: The unencrypted PEM key of ``cert``.
        tls: None: TLS when a CA is given. False: insecure, whatever the environment says
            (arguments must be None). True: TLS, a CA must be given.

    Raises:
        TlsFileError: If a certificate comes without its key or the other way round, a client
            certificate without a CA, a CA is missing with ``tls=True``, or files are given
            with ``tls=False``.
    """
    if tls is False:
        if ca is not None or cert is not None or key is not None:
            raise TlsFileError("TLS files were given for an insecure channel (tls=False)")
        return None
    ca_path, ca_what = _pick(ca, TLS_CA_ENV_VAR, "TLS CA file")
    cert_path, cert_what = _pick(cert, TLS_CERT_ENV_VAR, "TLS certificate file")
    key_path, key_what = _pick(key, TLS_KEY_ENV_VAR, "TLS key file")
    if (cert_path is None) != (key_path is None):
        given, missing = (cert_what, key_what) if key_path is None else (key_what, cert_what)
        raise TlsFileError(f"a {given} needs a {missing} too (mutual TLS takes both)")
    if ca_path is None:
        if cert_path is not None:
            raise TlsFileError(
                f"a client certificate needs a TLS CA file to check the server with "
                f"(--tls-ca or ${TLS_CA_ENV_VAR})"
            )
        if tls:
            raise TlsFileError(f"TLS needs a CA file (--tls-ca or ${TLS_CA_ENV_VAR})")
        return None
    return ClientTls(
        ca=ca_path,
        cert=cert_path,
        key=key_path,
        ca_what=ca_what,
        cert_what=cert_what,
        key_what=key_what,
    )


def open_channel(address: str, tls: ClientTls | None) -> grpc.Channel:
    """Open a channel to ``address``: over TLS with ``tls``, else insecure.

    Raises:
        TlsFileError: If the TLS files are unusable (see :meth:`ClientTls.credentials`).
    """
    if tls is None:
        return grpc.insecure_channel(address)
    return grpc.secure_channel(address, tls.credentials())
