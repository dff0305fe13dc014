"""Contention: throughput of many clients on disjoint sites, fairness on overlapping sessions.

Both run against a real ``pinbroker serve`` subprocess; the clients are threads of this
process, each with a channel and a seed client of its own (as separate measurement processes
would have), all cycling reserve + unreserve with the seed client.

* throughput: a 16-pin x 32-site map where every site has instruments of its own; each of
  32 threads reserves a digital and a power pin on its own site (two sessions nobody else
  wants) for ``duration`` seconds; the same with 1 thread. Ratio = grants/s (32) / grants/s (1).
* fairness: 16 threads each reserve two random sites of 4 (overlapping sessions) with an
  infinite timeout, hold them for a random number of iterations of busy work, unreserve.
  Reported: max wait / mean wait (wait = from sending ReserveSessions to its answer), and the
  number of double grants, found from the hold intervals per session as in
  ``benchmarks.stress`` (must be 0).
"""

from __future__ import annotations

import random
import statistics
import threading
import time

import grpc

from benchmarks._common import Row, percentile, serve_subprocess
from benchmarks.stress import grpc_backend, run_stress

__all__ = ["run"]

NAME = "contention"
THROUGHPUT_TARGET = 1.6
THROUGHPUT_SITES = 32


def _forever(rng: random.Random) -> float | None:
    return None


def _throughput(
    address: str, pin_map_id: str, pins: list[str], threads: int, duration: float
) -> float:
    """Return grants per second of ``threads`` clients, each cycling on a site of its own."""
    from ni_measurementlink_service.session_management import (
        PinMapContext,
        SessionManagementClient,
    )

    stop = threading.Event()
    ready = threading.Barrier(threads + 1)
    counts = [0] * threads
    errors: list[BaseException] = []

    def client(number: int) -> None:
        channel = grpc.insecure_channel(address)
        try:
            grpc.channel_ready_future(channel).result(timeout=30)
            sessions = SessionManagementClient(grpc_channel=channel)
            context = PinMapContext(pin_map_id=pin_map_id, sites=[number])
            for _ in range(5):  # warm up the connection
                sessions.reserve_sessions(context, pins, timeout=0).unreserve()
            ready.wait()
            done = 0
            while not stop.is_set():
                reservation = sessions.reserve_sessions(context, pins, timeout=0)
                reservation.unreserve()
                done += 1
            counts[number] = done
        except BaseException as exc:  # reported below
            errors.append(exc)
            ready.abort()
        finally:
            channel.close()

    workers = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    ready.wait()
    began = time.perf_counter()
    stop.wait(duration)  # the measurement window, not synchronisation
    stop.set()
    for worker in workers:
        worker.join(60)
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed, first: {errors[0]!r}")
    return sum(counts) / elapsed


def run(*, quick: bool) -> list[Row]:
    """Run the contention benchmarks against a fresh ``pinbroker serve`` subprocess."""
    duration = 1.5 if quick else 10.0
    fairness_cycles = 320 if quick else 3200
    rows: list[Row] = []
    with serve_subprocess() as server:
        with grpc_backend(server.address, sites=THROUGHPUT_SITES) as backend:
            pin_map_id, pins = backend.pin_map_id, backend.pins
        one = _throughput(server.address, pin_map_id, pins, 1, duration)
        many = _throughput(server.address, pin_map_id, pins, THROUGHPUT_SITES, duration)
        ratio = many / one
        rows.append(
            Row(
                NAME,
                f"throughput, {THROUGHPUT_SITES} threads on disjoint sites / 1 thread",
                f"{ratio:.2f}x",
                f">= {THROUGHPUT_TARGET}x",
                ratio >= THROUGHPUT_TARGET,
                f"{many:.0f} vs {one:.0f} reserve+unreserve cycles/s over {duration:g} s",
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
            f"{len(waits)} grants, 8 sessions",
        )
    )
    return rows
