"""The one exception tree of pinbroker.

Every error pinbroker raises on purpose derives from :class:`PinbrokerError` and names the gRPC
status it maps to in its ``status`` class attribute. The server converts exceptions to statuses in
one place (``pinbroker.server._errors``); the pure core never imports grpc, so the status is stored
as the name of a ``grpc.StatusCode`` member.

::

    PinbrokerError                          INTERNAL (never raised directly)
    ├── InvalidArgumentError                INVALID_ARGUMENT
    │   ├── PinMapParseError                  malformed / hostile / invalid pin map XML (with line)
    │   ├── UnknownPinOrRelayError            a name matches no pin, relay or group
    │   ├── UnknownSiteError                  a site is not defined in the pin map
    │   ├── InvalidTimeoutError               timeout < -1 ms (or not finite)
    │   ├── InvalidPinMapIdError              empty or whitespace-containing pin map id
    │   ├── InvalidSessionError               empty session name, malformed session info
    │   ├── InvalidServiceRegistrationError   RegisterService: empty field, bad port or version
    │   └── InvalidServiceQueryError          ResolveService: no interface, malformed version
    ├── NotFoundError                       NOT_FOUND
    │   ├── PinMapNotFoundError               no pin map with that id
    │   ├── SiteNotFoundError                 QueryResourceAccessInformation: site not in pin map
    │   ├── RegistrationNotFoundError         UnregisterService: unknown registration id
    │   ├── ServiceNotFoundError              ResolveService: no service matches the request
    │   └── LeaseNotFoundError                a lease expired, was revoked or never existed
    ├── AlreadyExistsError                  ALREADY_EXISTS
    │   ├── PinMapAlreadyExistsError          CreatePinMapFromXml on an existing id
    │   └── SessionAlreadyRegisteredError     a session / multiplexer session name is registered
    ├── FailedPreconditionError             FAILED_PRECONDITION
    │   ├── AmbiguousServiceError             ResolveService: several service classes match
    │   └── StaleTokenError                   --strict-owner: unreserve with a stale or no token
    ├── PermissionDeniedError               PERMISSION_DENIED (admin call from afar without token)
    ├── ResourceExhaustedError              RESOURCE_EXHAUSTED
    │   ├── PinMapTooLargeError               the pin map exceeds a configured size limit
    │   ├── UnreserveError                    UnreserveSessions failed
    │   └── StateDiskFullError                the state disk is full: a write was refused
    ├── UnavailableError                    UNAVAILABLE
    │   ├── ReservationTimeoutError           sessions not free before the timeout
    │   └── ShuttingDownError                 the server stops while the call waits
    ├── CancelledError                      CANCELLED (the caller went away while waiting)
    └── StateError                          INTERNAL (start-up: the state cannot be used)
        ├── StateInUseError                   another pinbroker process holds the state directory
        ├── StateDatabaseError                the state file is empty, damaged, foreign or newer
        └── StateNotWritableError             the state directory or database is not writable

Messages name the problem and where it is, e.g.
``pin map line 14: Connection refers to unknown pin 'VDD2'``.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "AmbiguousServiceError",
    "CancelledError",
    "DatabaseUnavailableError",
    "FailedPreconditionError",
    "InvalidArgumentError",
    "InvalidPinMapIdError",
    "InvalidServiceQueryError",
    "InvalidServiceRegistrationError",
    "InvalidSessionError",
    "InvalidTimeoutError",
    "LeaseNotFoundError",
    "NotFoundError",
    "PermissionDeniedError",
    "PinMapAlreadyExistsError",
    "PinMapNotFoundError",
    "PinMapParseError",
    "PinMapTooLargeError",
    "PinbrokerError",
    "RegistrationNotFoundError",
    "ReservationTimeoutError",
    "ResourceExhaustedError",
    "ServiceNotFoundError",
    "SessionAlreadyRegisteredError",
    "ShuttingDownError",
    "SiteNotFoundError",
    "StaleTokenError",
    "StateDatabaseError",
    "StateDiskFullError",
    "StateError",
    "StateInUseError",
    "StateNotWritableError",
    "UnavailableError",
    "UnknownPinOrRelayError",
    "UnknownSiteError",
    "UnreserveError",
]


class PinbrokerError(Exception):
    """Root of every error pinbroker raises on purpose.

    Attributes:
        status: Name of the ``grpc.StatusCode`` member the server answers with.
    """

    status: str = "INTERNAL"


class InvalidArgumentError(PinbrokerError):
    """Raised when a request or input is invalid; maps to INVALID_ARGUMENT."""

    status = "INVALID_ARGUMENT"


class PinMapParseError(InvalidArgumentError):
    """Raised when pin map XML is malformed, hostile (DTD, entities) or fails validation.

    Attributes:
        line: 1-based line in the XML where the problem is, or None when not tied to a line.
        source: Where the XML came from (file path or pin map id), or None.
        problems: Every problem found, each already formatted with its line; the exception's
            message is the first of them followed by a count of the rest.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        source: str | None = None,
        problems: tuple[str, ...] = (),
    ) -> None:
        self.line = line
        self.source = source
        located = f"pin map line {line}: {message}" if line is not None else f"pin map: {message}"
        self.problems = problems or (located,)
        text = self.problems[0]
        if len(self.problems) > 1:
            text += f" (and {len(self.problems) - 1} more problem(s))"
        if source:
            text = f"{source}: {text}"
        super().__init__(text)


class UnknownPinOrRelayError(InvalidArgumentError):
    """Raised when a requested name matches no pin, pin group, relay or relay group."""

    def __init__(self, name: str, pin_map_id: str | None = None) -> None:
        self.name = name
        where = f" in pin map '{pin_map_id}'" if pin_map_id else ""
        super().__init__(f"'{name}' is not a pin, pin group, relay or relay group{where}")


class UnknownSiteError(InvalidArgumentError):
    """Raised when a requested site is not defined in the pin map."""

    def __init__(self, site: int, pin_map_id: str | None = None) -> None:
        self.site = site
        where = f" in pin map '{pin_map_id}'" if pin_map_id else ""
        super().__init__(f"site {site} is not defined{where}")


class InvalidTimeoutError(InvalidArgumentError):
    """Raised when a timeout is below -1 ms (the only negative value allowed is -1 = forever)."""


class InvalidPinMapIdError(InvalidArgumentError):
    """Raised when a pin map id is empty or contains whitespace."""


class InvalidSessionError(InvalidArgumentError):
    """Raised when session information is unusable, e.g. an empty session name."""


class InvalidServiceRegistrationError(InvalidArgumentError):
    """Raised by the Discovery Service when a registration or unregistration request is invalid.

    RegisterService: ``display_name``, ``provided_interfaces``, ``service_class`` or ``location``
    is empty, both ports are empty, a port is not a number in 1-65535, or ``versions`` holds more
    than one version, a version not in ``major.minor.patch`` or ``major.minor.patch.build``
    format (an empty string counts as no version, as NI's SDK sends it) or the reserved
    ``0.0.1``.
    UnregisterService: the registration id is empty.
    """


class InvalidServiceQueryError(InvalidArgumentError):
    """Raised by the Discovery Service's ResolveService for an empty ``provided_interface``.

    Also raised when the requested ``version`` is not in ``major.minor.patch`` or
    ``major.minor.patch.build`` format.
    """


class NotFoundError(PinbrokerError):
    """Raised when a referenced object does not exist; maps to NOT_FOUND."""

    status = "NOT_FOUND"


class PinMapNotFoundError(NotFoundError):
    """Raised when no pin map is registered under the given id."""

    def __init__(self, pin_map_id: str) -> None:
        self.pin_map_id = pin_map_id
        super().__init__(f"pin map '{pin_map_id}' is not registered with the Pin Map Service")


class SiteNotFoundError(NotFoundError):
    """Raised by the Pin Map Service's QueryResourceAccessInformation for an undefined site.

    NI documents NOT_FOUND there, unlike the Session Management Service's INVALID_ARGUMENT.
    """

    def __init__(self, site: int, pin_map_id: str | None = None) -> None:
        self.site = site
        where = f" in pin map '{pin_map_id}'" if pin_map_id else ""
        super().__init__(f"site {site} is not defined{where}")


class RegistrationNotFoundError(NotFoundError):
    """Raised by the Discovery Service's UnregisterService for an unknown registration id.

    The id was never handed out, was already unregistered, or its registration was replaced by a
    later registration of the same service class and version.
    """

    def __init__(self, registration_id: str) -> None:
        self.registration_id = registration_id
        super().__init__(
            f"no service is registered with the Discovery Service under id '{registration_id}'"
        )


class ServiceNotFoundError(NotFoundError):
    """Raised by the Discovery Service's ResolveService when no registered service matches.

    Also raised when the ``deployment_target`` is not a compute node the service knows.
    """


class AlreadyExistsError(PinbrokerError):
    """Raised when creating something that already exists; maps to ALREADY_EXISTS."""

    status = "ALREADY_EXISTS"


class PinMapAlreadyExistsError(AlreadyExistsError):
    """Raised by CreatePinMapFromXml when the pin map id is already in use."""

    def __init__(self, pin_map_id: str) -> None:
        self.pin_map_id = pin_map_id
        super().__init__(f"pin map '{pin_map_id}' already exists")


class SessionAlreadyRegisteredError(AlreadyExistsError):
    """Raised when registering a session name that is already registered."""

    def __init__(self, session_name: str, kind: str = "session") -> None:
        self.session_name = session_name
        super().__init__(f"{kind} '{session_name}' is already registered")


class FailedPreconditionError(PinbrokerError):
    """Raised when the system is not in a state the request needs; maps to FAILED_PRECONDITION."""

    status = "FAILED_PRECONDITION"


class AmbiguousServiceError(FailedPreconditionError):
    """Raised by ResolveService when services of more than one class match and none was named."""

    def __init__(self, provided_interface: str, service_classes: list[str]) -> None:
        self.provided_interface = provided_interface
        self.service_classes = tuple(service_classes)
        listed = ", ".join(f"'{name}'" for name in service_classes)
        super().__init__(
            f"{len(service_classes)} services provide interface '{provided_interface}' "
            f"(service classes {listed}); set service_class to choose one"
        )


class ResourceExhaustedError(PinbrokerError):
    """Raised when a limit is exceeded; maps to RESOURCE_EXHAUSTED."""

    status = "RESOURCE_EXHAUSTED"


class PinMapTooLargeError(ResourceExhaustedError):
    """Raised when pin map XML exceeds a configured size limit (bytes, elements or depth)."""


class UnreserveError(ResourceExhaustedError):
    """Raised when UnreserveSessions cannot release what it was given."""


class UnavailableError(PinbrokerError):
    """Raised when something is temporarily unavailable; maps to UNAVAILABLE."""

    status = "UNAVAILABLE"


class ReservationTimeoutError(UnavailableError):
    """Raised when the requested sessions were not all free before the timeout expired."""


class ShuttingDownError(UnavailableError):
    """Raised to a waiting reservation when the server shuts down."""


class DatabaseUnavailableError(UnavailableError):
    """Raised when the shared PostgreSQL database cannot be reached (``--database``).

    The call did not take effect, unless the connection broke exactly at its commit (then it
    may have: ``docs/design.md``, "Several hosts"); the server reconnects by itself.
    """


class CancelledError(PinbrokerError):
    """Raised to a waiting reservation whose caller cancelled or went away."""

    status = "CANCELLED"


class LeaseNotFoundError(NotFoundError):
    """Raised when a lease id names no active lease: it expired, was revoked or never existed.

    Raised by ``LeaseTable.keep_alive`` (and so by the lease keep-alive RPC) and wherever a
    request names a lease that is not active. The message says which and why, e.g.
    ``lease 7 expired: not kept alive for 10 s`` or ``lease 9 was never granted``.

    Attributes:
        lease_id: The lease id that was asked for.
    """

    def __init__(self, lease_id: int, detail: str) -> None:
        self.lease_id = lease_id
        super().__init__(f"lease {lease_id} {detail}")


class StaleTokenError(FailedPreconditionError):
    """Raised with ``--strict-owner`` when an unreserve carries a stale fencing token or none.

    A token is stale when the reservation it names no longer holds the session (it was force
    released or its lease expired, and the session may have a new holder). Nothing is released.
    """


class PermissionDeniedError(PinbrokerError):
    """Raised when a caller may not do what it asks.

    A destructive admin call (force release) from a remote caller: such calls are accepted
    from loopback addresses and Unix sockets, or with the admin token (``--admin-token-file``)
    in the ``pinbroker-admin-token`` metadata. A discovery registration or unregistration that
    would replace or remove pinbroker's own service entries.
    """

    status = "PERMISSION_DENIED"


class StateDiskFullError(ResourceExhaustedError):
    """Raised by the state store when a write fails because its disk (or file) is full.

    SQLite answered ``SQLITE_FULL``; the transaction was rolled back, so nothing changed.
    Reads keep working, and writes work again once space is freed (no restart needed).
    """


class StateError(PinbrokerError):
    """Raised at start-up when the state directory or database cannot be used.

    ``pinbroker serve`` prints it as one line (``pinbroker: cannot start: ...``) and exits;
    the message names the directory or file and says what to do.
    """


class StateInUseError(StateError):
    """Raised when another pinbroker process holds the state directory's lock.

    Attributes:
        directory: The state directory.
        pid: The process holding it, as written in the lock file; None if unreadable.
    """

    def __init__(self, directory: str, lock_file: str, pid: int | None) -> None:
        self.directory = directory
        self.pid = pid
        holder = f"pinbroker process {pid}" if pid is not None else "another pinbroker process"
        super().__init__(
            f"state directory {directory} is in use by {holder} (lock file {lock_file})"
        )


class StateDatabaseError(StateError):
    """Raised when the state database is empty, damaged, foreign or of a newer schema.

    Never started on: the message names the file and what to do (restore a backup, move it
    away, upgrade pinbroker).
    """


class StateNotWritableError(StateError):
    """Raised when the state directory or the state database cannot be written."""
