"""Growth with size: what each request costs as the server's state grows.

Against one real ``pinbroker serve --http-port`` subprocess (default SQLite state), with raw
stubs (so the client's own conversions do not blur the server's cost):

* registered sessions ``R`` (100, 1,000, 10,000; registered 1,000 per RegisterSessions call):
  ``GetSessions`` and ``ReserveAllRegisteredSessions`` (+ its ``UnreserveSessions``) answer
  with all ``R`` sessions, so their cost must grow linearly: the time per session at the
  largest ``R`` over the time per session at the one before (<= 1.5x: linear; a fixed
  per-call part makes it below 1, a cost growing faster than the answer above). A reserve +
  unreserve cycle of 2 sessions of a pin map that none of the ``R`` belongs to answers the
  same at every ``R``: its time at the largest ``R`` over the smallest (<= 1.5x: flat);
* holders ``H`` (100, 500 and 1,000 reservations, one session each, on as many sites of a
  1,001-site, 16-pin map): the admin ``GetStatus`` and the status page (``GET /`` and
  ``GET /api/status``) answer with every holder: their time per holder, compared the same
  way (the page also draws the whole pin map's grid, a fixed part of its answer at every
  ``H``), and the cycle of an unrelated client at ``H`` over its time with no holder (flat);
* waiters: ``GetSessions`` with 1,000 requests waiting for a held session (infinite timeouts)
  over the same with none (flat: the queue is not part of its answer).

Every time is the median of ``repeat`` calls. ``python -m benchmarks.growth [--quick]`` runs it
alone (quick: 100 / 300 / 1,000 sessions, 50 / 100 / 200 holders on a 201-site map, 200
waiters).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
import session_pb2
from ni.measurementlink.pin_map_context_pb2 import PinMapContext
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2, pin_map_service_pb2_grpc
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2 as sm_pb2
from ni.measurementlink.sessionmanagement.v1 import (
    session_management_service_pb2_grpc as sm_grpc,
)

from benchmarks._common import Row, serve_subprocess
from benchmarks.pinmap_gen import PinMapSpec, generate_pinmap
from pinbroker._proto.pinbroker.admin.v1 import admin_pb2, admin_pb2_grpc

__all__ = ["LINEAR_TARGET", "run"]

NAME = "growth"
LINEAR_TARGET = 1.5
"""Largest allowed ratio of marginal costs (linear growth) or of times (flat)."""
_REGISTER_BATCH = 1000
_PROBE_SITE = 0


@dataclass(frozen=True, slots=True)
class Spec:
    """Sizes to measure at, and how often each call is timed."""

    registered: tuple[int, ...]
    holders: tuple[int, ...]
    waiters: int
    repeat: int


FULL = Spec(registered=(100, 1000, 10000), holders=(100, 500, 1000), waiters=1000, repeat=15)
QUICK = Spec(registered=(100, 300, 1000), holders=(50, 100, 200), waiters=200, repeat=5)


def _median_time(action: Callable[[], object], repeat: int) -> float:
    action()  # warm
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _session(number: int) -> sm_pb2.SessionInformation:
    return sm_pb2.SessionInformation(
        session=session_pb2.Session(name=f"growth-DMM{number}"),
        resource_name=f"DMM{number}",
        instrument_type_id="niDMM",
        session_exists=True,
    )


class _Server:
    """Stubs and helpers on one server."""

    def __init__(self, address: str, http_port: int, sites: int) -> None:
        self.channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.sessions = sm_grpc.SessionManagementServiceStub(self.channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(self.channel)
        self.http = f"http://127.0.0.1:{http_port}"
        generated = generate_pinmap(PinMapSpec(pins=16, sites=sites, share_instruments=False))
        self.pins = list(generated.two_session_pins())
        self.pin_map_id = (
            pin_map_service_pb2_grpc.PinMapServiceStub(self.channel)
            .UpdatePinMapFromXml(
                pin_map_service_pb2.UpdatePinMapFromXmlRequest(
                    pin_map_id="growth", pin_map_xml=generated.xml
                ),
                timeout=120,
            )
            .pin_map_id
        )

    def reserve(self, site: int, pins: Sequence[str]) -> sm_pb2.ReserveSessionsResponse:
        reply: sm_pb2.ReserveSessionsResponse = self.sessions.ReserveSessions(
            sm_pb2.ReserveSessionsRequest(
                pin_map_context=PinMapContext(pin_map_id=self.pin_map_id, sites=[site]),
                pin_or_relay_names=pins,
                timeout_in_milliseconds=0,
            ),
            timeout=30,
        )
        return reply

    def unreserve(self, sessions: Sequence[sm_pb2.SessionInformation]) -> None:
        self.sessions.UnreserveSessions(
            sm_pb2.UnreserveSessionsRequest(sessions=sessions), timeout=30
        )

    def cycle(self) -> None:
        """Reserve + unreserve 2 sessions of the probe site (nobody else uses them)."""
        self.unreserve(self.reserve(_PROBE_SITE, self.pins).sessions)

    def get_sessions(self) -> int:
        reply = self.sessions.GetSessions(sm_pb2.GetSessionsRequest(), timeout=60)
        return len(reply.sessions)

    def reserve_all(self) -> int:
        reply = self.sessions.ReserveAllRegisteredSessions(
            sm_pb2.ReserveAllRegisteredSessionsRequest(timeout_in_milliseconds=0), timeout=60
        )
        self.unreserve(reply.sessions)
        return len(reply.sessions)

    def status(self) -> int:
        reply = self.admin.GetStatus(admin_pb2.GetStatusRequest(), timeout=60)
        return len(reply.held)

    def get(self, path: str) -> int:
        with urllib.request.urlopen(self.http + path, timeout=60) as response:
            return len(response.read())

    def close(self) -> None:
        self.channel.close()


def _linear_row(metric: str, unit: str, sizes: Sequence[int], times: Sequence[float]) -> Row:
    """Time per unit at the largest size / at the one before (<= 1: linear with a fixed part)."""
    large, small = times[-1] / sizes[-1], times[-2] / sizes[-2]
    ratio = large / small
    points = ", ".join(
        f"{size:,}: {t * 1e3:.2f} ms ({t / size * 1e6:.1f} us/{unit})"
        for size, t in zip(sizes, times, strict=True)
    )
    return Row(
        NAME,
        f"{metric}: time per {unit} at {sizes[-1]:,} / at {sizes[-2]:,}",
        f"{ratio:.2f}x",
        f"<= {LINEAR_TARGET}x (linear)",
        ratio <= LINEAR_TARGET,
        f"median call: {points}",
    )


def _flat_row(metric: str, label: str, base: float, loaded: float) -> Row:
    ratio = loaded / base
    return Row(
        NAME,
        metric,
        f"{ratio:.2f}x",
        f"<= {LINEAR_TARGET}x (flat)",
        ratio <= LINEAR_TARGET,
        f"{loaded * 1e3:.3f} vs {base * 1e3:.3f} ms ({label})",
    )


def measure(spec: Spec) -> list[Row]:
    """Run every measurement on one fresh server; return the rows."""
    http_port = _free_port()
    rows: list[Row] = []
    with serve_subprocess(["--http-port", str(http_port)]) as process:
        server = _Server(process.address, http_port, max(spec.holders) + 1)
        try:
            repeat = spec.repeat
            cycle_base = _median_time(server.cycle, repeat * 4)
            get_times, reserve_times, cycle_times = [], [], []
            registered = 0
            for size in spec.registered:
                for start in range(registered, size, _REGISTER_BATCH):
                    batch = [_session(n) for n in range(start, min(size, start + _REGISTER_BATCH))]
                    server.sessions.RegisterSessions(
                        sm_pb2.RegisterSessionsRequest(sessions=batch), timeout=60
                    )
                registered = size
                if server.get_sessions() != size or server.reserve_all() != size:
                    raise RuntimeError(f"expected {size} registered sessions")
                get_times.append(_median_time(server.get_sessions, repeat))
                reserve_times.append(_median_time(server.reserve_all, repeat))
                cycle_times.append(_median_time(server.cycle, repeat * 4))
            sizes = spec.registered
            rows.append(_linear_row("GetSessions", "session", sizes, get_times))
            rows.append(
                _linear_row(
                    "ReserveAllRegisteredSessions + UnreserveSessions",
                    "session",
                    sizes,
                    reserve_times,
                )
            )
            rows.append(
                _flat_row(
                    f"reserve + unreserve of 2 other sessions, {sizes[-1]:,} / {sizes[0]:,} "
                    "registered",
                    f"{sizes[-1]:,} vs {sizes[0]:,} registered; with none: "
                    f"{cycle_base * 1e3:.3f} ms",
                    cycle_times[0],
                    cycle_times[-1],
                )
            )
            server.sessions.UnregisterSessions(
                sm_pb2.UnregisterSessionsRequest(sessions=[_session(n) for n in range(registered)]),
                timeout=60,
            )
            rows += _holders(server, spec, cycle_base)
            rows.append(_waiters(server, spec))
        finally:
            server.close()
    return rows


def _holders(server: _Server, spec: Spec, cycle_base: float) -> list[Row]:
    """Hold 1 session on each of ``H`` sites; time status, the page and an unrelated cycle."""
    repeat = spec.repeat
    times: dict[str, list[float]] = {"status": [], "page": [], "api": []}
    cycle_times: list[float] = []
    held: list[sm_pb2.ReserveSessionsResponse] = []
    one_pin = server.pins[:1]
    for size in spec.holders:
        for site in range(len(held) + 1, size + 1):
            held.append(server.reserve(site, one_pin))
        if server.status() != size:
            raise RuntimeError(f"expected {size} held sessions")
        times["status"].append(_median_time(server.status, repeat))
        times["page"].append(_median_time(lambda: server.get("/"), repeat))
        times["api"].append(_median_time(lambda: server.get("/api/status"), repeat))
        cycle_times.append(_median_time(server.cycle, repeat * 4))
    for reply in held:
        server.unreserve(reply.sessions)
    sizes = spec.holders
    return [
        _linear_row("admin GetStatus", "holder", sizes, times["status"]),
        _linear_row("status page GET /", "holder", sizes, times["page"]),
        _linear_row("status page GET /api/status", "holder", sizes, times["api"]),
        _flat_row(
            f"reserve + unreserve of 2 other sessions, {sizes[-1]:,} holders / none",
            f"{sizes[-1]:,} holders vs none; {sizes[0]:,} holders: {cycle_times[0] * 1e3:.3f} ms",
            cycle_base,
            cycle_times[-1],
        ),
    ]


def _waiters(server: _Server, spec: Spec) -> Row:
    """GetSessions with ``spec.waiters`` requests waiting for a held session, / with none."""
    one_pin = server.pins[:1]
    holder = server.reserve(1, one_pin)
    base = _median_time(server.get_sessions, spec.repeat * 4)
    request = sm_pb2.ReserveSessionsRequest(
        pin_map_context=PinMapContext(pin_map_id=server.pin_map_id, sites=[1]),
        pin_or_relay_names=one_pin,
        timeout_in_milliseconds=-1,
    )
    waiting = [server.sessions.ReserveSessions.future(request) for _ in range(spec.waiters)]
    try:
        deadline = time.monotonic() + 120
        while len(server.admin.GetStatus(admin_pb2.GetStatusRequest()).waiting) < spec.waiters:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{spec.waiters} requests did not queue")
            time.sleep(0.05)  # polling the server's state, not synchronising threads
        loaded = _median_time(server.get_sessions, spec.repeat * 4)
    finally:
        for call in waiting:
            call.cancel()
        server.unreserve(holder.sessions)
    return _flat_row(
        f"GetSessions, {spec.waiters:,} requests waiting / none",
        f"{spec.waiters:,} waiting vs none; 1 session held",
        base,
        loaded,
    )


def run(*, quick: bool, diagnose: bool = False) -> list[Row]:
    """Run the benchmark against a fresh ``pinbroker serve`` subprocess."""
    return measure(QUICK if quick else FULL)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.growth", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args(argv)
    for row in run(quick=args.quick):
        print(row.line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
