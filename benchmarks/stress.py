"""Reservation stress: many threads, random overlapping session sets, random timeouts.

Each of ``threads`` threads repeatedly asks for a random set of 1-4 of ``resources`` shared
resources, with a random timeout -- 0 (fail at once), a short positive one (1-20 ms), or, for a
few, forever -- holds what it got for a random number of iterations of busy work (no sleeping:
a holder keeps its thread busy like a measurement that runs; the GIL still lets others in), then
releases it. It stops when ``reservations`` grants have been made in all.

Every request is stamped with ``time.monotonic()``:

* a grant's hold interval is [right after the grant returned, right before the release was
  sent], which lies inside the interval the server really held the sessions, so two overlapping
  hold intervals of one session prove a double grant (and none means none was seen);
* a waiter's time is [right before the request, right after it returned or failed]; it must not
  exceed its timeout by more than ``max_overshoot`` (100 ms).

Two backends run the same workload: the reservation table itself (``TableBackend``; a resource
is a session name) and a real gRPC server through the seed client (``GrpcBackend``; a resource
is a site of a generated pin map whose sites have instruments of their own, and each site
contributes two sessions).

``python -m benchmarks.stress --reservations 100000`` runs the table stress at 10^5 grants
(add ``--grpc 10000`` for a gRPC run against an in-process server, with its state in SQLite as
deployed or, with ``--grpc-state memory``, in memory). The exit status is 1 if any property is
violated.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "GrpcBackend",
    "Outcome",
    "StressBackend",
    "StressReport",
    "TableBackend",
    "grpc_backend",
    "main",
    "run_stress",
]

FOREVER_SHARE = 0.04
ZERO_SHARE = 0.25
SHORT_TIMEOUTS = (0.001, 0.020)
MAX_HOLD_ITERATIONS = 3_000
JOIN_TIMEOUT = 600.0


class TimedOut(Exception):
    """A backend's way of saying: not granted before the timeout."""


class StressBackend(Protocol):
    """What the stress runner reserves through."""

    def reserve(self, resources: Sequence[int], timeout: float | None) -> tuple[Any, list[str]]:
        """Reserve the resources; return a release handle and the session names held.

        Raises:
            TimedOut: If not granted within ``timeout`` (None = forever).
        """
        ...

    def release(self, handle: Any) -> None:
        """Release what ``reserve`` returned."""
        ...


@dataclass(slots=True)
class Outcome:
    """One request as the thread that made it saw it."""

    thread: int
    resources: tuple[int, ...]
    timeout: float | None
    asked: float
    answered: float
    granted: bool
    sessions: tuple[str, ...] = ()
    hold_start: float = 0.0
    hold_end: float = 0.0


@dataclass
class StressReport:
    """Everything a stress run recorded, and the checks over it."""

    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    stuck_threads: int = 0

    @property
    def grants(self) -> int:
        return sum(1 for o in self.outcomes if o.granted)

    def counts(self) -> Counter[str]:
        """Requests by (timeout kind, outcome)."""
        result: Counter[str] = Counter()
        for o in self.outcomes:
            kind = "forever" if o.timeout is None else "zero" if o.timeout == 0 else "short"
            result[f"{kind}-{'granted' if o.granted else 'timeout'}"] += 1
        return result

    def double_grants(self) -> list[str]:
        """Sessions whose hold intervals overlap (each overlap is a double grant)."""
        spans: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
        for index, o in enumerate(self.outcomes):
            if o.granted:
                for name in o.sessions:
                    spans[name].append((o.hold_start, o.hold_end, index))
        found: list[str] = []
        for name, held in spans.items():
            held.sort()
            for (_, end, first), (start, _, second) in itertools.pairwise(held):
                if start < end:
                    found.append(f"{name}: requests {first} and {second} held it at once")
        return found

    def overshoots(self, max_overshoot: float) -> list[str]:
        """Waiters that exceeded their timeout by more than ``max_overshoot`` seconds."""
        found: list[str] = []
        for index, o in enumerate(self.outcomes):
            if o.timeout is None:
                continue
            waited = o.answered - o.asked
            if waited - o.timeout > max_overshoot:
                found.append(
                    f"request {index} (timeout {o.timeout * 1000:.1f} ms) waited "
                    f"{waited * 1000:.1f} ms, {'granted' if o.granted else 'timed out'}"
                )
        return found

    def max_overshoot(self) -> float:
        """Largest (wait - timeout) over requests with a finite timeout, in seconds."""
        return max(
            (o.answered - o.asked - o.timeout for o in self.outcomes if o.timeout is not None),
            default=0.0,
        )

    def problems(self, max_overshoot: float = 0.1) -> list[str]:
        """Every violated property; empty when the run is clean."""
        found = list(self.errors)
        if self.stuck_threads:
            found.append(f"{self.stuck_threads} thread(s) never finished: deadlock?")
        found += self.double_grants()
        found += self.overshoots(max_overshoot)
        return found

    def summary(self) -> str:
        counts = self.counts()
        shown = ", ".join(f"{key} {counts[key]}" for key in sorted(counts))
        return (
            f"{len(self.outcomes)} requests, {self.grants} grants in {self.elapsed:.1f} s "
            f"({self.grants / max(self.elapsed, 1e-9):.0f} grants/s); {shown}; "
            f"max overshoot {self.max_overshoot() * 1000:.1f} ms"
        )


def _hold(iterations: int) -> int:
    """Busy work standing in for a measurement (returns a value so it is not optimised away)."""
    total = 0
    for i in range(iterations):
        total += i
    return total


def _timeout(rng: random.Random) -> float | None:
    draw = rng.random()
    if draw < FOREVER_SHARE:
        return None
    if draw < FOREVER_SHARE + ZERO_SHARE:
        return 0.0
    return rng.uniform(*SHORT_TIMEOUTS)


def run_stress(
    backend: StressBackend,
    *,
    reservations: int,
    threads: int = 16,
    resources: int = 24,
    max_set: int = 4,
    seed: int = 0,
    timeout_of: Callable[[random.Random], float | None] = _timeout,
) -> StressReport:
    """Run the workload until ``reservations`` grants were made; return what happened."""
    report = StressReport()
    quota = [
        reservations // threads + (1 if t < reservations % threads else 0) for t in range(threads)
    ]
    per_thread: list[list[Outcome]] = [[] for _ in range(threads)]
    errors_lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker(number: int) -> None:
        rng = random.Random(seed * 1_000_003 + number)
        outcomes = per_thread[number]
        granted = 0
        try:
            start.wait()
            while granted < quota[number]:
                chosen = tuple(
                    sorted(rng.sample(range(resources), rng.randint(1, min(max_set, resources))))
                )
                timeout = timeout_of(rng)
                asked = time.monotonic()
                try:
                    handle, sessions = backend.reserve(chosen, timeout)
                except TimedOut:
                    outcomes.append(
                        Outcome(number, chosen, timeout, asked, time.monotonic(), False)
                    )
                    continue
                hold_start = time.monotonic()
                _hold(rng.randrange(MAX_HOLD_ITERATIONS))
                hold_end = time.monotonic()
                backend.release(handle)
                outcomes.append(
                    Outcome(
                        number,
                        chosen,
                        timeout,
                        asked,
                        hold_start,
                        True,
                        tuple(sessions),
                        hold_start,
                        hold_end,
                    )
                )
                granted += 1
        except BaseException as exc:  # reported, not raised: the other threads go on
            with errors_lock:
                report.errors.append(f"thread {number}: {type(exc).__name__}: {exc}")

    workers = [
        threading.Thread(target=worker, args=(n,), name=f"stress-{n}", daemon=True)
        for n in range(threads)
    ]
    began = time.monotonic()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(JOIN_TIMEOUT)
    report.elapsed = time.monotonic() - began
    report.stuck_threads = sum(1 for thread in workers if thread.is_alive())
    for outcomes in per_thread:
        report.outcomes.extend(outcomes)
    return report


class TableBackend:
    """Reserve session names ``S0``, ``S1``... directly in a ``ReservationTable``."""

    def __init__(self) -> None:
        from pinbroker.reservation import ReservationTable

        self.table = ReservationTable()

    def reserve(self, resources: Sequence[int], timeout: float | None) -> tuple[Any, list[str]]:
        from pinbroker.errors import ReservationTimeoutError

        names = [f"S{r}" for r in resources]
        try:
            reservation = self.table.reserve(names, owner="stress", timeout=timeout)
        except ReservationTimeoutError:
            raise TimedOut from None
        return reservation, list(reservation.session_names)

    def release(self, handle: Any) -> None:
        self.table.release(handle.session_names)


class GrpcBackend:
    """Reserve through a pinbroker server with the seed client: a resource is a site."""

    def __init__(self, channel: Any, pin_map_id: str, pins: Sequence[str]) -> None:
        from ni_measurementlink_service.session_management import SessionManagementClient

        self._client = SessionManagementClient(grpc_channel=channel)
        self.pin_map_id = pin_map_id
        self.pins = list(pins)

    def reserve(self, resources: Sequence[int], timeout: float | None) -> tuple[Any, list[str]]:
        import grpc

        from ni_measurementlink_service.session_management import PinMapContext

        context = PinMapContext(pin_map_id=self.pin_map_id, sites=list(resources))
        try:
            reservation = self._client.reserve_sessions(
                context, self.pins, timeout=-1 if timeout is None else timeout
            )
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                raise TimedOut from None
            raise
        return reservation, [info.session_name for info in reservation.session_info]

    def release(self, handle: Any) -> None:
        handle.unreserve()


def stress_pin_map(sites: int) -> tuple[str, tuple[str, str]]:
    """Return (XML, two pins) of a map where each site has two sessions of its own."""
    from benchmarks.pinmap_gen import PinMapSpec, generate_pinmap

    generated = generate_pinmap(PinMapSpec(pins=16, sites=sites, share_instruments=False))
    return generated.xml, generated.two_session_pins()


@contextmanager
def grpc_backend(address: str, *, sites: int) -> Iterator[GrpcBackend]:
    """Load a stress pin map into the server at ``address``; yield a backend using it."""
    import grpc
    from ni.measurementlink.pinmap.v1 import pin_map_service_pb2, pin_map_service_pb2_grpc

    xml, pins = stress_pin_map(sites)
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
        stub = pin_map_service_pb2_grpc.PinMapServiceStub(channel)
        pin_map_id = stub.UpdatePinMapFromXml(
            pin_map_service_pb2.UpdatePinMapFromXmlRequest(
                pin_map_id="stress.pinmap", pin_map_xml=xml
            )
        ).pin_map_id
        yield GrpcBackend(channel, pin_map_id, pins)
    finally:
        channel.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.stress", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--reservations", type=int, default=100_000, help="grants (table run)")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--resources", type=int, default=24, help="sessions (table run)")
    parser.add_argument(
        "--grpc", type=int, default=0, metavar="N", help="also make N grants through gRPC"
    )
    parser.add_argument(
        "--grpc-state",
        choices=["sqlite", "memory"],
        default="sqlite",
        help="the gRPC run's server state: SQLite (as deployed) or memory only",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    failed = False
    if args.reservations:
        report = run_stress(
            TableBackend(),
            reservations=args.reservations,
            threads=args.threads,
            resources=args.resources,
            seed=args.seed,
        )
        print(f"table: {report.summary()}")
        for problem in report.problems()[:20]:
            print(f"  PROBLEM {problem}")
        failed |= bool(report.problems())
    if args.grpc:
        import tempfile

        from pinbroker.server.app import ServerConfig, start_server

        with tempfile.TemporaryDirectory() as state:
            server = start_server(
                ServerConfig(
                    port=0,
                    state_dir=Path(state),
                    in_memory=args.grpc_state == "memory",
                    publish_key_file=False,
                )
            )
            try:
                with grpc_backend(server.address, sites=12) as backend:
                    report = run_stress(
                        backend,
                        reservations=args.grpc,
                        threads=args.threads,
                        resources=12,
                        seed=args.seed,
                    )
            finally:
                server.stop(grace=0)
        print(f"grpc: {report.summary()}")
        for problem in report.problems()[:20]:
            print(f"  PROBLEM {problem}")
        failed |= bool(report.problems())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
