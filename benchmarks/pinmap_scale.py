"""Pin map scale: load time against raw lxml, resolve cost against map size, peak memory.

* load: ``load_pinmap(data)`` divided by ``lxml.etree.fromstring(data)`` of the same bytes
  (median of a few alternating runs; the garbage collector runs as in production);
* resolve: ``PinMap.resolve(sites=[0])`` (every pin and relay: the answer is one site's worth)
  and ``resolve(sites=[0], names=<2 pins>)`` on a P-pin map with 256 sites, divided by the same
  on a 4-site map (median of many calls);
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
import json, resource, sys
from pathlib import Path
from pinbroker.pinmap import load_pinmap
data = Path(sys.argv[1]).read_bytes()
if sys.argv[2] == "str":
    data = data.decode("utf-8")
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
pin_map = load_pinmap(data)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"baseline_kib": baseline, "peak_kib": peak}))
"""


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


def resolve_times(generated: GeneratedPinMap, repeat: int) -> tuple[float, float]:
    """Return median seconds of resolve(site 0, all names) and resolve(site 0, 2 pins)."""
    from pinbroker.pinmap import load_pinmap

    pin_map = load_pinmap(generated.xml_bytes)
    pins = list(generated.two_session_pins())
    everything = pin_map.resolve(sites=[0])
    two = pin_map.resolve(sites=[0], names=pins)
    if len(two.sessions) != 2 or not everything.sessions:
        raise AssertionError(f"unexpected resolution: {two.sessions}")
    gc.collect()
    return (
        _median_time(lambda: pin_map.resolve(sites=[0]), repeat),
        _median_time(lambda: pin_map.resolve(sites=[0], names=pins), repeat * 20),
    )


def peak_rss(path: Path, kind: str) -> tuple[int, int]:
    """Return (baseline, peak) ``ru_maxrss`` in KiB of a subprocess loading ``path``."""
    completed = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(path), kind],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=600,
    )
    values = json.loads(completed.stdout)
    return int(values["baseline_kib"]), int(values["peak_kib"])


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
    small_all, small_two = resolve_times(small, repeat)
    large_all, large_two = resolve_times(large, repeat)
    for label, big, little in (
        ("all pins and relays", large_all, small_all),
        ("2 pins", large_two, small_two),
    ):
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
        baseline, peak = peak_rss(path, kind)
        delta_mb = (peak - baseline) / 1024
        rows.append(
            Row(
                NAME,
                f"peak RSS of loading {pins} x {large_sites} ({size_mb:.1f} MB) from {kind}",
                f"{delta_mb:.0f} MB",
                f"<= {RSS_TARGET_MB:.0f} MB",
                delta_mb <= RSS_TARGET_MB,
                f"ru_maxrss baseline {baseline / 1024:.0f} MB (after reading the file), "
                f"peak {peak / 1024:.0f} MB",
            )
        )
    return rows
