"""Events: how long a change takes to reach a follower of the event stream.

Against a real ``pinbroker serve`` subprocess (default SQLite state), NI's published
``SessionManagementClient`` reserves 2 sessions and unreserves them, ``changes / 2`` times,
one change every ``spacing`` seconds. Two followers watch at the same time:

* the admin ``WatchEvents`` stream (``follow=True``) on a channel of its own, read by a thread
  of this process (what ``pinbroker events --follow`` and the status page are built on);
* the real command ``pinbroker events --follow --json`` as a subprocess, its stdout read line by
  line by a thread of this process.

A change's latency is the time from *sending* the call that makes it (ReserveSessions or
UnreserveSessions) to the follower receiving its event (``reserved`` / ``released``). It is an
upper bound of the delay after the change happened, since it includes the call itself (the
event is appended once the change is committed, before the call's answer is sent; so the event
can arrive before the answer). Events are matched to changes by their order: nothing else
changes the server meanwhile.

``python -m benchmarks.events [--quick]`` runs it alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import grpc

from benchmarks._common import REPO, Row, percentile, serve_subprocess
from benchmarks.pinmap_gen import PinMapSpec, generate_pinmap
from pinbroker._proto.pinbroker.admin.v1 import admin_pb2, admin_pb2_grpc

__all__ = ["TARGET_MS", "run"]

NAME = "events"
TARGET_MS = 50.0
_KINDS = ("reserved", "released")
_WAIT = 30.0
"""Seconds to wait for the last event before giving up."""


class _Arrivals:
    """Receipt times of the followed events, in order; a condition wakes whoever waits."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.kinds: list[str] = []
        self.error: BaseException | None = None
        self._changed = threading.Condition()

    def add(self, kind: str) -> None:
        now = time.perf_counter()
        if kind not in _KINDS:
            return
        with self._changed:
            self.times.append(now)
            self.kinds.append(kind)
            self._changed.notify_all()

    def failed(self, error: BaseException) -> None:
        with self._changed:
            self.error = error
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(
                lambda: len(self.times) >= count or self.error is not None, timeout
            )


def _read_stream(stream: Iterator[admin_pb2.WatchEventsResponse], arrivals: _Arrivals) -> None:
    """Read the admin WatchEvents stream until it is cancelled; record each event's arrival."""
    try:
        for batch in stream:
            for event in batch.events:
                arrivals.add(event.kind)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.CANCELLED:
            arrivals.failed(exc)


@contextmanager
def _follow_cli(address: str, since: int, arrivals: _Arrivals) -> Iterator[None]:
    """Run ``pinbroker events --follow --json`` and record each printed event's arrival."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pinbroker.cli",
            "events",
            "--follow",
            "--json",
            "--since",
            str(since),
            "--address",
            address,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            arrivals.add(str(json.loads(line).get("kind", "")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        reader.join(timeout=30)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def measure(*, changes: int, spacing: float) -> dict[str, list[float]]:
    """Return each follower's latencies (seconds), in change order."""
    from ni.measurementlink.pinmap.v1.client import PinMapClient
    from ni.measurementlink.sessionmanagement.v1 import client as ni_client

    generated = generate_pinmap(PinMapSpec(pins=64, sites=8))
    pins = list(generated.two_session_pins())
    with serve_subprocess() as server:
        channel = grpc.insecure_channel(server.address)
        watch_channel = grpc.insecure_channel(server.address)
        watch: grpc.CallIterator[admin_pb2.WatchEventsResponse] | None = None
        stream = _Arrivals()
        cli = _Arrivals()
        try:
            grpc.channel_ready_future(channel).result(timeout=30)
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "events.pinmap"
                path.write_bytes(generated.xml_bytes)
                pin_map_id = PinMapClient(grpc_channel=channel).update_pin_map(path)
            sessions = ni_client.SessionManagementClient(grpc_channel=channel)
            context = ni_client.PinMapContext(pin_map_id=pin_map_id, sites=[0])
            for _ in range(5):  # warm up the connection and the server
                sessions.reserve_sessions(context, pins, timeout=0).unreserve()
            admin = admin_pb2_grpc.AdminServiceStub(channel)
            since = admin.GetStatus(admin_pb2.GetStatusRequest(), timeout=30).revision
            watch = admin_pb2_grpc.AdminServiceStub(watch_channel).WatchEvents(
                admin_pb2.WatchEventsRequest(since_revision=since, follow=True)
            )
            follower = threading.Thread(target=_read_stream, args=(watch, stream), daemon=True)
            follower.start()
            with _follow_cli(server.address, since, cli):
                # Both followers are attached once a first change reached both of them.
                sessions.reserve_sessions(context, pins, timeout=0).unreserve()
                if not (stream.wait_for(2, _WAIT) and cli.wait_for(2, _WAIT)):
                    raise RuntimeError("the followers did not attach")
                offset = 2
                sent: list[float] = []
                began = time.perf_counter()
                for number in range(changes // 2):
                    delay = began + 2 * number * spacing - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)  # pacing, not synchronisation
                    sent.append(time.perf_counter())
                    reservation = sessions.reserve_sessions(context, pins, timeout=0)
                    delay = began + (2 * number + 1) * spacing - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    sent.append(time.perf_counter())
                    reservation.unreserve()
                for arrivals in (stream, cli):
                    if not arrivals.wait_for(offset + len(sent), _WAIT):
                        raise RuntimeError(
                            f"only {len(arrivals.times) - offset} of {len(sent)} events arrived"
                        )
        finally:
            if watch is not None:
                watch.cancel()  # type: ignore[no-untyped-call]  # before the server stops
            watch_channel.close()
            channel.close()
    for arrivals in (stream, cli):
        if arrivals.error is not None:
            raise RuntimeError(f"following the events failed: {arrivals.error!r}")
        expected = [_KINDS[n % 2] for n in range(len(sent))]
        if arrivals.kinds[offset : offset + len(sent)] != expected:
            raise RuntimeError("the events arrived out of order")
    return {
        name: [a - s for a, s in zip(arrivals.times[offset:], sent, strict=False)]
        for name, arrivals in (("stream", stream), ("cli", cli))
    }


def rows(latencies: dict[str, list[float]], spacing: float) -> list[Row]:
    """The result rows."""
    labels = {
        "stream": "admin WatchEvents stream (follow)",
        "cli": "`pinbroker events --follow --json` subprocess",
    }
    result: list[Row] = []
    for key, label in labels.items():
        values = latencies[key]
        p50, p99 = percentile(values, 0.5) * 1e3, percentile(values, 0.99) * 1e3
        result.append(
            Row(
                NAME,
                f"a change reaches a follower of the {label}, p99",
                f"{p99:.1f} ms",
                f"<= {TARGET_MS:g} ms",
                p99 <= TARGET_MS,
                f"from sending the reserve/unreserve (NI client) to receiving its event; "
                f"p50 {p50:.1f} ms, max {max(values) * 1e3:.1f} ms, n={len(values)} changes "
                f"{spacing * 1e3:g} ms apart",
            )
        )
    return result


def run(*, quick: bool, diagnose: bool = False) -> list[Row]:
    """Run the benchmark against a fresh ``pinbroker serve`` subprocess."""
    changes, spacing = (100, 0.005) if quick else (2000, 0.005)
    return rows(measure(changes=changes, spacing=spacing), spacing)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.events", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="100 changes instead of 2,000")
    args = parser.parse_args(argv)
    for row in run(quick=args.quick):
        print(row.line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
