"""The registry behind the Discovery Service (pure: no grpc, no protobuf).

:class:`ServiceRegistry` records running services (:class:`ServiceDescriptor` +
:class:`ServiceLocation`), resolves a gRPC interface to one of them, and reports this host as the
one local :class:`ComputeNode`. :func:`run_liveness_probe` removes registrations whose service
stopped answering (see :class:`LivenessPolicy`). The gRPC edge is
``pinbroker.server._discovery_service``.
"""

from __future__ import annotations

from pinbroker.discovery._liveness import (
    DEFAULT_LIVENESS,
    LivenessPolicy,
    probe_address,
    probe_registrations,
    run_liveness_probe,
    tcp_probe,
)
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
    "DEFAULT_LIVENESS",
    "INTERNAL_VERSION",
    "ActiveService",
    "ComputeNode",
    "LivenessPolicy",
    "RegistrationId",
    "ServiceDescriptor",
    "ServiceLocation",
    "ServiceRegistry",
    "Version",
    "parse_version",
    "probe_address",
    "probe_registrations",
    "run_liveness_probe",
    "tcp_probe",
]
