"""Frozen values of the discovery registry (pure: no grpc, no protobuf)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NewType

__all__ = [
    "ActiveService",
    "ComputeNode",
    "RegistrationId",
    "ServiceDescriptor",
    "ServiceLocation",
]

RegistrationId = NewType("RegistrationId", str)
"""Id the registry hands out on registration; the only key UnregisterService accepts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceDescriptor:
    """Description of a service, as registered and as reported back.

    Sequences are stored as tuples and the annotations as a read-only copy, whatever the caller
    passed, so a descriptor never changes after construction.

    Attributes:
        display_name: The user visible name of the service.
        description_url: Optional URL describing the service.
        provided_interfaces: gRPC full names of the service interfaces the service implements.
        service_class: The concrete "class" of the service; unique per service.
        annotations: Free-form key/value annotations (``ni/service.description``, ...).
        versions: At registration: none or one ``major.minor.patch`` version. In enumeration
            results: every registered version of the class, oldest first. In resolution results:
            the version of the resolved service (none when it registered without one).
    """

    display_name: str
    service_class: str
    provided_interfaces: tuple[str, ...]
    description_url: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)
    versions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "provided_interfaces", _str_tuple(self.provided_interfaces))
        object.__setattr__(self, "versions", _str_tuple(self.versions))
        object.__setattr__(self, "annotations", MappingProxyType(dict(self.annotations)))

    def __hash__(self) -> int:
        return hash(
            (
                self.display_name,
                self.service_class,
                self.provided_interfaces,
                self.description_url,
                frozenset(self.annotations.items()),
                self.versions,
            )
        )

    def provides(self, interface: str) -> bool:
        """Return whether the service implements the gRPC interface ``interface``."""
        return interface in self.provided_interfaces


@dataclass(frozen=True, slots=True)
class ServiceLocation:
    """Where a service listens.

    Ports are kept as the strings the wire carries; the registry validates them on registration.

    Attributes:
        location: Host name or IP address of the service (IPv6 literals in brackets).
        insecure_port: Port for plain-text gRPC, or "" when the service has none.
        ssl_authenticated_port: Port for TLS-authenticated gRPC, or "" when it has none.
    """

    location: str
    insecure_port: str = ""
    ssl_authenticated_port: str = ""

    @property
    def insecure_address(self) -> str:
        """``location:insecure_port``, as NI's clients build it for ``grpc.insecure_channel``."""
        return f"{self.location}:{self.insecure_port}"

    @property
    def ssl_authenticated_address(self) -> str:
        """``location:ssl_authenticated_port``."""
        return f"{self.location}:{self.ssl_authenticated_port}"


@dataclass(frozen=True, slots=True)
class ComputeNode:
    """A node services can be resolved on.

    Attributes:
        url: The resolvable name of the node; usable as a ``deployment_target``.
        is_local: Whether this is the node the discovery service runs on.
    """

    url: str
    is_local: bool


@dataclass(frozen=True, slots=True)
class ActiveService:
    """One registered, running service instance.

    Attributes:
        registration_id: The id its registration returned.
        descriptor: The descriptor as registered (``versions`` holds its one version, or none).
        location: Where it listens.
    """

    registration_id: RegistrationId
    descriptor: ServiceDescriptor
    location: ServiceLocation


def _str_tuple(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        # A bare string would silently become a tuple of characters.
        raise TypeError(f"expected a sequence of strings, got the string {values!r}")
    return tuple(values)
