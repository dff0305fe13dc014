"""What every benchmark shares: result rows, percentiles, the environment, a server subprocess."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

__all__ = [
    "REPO",
    "CpuMeter",
    "Row",
    "ServerProcess",
    "environment",
    "percentile",
    "serve_subprocess",
]

REPO = Path(__file__).resolve().parents[1]
"""The repository root."""


@dataclass(frozen=True, slots=True)
class Row:
    """One measured number of one benchmark.

    Attributes:
        benchmark: Benchmark name (``reserve cycle``, ``pin map scale``, ``contention``).
        metric: What was measured.
        value: The number as shown (already formatted).
        target: The target as shown, or "" when there is none.
        met: Whether the target was met; None when there is no target.
        detail: The inputs of the number (e.g. the two times a ratio divides).
    """

    benchmark: str
    metric: str
    value: str
    target: str = ""
    met: bool | None = None
    detail: str = ""

    def line(self) -> str:
        verdict = "" if self.met is None else ("  [met]" if self.met else "  [MISSED]")
        target = f" (target {self.target})" if self.target else ""
        detail = f"  -- {self.detail}" if self.detail else ""
        return f"{self.benchmark}: {self.metric} = {self.value}{target}{verdict}{detail}"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the ``fraction`` quantile of ``values`` (nearest rank; ``0.5`` = median)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * (len(ordered) - 1))))
    return ordered[rank]


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def _commit() -> str:
    """The checked-out commit, marked ``+local changes`` when src/ differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head} + local changes in src/" if changed else head


def environment() -> dict[str, str]:
    """Describe the machine and the library versions the numbers were measured with."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "grpcio": _version("grpcio"),
        "protobuf": _version("protobuf"),
        "lxml": _version("lxml"),
        "pinbroker": _version("pinbroker"),
        "commit": _commit(),
        "cpus": str(os.cpu_count()),
        "load": " / ".join(f"{v:.2f}" for v in os.getloadavg()),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
    }


class CpuMeter:
    """Share of the whole machine's CPU time that was busy between ``start`` and ``stop``.

    Reads ``/proc/stat`` (Linux); ``busy`` is None elsewhere.
    """

    def __init__(self) -> None:
        self._start: list[int] | None = None
        self.busy: float | None = None

    @staticmethod
    def _read() -> list[int] | None:
        try:
            with open("/proc/stat", encoding="ascii") as stat:
                return [int(v) for v in stat.readline().split()[1:]]
        except OSError:
            return None

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> None:
        end = self._read()
        if self._start is None or end is None:
            return
        delta = [b - a for a, b in zip(self._start, end, strict=False)]
        total = sum(delta)
        idle = delta[3] + (delta[4] if len(delta) > 4 else 0)  # idle + iowait
        self.busy = 1 - idle / total if total else None


def cpu_text(busy: float | None) -> str:
    """A :attr:`CpuMeter.busy` share as text (``n/a`` where it cannot be read)."""
    return "n/a" if busy is None else f"{busy * 100:.0f}%"


def measure_window(
    workers: Sequence[threading.Thread],
    ready: threading.Barrier,
    stop: threading.Event,
    duration: float,
    errors: Sequence[object],
) -> tuple[float, float | None]:
    """Run client threads for a measurement window; return (elapsed seconds, CPU busy share).

    The workers wait on ``ready`` once warmed up (a failing one aborts it) and cycle until
    ``stop`` is set; the window starts when all are ready and lasts ``duration`` seconds.

    Raises:
        RuntimeError: If a worker reported an error in ``errors``.
    """
    for worker in workers:
        worker.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait()
    meter = CpuMeter()
    meter.start()
    began = time.perf_counter()
    stop.wait(duration)  # the measurement window, not synchronisation
    stop.set()
    for worker in workers:
        worker.join(60)
    elapsed = time.perf_counter() - began
    meter.stop()
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed, first: {errors[0]!r}")
    return elapsed, meter.busy


class ServerProcess:
    """A ``pinbroker serve`` subprocess on a free port (see :func:`serve_subprocess`)."""

    def __init__(self, process: subprocess.Popen[str], address: str) -> None:
        self.process = process
        self.address = address

    @property
    def pid(self) -> int:
        return self.process.pid


_LISTENING = re.compile(r"pinbroker listening on (\S+):(\d+)")


@contextmanager
def serve_subprocess(
    extra_args: Sequence[str] = (), *, store: str = "sqlite"
) -> Iterator[ServerProcess]:
    """Run ``pinbroker serve --port 0`` with a fresh state directory; stop it with SIGTERM.

    ``store="memory"`` runs :mod:`benchmarks._memory_server` instead (the same server with its
    state in memory), ``store="null"`` :mod:`benchmarks._null_server` (canned answers, no
    work), for the diagnostic comparisons.

    The discovery key file goes into the state directory too, so no other pinbroker is disturbed.

    The address is read from the line the server prints once it accepts calls.
    """
    with tempfile.TemporaryDirectory(prefix="pinbroker-bench-") as state:
        if store not in ("sqlite", "memory", "null"):
            raise ValueError(f"unknown store {store!r}")
        command = [
            sys.executable,
            "-m",
            "pinbroker.cli",
            "serve",
            "--port",
            "0",
            "--state-dir",
            state,
            "--discovery-key-file",
            str(Path(state) / "DiscoveryService.json"),
            "--log-level",
            "WARNING",
            *extra_args,
        ]
        if store in ("memory", "null"):
            command = [sys.executable, "-m", f"benchmarks._{store}_server"]
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        drain: threading.Thread | None = None
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = _LISTENING.search(line)
            if match is None:
                process.kill()
                _, err = process.communicate(timeout=30)
                raise RuntimeError(f"pinbroker serve did not start: {line!r} {err[-2000:]}")
            # Keep draining stderr so a chatty server never blocks on a full pipe.
            assert process.stderr is not None
            drain = threading.Thread(target=process.stderr.read, daemon=True)
            drain.start()
            yield ServerProcess(process, f"{match.group(1)}:{match.group(2)}")
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=30)
            if drain is not None:
                drain.join(timeout=30)  # ends at the pipe's end of file
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()
