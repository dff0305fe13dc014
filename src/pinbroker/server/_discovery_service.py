"""The Discovery Service servicer, and the registrations of pinbroker's own services.

The servicer only converts: requests to registry calls, results to responses. Errors are
:class:`~pinbroker.errors.PinbrokerError` subclasses raised by the registry and mapped to
statuses by :class:`~pinbroker.server._errors.ErrorMappingInterceptor`.

NI's Pin Map and Session Management clients, given a ``discovery_client``, call
EnumerateComputeNodes (a single remote node would become the deployment target; pinbroker reports
only the local node), then ResolveService with ``provided_interface`` and ``service_class`` both
set to the service's gRPC full name, and connect to ``f"{location}:{insecure_port}"``.
:func:`register_builtin_services` registers exactly what they look for.
"""

from __future__ import annotations

from typing import Final

import grpc
import grpc.aio
from ni.measurementlink.discovery.v1 import annotations as discovery_annotations
from ni.measurementlink.discovery.v1 import discovery_service_pb2 as pb
from ni.measurementlink.discovery.v1 import discovery_service_pb2_grpc
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2

from pinbroker import __version__
from pinbroker.discovery import ServiceDescriptor, ServiceLocation, ServiceRegistry
from pinbroker.server._convert_discovery import (
    active_service_to_pb,
    compute_node_to_pb,
    descriptor_from_pb,
    descriptor_to_pb,
    location_from_pb,
    location_to_pb,
)

__all__ = [
    "PIN_MAP_SERVICE_NAME",
    "SESSION_MANAGEMENT_SERVICE_NAME",
    "DiscoveryServicer",
    "add_discovery_servicer",
    "register_builtin_services",
]

PIN_MAP_SERVICE_NAME: Final[str] = pin_map_service_pb2.DESCRIPTOR.services_by_name[
    "PinMapService"
].full_name
"""``ni.measurementlink.pinmap.v1.PinMapService``: interface and service class NI's client uses."""

SESSION_MANAGEMENT_SERVICE_NAME: Final[str] = (
    session_management_service_pb2.DESCRIPTOR.services_by_name["SessionManagementService"].full_name
)
"""``ni.measurementlink.sessionmanagement.v1.SessionManagementService``: interface and class."""

_WILDCARD_HOSTS: Final = frozenset({"", "0.0.0.0", "::", "[::]"})


class DiscoveryServicer(discovery_service_pb2_grpc.DiscoveryServiceServicer):
    """Serves ``ni.measurementlink.discovery.v1.DiscoveryService`` from a :class:`ServiceRegistry`.

    Args:
        registry: The registry the RPCs read and change.
    """

    def __init__(self, registry: ServiceRegistry) -> None:
        self._registry = registry

    def RegisterService(
        self, request: pb.RegisterServiceRequest, context: grpc.ServicerContext
    ) -> pb.RegisterServiceResponse:
        """Register a service instance; see :meth:`ServiceRegistry.register`."""
        registration_id = self._registry.register(
            descriptor_from_pb(request.service_description), location_from_pb(request.location)
        )
        return pb.RegisterServiceResponse(registration_id=registration_id)

    def UnregisterService(
        self, request: pb.UnregisterServiceRequest, context: grpc.ServicerContext
    ) -> pb.UnregisterServiceResponse:
        """Unregister a service instance; see :meth:`ServiceRegistry.unregister`."""
        self._registry.unregister(request.registration_id)
        return pb.UnregisterServiceResponse()

    def EnumerateServices(
        self, request: pb.EnumerateServicesRequest, context: grpc.ServicerContext
    ) -> pb.EnumerateServicesResponse:
        """List registered services, one per class; see :meth:`ServiceRegistry.enumerate`."""
        descriptors = self._registry.enumerate(request.provided_interface, request.service_class)
        return pb.EnumerateServicesResponse(
            available_services=[descriptor_to_pb(descriptor) for descriptor in descriptors]
        )

    def ResolveService(
        self, request: pb.ResolveServiceRequest, context: grpc.ServicerContext
    ) -> pb.ServiceLocation:
        """Resolve one service's location; see :meth:`ServiceRegistry.resolve`."""
        location = self._registry.resolve(
            request.provided_interface,
            request.service_class,
            request.deployment_target,
            request.version,
        )
        return location_to_pb(location)

    def ResolveServiceWithInformation(
        self, request: pb.ResolveServiceWithInformationRequest, context: grpc.ServicerContext
    ) -> pb.ResolveServiceWithInformationResponse:
        """Resolve one service's location and descriptor."""
        location, descriptor = self._registry.resolve_with_information(
            request.provided_interface,
            request.service_class,
            request.deployment_target,
            request.version,
        )
        return pb.ResolveServiceWithInformationResponse(
            service_location=location_to_pb(location),
            service_descriptor=descriptor_to_pb(descriptor),
        )

    def EnumerateComputeNodes(
        self, request: pb.EnumerateComputeNodesRequest, context: grpc.ServicerContext
    ) -> pb.EnumerateComputeNodesResponse:
        """List the compute nodes: this host, marked local."""
        return pb.EnumerateComputeNodesResponse(
            compute_nodes=[compute_node_to_pb(n) for n in self._registry.enumerate_compute_nodes()]
        )

    def EnumerateActiveServices(
        self, request: pb.EnumerateActiveServicesRequest, context: grpc.ServicerContext
    ) -> pb.EnumerateActiveServicesResponse:
        """List every registered instance; see :meth:`ServiceRegistry.enumerate_active_services`."""
        active = self._registry.enumerate_active_services(
            request.provided_interface, request.service_class
        )
        return pb.EnumerateActiveServicesResponse(
            active_services=[active_service_to_pb(service) for service in active]
        )


def add_discovery_servicer(
    server: grpc.Server | grpc.aio.Server, registry: ServiceRegistry
) -> DiscoveryServicer:
    """Serve the Discovery Service on ``server`` from ``registry``.

    Returns:
        The servicer added.
    """
    servicer = DiscoveryServicer(registry)
    discovery_service_pb2_grpc.add_DiscoveryServiceServicer_to_server(servicer, server)
    return servicer


def register_builtin_services(
    registry: ServiceRegistry, *, host: str, port: int, tls: bool = False
) -> list[str]:
    """Register pinbroker's Pin Map and Session Management services, served at ``host:port``.

    Each is registered with its gRPC full name as both provided interface and service class, as
    NI's clients resolve them. A wildcard ``host`` ("", "0.0.0.0", "::") is registered as
    ``localhost`` and an IPv6 literal in brackets, so ``f"{location}:{port}"`` is connectable.
    The Discovery Service itself is not registered: clients find it through the key file.
    Both registrations are protected: RegisterService of the same service class or interface,
    and UnregisterService of their ids, are PERMISSION_DENIED for every client.

    Args:
        registry: The registry to register in.
        host: The host the server listens on.
        port: The port the server listens on (the bound port, not 0).
        tls: The port serves TLS (``--tls-cert``): it is registered as the
            ``ssl_authenticated_port``, not as the ``insecure_port``.

    Returns:
        The registration ids, Pin Map Service first.

    Raises:
        InvalidServiceRegistrationError: If ``port`` is not in 1-65535.
    """
    location = ServiceLocation(
        location=_connectable_host(host),
        insecure_port="" if tls else str(port),
        ssl_authenticated_port=str(port) if tls else "",
    )
    builtins = (
        (PIN_MAP_SERVICE_NAME, "Pin Map Service (pinbroker)", "pin maps"),
        (
            SESSION_MANAGEMENT_SERVICE_NAME,
            "Session Management Service (pinbroker)",
            "instrument session registration and reservation",
        ),
    )
    return [
        registry.register(
            ServiceDescriptor(
                display_name=display_name,
                service_class=name,
                provided_interfaces=(name,),
                annotations={
                    discovery_annotations.SERVICE_DESCRIPTION_KEY: (
                        f"pinbroker {__version__}: {what}"
                    ),
                    discovery_annotations.SERVICE_PROGRAMMINGLANGUAGE_KEY: "Python",
                },
            ),
            location,
            protected=True,
        )
        for name, display_name, what in builtins
    ]


def _connectable_host(host: str) -> str:
    host = host.strip()
    if host in _WILDCARD_HOSTS:
        return "localhost"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host
