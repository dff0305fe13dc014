"""Where the default store lives, and open_store creating it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pinbroker.store import STORE_FILE_NAME, SqliteStore, default_state_dir, open_store
from pinbroker.types import PinMapId


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"PINBROKER_STATE_DIR": "/srv/pb", "XDG_STATE_HOME": "/x", "HOME": "/home/u"},
            "/srv/pb",
        ),
        ({"PINBROKER_STATE_DIR": "", "XDG_STATE_HOME": "/x", "HOME": "/home/u"}, "/x/pinbroker"),
        ({"XDG_STATE_HOME": "relative/x", "HOME": "/home/u"}, "/home/u/.local/state/pinbroker"),
        ({"XDG_STATE_HOME": "", "HOME": "/home/u"}, "/home/u/.local/state/pinbroker"),
        ({"HOME": "/home/u"}, "/home/u/.local/state/pinbroker"),
    ],
)
def test_default_state_dir(environ: dict[str, str], expected: str) -> None:
    assert default_state_dir(environ) == Path(expected)


def test_default_state_dir_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINBROKER_STATE_DIR", "/from/env")
    assert default_state_dir() == Path("/from/env")


def test_open_store_creates_a_private_directory(tmp_path: Path) -> None:
    state_dir = tmp_path / "a" / "state"

    store = open_store(state_dir)
    try:
        store.put_pin_map(PinMapId("p"), "<PinMap/>")
    finally:
        store.close()

    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert (state_dir / STORE_FILE_NAME).is_file()
    reopened = SqliteStore(state_dir / STORE_FILE_NAME)
    try:
        assert reopened.load_pin_maps() == [("p", "<PinMap/>")]
    finally:
        reopened.close()


def test_open_store_defaults_to_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PINBROKER_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))

    open_store().close()

    assert (tmp_path / "xdg" / "pinbroker" / STORE_FILE_NAME).is_file()
