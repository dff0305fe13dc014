"""State safety through ``pinbroker serve`` subprocesses: the lock, refused files, a full disk.

Read-only and full file systems need a real mount: the tests mount a small tmpfs (as root)
and skip, saying why, where mounting is not allowed. As a non-root user a ``chmod`` does the
read-only part instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import session_pb2
from _serve import DMM_PIN_MAP_XML, SERVE, Serve
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2 as pm
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2_grpc as pm_grpc
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2 as sm
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2_grpc as sm_grpc

from pinbroker.store import LOCK_FILE_NAME, STORE_FILE_NAME, SqliteStore


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = dict(os.environ)
    environment["PINBROKER_DISCOVERY_KEY_FILE"] = str(tmp_path / "key" / "DiscoveryService.json")
    return environment


def refused(state_dir: Path, env: dict[str, str]) -> str:
    """Run ``pinbroker serve`` expecting it to refuse; return its one line of stderr."""
    result = subprocess.run(
        [*SERVE, "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pinbroker: cannot start: "), lines[0]
    return lines[0]


def register(channel: grpc.Channel, name: str, annotation: str = "") -> None:
    sm_grpc.SessionManagementServiceStub(channel).RegisterSessions(
        sm.RegisterSessionsRequest(
            sessions=[
                sm.SessionInformation(
                    session=session_pb2.Session(name=name),
                    resource_name="DMM1",
                    instrument_type_id="niDMM",
                    annotations={"note": annotation} if annotation else {},
                )
            ]
        )
    )


def registered(channel: grpc.Channel) -> list[str]:
    listed = sm_grpc.SessionManagementServiceStub(channel).GetSessions(sm.GetSessionsRequest())
    return [s.session.name for s in listed.sessions]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted for the test (skips where mounting is not allowed)."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def remount_read_only(mount_point: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mount_point)], check=True)


# ---------------------------------------------------------------------------- the lock


def test_a_second_server_on_one_state_directory_is_refused(
    tmp_path: Path, env: dict[str, str]
) -> None:
    state = tmp_path / "state"
    first = Serve("--state-dir", str(state), env=env)
    try:
        line = refused(state, env)
        assert line == (
            f"pinbroker: cannot start: state directory {state} is in use by pinbroker process "
            f"{first.process.pid} (lock file {state / LOCK_FILE_NAME})"
        )
        with first.channel() as channel:  # the first one is unharmed
            register(channel, "niDMM-DMM1")
    finally:
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL

    second = Serve(
        "--state-dir", str(state), env=env
    )  # the kernel dropped the lock of the killed server
    try:
        with second.channel() as channel:
            assert registered(channel) == ["niDMM-DMM1"]
    finally:
        assert second.stop() == 0
    third = Serve("--state-dir", str(state), env=env)  # and a clean stop releases it
    assert third.stop() == 0


# ---------------------------------------------------------------------------- refused files


def _valid_state(state: Path, *, pin_map: bool = True) -> Path:
    state.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(state / STORE_FILE_NAME)
    if pin_map:
        store.put_pin_map("kept.pinmap", DMM_PIN_MAP_XML * 200)  # type: ignore[arg-type]
    store.close()
    return state / STORE_FILE_NAME


def _damage(kind: str, path: Path) -> str:
    """Damage the file at ``path`` one way; return what the refusal must say."""
    if kind == "empty":
        path.write_bytes(b"")
        return "is empty (0 bytes)"
    if kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return "is damaged (database disk image is malformed)"
    if kind == "garbage":
        path.write_bytes(b"not a database at all\n" * 500)
        return "is damaged (file is not a database)"
    if kind == "foreign":
        path.unlink()
        connection = sqlite3.connect(path)
        connection.execute("CREATE TABLE moz_places (url TEXT)")
        connection.commit()
        connection.close()
        return "is not a pinbroker database (tables 'moz_places')"
    assert kind == "newer"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    return "has schema version 99, newer than the 2 this pinbroker understands"


@pytest.mark.parametrize("kind", ["empty", "truncated", "garbage", "foreign", "newer"])
def test_a_damaged_foreign_or_newer_state_file_is_refused_and_left_alone(
    kind: str, tmp_path: Path, env: dict[str, str]
) -> None:
    state = tmp_path / "state"
    path = _valid_state(state)
    expected = _damage(kind, path)
    before = path.read_bytes()

    line = refused(state, env)

    assert f"state database {path} {expected}" in line
    assert ("restore it from a backup" in line) or ("choose another --state-dir" in line)
    assert path.read_bytes() == before  # never started empty on it, never rewritten


# ---------------------------------------------------------------------------- unwritable


def test_an_unwritable_state_directory_is_refused(
    tmp_path: Path, env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    if os.geteuid() != 0:
        state = tmp_path / "state"
        _valid_state(state)
        state.chmod(0o500)
        try:
            line = refused(state, env)
        finally:
            state.chmod(0o700)
    else:  # root writes through permissions: a read-only mount really refuses writes
        state = request.getfixturevalue("tmpfs")
        _valid_state(state, pin_map=False)
        remount_read_only(state)
        line = refused(state, env)
    assert f"state directory {state} is not writable" in line


def test_an_unwritable_state_database_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    state = tmp_path / "state"
    path = _valid_state(state)
    if os.geteuid() != 0:
        path.chmod(0o400)
        line = refused(state, env)
    else:  # a read-only bind mount of the file itself; the directory stays writable
        result = subprocess.run(
            ["mount", "--bind", str(path), str(path)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            pytest.skip(f"cannot bind-mount here: {result.stderr.strip()}")
        try:
            subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True)
            line = refused(state, env)
        finally:
            subprocess.run(["umount", "-l", str(path)], check=False)
    assert f"state database {path} is not writable" in line


# ---------------------------------------------------------------------------- full disk


def _fill_disk(mount_point: Path) -> Path:
    """Write a file until the file system has no byte left; return it."""
    filler = mount_point / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (b"\0" * 65536, b"\0" * 4096, b"\0" * 512, b"\0"):
            with contextlib.suppress(OSError):
                while os.write(fd, chunk):
                    pass
        with pytest.raises(OSError, match="No space left on device"):
            os.write(fd, b"\0")
    finally:
        os.close(fd)
    return filler


def test_a_full_state_disk_answers_resource_exhausted_and_recovers(
    tmpfs: Path, env: dict[str, str]
) -> None:
    server = Serve("--state-dir", str(tmpfs / "state"), env=env)
    try:
        with server.channel() as channel:
            register(channel, "niDMM-before")
            filler = _fill_disk(tmpfs)

            with pytest.raises(grpc.RpcError) as raised:
                register(channel, "niDMM-big", "x" * 300_000)
            assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "the state disk is full" in str(raised.value.details())
            with pytest.raises(grpc.RpcError) as raised:
                pm_grpc.PinMapServiceStub(channel).UpdatePinMapFromXml(
                    pm.UpdatePinMapFromXmlRequest(
                        pin_map_id="big.pinmap",
                        pin_map_xml=DMM_PIN_MAP_XML + "<!--" + "x" * 300_000 + "-->",
                    )
                )
            assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "the state disk is full" in str(raised.value.details())
            assert registered(channel) == ["niDMM-before"]  # reads keep working

            filler.unlink()  # space is freed: writes work again, no restart
            register(channel, "niDMM-big", "x" * 300_000)
            assert registered(channel) == ["niDMM-before", "niDMM-big"]
    finally:
        assert server.stop() == 0
