"""Cluster: ``pinbroker serve --database`` servers on one PostgreSQL database.

Every server is a real ``pinbroker serve --database URL`` subprocess on a throwaway database
(:func:`throwaway_database`); the clients are NI's published
``ni.measurementlink.sessionmanagement.v1.client.SessionManagementClient`` in this process.

* reserve cycle: reserve + unreserve of 2 sessions (as :mod:`benchmarks.reserve_cycle`) against
  one server, divided by 2 x ``Health/Check`` on the same channel, measured interleaved; p50 and
  p99. Once with the database's default durable commits (the target, <= 2x) and once, as a
  diagnostic, with ``synchronous_commit=off`` for the server's sessions (the commit does not
  wait for the WAL flush). As context: the database's own commit latency (a one-row ``INSERT``
  + ``COMMIT`` loop, p50) and a ``SELECT 1`` round trip, measured by this process.
* hand-off: servers A and B; client 1 holds the sessions through A, client 2 waits for them
  through B (reserve with a 10 s timeout, in a thread; its waiter row is seen in the database
  before client 1 lets go); the time from client 1's unreserve returning (and from it being
  sent) to client 2's reserve returning; p50 and p99 over many rounds (target p99 <= 20 ms).
* throughput: N = 1, 2, 4 servers on the database, 8 client threads spread over them
  round-robin, each with a channel of its own, cycling reserve + unreserve for a fixed window:
  on *disjoint* sites (each thread its own site, timeout 0) and on *overlapping* sessions (each
  thread reserves 1 or 2 random sites of 3, 10 s timeout, holds them briefly). Cycles/s and the
  ratio to N = 1. In the overlapping case each grant's hold interval is recorded inside the true
  hold (after the grant returned, before the release is sent, as in :mod:`benchmarks.stress`);
  overlapping intervals of one session are double grants (must be 0).

The database: ``PINBROKER_BENCH_DATABASE`` (an admin conninfo or URL: a role that may create
databases and roles), else the local cluster's Unix socket in ``/var/run/postgresql`` as the
current OS user. A fresh database owned by a fresh login role with a random password is made and
dropped with the role afterwards. Without a reachable server the benchmark reports one row
saying so instead of failing.

``python -m benchmarks.cluster [--quick]`` runs it alone.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import getpass
import os
import random
import secrets
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks._common import (
    Row,
    ServerProcess,
    cpu_text,
    measure_window,
    percentile,
    serve_subprocess,
)
from benchmarks.pinmap_gen import PinMapSpec, generate_pinmap
from benchmarks.stress import Outcome, StressReport

__all__ = [
    "ADMIN_ENV",
    "BenchDatabase",
    "DatabaseUnavailable",
    "main",
    "run",
    "throwaway_database",
]

NAME = "cluster"
ADMIN_ENV = "PINBROKER_BENCH_DATABASE"
"""An admin conninfo or URL of the PostgreSQL server to use (else the local Unix socket)."""
SOCKET_DIR = "/var/run/postgresql"
CONNECT_TIMEOUT = 5
CYCLE_TARGET = 2.0
HANDOFF_TARGET_MS = 20.0
THREADS = 8
SERVER_COUNTS = (1, 2, 4)
OVERLAP_SITES = 3
ASYNC_COMMIT = "options=-c%20synchronous_commit%3Doff"
"""Appended to the server's URL: its sessions commit without waiting for the WAL flush."""


# ---------------------------------------------------------------------------- the database


class DatabaseUnavailable(Exception):
    """No PostgreSQL server answers, or the admin role cannot make a database; ``str`` says why."""


@dataclasses.dataclass(frozen=True)
class BenchDatabase:
    """A throwaway database and the login role that owns it."""

    name: str
    password: str
    host: str
    port: int

    @property
    def url(self) -> str:
        """``postgresql://USER:PASSWORD@HOST:PORT/DB`` (the role is named like the database)."""
        return (
            f"postgresql://{quote(self.name, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(self.name, safe='')}"
        )


def admin_conninfo() -> str:
    """``PINBROKER_BENCH_DATABASE``, else the local Unix socket as the current user."""
    configured = os.environ.get(ADMIN_ENV, "").strip()
    if configured:
        return configured
    return f"host={SOCKET_DIR} dbname=postgres user={getpass.getuser()}"


def _admin() -> Any:
    import psycopg

    try:
        return psycopg.connect(admin_conninfo(), autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        where = ADMIN_ENV if os.environ.get(ADMIN_ENV, "").strip() else SOCKET_DIR
        why = lines[0].strip() if lines else type(exc).__name__
        raise DatabaseUnavailable(f"PostgreSQL at {where}: {why}") from exc


@contextlib.contextmanager
def throwaway_database() -> Iterator[BenchDatabase]:
    """A fresh database owned by a fresh login role (random password); both dropped on exit.

    Reached over TCP (127.0.0.1 and the cluster's port when the admin connection is a Unix
    socket), as a real ``pinbroker serve --database`` would reach it.

    Raises:
        DatabaseUnavailable: If no server answers or the admin role may not create them.
    """
    import psycopg
    from psycopg import sql

    name = f"pinbroker_bench_{secrets.token_hex(8)}"
    password = secrets.token_hex(16)
    with _admin() as admin:
        host = admin.info.host
        if not host or host.startswith(("/", "@")):
            host, port = "127.0.0.1", int(str(admin.execute("SHOW port").fetchone()[0]))
        else:
            port = admin.info.port
        try:
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(password)
                )
            )
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(name)
                )
            )
        except psycopg.Error as exc:
            with contextlib.suppress(psycopg.Error):
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
            raise DatabaseUnavailable(f"cannot create a database: {exc}") from exc
    try:
        yield BenchDatabase(name, password, host, port)
    finally:
        _drop(name)


def _drop(name: str) -> None:
    """Drop the database and its role; a database that stays unreachable is left (a warning)."""
    from psycopg import sql

    deadline = time.monotonic() + 60
    while True:
        try:
            admin = _admin()
            break
        except DatabaseUnavailable as exc:  # restarted by someone else: wait for it
            if time.monotonic() > deadline:
                print(f"warning: database {name} and its role not dropped: {exc}", file=sys.stderr)
                return
            time.sleep(1)
    with admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE (datname = %s OR usename = %s) AND pid <> pg_backend_pid()",
            (name, name),
        )
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _commit_latency(url: str, count: int) -> tuple[float, float]:
    """Median seconds of a one-row INSERT + COMMIT, and of a ``SELECT 1`` round trip."""
    import psycopg

    commits: list[float] = []
    trips: list[float] = []
    with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS bench_commit (n integer)")
        connection.commit()
        for n in range(count):
            began = time.perf_counter()
            connection.execute("INSERT INTO bench_commit VALUES (%s)", (n,))
            connection.commit()
            commits.append(time.perf_counter() - began)
            began = time.perf_counter()
            connection.execute("SELECT 1").fetchone()
            trips.append(time.perf_counter() - began)
            connection.rollback()
        connection.execute("DROP TABLE bench_commit")
        connection.commit()
    return statistics.median(commits), statistics.median(trips)


# ---------------------------------------------------------------------------- servers, pin maps


def _start(stack: contextlib.ExitStack, url: str, count: int) -> list[ServerProcess]:
    """Start ``count`` ``pinbroker serve --database url`` subprocesses in parallel.

    Each is stopped when ``stack`` closes.
    """
    managers = [serve_subprocess(["--database", url]) for _ in range(count)]
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(manager.__enter__) for manager in managers]
        concurrent.futures.wait(futures)
    for manager, future in zip(managers, futures, strict=True):
        if future.exception() is None:
            stack.push(manager.__exit__)
    return [future.result() for future in futures]


def _channel(address: str) -> grpc.Channel:
    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=30)
    return channel


def _load_pin_map(address: str, xml: str, pin_map_id: str) -> str:
    from ni.measurementlink.pinmap.v1 import pin_map_service_pb2, pin_map_service_pb2_grpc

    channel = _channel(address)
    try:
        stub = pin_map_service_pb2_grpc.PinMapServiceStub(channel)
        request = pin_map_service_pb2.UpdatePinMapFromXmlRequest(
            pin_map_id=pin_map_id, pin_map_xml=xml
        )
        return str(stub.UpdatePinMapFromXml(request).pin_map_id)
    finally:
        channel.close()


def _site_map(sites: int) -> tuple[str, list[str]]:
    """A map where every site has two sessions of its own; (XML, the two pins)."""
    generated = generate_pinmap(PinMapSpec(pins=16, sites=sites, share_instruments=False))
    return generated.xml, list(generated.two_session_pins())


# ---------------------------------------------------------------------------- reserve cycle


def _cycle_samples(address: str, iterations: int, warmup: int) -> dict[str, list[float]]:
    """Latency samples (seconds) of 2 x Health.Check and of NI's client's reserve cycle."""
    from ni.measurementlink.sessionmanagement.v1 import client as ni_client

    generated = generate_pinmap(PinMapSpec(pins=64, sites=8))
    pins = list(generated.two_session_pins())
    pin_map_id = _load_pin_map(address, generated.xml, "cluster_cycle.pinmap")
    channel = _channel(address)
    try:
        health = health_pb2_grpc.HealthStub(channel)
        check = health_pb2.HealthCheckRequest(service="")
        ni = ni_client.SessionManagementClient(grpc_channel=channel)
        context = ni_client.PinMapContext(pin_map_id=pin_map_id, sites=[0])

        def floor() -> None:
            health.Check(check)
            health.Check(check)

        def cycle() -> None:
            reservation = ni.reserve_sessions(context, pins, timeout=0)
            if len(reservation.session_info) != 2:
                raise AssertionError(f"expected 2 sessions, got {reservation.session_info}")
            reservation.unreserve()

        samples: dict[str, list[float]] = {"floor": [], "cycle": []}
        actions = {"floor": floor, "cycle": cycle}
        for _ in range(warmup):
            for action in actions.values():
                action()
        for _ in range(iterations):
            for key, action in actions.items():
                began = time.perf_counter()
                action()
                samples[key].append(time.perf_counter() - began)
        return samples
    finally:
        channel.close()


def _cycle_rows(
    samples: dict[str, list[float]], *, diagnostic: bool, commit: float, trip: float
) -> list[Row]:
    rows: list[Row] = []
    n = len(samples["cycle"])
    for fraction, tag in ((0.5, "p50"), (0.99, "p99")):
        cycle = percentile(samples["cycle"], fraction)
        base = percentile(samples["floor"], fraction)
        ratio = cycle / base
        detail = f"cycle {cycle * 1e3:.2f} ms, floor {base * 1e3:.3f} ms, n={n}"
        if diagnostic:
            metric = (
                f"diagnostic: PostgreSQL reserve cycle / 2 x Health.Check, {tag}, "
                "synchronous_commit=off"
            )
        else:
            metric = f"PostgreSQL reserve cycle (NI client) / 2 x Health.Check, {tag}"
            if tag == "p50":
                detail += (
                    f"; the database's own durable commit (INSERT + COMMIT) takes "
                    f"{commit * 1e3:.2f} ms at p50 ({commit / base:.1f}x the floor by itself; a "
                    f"cycle commits twice) and a SELECT 1 round trip {trip * 1e3:.2f} ms"
                )
        rows.append(
            Row(
                NAME,
                metric,
                f"{ratio:.2f}x",
                "" if diagnostic else f"<= {CYCLE_TARGET:g}x",
                None if diagnostic else ratio <= CYCLE_TARGET,
                detail,
            )
        )
    return rows


# ---------------------------------------------------------------------------- hand-off


def _wait_for_waiter(url: str, watch: list[Any], deadline: float) -> None:
    """Poll the database until a waiter row exists (the request is queued on its server).

    ``watch`` holds the polling connection (made again if the database dropped it).
    """
    import psycopg

    while time.monotonic() < deadline:
        try:
            if not watch:
                watch.append(psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT))
            row = watch[0].execute("SELECT count(*) FROM waiters").fetchone()
        except psycopg.OperationalError:
            for connection in watch:
                connection.close()
            watch.clear()
            time.sleep(0.1)
            continue
        if row is not None and int(row[0]) > 0:
            return
        time.sleep(0.0005)
    raise TimeoutError("client 2's request was never queued")


def _handoff_rows(url: str, first: str, second: str, rounds: int) -> list[Row]:
    from ni.measurementlink.sessionmanagement.v1 import client as ni_client

    xml, pins = _site_map(1)
    pin_map_id = _load_pin_map(first, xml, "cluster_handoff.pinmap")
    channels = [_channel(first), _channel(second)]
    after_return: list[float] = []
    after_send: list[float] = []
    try:
        holder = ni_client.SessionManagementClient(grpc_channel=channels[0])
        waiter = ni_client.SessionManagementClient(grpc_channel=channels[1])
        context = ni_client.PinMapContext(pin_map_id=pin_map_id, sites=[0])

        def wait() -> tuple[float, Any]:
            reservation = waiter.reserve_sessions(context, pins, timeout=10)
            return time.perf_counter(), reservation

        watch: list[Any] = []
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            for number in range(rounds + 3):  # the first three warm up
                held = holder.reserve_sessions(context, pins, timeout=0)
                future = pool.submit(wait)
                _wait_for_waiter(url, watch, time.monotonic() + 10)
                sent = time.perf_counter()
                held.unreserve()
                returned = time.perf_counter()
                granted, reservation = future.result(timeout=30)
                reservation.unreserve()
                if number >= 3:
                    after_return.append(granted - returned)
                    after_send.append(granted - sent)
        for connection in watch:
            connection.close()
    finally:
        for channel in channels:
            channel.close()
    p50, p99 = percentile(after_return, 0.5), percentile(after_return, 0.99)
    sent50, sent99 = percentile(after_send, 0.5), percentile(after_send, 0.99)
    detail = (
        f"server A's client unreserves, server B's waiting client is granted; from the unreserve "
        f"being sent: p50 {sent50 * 1e3:.2f} ms, p99 {sent99 * 1e3:.2f} ms; n={rounds}"
    )
    return [
        Row(
            NAME,
            "hand-off between two servers, after unreserve returned, p50",
            f"{p50 * 1e3:.2f} ms",
            "",
            None,
            detail,
        ),
        Row(
            NAME,
            "hand-off between two servers, after unreserve returned, p99",
            f"{p99 * 1e3:.2f} ms",
            f"<= {HANDOFF_TARGET_MS:g} ms",
            p99 * 1e3 <= HANDOFF_TARGET_MS,
            detail,
        ),
    ]


# ---------------------------------------------------------------------------- throughput


@dataclasses.dataclass
class _Window:
    rate: float
    busy: float | None
    report: StressReport


Work = Callable[[Any, Any, int, random.Random, list[Outcome]], None]
"""One cycle of one thread: (client module, client, thread number, rng, outcomes)."""


def _window(
    addresses: Sequence[str], pin_map_id: str, pins: list[str], duration: float, work: Work
) -> _Window:
    """Run ``THREADS`` cycling clients spread over ``addresses`` for ``duration`` seconds."""
    from ni.measurementlink.sessionmanagement.v1 import client as ni_client

    stop = threading.Event()
    ready = threading.Barrier(THREADS + 1)
    counts = [0] * THREADS
    per_thread: list[list[Outcome]] = [[] for _ in range(THREADS)]
    errors: list[str] = []

    def client(number: int) -> None:
        channel: grpc.Channel | None = None
        try:
            channel = _channel(addresses[number % len(addresses)])
            sessions = ni_client.SessionManagementClient(grpc_channel=channel)
            api = _Api(ni_client, sessions, pin_map_id, pins)
            rng = random.Random(number)
            warm: list[Outcome] = []
            for _ in range(3):
                work(api, sessions, number, rng, warm)
            ready.wait()
            done = 0
            while not stop.is_set():
                work(api, sessions, number, rng, per_thread[number])
                done += 1
            counts[number] = done
        except BaseException as exc:  # reported below
            errors.append(f"thread {number}: {type(exc).__name__}: {exc}")
            ready.abort()
        finally:
            if channel is not None:
                channel.close()

    workers = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(THREADS)]
    elapsed, busy = measure_window(workers, ready, stop, duration, errors)
    report = StressReport(outcomes=[o for outcomes in per_thread for o in outcomes])
    return _Window(sum(counts) / elapsed, busy, report)


@dataclasses.dataclass(frozen=True)
class _Api:
    module: Any
    client: Any
    pin_map_id: str
    pins: list[str]

    def context(self, sites: list[int]) -> Any:
        return self.module.PinMapContext(pin_map_id=self.pin_map_id, sites=sites)


def _disjoint(
    api: _Api, sessions: Any, number: int, rng: random.Random, out: list[Outcome]
) -> None:
    api.client.reserve_sessions(api.context([number]), api.pins, timeout=0).unreserve()


def _overlapping(
    api: _Api, sessions: Any, number: int, rng: random.Random, out: list[Outcome]
) -> None:
    sites = sorted(rng.sample(range(OVERLAP_SITES), rng.randint(1, 2)))
    asked = time.monotonic()
    reservation = api.client.reserve_sessions(api.context(sites), api.pins, timeout=10)
    hold_start = time.monotonic()
    total = 0
    for i in range(rng.randrange(2000)):  # a short hold of busy work, as a measurement would
        total += i
    hold_end = time.monotonic()
    reservation.unreserve()
    names = tuple(info.session_name for info in reservation.session_info)
    out.append(
        Outcome(number, tuple(sites), 10.0, asked, hold_start, True, names, hold_start, hold_end)
    )


def _throughput_rows(results: dict[tuple[str, int], _Window], duration: float) -> list[Row]:
    rows: list[Row] = []
    for kind, how in (
        ("disjoint", f"{THREADS} threads, each on its own site, timeout 0"),
        (
            "overlapping",
            f"{THREADS} threads, 1-2 random sites of {OVERLAP_SITES} (2 sessions each), "
            "10 s timeout",
        ),
    ):
        one = results[kind, 1].rate
        for count in SERVER_COUNTS:
            window = results[kind, count]
            rows.append(
                Row(
                    NAME,
                    f"throughput, {kind} sessions, {count} server{'s' if count > 1 else ''} "
                    "(reserve + unreserve cycles/s)",
                    f"{window.rate:.0f}/s",
                    "",
                    None,
                    f"{window.rate / one:.2f}x 1 server; {how}; {duration:g} s window; "
                    f"machine CPU busy {cpu_text(window.busy)}",
                )
            )
    grants = sum(results["overlapping", count].report.grants for count in SERVER_COUNTS)
    doubles = sum(
        len(results["overlapping", count].report.double_grants()) for count in SERVER_COUNTS
    )
    rows.append(
        Row(
            NAME,
            "double grants on overlapping sessions (overlapping hold intervals of one session)",
            str(doubles),
            "0",
            doubles == 0,
            f"{grants} grants through 1, 2 and 4 servers",
        )
    )
    return rows


# ---------------------------------------------------------------------------- run


def run(*, quick: bool, diagnose: bool = False) -> list[Row]:
    """Run the cluster benchmarks on a throwaway database (one row if there is no PostgreSQL)."""
    iterations, warmup = (60, 5) if quick else (1000, 50)
    rounds = 30 if quick else 300
    duration = 1.0 if quick else 5.0
    try:
        with throwaway_database() as database:
            return _measure(database.url, iterations, warmup, rounds, duration)
    except (DatabaseUnavailable, ImportError) as exc:
        return [Row(NAME, "PostgreSQL benchmarks", "not run", "", None, f"no database: {exc}")]


def _measure(url: str, iterations: int, warmup: int, rounds: int, duration: float) -> list[Row]:
    commit, trip = _commit_latency(url, max(50, iterations // 3))
    separator = "&" if "?" in url else "?"
    with serve_subprocess(["--database", f"{url}{separator}{ASYNC_COMMIT}"]) as server:
        relaxed = _cycle_samples(server.address, iterations, warmup)
    xml, pins = _site_map(max(THREADS, OVERLAP_SITES))
    windows: dict[tuple[str, int], _Window] = {}

    def throughput(servers: list[ServerProcess]) -> None:
        addresses = [server.address for server in servers]
        pin_map_id = _load_pin_map(addresses[0], xml, "cluster_throughput.pinmap")
        for kind, work in (("disjoint", _disjoint), ("overlapping", _overlapping)):
            windows[kind, len(servers)] = _window(addresses, pin_map_id, pins, duration, work)

    # Servers are added as needed (1, then 2, then 4), so each measurement runs with exactly
    # the servers it names: an idle server still follows every change through its listener.
    with contextlib.ExitStack() as stack:
        servers = _start(stack, url, 1)
        durable = _cycle_samples(servers[0].address, iterations, warmup)
        throughput(servers)
        servers += _start(stack, url, 1)
        handoff = _handoff_rows(url, servers[0].address, servers[1].address, rounds)
        throughput(servers)
        servers += _start(stack, url, 2)
        throughput(servers)
    return [
        *_cycle_rows(durable, diagnostic=False, commit=commit, trip=trip),
        *_cycle_rows(relaxed, diagnostic=True, commit=commit, trip=trip),
        *handoff,
        *_throughput_rows(windows, duration),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cluster", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    for row in run(quick=args.quick):
        print(row.line(), flush=True)
    print(f"done in {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
