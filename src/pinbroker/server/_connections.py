"""Which gRPC connections are open: the peers of this process's servers, from channelz.

``--release-on-disconnect`` needs to know whether the connection a reservation was made on is
still open. gRPC has no connection events for servers, but its channelz statistics (on by
default) list every server socket with its peer, named as ``context.peer()`` names it
(``ipv4:127.0.0.1:51520``). Read through grpcio-channelz's ``ChannelzServicer``.
"""

from __future__ import annotations

from typing import Any

from grpc_channelz.v1 import channelz, channelz_pb2

# The public ChannelzServicer (in channelz.__all__); mypy misses the name in its sys.version_info
# branch, so it is looked up once here.
_Channelz: Any = getattr(channelz, "ChannelzServicer")  # noqa: B009

__all__ = ["connected_peers"]

_PAGE = 1000


class _NoContext:
    """Stands in for a servicer context: channelz reports errors through it."""

    def __init__(self) -> None:
        self.error: str | None = None

    def set_code(self, code: Any) -> None:
        self.error = str(code)

    def set_details(self, details: str) -> None:
        self.error = f"{self.error}: {details}"


def connected_peers() -> set[str]:
    """The peer of every open connection to any gRPC server of this process.

    Raises:
        RuntimeError: If channelz cannot be read.
    """
    context = _NoContext()
    peers: set[str] = set()
    start_server = 0
    while True:
        servers = _Channelz.GetServers(
            channelz_pb2.GetServersRequest(start_server_id=start_server), context
        )
        if servers is None:
            raise RuntimeError(f"channelz: {context.error}")
        for server in servers.server:
            peers |= _server_peers(server.ref.server_id, context)
            start_server = max(start_server, server.ref.server_id + 1)
        if servers.end or not servers.server:
            return peers


def _server_peers(server_id: int, context: _NoContext) -> set[str]:
    peers: set[str] = set()
    start = 0
    while True:
        sockets = _Channelz.GetServerSockets(
            channelz_pb2.GetServerSocketsRequest(
                server_id=server_id, start_socket_id=start, max_results=_PAGE
            ),
            context,
        )
        if sockets is None:  # the server went away meanwhile
            return peers
        for ref in sockets.socket_ref:
            # "chttp2 ipv4:127.0.0.1:51520": the transport, then the peer as context.peer()
            peers.add(ref.name.rsplit(" ", 1)[-1])
            start = max(start, ref.socket_id + 1)
        if sockets.end or not sockets.socket_ref:
            return peers
