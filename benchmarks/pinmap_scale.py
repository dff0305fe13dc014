"""Pin map scale: load time against raw lxml, resolve cost against map size, peak memory.

* load: ``load_pinmap(data)`` divided by ``lxml.etree.fromstring(data)`` of the same bytes
  (median of a few alternating runs; the garbage collector runs as in production);
* resolve: ``PinMap.resolve(sites=[0])`` (every pin and relay: the answer is one site's worth)
  and ``resolve(sites=[0], names=<2 pins>)`` on a P-pin map with 256 sites, divided by the same
  on a 4-site map (median of many calls, alternating between the two maps);
* peak RSS: a fresh ``python`` subprocess reads the largest map's bytes, records
  ``ru_maxrss`` (the baseline), loads it, records ``ru_maxrss`` again; the difference is what
  loading cost at its peak. Measured for bytes input, and for ``str`` input (what the server
  hands the parser: protobuf ``string`` fields arrive as ``str``).
"""

from __future__ import annotations

import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from lxml import etree

from benchmarks._common import REPO, Row
from benchmarks.pinmap_gen import GeneratedPinMap, PinMapSpec, generate_pinmap

__all__ = ["run"]

NAME = "pin map scale"
LOAD_TARGET = 3.0
RESOLVE_TARGET = 1.5
RSS_TARGET_MB = 400.0
OUT = REPO / "benchmarks" / "out"

_RSS_SCRIPT = """
import json, re, resource, sys
from pathlib import Path
from pinbroker.pinmap import load_pinmap

def hwm():
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))

data = Path(sys.argv[1]).read_bytes()
if sys.argv[2] == "str":
    data = data.decode("utf-8")
baseline, baseline_hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, hwm()
pin_map = load_pinmap(data)
peak, peak_hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, hwm()
print(json.dumps({"baseline": baseline, "peak": peak, "baseline_hwm": baseline_hwm,
                  "peak_hwm": peak_hwm}))
"""
# Linux carries the high-water mark of the memory a process had before exec() into the new
# program's ru_maxrss, and subprocess spawns with vfork (the parent's memory). So the measuring
# process is started by a tiny launcher process: it inherits the launcher's few MB instead of
# this benchmark's hundreds.
_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def _seconds(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - began
    del result
    return elapsed


def _median_time(action: Callable[[], object], repeat: int) -> float:
    return statistics.median(_seconds(action) for _ in range(repeat))


def load_ratio(generated: GeneratedPinMap, repeat: int) -> tuple[float, float]:
    """Return median seconds of (load_pinmap, lxml.etree.fromstring) on the same bytes."""
    from pinbroker.pinmap import load_pinmap

    data = generated.xml_bytes
    loads: list[float] = []
    raws: list[float] = []
    for _ in range(repeat):
        gc.collect()
        raws.append(_seconds(lambda: etree.fromstring(data)))
        gc.collect()
        loads.append(_seconds(lambda: load_pinmap(data)))
    return statistics.median(loads), statistics.median(raws)


def resolve_times(
    small: GeneratedPinMap, large: GeneratedPinMap, repeat: int
) -> dict[tuple[str, str], float]:
    """Median seconds of resolve(site 0, everything) and resolve(site 0, 2 pins) on both maps.

    Calls on the two maps alternate, so machine noise hits both alike.
    """
    from pinbroker.pinmap import load_pinmap

    maps = {"small": load_pinmap(small.xml_bytes), "large": load_pinmap(large.xml_bytes)}
    pins = list(small.two_session_pins())
    if pins != list(large.two_session_pins()):
        raise AssertionError("both maps must have the same pins")
    for pin_map in maps.values():
        two = pin_map.resolve(sites=[0], names=pins)
        if len(two.sessions) != 2 or not pin_map.resolve(sites=[0]).sessions:
            raise AssertionError(f"unexpected resolution: {two.sessions}")
    samples: dict[tuple[str, str], list[float]] = {
        (size, query): [] for size in maps for query in ("all", "two")
    }
    gc.collect()
    for _ in range(repeat):
        for size, pin_map in maps.items():
            samples[size, "all"].append(_seconds(partial(pin_map.resolve, sites=[0])))
    for _ in range(repeat * 20):
        for size, pin_map in maps.items():
            samples[size, "two"].append(_seconds(partial(pin_map.resolve, sites=[0], names=pins)))
    return {key: statistics.median(values) for key, values in samples.items()}


def peak_rss(path: Path, kind: str) -> dict[str, int]:
    """Return baseline and peak ``ru_maxrss`` and ``VmHWM`` (KiB) of a process loading ``path``."""
    completed = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, sys.executable, "-c", _RSS_SCRIPT, str(path), kind],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=600,
    )
    values = json.loads(completed.stdout)
    return {key: int(value) for key, value in values.items()}


def run(*, quick: bool) -> list[Row]:
    """Run the pin map scale benchmarks (small maps with ``quick``)."""
    pins = 64 if quick else 2048
    small_sites, large_sites = (4, 64) if quick else (4, 256)
    load_sizes = [(64, 4), (256, 16)] if quick else [(64, 4), (256, 16), (2048, 64), (2048, 256)]
    rows: list[Row] = []

    for p, s in load_sizes:
        generated = generate_pinmap(PinMapSpec(pins=p, sites=s))
        repeat = 3 if p * s >= 100_000 else 7
        load, raw = load_ratio(generated, repeat)
        ratio = load / raw
        rows.append(
            Row(
                NAME,
                f"load / lxml.fromstring, {p} pins x {s} sites",
                f"{ratio:.2f}x",
                f"<= {LOAD_TARGET}x",
                ratio <= LOAD_TARGET,
                f"load {load * 1e3:.1f} ms, lxml {raw * 1e3:.1f} ms, "
                f"{len(generated.xml_bytes) / 1e6:.1f} MB, "
                f"{generated.connection_count} connections",
            )
        )

    repeat = 50 if quick else 30
    small = generate_pinmap(PinMapSpec(pins=pins, sites=small_sites))
    large = generate_pinmap(PinMapSpec(pins=pins, sites=large_sites))
    times = resolve_times(small, large, repeat)
    for label, query in (("all pins and relays", "all"), ("2 pins", "two")):
        big, little = times["large", query], times["small", query]
        ratio = big / little
        rows.append(
            Row(
                NAME,
                f"resolve site 0 ({label}), {pins} pins: {large_sites} sites / {small_sites} sites",
                f"{ratio:.2f}x",
                f"<= {RESOLVE_TARGET}x",
                ratio <= RESOLVE_TARGET,
                f"{big * 1e6:.0f} us vs {little * 1e6:.0f} us",
            )
        )

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"scale_{pins}x{large_sites}.pinmap"
    path.write_bytes(large.xml_bytes)
    size_mb = len(large.xml_bytes) / 1e6
    del small, large
    gc.collect()
    for kind in ("bytes", "str"):
        rss = peak_rss(path, kind)
        baseline, peak = rss["baseline"], rss["peak"]
        delta_mb = (peak - baseline) / 1024
        rows.append(
            Row(
                NAME,
                f"peak RSS of loading {pins} x {large_sites} ({size_mb:.1f} MB) from {kind}",
                f"{delta_mb:.0f} MB",
                f"<= {RSS_TARGET_MB:.0f} MB",
                delta_mb <= RSS_TARGET_MB,
                f"ru_maxrss baseline {baseline / 1024:.0f} MB (after imports and reading the "
                f"file), peak {peak / 1024:.0f} MB; VmHWM {rss['baseline_hwm'] / 1024:.0f} -> "
                f"{rss['peak_hwm'] / 1024:.0f} MB",
            )
        )
    return rows
