"""The hook that points NI's discovery client at pinbroker (``pinbroker.ni_linux._hook``).

These run NI's real ``_support`` module, loaded as a private copy so the process-wide one is
left alone.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from pinbroker.ni_linux import _hook

NI_SUPPORT = _hook.SUPPORT_MODULE


def _fresh_ni_support() -> types.ModuleType:
    """A private, unpatched copy of NI's ``_support`` module."""
    spec = importlib.util.find_spec(NI_SUPPORT)
    assert spec is not None
    assert spec.origin is not None
    copy = importlib.util.spec_from_file_location("_ni_support_copy", spec.origin)
    assert copy is not None
    assert copy.loader is not None
    module = importlib.util.module_from_spec(copy)
    copy.loader.exec_module(module)
    return module


@pytest.fixture
def ni_support() -> types.ModuleType:
    pytest.importorskip("ni.measurementlink.discovery.v1.client")
    return _fresh_ni_support()


@pytest.mark.skipif(sys.platform == "win32", reason="NI's lookup works on Windows")
def test_ni_lookup_fails_on_linux_unpatched(ni_support: types.ModuleType) -> None:
    with pytest.raises(NotImplementedError, match="Platform not supported"):
        ni_support._get_discovery_service_address()


@pytest.mark.skipif(sys.platform == "win32", reason="NI's lookup works on Windows")
def test_patched_lookup_answers_with_pinbroker_address(
    ni_support: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINBROKER_ADDRESS", "127.0.0.1:50999")
    assert _hook.patch_support_module(ni_support) is True
    assert ni_support._get_discovery_service_address() == "127.0.0.1:50999"


def test_patch_keeps_ni_answer_when_ni_lookup_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINBROKER_ADDRESS", "127.0.0.1:1")
    module = types.ModuleType("fake_support")
    module._get_discovery_service_address = lambda: "localhost:42"  # type: ignore[attr-defined]
    _hook.patch_support_module(module)
    assert module._get_discovery_service_address() == "localhost:42"


def test_patch_is_idempotent(ni_support: types.ModuleType) -> None:
    assert _hook.patch_support_module(ni_support) is True
    wrapped = ni_support._get_discovery_service_address
    assert _hook.patch_support_module(ni_support) is False
    assert ni_support._get_discovery_service_address is wrapped


def test_patched_lookup_falls_back_to_the_key_file(
    ni_support: types.ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = tmp_path / "key.json"
    key.write_text('{"InsecurePort": 50123}')
    monkeypatch.delenv("PINBROKER_ADDRESS", raising=False)
    monkeypatch.setenv("PINBROKER_DISCOVERY_KEY_FILE", str(key))
    _hook.patch_support_module(ni_support)
    assert ni_support._get_discovery_service_address().endswith(":50123")


@pytest.fixture
def without_ni(monkeypatch: pytest.MonkeyPatch) -> None:
    """NI's discovery client is not installed: its modules are gone and cannot be imported."""
    for name in list(sys.modules):
        if name == "ni" or name.startswith("ni."):
            monkeypatch.delitem(sys.modules, name)

    class _NoNi:
        def find_spec(self, fullname: str, *args: object) -> None:
            if fullname == "ni" or fullname.startswith("ni."):
                raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)

    monkeypatch.setattr(sys, "meta_path", [_NoNi(), *sys.meta_path])


@pytest.mark.usefixtures("without_ni")
def test_install_without_ni_changes_nothing_importable() -> None:
    assert _hook.install() is (sys.platform != "win32")
    assert NI_SUPPORT not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(NI_SUPPORT)
    assert NI_SUPPORT not in sys.modules
    import json  # any other import goes through the hook untouched

    assert json.dumps([1]) == "[1]"


@pytest.mark.skipif(sys.platform == "win32", reason="NI's lookup works on Windows")
def test_import_hook_patches_ni_when_it_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ni.measurementlink.discovery.v1.client")
    for name in list(sys.modules):
        if name.startswith("ni.measurementlink.discovery.v1.client"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.setenv("PINBROKER_ADDRESS", "127.0.0.1:50777")
    _hook.install()
    client = importlib.import_module("ni.measurementlink.discovery.v1.client._client")
    support = sys.modules[NI_SUPPORT]
    assert support._get_discovery_service_address() == "127.0.0.1:50777"
    assert client._get_discovery_service_address is support._get_discovery_service_address


def test_public_api() -> None:
    import pinbroker.ni_linux

    assert sorted(pinbroker.ni_linux.__all__) == [
        "install",
        "patch_support_module",
        "pinbroker_address",
        "run_environment",
        "site_directory",
    ]
