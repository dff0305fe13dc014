"""Two ``pinbroker serve`` processes and one discovery key file: the first keeps it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

READY = re.compile(r"pinbroker listening on (\S+):(\d+)")


class Serve:
    """A ``pinbroker serve`` subprocess; its stderr goes to a file."""

    def __init__(self, state: Path, env: dict[str, str], stderr: Path) -> None:
        self.stderr_path = stderr
        with stderr.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pinbroker.cli", "serve", "--port", "0",
                 "--state-dir", str(state)],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=env,
            )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until the server says it is ready
        match = READY.search(line)
        assert match, f"unexpected first line: {line!r}; stderr: {stderr.read_text()}"
        self.port = int(match.group(2))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code


def _key(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def test_a_second_server_neither_overwrites_nor_removes_the_first_ones_key_file(
    tmp_path: Path,
) -> None:
    env = dict(os.environ)
    env.pop("PINBROKER_DISCOVERY_KEY_FILE", None)
    env.pop("ClusterId", None)
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "run")
    env["NIDiscovery_ClusterId"] = "bench-3"
    key_file = tmp_path / "run" / "pinbroker" / "Discovery" / "v1" / "DiscoveryService_bench-3.json"

    first = Serve(tmp_path / "state1", env, tmp_path / "first.err")
    try:
        assert _key(key_file)["InsecurePort"] == first.port
        assert _key(key_file)["Pid"] == first.process.pid

        second = Serve(tmp_path / "state2", env, tmp_path / "second.err")
        try:
            assert _key(key_file)["InsecurePort"] == first.port  # not overwritten
        finally:
            assert second.stop() == 0
        warnings = [
            line
            for line in (tmp_path / "second.err").read_text().splitlines()
            if "WARNING" in line and "key file" in line
        ]
        assert len(warnings) == 1
        assert f"pid {first.process.pid}" in warnings[0]
        assert f":{first.port}" in warnings[0]
        assert _key(key_file)["InsecurePort"] == first.port  # not removed by the second
    finally:
        assert first.stop() == 0
    assert not key_file.exists()  # the first removes its own
