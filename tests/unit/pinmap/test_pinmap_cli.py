"""``pinbroker pinmap check`` and ``show``, called directly with captured streams."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pinbroker.cli import main
from pinbroker.pinmap import load_pinmap_file
from pinbroker.pinmap._cli import run_check, run_show
from pinbroker.pinmap._vocabulary import INSTRUMENT_ELEMENTS, SECTION_NAMES, did_you_mean

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = str(REPO / "examples" / "two_site.pinmap")
LEGACY = str(REPO / "tests" / "data" / "legacy_tolerant.pinmap")
INVALID = str(REPO / "tests" / "data" / "pinmap_invalid" / "every_problem.pinmap")
HOSTILE = REPO / "tests" / "data" / "pinmap_hostile"


def test_check_of_good_files_prints_nothing_and_exits_0() -> None:
    out = io.StringIO()
    assert run_check([EXAMPLE, LEGACY], out=out) == 0
    assert out.getvalue() == ""


def test_check_prints_one_line_per_problem_and_exits_1() -> None:
    out = io.StringIO()
    assert run_check([EXAMPLE, INVALID], out=out) == 1
    lines = out.getvalue().splitlines()
    assert len(lines) == 41
    assert lines[0] == (
        f"{INVALID}: pin map line 8: channel 1 of 'SMU1' is in ChannelGroup 'G0' and "
        "ChannelGroup 'G1'"
    )
    assert all(line.startswith(f"{INVALID}: pin map line ") for line in lines)


def test_check_reports_hostile_large_and_missing_files(tmp_path: Path) -> None:
    out = io.StringIO()
    missing = str(tmp_path / "missing.pinmap")
    files = [str(HOSTILE / "xxe_file.pinmap"), str(HOSTILE / "too_deep.pinmap"), missing]
    assert run_check(files, out=out) == 1
    assert out.getvalue().splitlines() == [
        f"{HOSTILE / 'xxe_file.pinmap'}: pin map line 2: DTDs are not allowed in pin maps "
        "(found a <!DOCTYPE or other declaration)",
        f"{HOSTILE / 'too_deep.pinmap'}: pin map line 5: elements nested deeper than max_depth=64",
        f"{missing}: cannot read: No such file or directory",
    ]


def test_check_prints_warnings_without_failing(tmp_path: Path) -> None:
    odd = tmp_path / "odd.pinmap"
    odd.write_text(
        Path(EXAMPLE).read_text(encoding="utf-8").replace("<Sites>", "<Sites><Planet/>"),
        encoding="utf-8",
    )
    out = io.StringIO()
    assert run_check([str(odd)], out=out) == 0
    assert (
        out.getvalue()
        == f"{odd}: warning: pin map line 81: unknown element <Planet> in <Sites> ignored\n"
    )


def test_show_prints_sessions_then_connections() -> None:
    out, err = io.StringIO(), io.StringIO()
    status = run_show(
        EXAMPLE, sites=[1], names=["VDD", "VSENSE"], session_names="resource", out=out, err=err
    )
    assert status == 0
    assert err.getvalue() == ""
    assert out.getvalue() == (
        f"{EXAMPLE}: schemaVersion 1.6, 12 pins, 2 relays, sites 0, 1, 23 connections\n"
        "\n"
        "SESSION         TYPE       RESOURCE        CHANNELS\n"
        "SMU1/0, SMU2/0  niDCPower  SMU1/0, SMU2/0  SMU2/0\n"
        "DMM1            niDMM      DMM1            0\n"
        "\n"
        "SMU1/0, SMU2/0\n"
        "  PIN  SITE  CHANNEL  MULTIPLEXER  ROUTE\n"
        "  VDD  1     SMU2/0\n"
        "\n"
        "DMM1\n"
        "  PIN     SITE  CHANNEL  MULTIPLEXER  ROUTE\n"
        "  VSENSE  1     0        MUX1         ch1->com0\n"
        "\n"
        "multiplexers: MUX1 (DmmMultiplexer)\n"
    )


def test_show_with_type_filter_groups_and_typed_names() -> None:
    out = io.StringIO()
    assert run_show(EXAMPLE, names=["I2C"], instrument_type_id="niDigitalPattern", out=out) == 0
    text = out.getvalue()
    assert "niDigitalPattern-HSD1, HSD2  niDigitalPattern  HSD1, HSD2" in text
    assert text.endswith("group I2C: SDA, SCL\n")
    empty = io.StringIO()
    assert run_show(EXAMPLE, instrument_type_id="niRFSA", out=empty) == 0
    assert empty.getvalue().endswith("no sessions\n")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sites": [7]}, f"{EXAMPLE}: site 7 is not defined in pin map '{EXAMPLE}'\n"),
        (
            {"names": ["NOPE"]},
            f"{EXAMPLE}: 'NOPE' is not a pin, pin group, relay or relay group in pin map "
            f"'{EXAMPLE}'\n",
        ),
        ({"session_names": "fancy"}, "unknown session naming 'fancy' (use typed or resource)\n"),
    ],
)
def test_show_errors_go_to_stderr_with_exit_1(kwargs: dict[str, object], message: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run_show(EXAMPLE, out=out, err=err, **kwargs) == 1  # type: ignore[arg-type]
    assert out.getvalue() == ""
    assert err.getvalue() == message


def test_show_of_an_invalid_file_lists_its_problems() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run_show(INVALID, out=out, err=err) == 1
    assert out.getvalue() == ""
    assert len(err.getvalue().splitlines()) == 41


def test_the_command_line_dispatches_here(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pinmap", "check", EXAMPLE]) == 0
    assert main(["pinmap", "show", EXAMPLE, "--site", "0", "--pin", "TEMP"]) == 0
    captured = capsys.readouterr()
    assert "DAQ_AI   niDAQmx  DAQ_AI    DAQ1/ai0\n" in captured.out


def _misspelled(tmp_path: Path) -> Path:
    """The example with a misspelled DMM element, section and item (it still loads)."""
    text = Path(EXAMPLE).read_text(encoding="utf-8")
    assert "<NIDmmInstrument " in text
    text = text.replace("<NIDmmInstrument ", "<NIDmmInstrumnet ", 1)
    text = text.replace("<Sites>", "<Stes/><Sites><Sitee siteNumber='9'/>", 1)
    path = tmp_path / "typo.pinmap"
    path.write_text(text, encoding="utf-8")
    return path


def test_check_suggests_known_names_and_fails_on_misspellings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _misspelled(tmp_path)
    assert main(["pinmap", "check", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    suggestions = [line.rpartition("did you mean ")[2] for line in lines if line.endswith(">?")]
    assert sorted(suggestions) == ["<NIDmmInstrument>?", "<Site>?", "<Sites>?"]
    assert any(
        "unknown instrument element <NIDmmInstrumnet> loaded as instrument type 'NIDmmInstrumnet'"
        in line
        for line in lines
    )
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert lines[-1] == (
        f"{path}: 3 element names look misspelled (see 'did you mean' above): "
        "check fails though the server would load this pin map"
    )


def test_a_misspelled_instrument_is_still_loaded_as_an_instrument(tmp_path: Path) -> None:
    pin_map = load_pinmap_file(_misspelled(tmp_path))
    assert pin_map.misspelled_elements == 3
    (dmm,) = [i for i in pin_map.instruments if i.tag == "NIDmmInstrumnet"]
    assert dmm.instrument_type_id == "NIDmmInstrumnet"


def test_a_misspelling_that_breaks_the_pin_map_is_listed_among_its_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = Path(EXAMPLE).read_text(encoding="utf-8").replace("<ChannelGroup ", "<ChanelGroup ", 1)
    path = tmp_path / "broken.pinmap"
    path.write_text(text, encoding="utf-8")
    assert main(["pinmap", "check", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    # The cause comes first (it is on an earlier line than its consequences).
    assert lines[0] == (
        f"{path}: pin map line 20: unexpected <ChanelGroup> inside <NIDCPowerInstrument> "
        "ignored; did you mean <ChannelGroup>?"
    )
    assert "is in no ChannelGroup" in lines[1]


def test_an_unknown_name_far_from_every_known_one_is_not_a_misspelling(tmp_path: Path) -> None:
    # <Planet/> in <Sites> and a vendor instrument element: a warning and a load, no suggestion.
    text = Path(EXAMPLE).read_text(encoding="utf-8").replace("<Sites>", "<Sites><Planet/>", 1)
    text = text.replace("<Instruments>", "<Instruments><AcmeLoadBox name='LOAD1'/>", 1)
    path = tmp_path / "odd.pinmap"
    path.write_text(text, encoding="utf-8")
    out = io.StringIO()
    assert run_check([str(path)], out=out) == 0
    assert "did you mean" not in out.getvalue()
    assert load_pinmap_file(path).misspelled_elements == 0


@pytest.mark.parametrize(
    ("name", "candidates", "expected"),
    [
        ("NIDmmInstrumnet", INSTRUMENT_ELEMENTS, "NIDmmInstrument"),
        ("NIDCPowerInstrumnt", INSTRUMENT_ELEMENTS, "NIDCPowerInstrument"),
        ("nidmminstrument", INSTRUMENT_ELEMENTS, "NIDmmInstrument"),
        ("Pinz", SECTION_NAMES, "Pins"),
        ("Conection", ("Connection", "SystemConnection"), "Connection"),
        ("AcmeLoadBox", INSTRUMENT_ELEMENTS, None),
        ("Planet", SECTION_NAMES, None),
        ("Channel", ("ChannelGroup",), None),  # a known name is misplaced, not misspelled
    ],
)
def test_did_you_mean(name: str, candidates: tuple[str, ...], expected: str | None) -> None:
    assert did_you_mean(name, candidates) == expected


def _wide(tmp_path: Path, channels: int = 80) -> Path:
    """One DCPower group over ``channels`` channels: resource and channel lists of ~600 chars."""
    pins = "".join(f'<DUTPin name="P{i}"/>' for i in range(channels))
    rows = "".join(
        f'<Connection pin="P{i}" siteNumber="0" instrument="SMU1" channel="{i}"/>'
        for i in range(channels)
    )
    path = tmp_path / "wide.pinmap"
    path.write_text(
        '<PinMap xmlns="http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd" '
        'schemaVersion="1.6"><Instruments>'
        f'<NIDCPowerInstrument name="SMU1" numberOfChannels="{channels}">'
        '<ChannelGroup name="All"/></NIDCPowerInstrument></Instruments>'
        f'<Pins>{pins}</Pins><Sites><Site siteNumber="0"/></Sites>'
        f"<Connections>{rows}</Connections></PinMap>",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("width", [60, 100, 160])
def test_show_fits_the_width_and_counts_what_it_leaves_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], width: int
) -> None:
    path = _wide(tmp_path)
    assert main(["pinmap", "show", str(path), "--width", str(width)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= width
    (row,) = [line for line in lines if "  niDCPower  " in line]
    resource = row.split("  niDCPower  ")[1].split("  ")[0]
    shown, _, rest = resource.partition(", \u2026 (+")
    # The kept channels are the first ones, and the count says how many were left out.
    kept = shown.split(", ")
    assert kept == [f"SMU1/{i}" for i in range(len(kept))]
    assert int(rest.rstrip(")")) == 80 - len(kept)


def test_show_without_a_limit_prints_whole_lists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _wide(tmp_path)
    assert main(["pinmap", "show", str(path), "--width", "0"]) == 0
    text = capsys.readouterr().out
    assert "\u2026" not in text
    assert ", ".join(f"SMU1/{i}" for i in range(80)) in text


def test_show_takes_the_width_from_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "72")
    assert main(["pinmap", "show", str(_wide(tmp_path))]) == 0
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 72


def test_show_json_is_the_documented_document(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(REPO / "tests" / "data" / "ni_clients_multiplexed.pinmap")
    assert main(["pinmap", "show", path, "--json", "--pin", "OUT", "--site", "0"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document == {
        "file": path,
        "schema_version": "1.6",
        "sites": [0, 1],
        "pin_count": 4,
        "relay_count": 0,
        "connection_count": 8,
        "warnings": [],
        "sessions": [
            {
                "name": "niDCPower-SMU_A/0, SMU_A/2, SMU_A/3, SMU_B/1",
                "type": "niDCPower",
                "resource": "SMU_A/0, SMU_A/2, SMU_A/3, SMU_B/1",
                "channel_list": "SMU_A/3",
                "channels": ["SMU_A/3"],
                "connections": [
                    {
                        "pin": "OUT",
                        "site": 0,
                        "channel": "SMU_A/3",
                        "multiplexer": "MuxA",
                        "route": "R3->c3, R4->c3",
                    }
                ],
            }
        ],
        "multiplexers": [{"name": "MuxA", "type_id": "LabMatrix"}],
        "groups": {},
    }


def test_show_json_is_never_cut(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pinmap", "show", str(_wide(tmp_path)), "--json", "--width", "40"]) == 0
    (session,) = json.loads(capsys.readouterr().out)["sessions"]
    assert session["channels"] == [f"SMU1/{i}" for i in range(80)]
    assert len(session["connections"]) == 80
