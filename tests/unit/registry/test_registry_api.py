"""Guards the public API of ``pinbroker.registry``: an exact ``__all__``, no grpc or protobuf."""

from __future__ import annotations

import subprocess
import sys
import types

import pinbroker.registry as package

EXPECTED = {
    "MultiplexerRecord",
    "RegistryStore",
    "SessionRecord",
    "SessionRegistry",
}


def test_all_is_exactly_the_public_api() -> None:
    assert len(package.__all__) == len(set(package.__all__))
    assert set(package.__all__) == EXPECTED
    for name in package.__all__:
        assert getattr(package, name) is not None


def test_every_public_name_is_in_all() -> None:
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"  # from __future__ import annotations
    }
    assert public == EXPECTED


def test_importing_it_pulls_in_no_grpc_or_protobuf() -> None:
    code = (
        "import sys, pinbroker.registry; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'grpc' "
        "or m.startswith('google.protobuf')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
