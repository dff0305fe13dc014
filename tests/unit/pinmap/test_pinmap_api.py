"""The public surface of ``pinbroker.pinmap``: ``__all__`` and purity (no grpc, no protobuf)."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pinbroker.pinmap as pinmap
from pinbroker.pinmap import DEFAULT_LIMITS, ParseLimits, PinMap, load_pinmap, load_pinmap_file

EXPECTED_ALL = {
    "DEFAULT_LIMITS",
    "PINMAP_NAMESPACE",
    "ChannelGroup",
    "ChannelMapping",
    "Connection",
    "ConnectionKind",
    "Element",
    "Instrument",
    "InstrumentKind",
    "Multiplexer",
    "MultiplexerResource",
    "NameKind",
    "ParseLimits",
    "Pin",
    "PinDefinition",
    "PinGroup",
    "PinGroupDefinition",
    "PinMap",
    "Relay",
    "RelayConfiguration",
    "RelayDefinition",
    "RelayGroup",
    "RelayGroupDefinition",
    "RelayPosition",
    "Resolution",
    "SessionResource",
    "load_pinmap",
    "load_pinmap_file",
}


def test_all_lists_exactly_the_public_api() -> None:
    assert set(pinmap.__all__) == EXPECTED_ALL
    assert len(pinmap.__all__) == len(EXPECTED_ALL)
    for name in pinmap.__all__:
        assert getattr(pinmap, name) is not None


def test_no_other_public_names_leak_from_the_package() -> None:
    public = {
        name
        for name, value in vars(pinmap).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert public == EXPECTED_ALL


def test_entry_point_signatures() -> None:
    load = inspect.signature(load_pinmap)
    assert list(load.parameters) == ["xml", "source", "limits"]
    assert load.parameters["source"].kind is inspect.Parameter.KEYWORD_ONLY
    assert load.parameters["limits"].default is DEFAULT_LIMITS
    load_file = inspect.signature(load_pinmap_file)
    assert list(load_file.parameters) == ["path", "limits"]
    resolve = inspect.signature(PinMap.resolve)
    assert list(resolve.parameters) == ["self", "sites", "names", "instrument_type_id", "naming"]
    assert all(
        p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(resolve.parameters.values())[1:]
    )


def test_default_limits_admit_a_large_pin_map() -> None:
    assert ParseLimits() == DEFAULT_LIMITS
    assert DEFAULT_LIMITS.max_bytes == 64 * 1024 * 1024
    assert DEFAULT_LIMITS.max_elements >= 2_000_000


def test_engine_imports_neither_grpc_nor_protobuf() -> None:
    script = (
        "import sys\n"
        "import pinbroker.pinmap, pinbroker.pinmap._cli\n"
        "pinbroker.pinmap.load_pinmap_file('examples/two_site.pinmap').resolve()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'google'))\n"
        "print(','.join(bad))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert completed.stdout.strip() == ""
