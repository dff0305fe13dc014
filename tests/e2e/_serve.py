"""``pinbroker serve`` as a subprocess, for the end-to-end tests (one helper for all of them)."""

from __future__ import annotations

import contextlib
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import grpc

SERVE = (sys.executable, "-m", "pinbroker.cli", "serve", "--port", "0")
READY = re.compile(r"pinbroker listening on (\S+):(\d+)")

DMM_PIN_MAP_XML = """<?xml version="1.0" encoding="utf-8"?>
<PinMap schemaVersion="1.6" xmlns="http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd">
  <Instruments><NIDmmInstrument name="DMM1" /></Instruments>
  <Pins><DUTPin name="OUT" /></Pins>
  <Sites><Site siteNumber="0" /></Sites>
  <Connections><Connection pin="OUT" siteNumber="0" instrument="DMM1" channel="0" /></Connections>
</PinMap>
"""
"""One DMM on one pin and one site: session ``niDMM-DMM1``."""


class Serve:
    """A running ``pinbroker serve --port 0 ARGS...`` subprocess.

    Its first line on stdout says where it listens; the constructor blocks until then. Its
    stderr goes to ``stderr`` (a file) if given, else is discarded; with ``read_log``, it is
    read line by line instead, for :meth:`wait_for_log`.
    """

    def __init__(
        self,
        *args: str,
        env: dict[str, str],
        stderr: Path | None = None,
        read_log: bool = False,
    ) -> None:
        self.stderr_path = stderr
        self._log: queue.Queue[str | None] = queue.Queue()
        self.log_seen: list[str] = []
        with contextlib.ExitStack() as stack:
            err: int | IO[str] = subprocess.DEVNULL
            if read_log:
                err = subprocess.PIPE
            elif stderr:
                err = stack.enter_context(stderr.open("w"))
            self.process = subprocess.Popen(
                [*SERVE, *args], stdout=subprocess.PIPE, stderr=err, text=True, env=env
            )
        self._reader: threading.Thread | None = None
        if read_log:
            self._reader = threading.Thread(target=self._read_log, daemon=True)
            self._reader.start()
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until the server says it is ready
        match = READY.search(line)
        detail = f"; stderr: {stderr.read_text()}" if stderr and not read_log else ""
        if not match and self._reader is not None:
            self._reader.join(timeout=10)  # the server ended: its stderr ends too
            detail = "; stderr: " + "\n".join(iter(self._log.get_nowait, None))
        assert match, f"unexpected first line: {line!r}{detail}"
        self.port = int(match.group(2))
        self.address = f"127.0.0.1:{self.port}"

    def _read_log(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._log.put(line.rstrip("\n"))
        self._log.put(None)

    def wait_for_log(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """The first unread stderr line matching ``pattern`` (needs ``read_log``).

        Raises:
            AssertionError: If no such line came within ``timeout`` seconds, or stderr ended.
        """
        end = time.monotonic() + timeout
        while True:
            try:
                line = self._log.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no log line {pattern.pattern!r}: {self.log_seen}") from None
            assert line is not None, f"stderr ended without {pattern.pattern!r}: {self.log_seen}"
            self.log_seen.append(line)
            if match := pattern.search(line):
                return match

    @contextlib.contextmanager
    def channel(self) -> Iterator[grpc.Channel]:
        """A ready channel to the server, closed on exit."""
        with grpc.insecure_channel(self.address) as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
            yield channel

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum`` (if still running) and return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        code = self.process.wait(timeout=30)
        if self._reader is not None:
            self._reader.join(timeout=30)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code
