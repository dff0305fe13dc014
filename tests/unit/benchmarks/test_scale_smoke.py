"""The scale benchmark's code path with tiny numbers: it checks outcomes, never timings."""

from __future__ import annotations

import pytest
from benchmarks.scale import ScaleSpec, measure, rows


def test_tiny_scale_run_queues_serves_and_cleans_up() -> None:
    spec = ScaleSpec(leases=20, waiters=20, cycles=5, window=0.0, lease_ttl=3.0)

    report = measure(spec)

    assert report.queued == 20  # GetStatus showed every waiter queued at once
    assert report.served == 20  # each was granted once the holder unreserved
    assert report.out_of_order == 0  # in the queue order GetStatus showed
    assert report.revoked == 20  # every lease was still active at the end
    assert report.keep_alives_failed == 0
    assert report.resource_exhausted == 0
    assert (report.left_held, report.left_waiting) == (0, 0)
    assert len(report.idle.cycle) == len(report.loaded.cycle) == 5
    assert report.leased is None
    assert report.server_waiting.threads > 0
    produced = rows(report)
    assert len(produced) == 9
    assert all(row.benchmark == "leases and waiters" for row in produced)


@pytest.mark.parametrize(
    "bad",
    [dict(leases=0), dict(waiters=0), dict(cycles=0), dict(leases=5, waiters=6)],
    ids=str,
)
def test_scale_spec_refuses_impossible_runs(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"at least 1|a lease of its own"):
        ScaleSpec(**bad)
