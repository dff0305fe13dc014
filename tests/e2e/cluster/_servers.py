"""Several ``pinbroker serve --database URL`` processes on one PostgreSQL database.

:class:`Node` is one server subprocess (``--port 0`` the first time; a restart asks for the same
port again, so clients' channels reconnect to it), which a test can SIGKILL, SIGSTOP, SIGCONT
and start again. The pin map the tests use is written by them (:func:`write_pin_map`): six DMMs
on six pins of one site, so pin ``P<i>`` is session ``niDMM-DMM<i>``.

Helpers to read a server's state through its admin service (:func:`status`, :func:`events`,
:func:`wait_for`) and to reserve with the raw stubs (optionally under a lease, through any
server: :func:`reserve`, :func:`unreserve`, :func:`grant_lease`, :func:`keep_alive`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import grpc
from ni.measurementlink import pin_map_context_pb2
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2 as sm_pb2
from ni.measurementlink.sessionmanagement.v1 import (
    session_management_service_pb2_grpc as sm_grpc,
)

from e2e._serve import Serve
from pinbroker._proto.pinbroker.lease.v1 import lease_pb2, lease_pb2_grpc
from pinbroker.client import AdminClient, AdminEvent, AdminStatus

_T = TypeVar("_T")

DEFAULT_TTL = 2.0
"""``--lease-ttl`` of the servers (seconds): a server's heartbeat and its clients' leases."""

SESSION_COUNT = 6
PINS = tuple(f"P{i}" for i in range(SESSION_COUNT))
SESSIONS = tuple(f"niDMM-DMM{i}" for i in range(SESSION_COUNT))
"""Pin ``PINS[i]`` on site 0 is served by session ``SESSIONS[i]`` alone."""

LEASE_ID_METADATA = "pinbroker-lease-id"
RESERVATION_ID_ANNOTATION = "pinbroker/reservation_id"
FENCE_ANNOTATION = "pinbroker/fence"


def pin_map_xml() -> str:
    """Six DMMs (``DMM0``..``DMM5``), pin ``P<i>`` of site 0 on ``DMM<i>`` channel 0."""
    instruments = "".join(f'<NIDmmInstrument name="DMM{i}" />' for i in range(SESSION_COUNT))
    pins = "".join(f'<DUTPin name="{pin}" />' for pin in PINS)
    connections = "".join(
        f'<Connection pin="P{i}" siteNumber="0" instrument="DMM{i}" channel="0" />'
        for i in range(SESSION_COUNT)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<PinMap schemaVersion="1.6" '
        'xmlns="http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd">'
        f"<Instruments>{instruments}</Instruments><Pins>{pins}</Pins>"
        '<Sites><Site siteNumber="0" /></Sites>'
        f"<Connections>{connections}</Connections></PinMap>\n"
    )


def write_pin_map(directory: Path) -> Path:
    """Write :func:`pin_map_xml` to ``directory/six_dmms.pinmap`` and return the path."""
    path = directory / "six_dmms.pinmap"
    path.write_text(pin_map_xml(), encoding="utf-8")
    return path


def server_env(tmp_path: Path) -> dict[str, str]:
    """The environment of servers and CLI runs: no discovery key file outside ``tmp_path``."""
    environment = dict(os.environ)
    environment.pop("PINBROKER_ADDRESS", None)
    environment.pop("PINBROKER_DATABASE", None)
    environment["PINBROKER_DISCOVERY_KEY_FILE"] = str(tmp_path / "nokey" / "Discovery.json")
    return environment


class Node:
    """One ``pinbroker serve --database URL --lease-ttl TTL`` subprocess of a cluster.

    Not started until :meth:`start`. Its stderr (the log) goes to
    ``<directory>/<name>-<start>.log``.
    """

    def __init__(
        self,
        name: str,
        database_url: str,
        directory: Path,
        *,
        ttl: float = DEFAULT_TTL,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.database_url = database_url
        self.directory = directory
        self.ttl = ttl
        self.extra_args = tuple(extra_args)
        self.starts = 0
        self.port = 0
        self.paused = False
        self._serve: Serve | None = None

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT`` (the same after a restart)."""
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the process is alive (it may be stopped by SIGSTOP)."""
        return self._serve is not None and self._serve.process.poll() is None

    @property
    def pid(self) -> int:
        assert self._serve is not None
        return self._serve.process.pid

    def log_text(self) -> str:
        """Every log this node wrote so far, for failure messages."""
        parts = []
        for start in range(1, self.starts + 1):
            path = self.directory / f"{self.name}-{start}.log"
            if path.exists():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')}")
        return "\n".join(parts)

    def start(self, attempts: int = 20) -> None:
        """Start the server (again): on its previous port if it had one.

        A port just released may not be bindable for a moment; the start is tried up to
        ``attempts`` times, 0.25 s apart.
        """
        assert not self.running, f"{self.name} is running"
        for attempt in range(attempts):
            self.starts += 1
            log = self.directory / f"{self.name}-{self.starts}.log"
            args = [
                "--port",
                str(self.port),
                "--database",
                self.database_url,
                "--lease-ttl",
                f"{self.ttl:g}",
                "--state-dir",
                str(self.directory / f"{self.name}-state"),
                "--discovery-key-file",
                str(self.directory / f"{self.name}-key" / "DiscoveryService.json"),
                *self.extra_args,
            ]
            try:
                self._serve = Serve(*args, env=server_env(self.directory), stderr=log)
            except AssertionError:
                if self.port == 0 or attempt == attempts - 1:
                    raise
                time.sleep(0.25)  # the old port is still taken: bounded retries
                continue
            self.port = self._serve.port
            self.paused = False
            return

    def kill(self) -> None:
        """SIGKILL the server and reap it (a stopped one is killed as well)."""
        assert self._serve is not None
        self._serve.stop(signal.SIGKILL)
        self.paused = False

    def terminate(self) -> None:
        """SIGTERM (SIGKILL if stopped) and reap; nothing if it is not running."""
        if self._serve is None:
            return
        if self.paused:
            self.kill()
            return
        if self._serve.process.poll() is None:
            try:
                self._serve.stop(signal.SIGTERM)
            except subprocess.TimeoutExpired:
                self._serve.stop(signal.SIGKILL)
        else:
            self._serve.stop(signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP the server: it neither answers nor beats until :meth:`resume`."""
        assert self._serve is not None
        self._serve.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT a paused server."""
        assert self._serve is not None
        self._serve.process.send_signal(signal.SIGCONT)
        self.paused = False

    def restart(self) -> None:
        """SIGKILL (if running) and start again on the same port."""
        if self.running:
            self.kill()
        self.start()

    @contextlib.contextmanager
    def channel(self, ready_timeout: float = 10.0) -> Iterator[grpc.Channel]:
        """A channel to the server, ready, closed on exit."""
        with grpc.insecure_channel(self.address) as channel:
            grpc.channel_ready_future(channel).result(timeout=ready_timeout)
            yield channel


def wait_for(
    probe: Callable[[], _T | None], timeout: float, what: str, interval: float = 0.02
) -> _T:
    """Poll ``probe`` until it returns something other than None (or False); return that.

    Raises:
        AssertionError: Naming ``what``, if nothing came within ``timeout`` seconds.
    """
    end = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = probe()
        except grpc.RpcError as exc:  # a server restarting: try again until the deadline
            last, value = exc, None
        if value is not None and value is not False:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} ({last})")
        time.sleep(interval)


def status(channel: grpc.Channel, timeout: float = 10.0) -> AdminStatus:
    """The server's status (GetStatus): who holds, who waits."""
    return AdminClient(channel).status(timeout=timeout)


def events(channel: grpc.Channel, since: int = 0, timeout: float = 30.0) -> list[AdminEvent]:
    """Every event the server retains after ``since``, oldest first."""
    found: list[AdminEvent] = []
    for batch in AdminClient(channel).events(since, timeout=timeout):
        found.extend(batch.events)
    return found


def holders(channel: grpc.Channel) -> dict[str, int]:
    """Session name -> id of the reservation holding it."""
    return {h.session_name: h.reservation_id for h in status(channel).held}


def waiting_ids(channel: grpc.Channel) -> list[int]:
    """Request ids of the waiting requests, first in line first."""
    return [w.request_id for w in status(channel).waiting]


def queued(channel: grpc.Channel, count: int) -> list[int] | None:
    """The waiting request ids once there are ``count`` of them (for :func:`wait_for`)."""
    ids = waiting_ids(channel)
    return ids if len(ids) == count else None


def context(pin_map_id: str) -> pin_map_context_pb2.PinMapContext:
    return pin_map_context_pb2.PinMapContext(pin_map_id=pin_map_id, sites=[0])


def reserve(
    channel: grpc.Channel,
    pin_map_id: str,
    pins: Sequence[str],
    *,
    timeout: float,
    lease_id: int | None = None,
    call_timeout: float | None = 60.0,
) -> list[sm_pb2.SessionInformation]:
    """ReserveSessions for ``pins`` of site 0 (raw stub; under ``lease_id`` if given).

    ``timeout`` is the reservation's (seconds; 0 = at once, negative = forever).
    """
    request = sm_pb2.ReserveSessionsRequest(
        pin_map_context=context(pin_map_id),
        pin_or_relay_names=list(pins),
        timeout_in_milliseconds=-1 if timeout < 0 else int(timeout * 1000),
    )
    metadata = None if lease_id is None else ((LEASE_ID_METADATA, str(lease_id)),)
    response = sm_grpc.SessionManagementServiceStub(channel).ReserveSessions(
        request, timeout=call_timeout, metadata=metadata
    )
    return list(response.sessions)


def unreserve(
    channel: grpc.Channel, sessions: Sequence[sm_pb2.SessionInformation], timeout: float = 30.0
) -> None:
    """UnreserveSessions with the session messages exactly as they were granted."""
    sm_grpc.SessionManagementServiceStub(channel).UnreserveSessions(
        sm_pb2.UnreserveSessionsRequest(sessions=list(sessions)), timeout=timeout
    )


def reservation_id(sessions: Sequence[sm_pb2.SessionInformation]) -> int:
    """The reservation id the server annotated the granted sessions with."""
    ids = {int(s.annotations[RESERVATION_ID_ANNOTATION]) for s in sessions}
    assert len(ids) == 1, ids
    return ids.pop()


def grant_lease(channel: grpc.Channel) -> int:
    """A new lease (GrantLease) for a made-up client; its id."""
    identity = lease_pb2.ClientIdentity(hostname="bench", username="tester", pid=4242, program="t")
    response = lease_pb2_grpc.LeaseServiceStub(channel).GrantLease(
        lease_pb2.GrantLeaseRequest(identity=identity), timeout=10
    )
    return int(response.lease_id)


def keep_alive(channel: grpc.Channel, lease_id: int) -> None:
    """Renew the lease (KeepAlive), through whichever server the channel reaches."""
    lease_pb2_grpc.LeaseServiceStub(channel).KeepAlive(
        lease_pb2.KeepAliveRequest(lease_id=lease_id), timeout=5
    )


def pinbroker_cli(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``pinbroker ARGS`` (the admin CLI) and return what it did."""
    return subprocess.run(
        [sys.executable, "-m", "pinbroker.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def start_nodes(nodes: list[Node]) -> None:
    """Start the nodes at once (each takes seconds to import and start)."""
    with concurrent.futures.ThreadPoolExecutor(len(nodes)) as pool:
        for future in [pool.submit(node.start) for node in nodes]:
            future.result()


@contextlib.contextmanager
def cluster_of(database_url: str, directory: Path) -> Iterator[Callable[..., list[Node]]]:
    """``start(count, ttl=..., extra_args=...)`` starts more servers; all stop on exit."""
    nodes: list[Node] = []

    def start(
        count: int, *, ttl: float = DEFAULT_TTL, extra_args: tuple[str, ...] = ()
    ) -> list[Node]:
        names = "ABCDEFGH"[len(nodes) : len(nodes) + count]
        started = [
            Node(name, database_url, directory, ttl=ttl, extra_args=extra_args) for name in names
        ]
        nodes.extend(started)
        start_nodes(started)
        return started

    try:
        yield start
    finally:
        for node in nodes:
            node.terminate()
        for node in nodes:  # pytest shows this only for a failed test
            print(node.log_text())
