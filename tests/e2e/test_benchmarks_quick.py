"""`python -m benchmarks --quick`, the documented command: runs every benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import _postgres

REPO = Path(__file__).resolve().parents[2]

CLUSTER_ROWS = 13
"""Rows of the cluster benchmark (PostgreSQL); 1 ("not run") without a PostgreSQL server."""


@pytest.mark.timeout(240)
def test_quick_benchmark_run_produces_every_row(tmp_path: Path) -> None:
    output = tmp_path / "performance.md"
    # The cluster benchmark uses the tests' PostgreSQL server.
    env = {**os.environ, "PINBROKER_BENCH_DATABASE": _postgres.admin_conninfo()}

    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
        env=env,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.splitlines()
    expected = (
        ("reserve cycle", 4),
        ("pin map scale", 6),
        ("contention", 4),
        ("leases and waiters", 9),
        ("events", 2),
        ("growth", 8),
    )
    for benchmark, rows in expected:
        assert sum(line.startswith(f"{benchmark}: ") for line in lines) == rows, benchmark
    cluster = [line for line in lines if line.startswith("cluster: ")]
    if len(cluster) == 1 and not _postgres.in_ci():
        assert cluster[0].startswith("cluster: PostgreSQL benchmarks = not run"), cluster[0]
    else:
        assert len(cluster) == CLUSTER_ROWS, "\n".join(cluster)
    table = [line for line in output.read_text().splitlines() if line.startswith("|")]
    assert len(table) == 2 + 4 + 6 + 4 + 9 + 2 + 8 + len(cluster)  # header, rule, rows
    doubles = [line for line in table if "double grants" in line]
    assert len(doubles) == (2 if len(cluster) == CLUSTER_ROWS else 1)
    assert all("| 0 | 0 | yes |" in line for line in doubles), doubles
    queued = [line for line in table if "waiting requests queued" in line]
    assert len(queued) == 1
    assert "| 200 | 200 | yes |" in queued[0]


def test_unknown_benchmark_is_refused() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "nonsense"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 2
    assert "unknown benchmark" in completed.stderr
