"""Who counts as a local caller: loopback addresses and Unix sockets (one rule for gRPC and HTTP).

Destructive admin actions (force release through the admin service or the status page) are
allowed to local callers without the admin token.
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_local_peer", "is_loopback_host"]


def is_loopback_host(host: str | None) -> bool:
    """Whether a client address is loopback (IPv4, IPv6 or IPv4-mapped IPv6)."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_local_peer(peer: str) -> bool:
    """Whether a gRPC peer string (``ipv4:H:P``, ``ipv6:[H]:P``, ``unix:...``) is local."""
    kind, _, rest = peer.partition(":")
    if kind == "unix":
        return True
    if kind not in ("ipv4", "ipv6"):
        return False
    host = rest.rsplit(":", 1)[0]  # drop the port
    return is_loopback_host(host.removeprefix("[").removesuffix("]"))
