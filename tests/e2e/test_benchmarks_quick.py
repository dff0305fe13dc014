"""`python -m benchmarks --quick`, the documented command: runs every benchmark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_benchmark_run_produces_every_row(tmp_path: Path) -> None:
    output = tmp_path / "performance.md"

    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.splitlines()
    expected = (
        ("reserve cycle", 4),
        ("pin map scale", 6),
        ("contention", 4),
        ("leases and waiters", 9),
    )
    for benchmark, rows in expected:
        assert sum(line.startswith(f"{benchmark}: ") for line in lines) == rows, benchmark
    table = [line for line in output.read_text().splitlines() if line.startswith("|")]
    assert len(table) == 2 + 4 + 6 + 4 + 9  # header, rule, rows
    assert any("double grants" in line and "| 0 |" in line for line in table)
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
