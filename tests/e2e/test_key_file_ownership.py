"""Two ``pinbroker serve`` processes and one discovery key file: the first keeps it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from _serve import Serve


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

    first = Serve("--state-dir", str(tmp_path / "state1"), env=env, stderr=tmp_path / "first.err")
    try:
        assert _key(key_file)["InsecurePort"] == first.port
        assert _key(key_file)["Pid"] == first.process.pid

        second = Serve(
            "--state-dir", str(tmp_path / "state2"), env=env, stderr=tmp_path / "second.err"
        )
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
