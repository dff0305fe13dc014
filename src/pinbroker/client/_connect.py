"""Finding a running pinbroker and connecting ready-to-use clients to it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import grpc

from pinbroker.client._lease_registry import existing_lease_keeper
from pinbroker.client._pin_map import PinMapClient
from pinbroker.client._session_client import PinbrokerSessionClient
from pinbroker.client._tls import PathArg, client_tls, open_channel
from pinbroker.discovery_file import default_key_file_path, read_key_file
from pinbroker.errors import UnavailableError

__all__ = ["ADDRESS_ENV_VAR", "Clients", "ServerLocation", "ServerNotFoundError", "connect"]

ADDRESS_ENV_VAR = "PINBROKER_ADDRESS"
"""Environment variable holding ``host:port`` of the pinbroker to use."""


class ServerNotFoundError(UnavailableError):
    """Raised by :func:`connect` when no pinbroker can be found or it does not answer in time.

    The message says where it looked (argument, environment variable, key file path).
    """


@dataclass(frozen=True, slots=True)
class ServerLocation:
    """Where a pinbroker is and how :func:`locate_server` learnt it.

    Attributes:
        address: ``host:port`` to dial.
        source: Human-readable origin, e.g. ``discovery key file /run/user/1000/...``.
        pid: Process id recorded in the discovery key file, if any.
    """

    address: str
    source: str
    pid: int | None = None


def locate_server(address: str | None = None, *, key_file: Path | None = None) -> ServerLocation:
    """Decide which pinbroker to talk to, without connecting.

    Looks, in order, at ``address``, the ``PINBROKER_ADDRESS`` environment variable, and the
    discovery key file ``pinbroker serve`` writes (``key_file``, default
    :func:`pinbroker.discovery_file.default_key_file_path`).

    Raises:
        ServerNotFoundError: If none of them gives an address; the message lists what was
            tried.
    """
    if address:
        return ServerLocation(address=address, source="the address argument")
    from_env = os.environ.get(ADDRESS_ENV_VAR, "").strip()
    if from_env:
        return ServerLocation(address=from_env, source=f"${ADDRESS_ENV_VAR}")
    path = key_file if key_file is not None else default_key_file_path()
    try:
        key = read_key_file(path)
    except FileNotFoundError:
        problem = f"no discovery key file at {path}"
    except (OSError, ValueError) as error:
        problem = f"unusable discovery key file: {error}"
    else:
        return ServerLocation(address=key.address, source=f"discovery key file {path}", pid=key.pid)
    raise ServerNotFoundError(
        "No running pinbroker found: no address argument, "
        f"${ADDRESS_ENV_VAR} not set, {problem}. "
        f"Start one with `pinbroker serve`, or pass an address / set ${ADDRESS_ENV_VAR}."
    )


@dataclass(frozen=True)
class Clients:
    """Clients of one pinbroker sharing one channel. Close it (or use ``with``) when done.

    Attributes:
        channel: The gRPC channel, ready when :func:`connect` returned it.
        session_management: Session management client (the documented API plus extras).
        pin_map: Pin map client.
        location: Which server this is and how it was found.
    """

    channel: grpc.Channel
    session_management: PinbrokerSessionClient
    pin_map: PinMapClient
    location: ServerLocation

    def close(self) -> None:
        """Revoke the channel's lease (if any), then close the channel.

        Revoking first frees at once whatever is still reserved under the lease; the clients
        cannot be used afterwards.
        """
        keeper = existing_lease_keeper(self.channel)
        if keeper is not None:
            keeper.close()
        self.channel.close()

    def __enter__(self) -> Clients:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def connect(
    address: str | None = None,
    *,
    timeout: float = 10.0,
    tls_ca: PathArg = None,
    tls_cert: PathArg = None,
    tls_key: PathArg = None,
    tls: bool | None = None,
) -> Clients:
    """Connect to a running pinbroker and return ready clients.

    The channel is TLS when a CA is given (``tls_ca``, else ``$PINBROKER_TLS_CA``), for a
    server started with ``--tls-cert``; mutual TLS adds the client's certificate and key
    (``tls_cert`` and ``tls_key``, else ``$PINBROKER_TLS_CERT`` and ``$PINBROKER_TLS_KEY``).
    Without a CA it is insecure.

    Args:
        address: ``host:port`` of the server. If None, ``$PINBROKER_ADDRESS`` is used, else the
            discovery key file written by ``pinbroker serve`` (see :func:`locate_server`).
        timeout: Seconds to wait for the channel to become ready.
        tls_ca: PEM file of the CA certificates the server's certificate must be signed by.
        tls_cert: PEM certificate chain of this client, for a server with ``--tls-client-ca``.
        tls_key: The unencrypted PEM key of ``tls_cert``.
        tls: None (default): TLS when a CA is given. False: an insecure channel, whatever the
            environment says. True: TLS, a CA must be given.

    Returns:
        Clients sharing one ready channel.

    Raises:
        ServerNotFoundError: If no address can be found, or the server does not answer within
            ``timeout`` (the message says which address and where it came from; a TLS
            handshake that fails looks the same: a wrong CA, a server without TLS, or a client
            certificate the server does not accept).
        TlsFileError: If a TLS file cannot be read or parsed, or the TLS arguments do not pair
            up (a certificate without its key, a client certificate without a CA).
    """
    settings = client_tls(tls_ca, tls_cert, tls_key, tls=tls)
    location = locate_server(address)
    channel = open_channel(location.address, settings)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        channel.close()
        hint = ""
        if location.pid is not None:
            hint = f" (the key file names process {location.pid}; it may have stopped)"
        how = "insecure" if settings is None else f"over TLS, trusting {settings.ca}"
        raise ServerNotFoundError(
            f"pinbroker at {location.address} (from {location.source}, {how}) did not answer "
            f"within {timeout} s{hint}"
        ) from None
    except BaseException:
        channel.close()
        raise
    return Clients(
        channel=channel,
        session_management=PinbrokerSessionClient(grpc_channel=channel),
        pin_map=PinMapClient(grpc_channel=channel),
        location=location,
    )
