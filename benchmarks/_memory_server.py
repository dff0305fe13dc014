"""A diagnostic server: pinbroker with its state in memory only (no SQLite journal).

``pinbroker serve`` has no in-memory option (state must survive restarts), so the benchmarks'
``--diagnose`` comparison runs this instead: the same ``start_server`` with
``ServerConfig(in_memory=True)``, printing the same "listening" line and stopping on SIGTERM.
The difference between the two shows what persisting each reservation costs.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from pinbroker.server.app import ServerConfig, start_server


def main() -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with tempfile.TemporaryDirectory(prefix="pinbroker-memory-") as state:
        server = start_server(
            ServerConfig(port=0, state_dir=Path(state), in_memory=True, publish_key_file=False)
        )
        print(f"pinbroker listening on {server.host}:{server.port}", flush=True)
        stop.wait()
        server.stop(grace=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
