"""Run every benchmark; print the rows; write the results table into docs/performance.md.

Usage (from the repository root, in the project's virtual environment)::

    python -m benchmarks            # full run (minutes); updates docs/performance.md
    python -m benchmarks --quick    # everything small (< 1 minute); prints only
    python -m benchmarks --diagnose # also against an in-memory-state server (cost of SQLite)
    python -m benchmarks --only reserve,contention --output /tmp/perf.md

Each benchmark reports ratios of times measured in the same run (absolute times on a shared
machine are noise). The results replace the part of the output file between the
``<!-- results:start -->`` and ``<!-- results:end -->`` markers; the rest of the file (the
analysis) is kept. A missed target is reported, not hidden: the exit status stays 0 unless a
benchmark could not run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks._common import REPO, Row, environment

__all__ = ["BENCHMARKS", "main", "render", "run_benchmarks", "write_results"]

START = "<!-- results:start -->"
END = "<!-- results:end -->"
DEFAULT_OUTPUT = REPO / "docs" / "performance.md"


def _reserve(quick: bool, diagnose: bool) -> list[Row]:
    from benchmarks import reserve_cycle

    return reserve_cycle.run(quick=quick, diagnose=diagnose)


def _scale(quick: bool, diagnose: bool) -> list[Row]:
    from benchmarks import pinmap_scale

    return pinmap_scale.run(quick=quick)


def _contention(quick: bool, diagnose: bool) -> list[Row]:
    from benchmarks import contention

    return contention.run(quick=quick, diagnose=diagnose)


def _leases(quick: bool, diagnose: bool) -> list[Row]:
    from benchmarks import scale

    return scale.run(quick=quick, diagnose=diagnose)


def _events(quick: bool, diagnose: bool) -> list[Row]:
    from benchmarks import events

    return events.run(quick=quick, diagnose=diagnose)


def _growth(quick: bool, diagnose: bool) -> list[Row]:
    from benchmarks import growth

    return growth.run(quick=quick, diagnose=diagnose)


def _cluster(quick: bool, diagnose: bool) -> list[Row]:
    from benchmarks import cluster

    return cluster.run(quick=quick, diagnose=diagnose)


BENCHMARKS: dict[str, Callable[[bool, bool], list[Row]]] = {
    "reserve": _reserve,
    "scale": _scale,
    "contention": _contention,
    "leases": _leases,
    "events": _events,
    "growth": _growth,
    "cluster": _cluster,
}


def run_benchmarks(
    names: Sequence[str], *, quick: bool, diagnose: bool = False
) -> tuple[list[Row], dict[str, float]]:
    """Run the named benchmarks; return their rows and each one's wall time in seconds."""
    rows: list[Row] = []
    durations: dict[str, float] = {}
    for name in names:
        began = time.perf_counter()
        produced = BENCHMARKS[name](quick, diagnose)
        durations[name] = time.perf_counter() - began
        for row in produced:
            print(row.line(), flush=True)
        rows.extend(produced)
    return rows, durations


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(
    rows: Sequence[Row], *, quick: bool, command: str, env: dict[str, str] | None = None
) -> str:
    """Render the results section (between the markers) as Markdown.

    ``env`` is :func:`benchmarks._common.environment` taken when the run started (taken now if
    None).
    """
    env = env if env is not None else environment()
    lines = [
        START,
        f"Measured {env['date']} with `{command}`"
        + (" (quick mode: small sizes)" if quick else "")
        + ".",
        "",
        f"Python {env['python']}, grpcio {env['grpcio']}, protobuf {env['protobuf']}, "
        f"lxml {env['lxml']}, pinbroker {env['pinbroker']} at commit {env['commit']}; "
        f"{env['cpus']} CPUs ({env['cpu']}); "
        f"{env['platform']}; load average at start {env['load']} (1/5/15 min).",
        "",
        "| benchmark | metric | value | target | met | measured |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(
            f"| {_cell(row.benchmark)} | {_cell(row.metric)} | {_cell(row.value)} | "
            f"{_cell(row.target)} | {met} | {_cell(row.detail)} |"
        )
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_results(path: Path, section: str) -> None:
    """Replace the results section of ``path`` (or create the file with just the section)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    start, end = text.find(START), text.find(END)
    if start >= 0 and end > start:
        rest = text[end + len(END) :].lstrip("\n")
        text = text[:start] + section + ("\n" + rest if rest else "")
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section
    path.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="also measure against a server with its state in memory (what SQLite costs)",
    )
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated subset of {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="file to write the results into (default: docs/performance.md for a full run, "
        "nothing for --quick)",
    )
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    output = args.output if args.output is not None else (None if args.quick else DEFAULT_OUTPUT)

    env = environment()
    rows, durations = run_benchmarks(names, quick=args.quick, diagnose=args.diagnose)
    timing = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in durations.items())
    print(f"done: {len(rows)} rows ({timing})")
    if output is not None:
        command = "python -m benchmarks" + (" --quick" if args.quick else "")
        command += " --diagnose" if args.diagnose else ""
        if names != list(BENCHMARKS):
            command += f" --only {','.join(names)}"
        write_results(output, render(rows, quick=args.quick, command=command, env=env))
        print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
