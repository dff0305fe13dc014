"""Contention stress: 16 threads, random overlapping session sets, random timeouts.

The workload is ``benchmarks.stress`` (also runnable at 10^5 grants with
``python -m benchmarks.stress --reservations 100000``): timeouts of 0, 1-20 ms and a few
forever (always satisfied in the end, because every holder releases); a holder keeps its
sessions for a random number of iterations of busy work -- nothing sleeps. Hold intervals are
stamped inside the true hold (after the grant returned, before the release is sent), so an
overlap is a real double grant; every waiter's time is checked against its timeout.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from benchmarks.stress import StressReport, TableBackend, grpc_backend, run_stress

from pinbroker.server.app import RunningServer

MAX_OVERSHOOT = 0.5
"""Seconds a waiter may exceed its timeout by, on the table itself: 16 busy threads on 2 cores
wake late under load (a 204 ms overshoot was seen while other suites ran beside it); a missed
deadline altogether is what this catches. Latency is measured in ``benchmarks/``."""
GRPC_MAX_OVERSHOOT = 1.0
"""Through gRPC the overshoot is measured end to end by client threads that share one process
(and its GIL) with the server on a 2-core machine that may be running other tests: a generous
bound that still catches a waiter that misses its deadline altogether. Latency is measured by
``benchmarks/``, not here."""


def test_reservation_table_10k_grants_16_threads() -> None:
    backend = TableBackend()

    report = run_stress(backend, reservations=10_000, threads=16, resources=24, seed=1)

    assert report.problems(MAX_OVERSHOOT) == [], report.summary()
    assert report.grants == 10_000
    counts = report.counts()
    # Every kind of timeout was exercised, and there was contention: immediate requests failed.
    assert counts["zero-timeout"] > 0, report.summary()
    assert counts["short-granted"] > 0, report.summary()
    assert counts["forever-granted"] > 0, report.summary()
    snapshot = backend.table.snapshot()
    assert snapshot.held == {}
    assert snapshot.waiting == ()


def _check_grpc_report(report: StressReport, server: RunningServer, max_overshoot: float) -> None:
    assert report.problems(max_overshoot) == [], report.summary()
    assert report.grants == 1_000
    counts = report.counts()
    assert counts["zero-timeout"] > 0, report.summary()
    assert counts["forever-granted"] > 0, report.summary()
    # Each grant held two sessions per site: the sessions really came from the server.
    assert all(len(o.sessions) == 2 * len(o.resources) for o in report.outcomes if o.granted)
    snapshot = server.sessions.table.snapshot()
    assert snapshot.held == {}
    assert snapshot.waiting == ()


def test_grpc_server_1k_grants_16_threads(start_pinbroker: Callable[..., RunningServer]) -> None:
    """Through gRPC with the state in memory: every property, with the end-to-end bound."""
    server = start_pinbroker(in_memory=True)
    with grpc_backend(server.address, sites=12) as backend:
        report = run_stress(backend, reservations=1_000, threads=16, resources=12, seed=2)

    _check_grpc_report(report, server, GRPC_MAX_OVERSHOOT)


def test_grpc_server_with_sqlite_state_1k_grants_16_threads(
    pinbroker_server: RunningServer,
) -> None:
    """The same against the default (SQLite) state: no double grant, nobody stuck.

    The 100 ms bound is not asserted here: every grant and release is written to SQLite while
    the reservation table's lock is held, so one slow disk write (a commit, or a WAL checkpoint
    with its fsyncs) delays every request, timeout-0 ones included. Stalls of 150-360 ms were
    seen on this machine when it was busy; see docs/performance.md, "Timeout overshoot", and
    ``python -m benchmarks.stress --reservations 0 --grpc 5000`` to reproduce. The bound here
    only catches a waiter that hangs.
    """
    with grpc_backend(pinbroker_server.address, sites=12) as backend:
        report = run_stress(backend, reservations=1_000, threads=16, resources=12, seed=2)

    _check_grpc_report(report, pinbroker_server, max_overshoot=2.0)


def test_grpc_stress_reports_server_errors(pinbroker_server: RunningServer) -> None:
    """The harness does not swallow failures: an unknown site is reported, not counted."""
    with grpc_backend(pinbroker_server.address, sites=1) as backend:
        report = run_stress(backend, reservations=4, threads=2, resources=3, seed=3)

    assert report.errors, "reserving undefined sites 1 and 2 should have failed"
    assert all(grpc.StatusCode.INVALID_ARGUMENT.name in error for error in report.errors)
