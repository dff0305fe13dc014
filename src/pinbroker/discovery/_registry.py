"""The service registry behind the Discovery Service: register, resolve, enumerate."""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from pinbroker.discovery._values import (
    ActiveService,
    ComputeNode,
    RegistrationId,
    ServiceDescriptor,
    ServiceLocation,
)
from pinbroker.discovery._version import INTERNAL_VERSION, Version, parse_version
from pinbroker.errors import (
    AmbiguousServiceError,
    InvalidServiceQueryError,
    InvalidServiceRegistrationError,
    PermissionDeniedError,
    RegistrationNotFoundError,
    ServiceNotFoundError,
)

__all__ = ["ServiceRegistry"]

_logger = logging.getLogger(__name__)

_MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class _Registration:
    registration_id: RegistrationId
    descriptor: ServiceDescriptor
    location: ServiceLocation
    version: Version  # INTERNAL_VERSION when the service registered without one
    protected: bool = False  # the server's own: no client may replace or unregister it

    def matches(self, provided_interface: str, service_class: str) -> bool:
        return (not provided_interface or self.descriptor.provides(provided_interface)) and (
            not service_class or self.descriptor.service_class == service_class
        )


class ServiceRegistry:
    """Thread-safe registry of running services on this compute node.

    A service class may be registered in several versions side by side. Registering a class in a
    version it is already registered in replaces the earlier registration (a restarted service
    re-registers before its old registration was removed); the earlier id is then unknown.

    A *protected* registration (the server's own services, registered with ``protected=True``)
    can be neither replaced nor unregistered: registering anything else with its service class
    or one of its interfaces, or unregistering its id, raises ``PermissionDeniedError``. So no
    client can send NI's clients to another port in place of pinbroker's own services.

    Args:
        local_node_url: Name reported for this host by :meth:`enumerate_compute_nodes` and
            accepted as a ``deployment_target``; defaults to ``socket.gethostname()``.
    """

    def __init__(self, *, local_node_url: str | None = None) -> None:
        self._lock = threading.Lock()
        self._local_node = ComputeNode(url=local_node_url or socket.gethostname(), is_local=True)
        self._registrations: dict[RegistrationId, _Registration] = {}
        # Consecutive failed liveness probes per registration; absent = last probe succeeded.
        self._failed_probes: dict[RegistrationId, int] = {}

    @property
    def local_node(self) -> ComputeNode:
        """The one compute node of this registry: the host it runs on."""
        return self._local_node

    def register(
        self,
        descriptor: ServiceDescriptor,
        location: ServiceLocation,
        *,
        protected: bool = False,
    ) -> RegistrationId:
        """Register a running service instance.

        Args:
            descriptor: What the service is.
            location: Where it is served.
            protected: The server's own service: refuse to replace or unregister it later.

        Returns:
            The id that :meth:`unregister` takes.

        Raises:
            InvalidServiceRegistrationError: If ``display_name``, ``provided_interfaces``,
                ``service_class`` or ``location`` is empty, both ports are empty, a port is not a
                number in 1-65535, or ``versions`` holds more than one version, a version not in
                ``major.minor.patch[.build]`` format or the reserved ``0.0.1``. A version that is
                the empty string counts as none (NI's SDK sends ``[""]`` for a ``.serviceconfig``
                without a version).
            PermissionDeniedError: If a protected registration has the same service class or
                provides one of the same interfaces.
        """
        if "" in descriptor.versions:
            descriptor = dataclasses.replace(
                descriptor, versions=tuple(v for v in descriptor.versions if v)
            )
        version = _validate_registration(descriptor, location)
        registration = _Registration(
            RegistrationId(uuid.uuid4().hex), descriptor, location, version, protected
        )
        with self._lock:
            for other in self._registrations.values():
                if other.protected and not protected and _overlaps(other.descriptor, descriptor):
                    _logger.warning(
                        "refused to register service %r at %s: it would replace %r",
                        descriptor.service_class,
                        location,
                        other.descriptor.display_name,
                    )
                    raise PermissionDeniedError(
                        f"cannot register service '{_cut(descriptor.service_class)}': "
                        f"'{other.descriptor.service_class}' is served by this server itself "
                        f"({other.descriptor.display_name}) and cannot be replaced"
                    )
            replaced = [
                old.registration_id
                for old in self._registrations.values()
                if old.descriptor.service_class == descriptor.service_class
                and old.version == version
            ]
            for registration_id in replaced:
                del self._registrations[registration_id]
                self._failed_probes.pop(registration_id, None)
            self._registrations[registration.registration_id] = registration
        _logger.info(
            "registered service %r version %s at %s as %s%s",
            descriptor.service_class,
            version,
            location,
            registration.registration_id,
            f" (replacing {', '.join(replaced)})" if replaced else "",
        )
        return registration.registration_id

    def unregister(self, registration_id: str) -> None:
        """Remove the registration ``registration_id``.

        Raises:
            InvalidServiceRegistrationError: If ``registration_id`` is empty.
            RegistrationNotFoundError: If no registration has that id (never registered, already
                unregistered, or replaced by a later registration of the same class and version).
            PermissionDeniedError: If the registration is protected (the server's own).
        """
        if not registration_id:
            raise InvalidServiceRegistrationError(
                "cannot unregister service: registration_id is empty"
            )
        with self._lock:
            found = self._registrations.get(RegistrationId(registration_id))
            if found is None:
                raise RegistrationNotFoundError(_cut(registration_id))
            if found.protected:
                raise PermissionDeniedError(
                    f"cannot unregister {registration_id}: it is "
                    f"{found.descriptor.display_name}, served by this server itself"
                )
            removed = self._registrations.pop(found.registration_id)
            self._failed_probes.pop(found.registration_id, None)
        _logger.info(
            "unregistered service %r (%s)", removed.descriptor.service_class, registration_id
        )

    def enumerate(
        self, provided_interface: str = "", service_class: str = ""
    ) -> list[ServiceDescriptor]:
        """Describe the registered services, one descriptor per service class.

        Args:
            provided_interface: Only services implementing this gRPC interface; "" = all.
            service_class: Only this service class; "" = all.

        Returns:
            Descriptors sorted by service class. Each is the descriptor of the class's newest
            registered version, with ``versions`` listing every registered version of the class
            (oldest first; a registration without a version adds none).
        """
        groups: dict[str, list[_Registration]] = {}
        for registration in self._matching(provided_interface, service_class):
            groups.setdefault(registration.descriptor.service_class, []).append(registration)
        descriptors = []
        for name in sorted(groups):
            by_version = sorted(groups[name], key=lambda registration: registration.version)
            versions = tuple(v for r in by_version for v in r.descriptor.versions)
            descriptors.append(dataclasses.replace(by_version[-1].descriptor, versions=versions))
        return descriptors

    def resolve(
        self,
        provided_interface: str,
        service_class: str = "",
        deployment_target: str = "",
        version: str = "",
    ) -> ServiceLocation:
        """Return the location of the one service that matches.

        Args:
            provided_interface: gRPC full name of the interface needed. Required.
            service_class: The service class wanted; "" accepts any, as long as only one class
                matches.
            deployment_target: "" or the url of this registry's compute node.
            version: ``major.minor.patch[.build]`` version wanted; "" = the newest registered.

        Raises:
            InvalidServiceQueryError: If ``provided_interface`` is empty or ``version`` is not in
                ``major.minor.patch[.build]`` format.
            ServiceNotFoundError: If no registered service matches, or ``deployment_target``
                names a node other than this one.
            AmbiguousServiceError: If ``service_class`` is empty and services of more than one
                class match.
        """
        return self._resolve(provided_interface, service_class, deployment_target, version).location

    def resolve_with_information(
        self,
        provided_interface: str,
        service_class: str = "",
        deployment_target: str = "",
        version: str = "",
    ) -> tuple[ServiceLocation, ServiceDescriptor]:
        """Like :meth:`resolve`, and also return the resolved service's descriptor.

        The descriptor's ``versions`` holds the resolved version, or nothing when that service
        registered without a version.

        Raises:
            InvalidServiceQueryError: As for :meth:`resolve`.
            ServiceNotFoundError: As for :meth:`resolve`.
            AmbiguousServiceError: As for :meth:`resolve`.
        """
        registration = self._resolve(provided_interface, service_class, deployment_target, version)
        return registration.location, registration.descriptor

    def enumerate_compute_nodes(self) -> list[ComputeNode]:
        """Return the compute nodes services can be resolved on: this host, marked local."""
        return [self._local_node]

    def enumerate_active_services(
        self, provided_interface: str = "", service_class: str = ""
    ) -> list[ActiveService]:
        """List every registered service instance, in registration order.

        Unlike :meth:`enumerate`, versions of one class are listed as separate instances.

        Args:
            provided_interface: Only services implementing this gRPC interface; "" = all.
            service_class: Only this service class; "" = all.
        """
        return [
            ActiveService(r.registration_id, r.descriptor, r.location)
            for r in self._matching(provided_interface, service_class)
        ]

    def probe_targets(self) -> list[ActiveService]:
        """The registrations the liveness probe checks: all but the protected (server's own)."""
        with self._lock:
            return [
                ActiveService(r.registration_id, r.descriptor, r.location)
                for r in self._registrations.values()
                if not r.protected
            ]

    def record_probe(
        self, registration_id: RegistrationId, *, reachable: bool, remove_after: int
    ) -> bool:
        """Record one liveness probe of a registration; remove it once it failed too often.

        A registration whose last probe failed is skipped by :meth:`resolve` (it stays listed by
        the enumerations until removed). After ``remove_after`` consecutive failures it is
        unregistered, with one WARNING log line. A probe of a registration that is gone by now
        (unregistered or replaced meanwhile) is ignored.

        Args:
            registration_id: The registration probed.
            reachable: Whether its location accepted a connection.
            remove_after: Consecutive failures after which the registration is removed (>= 1).

        Returns:
            Whether the registration was removed.
        """
        with self._lock:
            registration = self._registrations.get(registration_id)
            if registration is None or registration.protected:
                return False
            if reachable:
                self._failed_probes.pop(registration_id, None)
                return False
            failures = self._failed_probes.get(registration_id, 0) + 1
            if failures < remove_after:
                self._failed_probes[registration_id] = failures
                return False
            del self._registrations[registration_id]
            self._failed_probes.pop(registration_id, None)
        location = registration.location
        _logger.warning(
            "unregistered service %r at %s (%s): unreachable for %d probes in a row",
            registration.descriptor.service_class,
            location.insecure_address
            if location.insecure_port
            else location.ssl_authenticated_address,
            registration_id,
            failures,
        )
        return True

    def _matching(self, provided_interface: str, service_class: str) -> list[_Registration]:
        with self._lock:
            return [
                registration
                for registration in self._registrations.values()
                if registration.matches(provided_interface, service_class)
            ]

    def _resolve(
        self, provided_interface: str, service_class: str, deployment_target: str, version: str
    ) -> _Registration:
        if not provided_interface:
            raise InvalidServiceQueryError("cannot resolve service: provided_interface is empty")
        wanted = parse_version(version) if version else None
        if version and wanted is None:
            raise InvalidServiceQueryError(
                f"cannot resolve service: version '{version}' is not in "
                "major.minor.patch[.build] format"
            )
        request = _describe_request(provided_interface, service_class, version)
        if deployment_target and deployment_target.casefold() != self._local_node.url.casefold():
            raise ServiceNotFoundError(
                f"cannot resolve {request}: deployment target '{deployment_target}' is not a "
                f"known compute node (this node is '{self._local_node.url}')"
            )
        with self._lock:
            unreachable = set(self._failed_probes)
        matches = [
            registration
            for registration in self._matching(provided_interface, service_class)
            if (wanted is None or registration.version == wanted)
            and registration.registration_id not in unreachable
        ]
        if not matches:
            raise ServiceNotFoundError(f"no registered service matches {request}")
        classes = sorted({registration.descriptor.service_class for registration in matches})
        if len(classes) > 1:
            raise AmbiguousServiceError(provided_interface, classes)
        return max(matches, key=lambda registration: registration.version)


def _overlaps(protected: ServiceDescriptor, other: ServiceDescriptor) -> bool:
    """Whether ``other`` would replace ``protected`` or compete with it in a resolve."""
    return other.service_class == protected.service_class or not set(
        other.provided_interfaces
    ).isdisjoint(protected.provided_interfaces)


_MAX_QUOTED = 200


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_QUOTED else text[: _MAX_QUOTED - 3] + "..."


def _describe_request(provided_interface: str, service_class: str, version: str) -> str:
    text = f"interface '{provided_interface}'"
    if service_class:
        text += f", service class '{service_class}'"
    if version:
        text += f", version '{version}'"
    return text


def _validate_registration(descriptor: ServiceDescriptor, location: ServiceLocation) -> Version:
    """Return the version to record for the registration, or raise with every problem found."""
    problems = []
    if not descriptor.display_name.strip():
        problems.append("display_name is empty")
    if not descriptor.provided_interfaces:
        problems.append("provided_interfaces is empty")
    empty = [i for i, name in enumerate(descriptor.provided_interfaces) if not name.strip()]
    problems.extend(f"provided_interfaces[{index}] is empty" for index in empty[:10])
    if len(empty) > 10:
        problems.append(f"... and {len(empty) - 10} more empty provided_interfaces")
    if not descriptor.service_class.strip():
        problems.append("service_class is empty")
    version, version_problem = _registered_version(descriptor.versions)
    if version_problem:
        problems.append(version_problem)
    if not location.location.strip():
        problems.append("location is empty")
    if not location.insecure_port and not location.ssl_authenticated_port:
        problems.append("insecure_port and ssl_authenticated_port are both empty")
    for name, port in (
        ("insecure_port", location.insecure_port),
        ("ssl_authenticated_port", location.ssl_authenticated_port),
    ):
        if port and not _is_port(port):
            problems.append(f"{name} '{port}' is not a port number (1-{_MAX_PORT})")
    if problems:
        which = f" '{_cut(descriptor.service_class)}'" if descriptor.service_class.strip() else ""
        raise InvalidServiceRegistrationError(
            f"cannot register service{which}: {'; '.join(problems)}"
        )
    return version


def _registered_version(versions: Sequence[str]) -> tuple[Version, str | None]:
    if not versions:
        return INTERNAL_VERSION, None
    if len(versions) > 1:
        return INTERNAL_VERSION, f"versions must hold one version, not {len(versions)}"
    parsed = parse_version(versions[0])
    if parsed is None:
        return (
            INTERNAL_VERSION,
            f"version '{versions[0]}' is not in major.minor.patch[.build] format",
        )
    if parsed == INTERNAL_VERSION:
        return INTERNAL_VERSION, f"version '{versions[0]}' is reserved for internal use"
    return parsed, None


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 0 < int(text) <= _MAX_PORT
