"""``pinbroker serve`` as a subprocess: readiness line, key file, SIGKILL + restart, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import session_pb2
from _serve import DMM_PIN_MAP_XML, Serve
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2 as pm
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2_grpc as pm_grpc
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2 as sm
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2_grpc as sm_grpc


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = dict(os.environ)
    environment["PINBROKER_DISCOVERY_KEY_FILE"] = str(tmp_path / "key" / "DiscoveryService.json")
    return environment


def test_serve_survives_sigkill_and_stops_on_sigterm(tmp_path: Path, env: dict[str, str]) -> None:
    state = tmp_path / "state"
    key_file = Path(env["PINBROKER_DISCOVERY_KEY_FILE"])
    first = Serve("--state-dir", str(state), env=env)
    try:
        assert json.loads(key_file.read_text())["InsecurePort"] == first.port
        with first.channel() as channel:
            pm_grpc.PinMapServiceStub(channel).UpdatePinMapFromXml(
                pm.UpdatePinMapFromXmlRequest(pin_map_id="e2e.pinmap", pin_map_xml=DMM_PIN_MAP_XML)
            )
            sm_grpc.SessionManagementServiceStub(channel).RegisterSessions(
                sm.RegisterSessionsRequest(
                    sessions=[
                        sm.SessionInformation(
                            session=session_pb2.Session(name="niDMM-DMM1"),
                            resource_name="DMM1",
                            instrument_type_id="niDMM",
                        )
                    ]
                )
            )
    finally:
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL

    second = Serve("--state-dir", str(state), env=env)
    try:
        with second.channel() as channel:
            pin_maps = pm_grpc.PinMapServiceStub(channel)
            assert pin_maps.GetPinMap(pm.GetPinMapRequest(pin_map_id="e2e.pinmap")).pin_map_id
            listed = sm_grpc.SessionManagementServiceStub(channel).GetSessions(
                sm.GetSessionsRequest()
            )
            assert [(s.session.name, s.session_exists) for s in listed.sessions] == [
                ("niDMM-DMM1", True)
            ]
    finally:
        assert second.stop(signal.SIGTERM) == 0
    assert not key_file.exists()


def test_serve_preloads_pin_maps_and_rejects_a_bad_one(tmp_path: Path, env: dict[str, str]) -> None:
    good = tmp_path / "good.pinmap"
    good.write_text(DMM_PIN_MAP_XML, encoding="utf-8")
    server = Serve("--state-dir", str(tmp_path / "s1"), "--pin-map", str(good), env=env)
    try:
        with server.channel() as channel:
            response = pm_grpc.PinMapServiceStub(channel).QueryPins(
                pm.QueryPinsRequest(pin_map_id=str(good))
            )
            assert [p.display_name for p in response.pins] == ["OUT"]
    finally:
        assert server.stop(signal.SIGINT) == 0

    bad = tmp_path / "bad.pinmap"
    bad.write_text(DMM_PIN_MAP_XML.replace('pin="OUT" siteNumber', 'pin="OUT2" siteNumber'))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pinbroker.cli",
            "serve",
            "--port",
            "0",
            "--pin-map",
            str(bad),
            "--state-dir",
            str(tmp_path / "s2"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "OUT2" in result.stderr
