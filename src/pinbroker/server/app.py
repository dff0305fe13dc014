"""Application wiring: build the services, serve them on one port, stop gracefully.

``pinbroker serve`` (:mod:`pinbroker._serve_cli`) and tests call :func:`start_server` with a
:class:`ServerConfig` and get a :class:`RunningServer`. This module parses no arguments and
configures no logging: that is the command line's job.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer as AsyncHealthServicer
from grpc_reflection.v1alpha import reflection
from ni.measurementlink.discovery.v1 import discovery_service_pb2
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2, pin_map_service_pb2_grpc
from ni.measurementlink.sessionmanagement.v1 import (
    session_management_service_pb2,
    session_management_service_pb2_grpc,
)
from starlette.applications import Starlette

from pinbroker._proto.pinbroker.admin.v1 import admin_pb2, admin_pb2_grpc
from pinbroker._proto.pinbroker.lease.v1 import lease_pb2, lease_pb2_grpc
from pinbroker._tls import read_server_tls
from pinbroker.broker import (
    DEFAULT_PIN_MAP_CACHE_BYTES,
    HoldWatch,
    LeaseManager,
    PinMapRepository,
    SessionManager,
)
from pinbroker.discovery import (
    DEFAULT_LIVENESS,
    LivenessPolicy,
    ServiceRegistry,
    run_liveness_probe,
)
from pinbroker.discovery_file import (
    DiscoveryKey,
    default_key_file_path,
    publish_key_file,
    remove_key_file,
)
from pinbroker.events import EventLog
from pinbroker.pinmap import DEFAULT_LIMITS, ParseLimits
from pinbroker.server._admin_service import AdminServicer
from pinbroker.server._connections import connected_peers
from pinbroker.server._core import build_core
from pinbroker.server._discovery_service import add_discovery_servicer, register_builtin_services
from pinbroker.server._errors import ErrorMappingInterceptor
from pinbroker.server._lease_service import LeaseServicer
from pinbroker.server._pinmap_service import PinMapServicer
from pinbroker.server._session_service import SessionManagementServicer
from pinbroker.store import Store
from pinbroker.types import SessionNaming
from pinbroker.web import BrokerState, EventStreams, HttpServer, create_app

__all__ = ["RunningServer", "ServerConfig", "start_server"]

_logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Largest gRPC message accepted: admits a ~40 MB, 256-site pin map with room to spare."""

DEFAULT_WORKER_THREADS = 32
"""Threads running the plain (not ``async``) handlers; a waiting reservation holds none."""

DEFAULT_MAX_WAITERS = 10_000
"""Reservation requests that may wait at once (each costs memory, not a thread)."""

DEFAULT_LEASE_TTL = 10.0
"""Seconds a lease lives without a keep-alive; clients renew every third of it."""

DEFAULT_EVENT_HISTORY = 10_000
"""Events kept for ``pinbroker events`` and the admin API (the newest; older are dropped)."""

_T = TypeVar("_T")


class _LoopThread:
    """An asyncio event loop running in a thread of its own; the gRPC server lives on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="pinbroker-grpc-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coroutine`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        """Cancel the loop's remaining tasks, stop the loop and its thread."""

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.call(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``pinbroker serve`` can be told.

    Attributes:
        host: Address to listen on.
        port: Port to listen on; 0 picks a free one.
        state_dir: Directory of the SQLite state file; None = the user's state directory.
        in_memory: Keep state in memory only (nothing survives a restart); for tests.
        pin_map_files: Pin maps to preload; each one's id is its path as given.
        session_naming: How session names are formed.
        discovery_key_file: Where to write the discovery key file; None = the default path.
        publish_key_file: Whether to write the discovery key file at all (never with TLS: the
            file tells NI's clients an insecure port).
        tls_cert: PEM certificate chain of the server (``--tls-cert``): the port serves TLS;
            needs ``tls_key``. None (the default): an insecure port.
        tls_key: PEM private key of ``tls_cert`` (``--tls-key``).
        tls_client_ca: PEM CA certificates that must have signed a client's certificate
            (``--tls-client-ca``): mutual TLS, clients without one are refused.
        max_message_bytes: Largest request accepted (larger → RESOURCE_EXHAUSTED).
        worker_threads: Threads running the handlers that are not ``async`` (registry, pin
            map and discovery calls, unreserve, the durability wait of a grant).
        max_waiters: Reservation requests that may wait at once; one more that would have to
            wait gets RESOURCE_EXHAUSTED.
        lease_ttl: Seconds a client lease lives without a keep-alive (``--lease-ttl``).
        max_hold: No reservation is held longer than this many seconds (``--max-hold``).
        release_on_disconnect: A reservation made without a lease is released once its
            connection has been gone this many seconds (``--release-on-disconnect``).
        strict_owner: Refuse unreserve calls with a stale or missing fencing token
            (``--strict-owner``) instead of ignoring them or releasing by name.
        http_port: Port of the status page and its JSON API (``--http-port``), on ``host``;
            0 picks a free one; None (the default) serves no web page.
        admin_token_file: File holding the token that authorises destructive admin calls
            from other hosts (``--admin-token-file``); local callers need none.
        event_history: Events kept (in memory and in the state store).
        parse_limits: Pin map parser limits.
        pin_map_cache_bytes: Memory budget of parsed pin maps (``--pin-map-cache``); beyond it
            the least recently used are dropped and parsed again from the store when next used.
        discovery_liveness: When a registered service whose port stopped accepting connections
            is skipped by ResolveService and unregistered (``docs/discovery.md``); None = never.
        grace_seconds: How long in-flight calls may take to finish on shutdown.
        store: A store to use instead of opening one (for embedding and tests); the server
            closes it when it stops.
        database: ``postgresql://USER:PASSWORD@HOST:PORT/DB`` of a database shared with other
            servers (``--database``); None keeps the state in ``state_dir`` (SQLite).
    """

    host: str = "127.0.0.1"
    port: int = 0
    state_dir: Path | None = None
    in_memory: bool = False
    pin_map_files: tuple[Path, ...] = ()
    session_naming: SessionNaming = SessionNaming.TYPED
    discovery_key_file: Path | None = None
    publish_key_file: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    worker_threads: int = DEFAULT_WORKER_THREADS
    max_waiters: int = DEFAULT_MAX_WAITERS
    lease_ttl: float = DEFAULT_LEASE_TTL
    max_hold: float | None = None
    release_on_disconnect: float | None = None
    strict_owner: bool = False
    admin_token_file: Path | None = None
    http_port: int | None = None
    event_history: int = DEFAULT_EVENT_HISTORY
    parse_limits: ParseLimits = field(default=DEFAULT_LIMITS)
    pin_map_cache_bytes: int = DEFAULT_PIN_MAP_CACHE_BYTES
    discovery_liveness: LivenessPolicy | None = DEFAULT_LIVENESS
    grace_seconds: float = 5.0
    store: Store | None = None
    database: str | None = None


class RunningServer:
    """A started pinbroker server. Stop it with :meth:`stop` (idempotent).

    Attributes:
        host: The address it listens on, as configured.
        port: The port it listens on (the one picked, if 0 was asked for).
        sessions: The session manager.
        events: The event log.
        restored_revision: The newest event revision restored from the state store at
            start-up (0 if none): events after it happened in this run.
        http_port: The port of the status page (``--http-port``), or None if it is off.
        web_app: The status page's ASGI application (served on ``http_port``), or None.
    """

    def __init__(
        self,
        server: grpc.aio.Server,
        *,
        loop_thread: _LoopThread,
        executor: futures.ThreadPoolExecutor,
        host: str,
        port: int,
        close_state: Callable[[], None],
        sessions: SessionManager,
        events: EventLog,
        health_servicer: AsyncHealthServicer,
        key_file: Path | None,
        grace_seconds: float,
        restored_revision: int = 0,
        state: str = "",
        http: HttpServer | None = None,
        web_app: Starlette | None = None,
    ) -> None:
        self._server = server
        self._loop_thread = loop_thread
        self._executor = executor
        self.host = host
        self.port = port
        self._close_state = close_state
        self.state = state
        self.sessions = sessions
        self.events = events
        self.restored_revision = restored_revision
        self._http = http
        self.http_port = None if http is None else http.port
        self.web_app = web_app
        self._health = health_servicer
        self._key_file = key_file
        self._grace = grace_seconds
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()

    @property
    def address(self) -> str:
        """``host:port`` to connect to."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        host = "[::1]" if host in ("::", "[::]") else host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{host}:{self.port}"

    @property
    def http_url(self) -> str | None:
        """``http://host:port/`` of the status page, or None if it is off."""
        if self.http_port is None:
            return None
        return f"http://{self.address.rsplit(':', 1)[0]}:{self.http_port}/"

    @property
    def key_file(self) -> Path | None:
        """The discovery key file this server wrote, or None if it publishes none."""
        return self._key_file

    def stop(self, grace: float | None = None) -> None:
        """Stop serving: waiters get UNAVAILABLE, in-flight calls finish, state is flushed."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            self._loop_thread.call(self._health.enter_graceful_shutdown())
            if self._http is not None:
                self._loop_thread.call(self._http.stop())
            self.sessions.shutdown()
            self._loop_thread.call(self._server.stop(self._grace if grace is None else grace))
            self._loop_thread.close()
            self._executor.shutdown(wait=True)
            self._close_state()  # writes what is pending
            if self._key_file is not None:
                remove_key_file(self._key_file, only_if_pid=os.getpid(), only_if_port=self.port)
            self._stopped.set()

    def wait(self) -> None:
        """Block until the server has been stopped."""
        self._stopped.wait()


def start_server(config: ServerConfig) -> RunningServer:
    """Build and start pinbroker with ``config``; return once it accepts calls.

    Raises:
        PinbrokerError: If a preloaded pin map is invalid.
        OSError: If the state directory or the port cannot be used.
        pinbroker._tls.TlsFileError: If the TLS files are unusable or do not pair up.
    """
    core = build_core(config)
    events, pin_maps, sessions, leases = core.events, core.pin_maps, core.sessions, core.leases

    loop_thread = _LoopThread()
    executor = futures.ThreadPoolExecutor(
        max_workers=config.worker_threads, thread_name_prefix="pinbroker-rpc"
    )
    try:
        server, health_servicer, port = loop_thread.call(
            _start_grpc(config, executor, pin_maps, sessions, leases, events)
        )
    except BaseException:
        loop_thread.close()
        executor.shutdown(wait=False)
        core.close()
        raise

    http: HttpServer | None = None
    web_app: Starlette | None = None
    try:
        if config.http_port is not None:
            streams = EventStreams()
            web_app = create_app(
                BrokerState(sessions, pin_maps, leases.leases, events, config.session_naming),
                admin_token=_read_admin_token(config),
                streams=streams,
            )
            http = loop_thread.call(
                HttpServer.start(
                    web_app,
                    streams,
                    host=config.host,
                    port=config.http_port,
                    grace=config.grace_seconds,
                )
            )
    except BaseException:
        loop_thread.call(server.stop(0))
        loop_thread.close()
        executor.shutdown(wait=False)
        core.close()
        raise

    publish = config.publish_key_file and config.tls_cert is None
    key_file = _publish_key_file(config, port) if publish else None
    return RunningServer(
        server,
        loop_thread=loop_thread,
        executor=executor,
        host=config.host,
        port=port,
        close_state=core.close,
        sessions=sessions,
        events=events,
        health_servicer=health_servicer,
        key_file=key_file,
        grace_seconds=config.grace_seconds,
        restored_revision=core.restored_revision,
        state=core.description,
        http=http,
        web_app=web_app,
    )


def _publish_key_file(config: ServerConfig, port: int) -> Path | None:
    """Write the discovery key file unless another live server owns it; return it if written."""
    path = config.discovery_key_file or default_key_file_path()
    other = publish_key_file(path, DiscoveryKey(port=port, host=config.host, pid=os.getpid()))
    if other is None:
        return path
    _logger.warning(
        "discovery key file %s belongs to another running pinbroker (pid %s, %s); "
        "not publishing this server there: clients that use the key file reach the other one",
        path,
        other.pid if other.pid is not None else "unknown",
        other.address,
    )
    return None


async def _start_grpc(
    config: ServerConfig,
    executor: futures.ThreadPoolExecutor,
    pin_maps: PinMapRepository,
    sessions: SessionManager,
    leases: LeaseManager,
    events: EventLog,
) -> tuple[grpc.aio.Server, AsyncHealthServicer, int]:
    """Build the gRPC server on the running loop, bind it and start it."""
    options = [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.aio.server(
        migration_thread_pool=executor,
        interceptors=[ErrorMappingInterceptor()],
        options=options,
    )
    pin_map_service_pb2_grpc.add_PinMapServiceServicer_to_server(PinMapServicer(pin_maps), server)
    session_management_service_pb2_grpc.add_SessionManagementServiceServicer_to_server(
        SessionManagementServicer(
            sessions,
            executor,
            leases.leases,
            # the single-host table's only I/O is its journal's commit: cheaper than a hand-off
            finish_on_loop=config.database is None,
        ),
        server,
    )
    lease_pb2_grpc.add_LeaseServiceServicer_to_server(LeaseServicer(leases), server)
    admin_pb2_grpc.add_AdminServiceServicer_to_server(
        AdminServicer(sessions.table, leases.leases, events, admin_token=_read_admin_token(config)),
        server,
    )
    discovery = ServiceRegistry()
    add_discovery_servicer(server, discovery)
    health_servicer = AsyncHealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    service_names = [
        pin_map_service_pb2.DESCRIPTOR.services_by_name["PinMapService"].full_name,
        session_management_service_pb2.DESCRIPTOR.services_by_name[
            "SessionManagementService"
        ].full_name,
        discovery_service_pb2.DESCRIPTOR.services_by_name["DiscoveryService"].full_name,
        lease_pb2.DESCRIPTOR.services_by_name["LeaseService"].full_name,
        admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    ]
    reflection.enable_server_reflection(
        [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    host_for_bind = f"[{config.host}]" if ":" in config.host else config.host
    tls = read_server_tls(config.tls_cert, config.tls_key, config.tls_client_ca)
    try:
        if tls is None:
            port = server.add_insecure_port(f"{host_for_bind}:{config.port}")
        else:
            credentials = grpc.ssl_server_credentials(
                [(tls.key_pair.private_key, tls.key_pair.certificate_chain)],
                root_certificates=tls.client_ca,
                require_client_auth=tls.client_ca is not None,
            )
            port = server.add_secure_port(f"{host_for_bind}:{config.port}", credentials)
    except RuntimeError as exc:  # grpc.aio raises where grpc returned 0
        raise OSError(f"cannot listen on {config.host}:{config.port}") from exc
    if port == 0:
        raise OSError(f"cannot listen on {config.host}:{config.port}")
    await server.start()
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(_reap_leases(leases, executor))]
    if config.max_hold is not None or config.release_on_disconnect is not None:
        watch = HoldWatch(
            sessions.table,
            now=time.monotonic,
            max_hold=config.max_hold,
            release_on_disconnect=config.release_on_disconnect,
            connected_here=getattr(sessions.table, "granted_here", None),
        )
        tasks.append(loop.create_task(_watch_holds(watch, executor)))
    if config.discovery_liveness is not None:
        tasks.append(loop.create_task(run_liveness_probe(discovery, config.discovery_liveness)))
    server.pinbroker_tasks = tasks  # type: ignore[attr-defined]  # keep them referenced
    register_builtin_services(discovery, host=config.host, port=port, tls=tls is not None)
    for name in service_names:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    return server, health_servicer, port


async def _reap_leases(leases: LeaseManager, executor: futures.Executor) -> None:
    """Expire leases at their deadlines and release what is bound to them (runs on the loop).

    Sleeps until the earliest deadline, at most ``_REAP_CHECK`` seconds at a time so a lease
    granted meanwhile with an earlier deadline (a shorter TTL after a restore) is not missed.
    """
    loop = asyncio.get_running_loop()
    while True:
        try:  # in the executor: with --database this is a query, which may fail or take long
            deadline = await loop.run_in_executor(executor, leases.leases.next_deadline)
        except RuntimeError:  # the executor shut down: the server is stopping
            return
        except Exception as exc:  # e.g. the database is away: try again, never end the task
            _logger.warning("reading lease deadlines failed: %s", exc)
            await asyncio.sleep(_REAP_CHECK)
            continue
        now = time.monotonic()
        if deadline is not None and deadline <= now:
            try:
                await loop.run_in_executor(executor, leases.expire_due)
            except RuntimeError:  # the executor shut down: the server is stopping
                return
            except Exception:
                _logger.exception("expiring leases failed")
            continue
        await asyncio.sleep(_REAP_CHECK if deadline is None else min(deadline - now, _REAP_CHECK))


_REAP_CHECK = 1.0


async def _watch_holds(watch: HoldWatch, executor: futures.Executor) -> None:
    """Apply ``--max-hold`` and ``--release-on-disconnect`` every ``watch.period()`` seconds."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(watch.period())
        try:
            peers = connected_peers() if watch.watches_connections else None
            await loop.run_in_executor(executor, watch.scan, peers)
        except RuntimeError as exc:  # the executor shut down (stopping), or channelz failed
            if "shutdown" in str(exc):
                return
            _logger.warning("checking held reservations failed: %s", exc)
        except Exception:
            _logger.exception("checking held reservations failed")


def _read_admin_token(config: ServerConfig) -> str | None:
    if config.admin_token_file is None:
        return None
    token = config.admin_token_file.read_text(encoding="utf-8").strip()
    if not token:
        raise OSError(f"the admin token file {config.admin_token_file} is empty")
    return token
