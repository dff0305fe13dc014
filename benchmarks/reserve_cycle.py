"""Reserve cycle: reserve_sessions + unreserve of 2 sessions, against the gRPC floor.

The server is a real ``pinbroker serve`` subprocess (default SQLite state, as deployed), so
client and server do not share a GIL; the client runs in this process. A cycle reserves one
digital and one power pin on one site of a generated 64-pin x 8-site map (two sessions: a
digital instrument and half an SMU) and unreserves them, through

* (a) NI's published ``ni.measurementlink.sessionmanagement.v1.client.SessionManagementClient``
* (b) our seed client ``ni_measurementlink_service.session_management.SessionManagementClient``,
  which holds a lease of pinbroker's lease service on its channel (kept alive by a thread of
  its own) and sends every reserve under it with a request id (checked: the lease is active
  after the warm-up)

on one channel. The floor is two ``grpc.health.v1.Health/Check`` calls on the same channel
(an empty unary RPC each), measured interleaved with the cycles so both see the same noise.
The reported ratio is cycle latency / floor latency at p50 (target 1.2x) and at p99 (1.5x).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks._common import Row, percentile, serve_subprocess
from benchmarks.pinmap_gen import PinMapSpec, generate_pinmap

__all__ = ["TARGET_P50", "TARGET_P99", "run"]

TARGET_P50 = 1.2
TARGET_P99 = 1.5
NAME = "reserve cycle"
_MEMORY = "state in memory (no SQLite)"
_NULL = "server with canned answers (no work: the best any server can reach)"


def _timed(action: Callable[[], object], samples: list[float]) -> None:
    began = time.perf_counter()
    action()
    samples.append(time.perf_counter() - began)


def measure(
    address: str, *, iterations: int, warmup: int, lease: bool = True
) -> dict[str, list[float]]:
    """Return latency samples (seconds) of the floor and both clients' cycles.

    ``lease=False`` skips checking that the seed client holds a lease (a server without
    pinbroker's lease service).
    """
    from ni.measurementlink.pinmap.v1.client import PinMapClient
    from ni.measurementlink.sessionmanagement.v1 import client as ni_client

    from ni_measurementlink_service import session_management as seed_client

    generated = generate_pinmap(PinMapSpec(pins=64, sites=8))
    pins = list(generated.two_session_pins())
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "reserve_cycle.pinmap"
            path.write_bytes(generated.xml_bytes)
            pin_map_id = PinMapClient(grpc_channel=channel).update_pin_map(path)

        health = health_pb2_grpc.HealthStub(channel)
        check = health_pb2.HealthCheckRequest(service="")
        ni = ni_client.SessionManagementClient(grpc_channel=channel)
        seed = seed_client.SessionManagementClient(grpc_channel=channel)
        ni_context = ni_client.PinMapContext(pin_map_id=pin_map_id, sites=[0])
        seed_context = seed_client.PinMapContext(pin_map_id=pin_map_id, sites=[0])

        def floor() -> None:
            health.Check(check)
            health.Check(check)

        def ni_cycle() -> None:
            reservation = ni.reserve_sessions(ni_context, pins, timeout=0)
            if len(reservation.session_info) != 2:
                raise AssertionError(f"expected 2 sessions, got {reservation.session_info}")
            reservation.unreserve()

        def seed_cycle() -> None:
            reservation = seed.reserve_sessions(seed_context, pins, timeout=0)
            if len(reservation.session_info) != 2:
                raise AssertionError(f"expected 2 sessions, got {reservation.session_info}")
            reservation.unreserve()

        samples: dict[str, list[float]] = {"floor": [], "ni": [], "seed": []}
        actions = {"floor": floor, "ni": ni_cycle, "seed": seed_cycle}
        for _ in range(warmup):
            for action in actions.values():
                action()
        keeper = seed.lease
        if lease and (keeper is None or not keeper.lease_id or keeper.lost):
            raise RuntimeError("the seed client holds no active lease after the warm-up")
        for _ in range(iterations):
            for key, action in actions.items():
                _timed(action, samples[key])
        return samples
    finally:
        channel.close()


def _rows(samples: dict[str, list[float]], iterations: int, *, diagnostic: str = "") -> list[Row]:
    rows: list[Row] = []
    floor = samples["floor"]
    clients = [("ni", "NI client"), ("seed", "seed client (lease held)")]
    for key, label in clients[:1] if diagnostic == _NULL else clients:
        for fraction, tag, target in ((0.5, "p50", TARGET_P50), (0.99, "p99", TARGET_P99)):
            cycle = percentile(samples[key], fraction)
            base = percentile(floor, fraction)
            ratio = cycle / base
            metric = f"{label} cycle / 2 x Health.Check, {tag}"
            if diagnostic:
                metric = f"diagnostic: {metric}, {diagnostic}"
            rows.append(
                Row(
                    NAME,
                    metric,
                    f"{ratio:.2f}x",
                    "" if diagnostic else f"<= {target}x",
                    None if diagnostic else ratio <= target,
                    f"cycle {cycle * 1e3:.3f} ms, floor {base * 1e3:.3f} ms, n={iterations}",
                )
            )
    return rows


def run(*, quick: bool, diagnose: bool = False) -> list[Row]:
    """Run the benchmark against a fresh ``pinbroker serve`` subprocess.

    With ``diagnose``, also against the same server with its state in memory (no SQLite), and
    NI's client against a server that does no work (:mod:`benchmarks._null_server`: the best
    ratio any server can reach here).
    """
    iterations, warmup = (150, 20) if quick else (3000, 200)
    with serve_subprocess() as server:
        rows = _rows(measure(server.address, iterations=iterations, warmup=warmup), iterations)
    if diagnose:
        with serve_subprocess(store="memory") as server:
            samples = measure(server.address, iterations=iterations, warmup=warmup)
        rows += _rows(samples, iterations, diagnostic=_MEMORY)
        with serve_subprocess(store="null") as server:
            samples = measure(server.address, iterations=iterations, warmup=warmup, lease=False)
        rows += _rows(samples, iterations, diagnostic=_NULL)
    return rows
