"""Scale: 1,000 leased clients and 1,000 waiting requests on one server, and who still gets in.

The server is a real ``pinbroker serve`` subprocess (default SQLite state), so the load
generator does not share its GIL. The load generator runs on a ``grpc.aio`` event loop in a
thread of this process; every simulated client has a channel (a TCP connection) of its own:

1. an unrelated client (NI's published ``SessionManagementClient`` on a separate, synchronous
   channel, in the main thread) measures its reserve + unreserve cycle on site 1 and a
   ``Health/Check``, ``cycles`` times evenly spread over ``window`` seconds, on the idle server;
2. ``leases`` clients each take a lease (one GrantLease each) and keep it alive every TTL/3, the
   keep-alives of all clients paced evenly over that period;
3. a holder reserves site 0's sessions; then ``waiters`` requests for the same sessions, with
   an infinite timeout, each bound to one client's lease (``pinbroker-lease-id`` metadata),
   are sent at once; the admin service's ``GetStatus`` must show them all queued;
4. the unrelated client measures again, while the waiters wait and the keep-alives go on; the
   ratios to step 1 are reported, with the server's RSS and thread count
   (``/proc/<pid>/status``) idle, with the leases and with the waiters;
5. the holder unreserves: each waiter unreserves as soon as it is granted, so the waiters are
   served one after another; reported: the time until all were served, and whether they were
   served in their queue order (the positions ``GetStatus`` showed);
6. every lease is revoked: each must still be active (none expired under load); the server
   must end with nothing held and nothing waiting.

Any RESOURCE_EXHAUSTED answer is counted (the target is none: before the server was
``grpc.aio``, 112 waiters took every worker thread and other clients got RESOURCE_EXHAUSTED).
Any other failed call aborts the benchmark.

``python -m benchmarks.scale [--quick] [--leases N] [--waiters N] ...`` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import sys
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ni.measurementlink.pin_map_context_pb2 import PinMapContext
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2, pin_map_service_pb2_grpc
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2 as sm_pb2
from ni.measurementlink.sessionmanagement.v1 import (
    session_management_service_pb2_grpc as sm_grpc,
)

from benchmarks._common import CpuMeter, Row, percentile, serve_subprocess
from benchmarks.pinmap_gen import PinMapSpec, generate_pinmap
from pinbroker._proto.pinbroker.admin.v1 import admin_pb2, admin_pb2_grpc
from pinbroker._proto.pinbroker.lease.v1 import lease_pb2, lease_pb2_grpc
from pinbroker.server.app import DEFAULT_WORKER_THREADS

__all__ = ["TARGET_RATIO", "ScaleReport", "ScaleSpec", "main", "measure", "rows", "run"]

NAME = "leases and waiters"
TARGET_RATIO = 1.5
LEASE_METADATA = "pinbroker-lease-id"
WAITER_SITE = 0
PROBE_SITE = 1
QUEUE_TIMEOUT = 120.0
"""Seconds the waiters may take to appear in GetStatus before the benchmark gives up."""

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    """What to run.

    Attributes:
        leases: Leased clients (one channel and one lease each).
        waiters: Waiting requests; waiter ``i`` is sent by client ``i`` under its lease (so
            ``waiters <= leases``).
        cycles: Reserve + unreserve cycles (and Health checks) of the unrelated client, per phase.
        window: Seconds each measurement phase is spread over (0 = back to back).
        lease_ttl: The server's ``--lease-ttl``; keep-alives go out every third of it.
    """

    leases: int = 1000
    waiters: int = 1000
    cycles: int = 200
    window: float = 10.0
    lease_ttl: float = 10.0

    def __post_init__(self) -> None:
        if self.leases < 1 or self.waiters < 1 or self.cycles < 1:
            raise ValueError("leases, waiters and cycles must be at least 1")
        if self.waiters > self.leases:
            raise ValueError("each waiter needs a lease of its own: waiters <= leases")


@dataclass(frozen=True, slots=True)
class Probe:
    """Latencies (seconds) of the unrelated client in one phase."""

    cycle: tuple[float, ...]
    unreserve: tuple[float, ...]
    health: tuple[float, ...]
    server_cpu: float
    """Server CPU seconds per second of the phase (1.0 = one core busy)."""
    machine_busy: float | None
    """Share of the whole machine's CPU that was busy during the phase."""


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """The server's resident memory (kB) and thread count at one moment."""

    rss_kb: int
    threads: int


@dataclass(frozen=True, slots=True)
class ScaleReport:
    """Everything :func:`measure` found (times in seconds)."""

    spec: ScaleSpec
    idle: Probe
    loaded: Probe
    leased: Probe | None
    server_idle: ProcessSample
    server_leased: ProcessSample
    server_waiting: ProcessSample
    threads_peak: int
    grant_seconds: float
    queued: int
    queue_seconds: float
    served: int
    out_of_order: int
    drain_seconds: float
    keep_alives: int
    keep_alives_failed: int
    keep_alive_errors: str
    revoked: int
    left_held: int
    left_waiting: int
    resource_exhausted: int


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (``/proc/<pid>/stat``)."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _process_sample(pid: int) -> ProcessSample:
    fields: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return ProcessSample(int(fields["VmRSS"].split()[0]), int(fields["Threads"]))


class _ThreadPeak:
    """Samples the server's thread count every 50 ms in a thread; keeps the maximum."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self.peak = _process_sample(pid).threads
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, _process_sample(self._pid).threads)

    def close(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


class _Loop:
    """An asyncio event loop in a thread of its own: the load generator runs on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class _Counter:
    """RESOURCE_EXHAUSTED answers of every call; any other failure is kept to be raised."""

    def __init__(self) -> None:
        self.resource_exhausted = 0
        self.failures: list[str] = []

    def failed(self, what: str, error: grpc.aio.AioRpcError) -> None:
        if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
            self.resource_exhausted += 1
        else:
            self.failures.append(
                f"{what}: {error.code().name} {error.details()} at {time.monotonic():.3f}"
            )


@dataclass
class _Client:
    """One simulated client process: a channel of its own and a lease."""

    channel: grpc.aio.Channel
    leases: lease_pb2_grpc.LeaseServiceStub
    sessions: sm_grpc.SessionManagementServiceStub
    lease_id: int = 0


@dataclass
class _Load:
    """The load generator's state (lives on the event loop)."""

    address: str
    spec: ScaleSpec
    pin_map_id: str
    pins: list[str]
    counter: _Counter
    clients: list[_Client] = field(default_factory=list)
    keep_alives: int = 0
    keep_alives_failed: int = 0
    keep_alive_errors: dict[str, int] = field(default_factory=dict)
    grant_order: list[int] = field(default_factory=list)
    waiter_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    pacer: asyncio.Task[None] | None = None
    stop_pacing: asyncio.Event | None = None
    holder: sm_pb2.ReserveSessionsResponse | None = None
    control: grpc.aio.Channel | None = None

    def _request(self) -> sm_pb2.ReserveSessionsRequest:
        return sm_pb2.ReserveSessionsRequest(
            pin_map_context=PinMapContext(pin_map_id=self.pin_map_id, sites=[WAITER_SITE]),
            pin_or_relay_names=self.pins,
            timeout_in_milliseconds=-1,
        )

    def _control(self) -> grpc.aio.Channel:
        if self.control is None:
            self.control = grpc.aio.insecure_channel(self.address)
        return self.control

    async def grant_leases(self) -> None:
        """Open one channel per client and grant each client a lease; start the keep-alives."""
        for _ in range(self.spec.leases):
            # A local subchannel pool: a TCP connection per client, as separate processes have.
            channel = grpc.aio.insecure_channel(
                self.address, options=[("grpc.use_local_subchannel_pool", 1)]
            )
            self.clients.append(
                _Client(
                    channel,
                    lease_pb2_grpc.LeaseServiceStub(channel),
                    sm_grpc.SessionManagementServiceStub(channel),
                )
            )
        self.stop_pacing = asyncio.Event()
        self.pacer = asyncio.create_task(self._pace_keep_alives(self.stop_pacing))
        gate = asyncio.Semaphore(64)

        async def grant(number: int, client: _Client) -> None:
            identity = lease_pb2.ClientIdentity(
                hostname="bench", username="bench", pid=number + 1, program="benchmarks.scale"
            )
            async with gate:
                try:
                    reply = await client.leases.GrantLease(
                        lease_pb2.GrantLeaseRequest(identity=identity), timeout=60
                    )
                except grpc.aio.AioRpcError as exc:
                    self.counter.failed("GrantLease", exc)
                    return
            client.lease_id = reply.lease_id

        await asyncio.gather(*(grant(n, c) for n, c in enumerate(self.clients)))

    async def _pace_keep_alives(self, stop: asyncio.Event) -> None:
        """Keep every granted lease alive every TTL/3, spread evenly over that period."""
        loop = asyncio.get_running_loop()
        interval = self.spec.lease_ttl / 3 / self.spec.leases
        pending: set[asyncio.Task[None]] = set()
        due = loop.time()
        slot = 0
        while not stop.is_set():
            client = self.clients[slot % len(self.clients)]
            slot += 1
            if client.lease_id:
                task = asyncio.create_task(self._keep_alive(client))
                pending.add(task)
                task.add_done_callback(pending.discard)
            due += interval
            delay = due - loop.time()
            if delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            else:
                await asyncio.sleep(0)
        await asyncio.gather(*pending)

    async def _keep_alive(self, client: _Client) -> None:
        self.keep_alives += 1
        try:
            await client.leases.KeepAlive(
                lease_pb2.KeepAliveRequest(lease_id=client.lease_id), timeout=self.spec.lease_ttl
            )
        except grpc.aio.AioRpcError as exc:
            # Reported (a lease at risk is a finding), not raised: the run goes on.
            self.keep_alives_failed += 1
            code = exc.code().name
            self.keep_alive_errors[code] = self.keep_alive_errors.get(code, 0) + 1
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                self.counter.resource_exhausted += 1

    async def hold(self) -> None:
        """Reserve site 0's sessions (the holder every waiter queues behind)."""
        stub = sm_grpc.SessionManagementServiceStub(self._control())
        request = self._request()
        request.timeout_in_milliseconds = 0
        self.holder = await stub.ReserveSessions(request, timeout=30)

    async def start_waiters(self) -> None:
        """Send every waiter's ReserveSessions (infinite timeout) under its client's lease."""
        for number in range(self.spec.waiters):
            client = self.clients[number]
            self.waiter_tasks.append(asyncio.create_task(self._wait(number, client)))
        await asyncio.sleep(0)

    async def _wait(self, number: int, client: _Client) -> None:
        metadata = ((LEASE_METADATA, str(client.lease_id)),)
        try:
            reply = await client.sessions.ReserveSessions(self._request(), metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            self.counter.failed("waiting ReserveSessions", exc)
            return
        self.grant_order.append(client.lease_id)
        try:
            await client.sessions.UnreserveSessions(
                sm_pb2.UnreserveSessionsRequest(sessions=reply.sessions), timeout=30
            )
        except grpc.aio.AioRpcError as exc:
            self.counter.failed("UnreserveSessions after a grant", exc)

    async def status(self) -> admin_pb2.GetStatusResponse:
        stub = admin_pb2_grpc.AdminServiceStub(self._control())
        reply: admin_pb2.GetStatusResponse = await stub.GetStatus(
            admin_pb2.GetStatusRequest(), timeout=30
        )
        return reply

    async def wait_queued(self) -> admin_pb2.GetStatusResponse:
        """Poll GetStatus until every waiter is queued (or one failed, or time is up)."""
        deadline = time.monotonic() + QUEUE_TIMEOUT
        while True:
            status = await self.status()
            done = len(status.waiting) >= self.spec.waiters
            if done or self.counter.failures or time.monotonic() > deadline:
                return status
            await asyncio.sleep(0.05)

    async def drain(self) -> float:
        """Unreserve the holder; return the seconds until every waiter was served."""
        assert self.holder is not None
        stub = sm_grpc.SessionManagementServiceStub(self._control())
        began = time.perf_counter()
        await stub.UnreserveSessions(
            sm_pb2.UnreserveSessionsRequest(sessions=self.holder.sessions), timeout=30
        )
        await asyncio.gather(*self.waiter_tasks)
        return time.perf_counter() - began

    async def stop(self) -> None:
        """Stop the keep-alives; cancel any waiter still waiting."""
        if self.stop_pacing is not None and self.pacer is not None:
            self.stop_pacing.set()
            await asyncio.gather(self.pacer, return_exceptions=True)
        for task in self.waiter_tasks:
            task.cancel()
        await asyncio.gather(*self.waiter_tasks, return_exceptions=True)

    async def finish(self) -> int:
        """Stop the keep-alives and revoke every lease; return how many were still active."""
        await self.stop()
        gate = asyncio.Semaphore(64)

        async def revoke(client: _Client) -> bool:
            if not client.lease_id:
                return False
            async with gate:
                reply = await client.leases.RevokeLease(
                    lease_pb2.RevokeLeaseRequest(lease_id=client.lease_id), timeout=60
                )
            return bool(reply.revoked)

        return sum(await asyncio.gather(*(revoke(c) for c in self.clients)))

    async def close(self) -> None:
        await self.stop()
        await asyncio.gather(*(c.channel.close() for c in self.clients))
        if self.control is not None:
            await self.control.close()


def _probe(
    address: str, pin_map_id: str, pins: list[str], spec: ScaleSpec, server_pid: int
) -> Probe:
    """Time the unrelated client's cycles and Health checks, spread over ``spec.window``."""
    from ni.measurementlink.sessionmanagement.v1 import client as ni_client

    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
        sessions = ni_client.SessionManagementClient(grpc_channel=channel)
        context = ni_client.PinMapContext(pin_map_id=pin_map_id, sites=[PROBE_SITE])
        health = health_pb2_grpc.HealthStub(channel)
        check = health_pb2.HealthCheckRequest(service="")
        for _ in range(5):  # warm the connection up
            sessions.reserve_sessions(context, pins, timeout=0).unreserve()
            health.Check(check)
        cycle: list[float] = []
        unreserve: list[float] = []
        checks: list[float] = []
        interval = spec.window / spec.cycles
        meter = CpuMeter()
        meter.start()
        server_began = _cpu_seconds(server_pid)
        began = time.perf_counter()
        for number in range(spec.cycles):
            delay = began + number * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing, not synchronisation
            start = time.perf_counter()
            reservation = sessions.reserve_sessions(context, pins, timeout=0)
            middle = time.perf_counter()
            reservation.unreserve()
            end = time.perf_counter()
            health.Check(check)
            checks.append(time.perf_counter() - end)
            cycle.append(end - start)
            unreserve.append(end - middle)
        server_cpu = (_cpu_seconds(server_pid) - server_began) / (time.perf_counter() - began)
        meter.stop()
        return Probe(tuple(cycle), tuple(unreserve), tuple(checks), server_cpu, meter.busy)
    finally:
        channel.close()


def _load_pin_map(address: str, xml: str) -> str:
    channel = grpc.insecure_channel(address)
    try:
        stub = pin_map_service_pb2_grpc.PinMapServiceStub(channel)
        reply = stub.UpdatePinMapFromXml(
            pin_map_service_pb2.UpdatePinMapFromXmlRequest(pin_map_id="scale", pin_map_xml=xml),
            timeout=60,
        )
        return str(reply.pin_map_id)
    finally:
        channel.close()


def measure(spec: ScaleSpec, *, diagnose: bool = False) -> ScaleReport:
    """Run the scale benchmark against a fresh ``pinbroker serve`` subprocess.

    With ``diagnose``, the unrelated client is also measured with the leases kept alive but
    before any waiter (to tell what the keep-alives cost from what the waiters cost).

    Raises:
        RuntimeError: If a call failed otherwise than with RESOURCE_EXHAUSTED.
    """
    generated = generate_pinmap(PinMapSpec(pins=16, sites=4, share_instruments=False))
    pins = list(generated.two_session_pins())
    counter = _Counter()
    with serve_subprocess(["--lease-ttl", f"{spec.lease_ttl:g}"]) as server:
        pin_map_id = _load_pin_map(server.address, generated.xml)
        idle = _probe(server.address, pin_map_id, pins, spec, server.pid)
        server_idle = _process_sample(server.pid)
        runner = _Loop()
        load = _Load(server.address, spec, pin_map_id, pins, counter)
        peak = _ThreadPeak(server.pid)
        try:
            began = time.perf_counter()
            runner.call(load.grant_leases())
            grant_seconds = time.perf_counter() - began
            server_leased = _process_sample(server.pid)
            leased = (
                _probe(server.address, pin_map_id, pins, spec, server.pid) if diagnose else None
            )
            runner.call(load.hold())
            began = time.perf_counter()
            runner.call(load.start_waiters())
            status = runner.call(load.wait_queued())
            queue_seconds = time.perf_counter() - began
            positions = {w.lease.lease_id: w.position for w in status.waiting}
            loaded = _probe(server.address, pin_map_id, pins, spec, server.pid)
            server_waiting = _process_sample(server.pid)
            still = runner.call(load.status())
            queued = min(len(status.waiting), len(still.waiting))
            drain_seconds = runner.call(load.drain())
            revoked = runner.call(load.finish())
            left = runner.call(load.status())
        finally:
            threads_peak = peak.close()
            runner.call(load.close())
            runner.close()
    if counter.failures:
        raise RuntimeError(
            f"{len(counter.failures)} call(s) failed, first: {'; '.join(counter.failures[:3])}"
        )
    served = [positions.get(lease_id, 0) for lease_id in load.grant_order]
    out_of_order = sum(1 for a, b in itertools.pairwise(served) if b <= a)
    return ScaleReport(
        spec=spec,
        idle=idle,
        loaded=loaded,
        leased=leased,
        server_idle=server_idle,
        server_leased=server_leased,
        server_waiting=server_waiting,
        threads_peak=threads_peak,
        grant_seconds=grant_seconds,
        queued=queued,
        queue_seconds=queue_seconds,
        served=len(load.grant_order),
        out_of_order=out_of_order,
        drain_seconds=drain_seconds,
        keep_alives=load.keep_alives,
        keep_alives_failed=load.keep_alives_failed,
        keep_alive_errors=", ".join(f"{n} {c}" for c, n in load.keep_alive_errors.items()),
        revoked=revoked,
        left_held=len(left.held),
        left_waiting=len(left.waiting),
        resource_exhausted=counter.resource_exhausted,
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


def _cpu(probe: Probe) -> str:
    machine = "n/a" if probe.machine_busy is None else f"{probe.machine_busy * 100:.0f}%"
    return f"server CPU {probe.server_cpu * 100:.0f}% of a core, machine {machine} busy"


def _ratio_rows(spec: ScaleSpec, idle: Probe, busy: Probe, load: str, *, target: bool) -> list[Row]:
    """Compare the unrelated client's latencies under ``load`` with the idle server."""
    prefix = "" if target else "diagnostic: "
    rows: list[Row] = []
    for fraction, tag in ((0.5, "p50"), (0.99, "p99")):
        loaded = percentile(busy.cycle, fraction)
        base = percentile(idle.cycle, fraction)
        ratio = loaded / base
        rows.append(
            Row(
                NAME,
                f"{prefix}unrelated client's reserve + unreserve (NI client), {load} / idle, {tag}",
                f"{ratio:.2f}x",
                f"<= {TARGET_RATIO}x" if target else "",
                ratio <= TARGET_RATIO if target else None,
                f"{_ms(loaded)} vs {_ms(base)} (unreserve alone "
                f"{_ms(percentile(busy.unreserve, fraction))} vs "
                f"{_ms(percentile(idle.unreserve, fraction))}); n={spec.cycles} over "
                f"{spec.window:g} s each"
                + (f"; {_cpu(busy)} vs {_cpu(idle)}" if tag == "p50" else ""),
            )
        )
    loaded, base = percentile(busy.health, 0.5), percentile(idle.health, 0.5)
    rows.append(
        Row(
            NAME,
            f"{prefix}Health.Check, {load} / idle, p50",
            f"{loaded / base:.2f}x",
            "",
            None,
            f"{_ms(loaded)} vs {_ms(base)}; p99 {_ms(percentile(busy.health, 0.99))} vs "
            f"{_ms(percentile(idle.health, 0.99))}",
        )
    )
    return rows


def rows(report: ScaleReport) -> list[Row]:
    """The result rows of one run."""
    spec = report.spec
    idle, leased, waiting = report.server_idle, report.server_leased, report.server_waiting
    load = f"{spec.leases} leases + {spec.waiters} waiters"
    leases_only = f"{spec.leases} leases kept alive, no waiters"
    growth = report.threads_peak - idle.threads
    per_client = (waiting.rss_kb - idle.rss_kb) / spec.leases
    all_queued = report.queued == spec.waiters
    served = report.served == spec.waiters and report.out_of_order == 0
    alive = report.revoked == spec.leases and report.keep_alives_failed == 0
    clean = report.left_held == 0 and report.left_waiting == 0
    return [
        Row(
            NAME,
            "waiting requests queued at once (admin GetStatus)",
            str(report.queued),
            f"{spec.waiters}",
            all_queued,
            f"infinite timeouts, each under a lease of its own; all queued "
            f"{report.queue_seconds:.2f} s after they were sent; {spec.leases} leases granted "
            f"in {report.grant_seconds:.2f} s, one channel (TCP connection) per client",
        ),
        *_ratio_rows(spec, report.idle, report.loaded, load, target=True),
        *(
            []
            if report.leased is None
            else _ratio_rows(spec, report.idle, report.leased, leases_only, target=False)
        ),
        Row(
            NAME,
            "RESOURCE_EXHAUSTED answers (any call)",
            str(report.resource_exhausted),
            "0",
            report.resource_exhausted == 0,
            "grants, keep-alives, waiters, the unrelated client; before grpc.aio, 112 waiters "
            "took every worker thread",
        ),
        Row(
            NAME,
            f"server threads added by {spec.waiters} waiters (peak over idle)",
            f"{waiting.threads - leased.threads:+d} ({growth:+d})",
            f"peak <= idle + {DEFAULT_WORKER_THREADS} (the worker pool), none per waiter",
            growth <= DEFAULT_WORKER_THREADS,
            f"idle {idle.threads}, {spec.leases} leases {leased.threads}, + {spec.waiters} "
            f"waiters {waiting.threads}, peak {report.threads_peak} (sampled every 50 ms from "
            "the first lease to the last revoke); the pool grows on demand up to "
            f"{DEFAULT_WORKER_THREADS} threads",
        ),
        Row(
            NAME,
            f"server RSS: {spec.leases} leases + {spec.waiters} waiters - idle",
            f"{(waiting.rss_kb - idle.rss_kb) / 1024:+.0f} MB",
            "",
            None,
            f"idle {idle.rss_kb / 1024:.0f} MB, leases {leased.rss_kb / 1024:.0f} MB, "
            f"+ waiters {waiting.rss_kb / 1024:.0f} MB ({per_client:.0f} kB per client "
            f"with its connection, lease and waiting request)",
        ),
        Row(
            NAME,
            "waiters served one after another once the holder unreserved",
            f"{report.served} in {report.drain_seconds:.2f} s",
            f"all {spec.waiters}, in queue order",
            served,
            f"{report.drain_seconds / max(report.served, 1) * 1e3:.2f} ms per hand-off "
            f"(grant, reply, unreserve); {report.out_of_order} out of queue order",
        ),
        Row(
            NAME,
            "leases alive to the end (revoked while still active)",
            str(report.revoked),
            f"{spec.leases}",
            alive,
            f"{report.keep_alives} keep-alives every {spec.lease_ttl / 3:.2f} s per lease "
            f"(TTL {spec.lease_ttl:g} s), {report.keep_alives_failed} failed"
            + (f" ({report.keep_alive_errors})" if report.keep_alive_errors else "")
            + "; afterwards "
            f"{report.left_held} held, {report.left_waiting} waiting"
            + ("" if clean else " (**not clean**)"),
        ),
    ]


FULL = ScaleSpec()
QUICK = ScaleSpec(leases=200, waiters=200, cycles=100, window=3.0, lease_ttl=3.0)


def run(*, quick: bool, diagnose: bool = False) -> list[Row]:
    """Run the benchmark; with ``diagnose`` also measure with the leases but no waiters."""
    return rows(measure(QUICK if quick else FULL, diagnose=diagnose))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scale", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="200 leases and waiters, 3 s TTL")
    parser.add_argument("--leases", type=int, help=f"leased clients (default {FULL.leases})")
    parser.add_argument("--waiters", type=int, help=f"waiting requests (default {FULL.waiters})")
    parser.add_argument("--cycles", type=int, help=f"probe cycles per phase ({FULL.cycles})")
    parser.add_argument("--window", type=float, help=f"seconds per phase ({FULL.window:g})")
    parser.add_argument("--lease-ttl", type=float, help=f"lease TTL ({FULL.lease_ttl:g} s)")
    parser.add_argument(
        "--diagnose", action="store_true", help="also measure with leases but no waiters"
    )
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    spec = ScaleSpec(
        leases=args.leases or base.leases,
        waiters=args.waiters or min(base.waiters, args.leases or base.waiters),
        cycles=args.cycles or base.cycles,
        window=base.window if args.window is None else args.window,
        lease_ttl=args.lease_ttl or base.lease_ttl,
    )
    began = time.perf_counter()
    for row in rows(measure(spec, diagnose=args.diagnose)):
        print(row.line(), flush=True)
    print(f"done in {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
