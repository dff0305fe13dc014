"""``examples/reserve_and_register.py`` runs end to end against a real server."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from pinbroker.client import PinbrokerSessionClient

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "reserve_and_register.py"
PIN_MAP = REPO / "tests" / "data" / "client_two_site.pinmap"


def _example_main() -> Callable[[list[str]], int]:
    spec = importlib.util.spec_from_file_location("reserve_and_register", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main  # type: ignore[no-any-return]


def test_example_reserves_registers_and_cleans_up(
    server_address: str, grpc_channel: grpc.Channel, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _example_main()(["--address", server_address, "--pin-map", str(PIN_MAP)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "niDCPower pins: VDD, VOUT" in out
    assert "niScope pins: Signal, TriggerOut" in out
    assert "site  1  VDD          -> DCPower1/2, DCPower1/3  channel DCPower1/2" in out
    assert "site -1  TriggerOut   -> SCOPE1  channel 3" in out
    assert out.count("Cleanup: closing and unregistering") == 2
    # Nothing is left reserved or registered.
    assert PinbrokerSessionClient(grpc_channel=grpc_channel).get_sessions().sessions == ()


def test_example_explains_a_missing_server(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PINBROKER_ADDRESS", raising=False)
    monkeypatch.setenv("PINBROKER_DISCOVERY_KEY_FILE", str(tmp_path / "none.json"))
    assert _example_main()(["--pin-map", str(PIN_MAP)]) == 2
    assert "No running pinbroker found" in capsys.readouterr().err
