"""Contention stress: 16 threads, random overlapping session sets, random timeouts.

The workload is ``benchmarks.stress`` (also runnable at 10^5 grants with
``python -m benchmarks.stress --reservations 100000``): timeouts of 0, 1-20 ms and a few
forever (always satisfied in the end, because every holder releases); a holder keeps its
sessions for a random number of iterations of busy work -- nothing sleeps. Hold intervals are
stamped inside the true hold (after the grant returned, before the release is sent), so an
overlap is a real double grant; every waiter's time is checked against its timeout.
"""

from __future__ import annotations

import grpc
from benchmarks.stress import TableBackend, grpc_backend, run_stress

from pinbroker.server.app import RunningServer

MAX_OVERSHOOT = 0.100  # seconds a waiter may exceed its timeout by


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


def test_grpc_server_1k_grants_16_threads(pinbroker_server: RunningServer) -> None:
    with grpc_backend(pinbroker_server.address, sites=12) as backend:
        report = run_stress(backend, reservations=1_000, threads=16, resources=12, seed=2)

    assert report.problems(MAX_OVERSHOOT) == [], report.summary()
    assert report.grants == 1_000
    counts = report.counts()
    assert counts["zero-timeout"] > 0, report.summary()
    assert counts["forever-granted"] > 0, report.summary()
    # Each grant held two sessions per site: the sessions really came from the server.
    assert all(len(o.sessions) == 2 * len(o.resources) for o in report.outcomes if o.granted)
    snapshot = pinbroker_server.sessions.table.snapshot()
    assert snapshot.held == {}
    assert snapshot.waiting == ()


def test_grpc_stress_reports_server_errors(pinbroker_server: RunningServer) -> None:
    """The harness does not swallow failures: an unknown site is reported, not counted."""
    with grpc_backend(pinbroker_server.address, sites=1) as backend:
        report = run_stress(backend, reservations=4, threads=2, resources=3, seed=3)

    assert report.errors, "reserving undefined sites 1 and 2 should have failed"
    assert all(grpc.StatusCode.INVALID_ARGUMENT.name in error for error in report.errors)
