"""``pinbroker pinmap check`` and ``show``, called directly with captured streams."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pinbroker.cli import main
from pinbroker.pinmap._cli import run_check, run_show

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
