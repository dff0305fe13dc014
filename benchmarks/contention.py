"""Contention: throughput of many clients on disjoint sites, fairness on overlapping sessions.

Both run against a real ``pinbroker serve`` subprocess; the clients are threads of this
process, each with a channel and a seed client of its own (as separate measurement processes
would have).

* throughput: a 16-pin x 32-site map where every site has instruments of its own; each of
  32 threads reserves a digital and a power pin on its own site (two sessions nobody else
  wants) and unreserves them, for a few seconds; the same with 1 thread, in alternating
  windows. Ratio = median cycles/s (32) / median cycles/s (1). The share of the machine's CPU
  that was busy is reported with it, and, as a reference, the same ratio for a cycle of two
  ``Health/Check`` calls (the gRPC floor).
* fairness: 16 threads each reserve two random sites of 4 (overlapping sessions) with an
  infinite timeout, hold them for a random number of iterations of busy work, unreserve.
  Reported: max wait / mean wait (wait = from sending ReserveSessions to its answer), and the
  number of double grants, found from the hold intervals per session as in
  ``benchmarks.stress`` (must be 0).

With ``diagnose`` the throughput is also measured against the same server with its state in
memory (no SQLite journal), to show what persistence costs.
"""

from __future__ import annotations

import random
import statistics
import threading
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks._common import Row, cpu_text, measure_window, percentile, serve_subprocess
from benchmarks.stress import grpc_backend, run_stress

__all__ = ["run"]

NAME = "contention"
THROUGHPUT_TARGET = 1.6
THROUGHPUT_SITES = 32

Cycle = Callable[[], None]
CycleFactory = Callable[[grpc.Channel, int], Cycle]


def _forever(rng: random.Random) -> float | None:
    return None


def _reserve_cycles(pin_map_id: str, pins: list[str]) -> CycleFactory:
    from ni_measurementlink_service.session_management import (
        PinMapContext,
        SessionManagementClient,
    )

    def factory(channel: grpc.Channel, number: int) -> Cycle:
        sessions = SessionManagementClient(grpc_channel=channel)
        context = PinMapContext(pin_map_id=pin_map_id, sites=[number])

        def cycle() -> None:
            sessions.reserve_sessions(context, pins, timeout=0).unreserve()

        return cycle

    return factory


def _health_cycles(channel: grpc.Channel, number: int) -> Cycle:
    stub = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service="")

    def cycle() -> None:
        stub.Check(request)
        stub.Check(request)

    return cycle


def _throughput(
    address: str, threads: int, duration: float, make_cycle: CycleFactory
) -> tuple[float, float | None]:
    """Return (cycles per second, machine CPU busy share) of ``threads`` cycling clients."""
    stop = threading.Event()
    ready = threading.Barrier(threads + 1)
    counts = [0] * threads
    errors: list[BaseException] = []

    def client(number: int) -> None:
        channel = grpc.insecure_channel(address)
        try:
            grpc.channel_ready_future(channel).result(timeout=30)
            cycle = make_cycle(channel, number)
            for _ in range(5):  # warm up the connection
                cycle()
            ready.wait()
            done = 0
            while not stop.is_set():
                cycle()
                done += 1
            counts[number] = done
        except BaseException as exc:  # reported below
            errors.append(exc)
            ready.abort()
        finally:
            channel.close()

    workers = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(threads)]
    elapsed, busy = measure_window(workers, ready, stop, duration, errors)
    return sum(counts) / elapsed, busy


def _ratio_row(
    metric: str,
    address: str,
    duration: float,
    rounds: int,
    make_cycle: CycleFactory,
    *,
    target: bool,
) -> Row:
    """Alternate 1-thread and 32-thread windows ``rounds`` times; compare the medians.

    Alternating keeps a change in the machine's background load from favouring one side.
    """
    ones: list[float] = []
    manys: list[float] = []
    one_cpu: list[float] = []
    many_cpu: list[float] = []
    for _ in range(rounds):
        rate, busy = _throughput(address, 1, duration, make_cycle)
        ones.append(rate)
        one_cpu += [] if busy is None else [busy]
        rate, busy = _throughput(address, THROUGHPUT_SITES, duration, make_cycle)
        manys.append(rate)
        many_cpu += [] if busy is None else [busy]
    one, many = statistics.median(ones), statistics.median(manys)
    ratio = many / one
    return Row(
        NAME,
        metric,
        f"{ratio:.2f}x",
        f">= {THROUGHPUT_TARGET}x" if target else "",
        ratio >= THROUGHPUT_TARGET if target else None,
        f"median of {rounds} alternating {duration:g} s windows: {many:.0f} vs {one:.0f} "
        f"cycles/s; machine CPU busy {cpu_text(_median_or_none(many_cpu))} vs "
        f"{cpu_text(_median_or_none(one_cpu))}",
    )


def _median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def run(*, quick: bool, diagnose: bool = False) -> list[Row]:
    """Run the contention benchmarks against a fresh ``pinbroker serve`` subprocess."""
    duration, rounds = (1.0, 1) if quick else (3.0, 3)
    fairness_cycles = 320 if quick else 3200
    rows: list[Row] = []
    with serve_subprocess() as server:
        with grpc_backend(server.address, sites=THROUGHPUT_SITES) as backend:
            reserve = _reserve_cycles(backend.pin_map_id, backend.pins)
        rows.append(
            _ratio_row(
                f"throughput, {THROUGHPUT_SITES} threads on disjoint sites / 1 thread "
                "(reserve + unreserve)",
                server.address,
                duration,
                rounds,
                reserve,
                target=True,
            )
        )
        rows.append(
            _ratio_row(
                f"reference: the same for 2 x Health.Check (gRPC floor), "
                f"{THROUGHPUT_SITES} threads / 1 thread",
                server.address,
                duration,
                rounds,
                _health_cycles,
                target=False,
            )
        )
        with grpc_backend(server.address, sites=4) as backend:
            report = run_stress(
                backend,
                reservations=fairness_cycles,
                threads=16,
                resources=4,
                max_set=2,
                seed=7,
                timeout_of=_forever,
            )
    if diagnose:
        with serve_subprocess(store="memory") as server:
            with grpc_backend(server.address, sites=THROUGHPUT_SITES) as backend:
                reserve = _reserve_cycles(backend.pin_map_id, backend.pins)
            rows.append(
                _ratio_row(
                    "diagnostic: throughput ratio as above, state in memory (no SQLite)",
                    server.address,
                    duration,
                    rounds,
                    reserve,
                    target=False,
                )
            )
    if report.errors or report.stuck_threads:
        raise RuntimeError(
            f"fairness run failed: {report.errors[:3]}, {report.stuck_threads} stuck thread(s)"
        )
    waits = [o.hold_start - o.asked for o in report.outcomes if o.granted]
    mean = statistics.fmean(waits)
    rows.append(
        Row(
            NAME,
            "fairness, 16 threads on overlapping sessions: max wait / mean wait",
            f"{max(waits) / mean:.1f}",
            "",
            None,
            f"mean {mean * 1e3:.2f} ms, p50 {percentile(waits, 0.5) * 1e3:.2f} ms, "
            f"p99 {percentile(waits, 0.99) * 1e3:.2f} ms, max {max(waits) * 1e3:.2f} ms, "
            f"{len(waits)} grants",
        )
    )
    doubles = len(report.double_grants())
    rows.append(
        Row(
            NAME,
            "double grants (overlapping hold intervals of one session)",
            str(doubles),
            "0",
            doubles == 0,
            f"{len(waits)} grants of 2 random sites of 4 (8 sessions), infinite timeouts",
        )
    )
    return rows
