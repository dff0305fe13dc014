"""The liveness rule: a registration dies with its service.

NI's discovery service forgets a measurement service only when it unregisters; a plug-in that is
killed (SIGKILL, a crash, a lost host) would stay resolvable forever and send clients to a dead
port. pinbroker probes every registration except its own, every ``interval`` seconds, with one
TCP connect to the registration's own ``location`` and port (the insecure port, else the TLS
port) and nothing else: no other address (but both loopback addresses for ``localhost``), no
port range, no scan. A connect that fails or takes
longer than ``timeout`` is a failed probe. A registration whose last probe failed is skipped by
ResolveService; after ``failures`` failed probes in a row it is unregistered, with one WARNING.

Pure: asyncio sockets only, no grpc.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from pinbroker.discovery._registry import ServiceRegistry
from pinbroker.discovery._values import RegistrationId, ServiceLocation

__all__ = [
    "DEFAULT_LIVENESS",
    "LivenessPolicy",
    "Probe",
    "probe_address",
    "probe_registrations",
    "run_liveness_probe",
    "tcp_probe",
]

_logger = logging.getLogger(__name__)

Probe = Callable[[str, int, float], Awaitable[bool]]
"""``probe(host, port, timeout)``: whether ``host:port`` accepted a connection in time."""


@dataclass(frozen=True, slots=True)
class LivenessPolicy:
    """When a registered service counts as gone.

    Attributes:
        interval: Seconds between two probes of every registration.
        failures: Consecutive failed probes after which a registration is removed (>= 1).
        timeout: Seconds one TCP connect may take before the probe counts as failed.
    """

    interval: float = 3.0
    failures: int = 3
    timeout: float = 1.0

    def __post_init__(self) -> None:
        if not self.interval > 0 or not self.timeout > 0 or self.failures < 1:
            raise ValueError(
                "liveness probe: interval and timeout must be > 0 and failures >= 1, got "
                f"interval={self.interval}, timeout={self.timeout}, failures={self.failures}"
            )


DEFAULT_LIVENESS: Final = LivenessPolicy()
"""Probe every 3 s, 1 s connect timeout, remove after 3 failures: a killed service stops
resolving within ~3 s (+1 s timeout) and is unregistered within ~9 s (+3 s of timeouts)."""


def probe_address(location: ServiceLocation) -> tuple[str, int]:
    """The one address probed for ``location``: its host (brackets removed) and its port.

    The insecure port if the service has one, else the TLS port (a TCP connect needs no TLS).
    """
    host = location.location.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = location.insecure_port or location.ssl_authenticated_port
    return host, int(port)


async def tcp_probe(host: str, port: int, timeout: float) -> bool:
    """Whether a TCP connection to ``host:port`` opens within ``timeout`` seconds in all.

    Every address ``host`` resolves to is tried in turn. For ``localhost`` both loopback
    addresses, ``::1`` and ``127.0.0.1``, are tried as well: NI's SDK listens on ``[::1]`` only
    yet registers ``localhost``, which many Linux hosts resolve to ``127.0.0.1`` alone. The
    connection is closed at once, without sending a byte.
    """
    candidates = [host]
    if host.casefold() == "localhost":
        candidates += ["::1", "127.0.0.1"]

    async def any_accepts() -> bool:
        for candidate in candidates:
            try:
                _, writer = await asyncio.open_connection(candidate, port)
            except (OSError, UnicodeError):
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True
        return False

    try:
        return await asyncio.wait_for(any_accepts(), timeout)
    except TimeoutError:
        return False


async def probe_registrations(
    registry: ServiceRegistry, policy: LivenessPolicy, probe: Probe = tcp_probe
) -> list[RegistrationId]:
    """Probe every non-protected registration once (one probe per distinct address).

    Returns:
        The registrations removed by this round.
    """
    targets = registry.probe_targets()
    addresses = sorted({probe_address(target.location) for target in targets})
    outcomes = await asyncio.gather(
        *(probe(host, port, policy.timeout) for host, port in addresses)
    )
    reachable = dict(zip(addresses, outcomes, strict=True))
    return [
        target.registration_id
        for target in targets
        if registry.record_probe(
            target.registration_id,
            reachable=reachable[probe_address(target.location)],
            remove_after=policy.failures,
        )
    ]


async def run_liveness_probe(
    registry: ServiceRegistry, policy: LivenessPolicy, probe: Probe = tcp_probe
) -> None:
    """Probe the registrations every ``policy.interval`` seconds, until cancelled."""
    while True:
        await asyncio.sleep(policy.interval)
        try:
            await probe_registrations(registry, policy, probe)
        except Exception:
            _logger.exception("probing registered services failed")
