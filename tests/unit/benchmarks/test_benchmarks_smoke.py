"""The benchmark pieces that must stay right: the pin map generator and the results writer.

The quick run of the whole harness is in ``tests/e2e/test_benchmarks_quick.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks._common import Row, percentile
from benchmarks.pinmap_gen import PinMapSpec, generate_pinmap, main
from benchmarks.run import END, START, render, write_results

from pinbroker.pinmap import load_pinmap
from pinbroker.types import SITE_SYSTEM


@pytest.mark.parametrize(
    "spec",
    [
        PinMapSpec(pins=8, sites=2),
        PinMapSpec(pins=64, sites=4),
        PinMapSpec(pins=100, sites=3, share_instruments=False),
        PinMapSpec(pins=1, sites=1, system_pins=0, site_relays=0, system_relays=0),
    ],
    ids=str,
)
def test_generated_map_loads_with_the_expected_counts(spec: PinMapSpec) -> None:
    generated = generate_pinmap(spec)

    pin_map = load_pinmap(generated.xml_bytes)

    assert pin_map.warnings == ()
    assert pin_map.sites == tuple(range(spec.sites))
    assert len(generated.dut_pins) == spec.pins
    assert [p.name for p in pin_map.pins] == [*generated.dut_pins, *generated.system_pins]
    assert len(pin_map.relays) == spec.site_relays + spec.system_relays
    assert len(pin_map.instruments) == generated.instrument_count
    assert pin_map.connection_count == generated.connection_count
    expected_connections = (
        (spec.pins + spec.site_relays) * spec.sites + spec.system_pins + spec.system_relays
    )
    assert generated.connection_count == expected_connections
    assert {g.name for g in pin_map.pin_groups} == set(generated.pin_groups)


def test_every_pin_and_relay_is_connected_on_every_site() -> None:
    generated = generate_pinmap(PinMapSpec(pins=40, sites=3))
    pin_map = load_pinmap(generated.xml_bytes)

    resolution = pin_map.resolve()

    seen = {
        (m.pin_or_relay_name, m.site)
        for session in resolution.sessions
        for m in session.channel_mappings
    }
    site_names = (*generated.dut_pins, *generated.site_relays)
    system_names = (*generated.system_pins, *generated.system_relays)
    assert seen == {(n, s) for n in site_names for s in range(3)} | {
        (n, SITE_SYSTEM) for n in system_names
    }


def test_two_session_pins_resolve_to_two_sessions_on_each_site() -> None:
    generated = generate_pinmap(PinMapSpec(pins=64, sites=8))
    pin_map = load_pinmap(generated.xml_bytes)
    pins = list(generated.two_session_pins())

    for site in range(8):
        resolution = pin_map.resolve(sites=[site], names=pins)
        assert sorted(s.instrument_type_id for s in resolution.sessions) == [
            "niDCPower",
            "niDigitalPattern",
        ]


def test_dedicated_instruments_give_disjoint_sessions_per_site() -> None:
    generated = generate_pinmap(PinMapSpec(pins=16, sites=6, share_instruments=False))
    pin_map = load_pinmap(generated.xml_bytes)
    pins = list(generated.two_session_pins())

    per_site = [
        {s.session_name for s in pin_map.resolve(sites=[site], names=pins).sessions}
        for site in range(6)
    ]

    assert all(len(names) == 2 for names in per_site)
    assert len(set().union(*per_site)) == 12


def test_shared_instruments_serve_several_sites() -> None:
    generated = generate_pinmap(PinMapSpec(pins=8, sites=4))
    pin_map = load_pinmap(generated.xml_bytes)

    digital = [
        {s.session_name for s in pin_map.resolve(sites=[site], names=["DIO0000"]).sessions}
        for site in range(4)
    ]

    assert digital[0] == digital[3]  # one 32-channel instrument serves all four 7-pin sites


def test_largest_map_is_about_the_documented_size() -> None:
    generated = generate_pinmap(PinMapSpec(pins=2048, sites=256))

    assert generated.connection_count >= 2048 * 256
    assert 35_000_000 < len(generated.xml_bytes) < 64 * 1024 * 1024


def test_generator_command_writes_a_loadable_file(tmp_path: Path) -> None:
    out = tmp_path / "generated.pinmap"

    assert main(["--pins", "16", "--sites", "2", "-o", str(out)]) == 0

    pin_map = load_pinmap(out.read_bytes())
    assert len(pin_map.sites) == 2


@pytest.mark.parametrize("bad", [dict(pins=0, sites=1), dict(pins=1, sites=0)])
def test_generator_refuses_empty_maps(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="at least one"):
        PinMapSpec(**bad)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]

    assert percentile(values, 0.5) == 51.0  # round(0.5 * 99) = 50 -> the 51st value
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_results_replace_only_the_marked_section(tmp_path: Path) -> None:
    path = tmp_path / "performance.md"
    path.write_text(f"# Title\n\nintro\n\n{START}\nold\n{END}\n\n## Analysis\n\nkept\n")
    rows = [Row("bench", "a | b", "1.00x", "<= 2x", True, "x ms"), Row("bench", "n", "3")]

    write_results(path, render(rows, quick=True, command="python -m benchmarks --quick"))

    text = path.read_text()
    assert text.startswith("# Title\n\nintro\n\n" + START)
    assert text.endswith(f"{END}\n\n## Analysis\n\nkept\n")
    assert "old" not in text
    assert "| bench | a \\| b | 1.00x | <= 2x | yes | x ms |" in text
    assert "| bench | n | 3 |  |  |  |" in text
    assert "grpcio" in text
    assert "protobuf" in text
    assert "lxml" in text
    assert text.count(START) == 1


def test_results_are_appended_when_there_is_no_section(tmp_path: Path) -> None:
    path = tmp_path / "performance.md"
    path.write_text("# Title\n")

    write_results(path, render([Row("b", "m", "1")], quick=False, command="python -m benchmarks"))

    text = path.read_text()
    assert text.startswith("# Title\n\n" + START)
    assert text.rstrip().endswith(END)
