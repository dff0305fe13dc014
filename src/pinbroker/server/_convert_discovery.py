"""Conversion between the discovery registry's values and the Discovery Service messages."""

from __future__ import annotations

from ni.measurementlink.discovery.v1 import discovery_service_pb2 as pb

from pinbroker.discovery import ActiveService, ComputeNode, ServiceDescriptor, ServiceLocation

__all__ = [
    "active_service_to_pb",
    "compute_node_from_pb",
    "compute_node_to_pb",
    "descriptor_from_pb",
    "descriptor_to_pb",
    "location_from_pb",
    "location_to_pb",
]


def descriptor_from_pb(message: pb.ServiceDescriptor) -> ServiceDescriptor:
    """Convert a ServiceDescriptor message (unset fields become empty values)."""
    return ServiceDescriptor(
        display_name=message.display_name,
        description_url=message.description_url,
        provided_interfaces=tuple(message.provided_interfaces),
        service_class=message.service_class,
        annotations=dict(message.annotations),
        versions=tuple(message.versions),
    )


def descriptor_to_pb(descriptor: ServiceDescriptor) -> pb.ServiceDescriptor:
    """Convert a descriptor to its message."""
    return pb.ServiceDescriptor(
        display_name=descriptor.display_name,
        description_url=descriptor.description_url,
        provided_interfaces=descriptor.provided_interfaces,
        service_class=descriptor.service_class,
        annotations=descriptor.annotations,
        versions=descriptor.versions,
    )


def location_from_pb(message: pb.ServiceLocation) -> ServiceLocation:
    """Convert a ServiceLocation message; ports stay strings, the registry validates them."""
    return ServiceLocation(
        location=message.location,
        insecure_port=message.insecure_port,
        ssl_authenticated_port=message.ssl_authenticated_port,
    )


def location_to_pb(location: ServiceLocation) -> pb.ServiceLocation:
    """Convert a location to its message."""
    return pb.ServiceLocation(
        location=location.location,
        insecure_port=location.insecure_port,
        ssl_authenticated_port=location.ssl_authenticated_port,
    )


def compute_node_from_pb(message: pb.ComputeNodeDescriptor) -> ComputeNode:
    """Convert a ComputeNodeDescriptor message."""
    return ComputeNode(url=message.url, is_local=message.is_local)


def compute_node_to_pb(node: ComputeNode) -> pb.ComputeNodeDescriptor:
    """Convert a compute node to its message."""
    return pb.ComputeNodeDescriptor(url=node.url, is_local=node.is_local)


def active_service_to_pb(active: ActiveService) -> pb.ActiveServiceInformation:
    """Convert an active service instance; its registration id is not part of the message."""
    return pb.ActiveServiceInformation(
        service_descriptor=descriptor_to_pb(active.descriptor),
        service_location=location_to_pb(active.location),
    )
