"""``pinbroker serve`` as a subprocess, for the end-to-end tests (one helper for all of them)."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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
    stderr goes to ``stderr`` (a file) if given, else is discarded.
    """

    def __init__(self, *args: str, env: dict[str, str], stderr: Path | None = None) -> None:
        self.stderr_path = stderr
        with contextlib.ExitStack() as stack:
            err = stack.enter_context(stderr.open("w")) if stderr else subprocess.DEVNULL
            self.process = subprocess.Popen(
                [*SERVE, *args], stdout=subprocess.PIPE, stderr=err, text=True, env=env
            )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until the server says it is ready
        match = READY.search(line)
        detail = f"; stderr: {stderr.read_text()}" if stderr else ""
        assert match, f"unexpected first line: {line!r}{detail}"
        self.port = int(match.group(2))
        self.address = f"127.0.0.1:{self.port}"

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
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code
