"""The registry behind the Discovery Service (pure: no grpc, no protobuf).

:class:`ServiceRegistry` records running services (:class:`ServiceDescriptor` +
:class:`ServiceLocation`), resolves a gRPC interface to one of them, and reports this host as the
one local :class:`ComputeNode`. The gRPC edge is ``pinbroker.server._discovery_service``.
"""

from __future__ import annotations

from pinbroker.discovery._registry import ServiceRegistry
from pinbroker.discovery._values import (
    ActiveService,
    ComputeNode,
    RegistrationId,
    ServiceDescriptor,
    ServiceLocation,
)
from pinbroker.discovery._version import INTERNAL_VERSION, Version, parse_version

__all__ = [
    "INTERNAL_VERSION",
    "ActiveService",
    "ComputeNode",
    "RegistrationId",
    "ServiceDescriptor",
    "ServiceLocation",
    "ServiceRegistry",
    "Version",
    "parse_version",
]
