"""Validation: every problem is found, located and reported (never only the first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinbroker.errors import PinMapParseError
from pinbroker.pinmap import load_pinmap, load_pinmap_file

DATA = Path(__file__).resolve().parents[3] / "tests" / "data"
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "two_site.pinmap"

EVERY_PROBLEM = (
    "pin map line 8: channel 1 of 'SMU1' is in ChannelGroup 'G0' and ChannelGroup 'G1'",
    (
        "pin map line 9: ChannelGroup 'G2' of 'SMU1': channels='3-5': channel 5 is out of "
        "range (numberOfChannels=4)"
    ),
    (
        "pin map line 10: ChannelGroup 'G3' of 'SMU1': channels='2-x': '2-x' is not a "
        "channel number or range like 0-3"
    ),
    (
        "pin map line 12: NIDCPowerInstrument 'SMU2': numberOfChannels='four' is not a "
        "positive whole number"
    ),
    (
        "pin map line 15: ChannelGroup 'Part' of 'SMU3' overlaps ChannelGroup 'All', which "
        "takes every channel"
    ),
    "pin map line 16: duplicate ChannelGroup 'All' in 'SMU3' (also on line 14)",
    "pin map line 19: duplicate instrument name 'HSD1': already declared on line 18",
    "pin map line 20: NIScopeInstrument is missing attribute 'numberOfChannels'",
    "pin map line 21: Instrument 'VISA1' declares Channel 'ch0' twice",
    "pin map line 30: duplicate name 'A': already declared as a DUT pin on line 29",
    "pin map line 32: DUTPin is missing attribute 'name'",
    "pin map line 35: PinGroup 'Loop1' contains itself (Loop1 -> Loop2 -> Loop1)",
    "pin map line 40: PinReference refers to unknown pin or pin group 'Nowhere'",
    "pin map line 41: PinReference refers to 'K1', which is a site relay, not a pin",
    "pin map line 50: RelayReference refers to 'A', which is a DUT pin, not a relay",
    "pin map line 51: RelayReference refers to unknown relay or relay group 'K9'",
    "pin map line 53: RelayGroup 'Self' contains itself (Self -> Self)",
    "pin map line 59: RelayPosition refers to unknown relay 'K7'",
    "pin map line 60: RelayPosition of 'K1' has position='Half', expected 'Open' or 'Closed'",
    "pin map line 62: duplicate RelayConfiguration 'Cfg' (also on line 58)",
    "pin map line 66: duplicate site 0: already declared on line 65",
    "pin map line 67: Site has siteNumber='one', which is not a site number",
    "pin map line 68: <DUTPin> belongs in <Pins>, not in <Sites>",
    "pin map line 71: Connection refers to unknown pin 'VDD2'",
    (
        "pin map line 72: Connection refers to 'S', which is a system pin, not a DUT pin; "
        "use SystemConnection"
    ),
    (
        "pin map line 73: SystemConnection refers to 'A', which is a DUT pin, not a system "
        "pin; use Connection"
    ),
    "pin map line 74: Connection refers to unknown site 5",
    "pin map line 75: Connection siteNumber='0,x' is not a site number or comma-separated list",
    "pin map line 76: Connection refers to unknown instrument 'SMU9'",
    "pin map line 77: Connection instrument 'MUX1' is a Multiplexer, not an instrument",
    "pin map line 78: Connection: channel 32 of 'HSD1' is out of range (numberOfChannels=32)",
    "pin map line 79: Connection: channel 'a' of 'HSD1' is not a channel number",
    (
        "pin map line 80: Connection: channel 'ch9' is not a Channel id of Instrument "
        "'VISA1' (declared: 'ch0')"
    ),
    "pin map line 81: Connection is missing attribute 'channel'",
    "pin map line 82: Connection: channel 3 of 'SMU1' is in no ChannelGroup",
    (
        "pin map line 84: MultiplexedDUTPinRoute multiplexer 'RLY1' is an "
        "NIRelayDriverModule, not a Multiplexer"
    ),
    "pin map line 85: MultiplexedDUTPinRoute refers to unknown multiplexer 'MUX9'",
    (
        "pin map line 87: RelayConnection refers to 'KS', which is a system relay, not a "
        "site relay; use SystemRelayConnection"
    ),
    (
        "pin map line 88: RelayConnection relayDriverModule 'HSD1' is an "
        "NIDigitalPatternInstrument, not an NIRelayDriverModule"
    ),
    (
        "pin map line 89: SystemRelayConnection: control line 'K64' of 'RLY1' is out of "
        "range (numberOfControlLines=64)"
    ),
    "pin map line 90: SystemRelayConnection refers to unknown relay driver module 'RLY7'",
)


def test_every_problem_is_reported_in_line_order() -> None:
    path = DATA / "pinmap_invalid" / "every_problem.pinmap"
    with pytest.raises(PinMapParseError) as caught:
        load_pinmap_file(path)
    error = caught.value
    assert error.problems == EVERY_PROBLEM
    assert error.line == 8
    assert error.source == str(path)
    assert str(error) == (
        f"{path}: {EVERY_PROBLEM[0]} (and {len(EVERY_PROBLEM) - 1} more problem(s))"
    )


def _example_with(old: str, new: str) -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _problems(text: str) -> tuple[str, ...]:
    with pytest.raises(PinMapParseError) as caught:
        load_pinmap(text, source="edited")
    return caught.value.problems


def test_one_bad_reference_in_a_valid_map_names_it_with_its_line() -> None:
    text = _example_with(
        '<Connection pin="VDD" siteNumber="1" instrument="SMU2" channel="0" />',
        '<Connection pin="VDD2" siteNumber="1" instrument="SMU2" channel="0" />',
    )
    assert _problems(text) == ("pin map line 87: Connection refers to unknown pin 'VDD2'",)


def test_every_row_with_a_bad_value_is_reported() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace('instrument="HSD1"', 'instrument="HSDX"')
    assert _problems(text) == (
        "pin map line 91: Connection refers to unknown instrument 'HSDX'",
        "pin map line 92: Connection refers to unknown instrument 'HSDX'",
        "pin map line 95: Connection refers to unknown instrument 'HSDX'",
    )


def test_a_system_relay_may_not_sit_in_a_relay_connection_and_vice_versa() -> None:
    text = _example_with(
        '<SystemRelayConnection relay="K_MAIN" relayDriverModule="RLY1" controlLine="K63" />',
        '<SystemRelayConnection relay="K_LOAD" relayDriverModule="RLY1" controlLine="K63" />',
    )
    assert _problems(text) == (
        "pin map line 110: SystemRelayConnection refers to 'K_LOAD', which is a site relay, "
        "not a system relay; use RelayConnection",
    )


def test_multiplexed_routes_need_dut_pins_and_defined_sites() -> None:
    text = _example_with(
        'pin="VSENSE" siteNumber="1" multiplexer="MUX1"',
        'pin="SYNC" siteNumber="1,2" multiplexer="MUX1"',
    )
    assert _problems(text) == (
        "pin map line 102: MultiplexedDUTPinRoute refers to 'SYNC', which is a system pin, "
        "not a DUT pin",
        "pin map line 102: MultiplexedDUTPinRoute refers to unknown site 2",
    )


def test_relay_positions_may_name_relay_groups_but_not_pins() -> None:
    ok = _example_with(
        '<RelayPosition relay="K_MAIN" position="Closed" />',
        '<RelayPosition relay="AllRelays" position="Open" />',
    )
    assert load_pinmap(ok).relay_configurations[0].positions[1].relay == "AllRelays"
    bad = _example_with(
        '<RelayPosition relay="K_MAIN" position="Closed" />',
        '<RelayPosition relay="VDD" position="Open" />',
    )
    assert _problems(bad) == (
        "pin map line 78: RelayPosition refers to 'VDD', which is a DUT pin, not a relay",
    )


def test_a_daqmx_task_may_drive_relays_only_when_marked_as_relay_driver() -> None:
    marked = _example_with(
        '<NIDAQmxTask name="DAQ_AI" taskType="AI" channelList="DAQ1/ai0:3" />',
        '<NIDAQmxTask name="DAQ_AI" taskType="DO" channelList="DAQ1/port0" '
        'useAsRelayDriver="true" />',
    ).replace(
        'relay="K_MAIN" relayDriverModule="RLY1" controlLine="K63"',
        'relay="K_MAIN" relayDriverModule="DAQ_AI" controlLine="DAQ1/port0/line0"',
    )
    pin_map = load_pinmap(marked)
    (session,) = pin_map.resolve(names=["K_MAIN"]).sessions
    assert (session.session_name, session.channel_list) == ("DAQ_AI", "DAQ1/port0/line0")
    unmarked = marked.replace('useAsRelayDriver="true"', 'useAsRelayDriver="false"')
    assert _problems(unmarked) == (
        "pin map line 110: SystemRelayConnection relayDriverModule 'DAQ_AI' is an "
        "NIDAQmxTask, not an NIRelayDriverModule",
    )


def test_dcpower_channels_outside_numbered_groups_are_in_no_group() -> None:
    text = _example_with(
        '<Connection pin="IBIAS" siteNumber="1" instrument="SMU1" channel="3" />',
        '<Connection pin="IBIAS" siteNumber="1" instrument="SMU1" channel="4" />',
    )
    assert _problems(text) == (
        "pin map line 89: Connection: channel 4 of 'SMU1' is out of range (numberOfChannels=4)",
    )


def test_channel_numbers_written_with_spaces_are_accepted() -> None:
    text = _example_with(
        '<Connection pin="IBIAS" siteNumber="1" instrument="SMU1" channel="3" />',
        '<Connection pin="IBIAS" siteNumber=" 1" instrument="SMU1" channel=" 3" />',
    )
    (session,) = load_pinmap(text).resolve(sites=[1], names=["IBIAS"]).sessions
    assert session.channel_list == "SMU1/3"


def test_nested_cycles_are_reported_once_per_loop() -> None:
    text = _example_with(
        '<PinReference pin="CS" />', '<PinReference pin="CS" /><PinReference pin="AllDigital" />'
    )
    assert _problems(text) == (
        "pin map line 59: PinGroup 'AllDigital' contains itself (AllDigital -> AllDigital)",
    )


def test_problems_of_parsing_and_validation_are_collected_together() -> None:
    text = _example_with('<Site siteNumber="1" />', "<Site />").replace(
        '<DUTPin name="CLKIN" />', ""
    )
    assert _problems(text) == (
        "pin map line 83: Site is missing attribute 'siteNumber'",
        "pin map line 87: Connection refers to unknown site 1",
        "pin map line 89: Connection refers to unknown site 1",
        "pin map line 93: Connection refers to unknown site 1",
        "pin map line 94: Connection refers to unknown site 1",
        "pin map line 95: Connection refers to unknown site 1",
        "pin map line 98: Connection refers to unknown site 1",
        "pin map line 102: MultiplexedDUTPinRoute refers to unknown site 1",
        "pin map line 104: Connection refers to unknown pin 'CLKIN'",
        "pin map line 105: Connection refers to unknown pin 'CLKIN'",
        "pin map line 105: Connection refers to unknown site 1",
        "pin map line 107: Connection refers to unknown site 1",
        "pin map line 109: RelayConnection refers to unknown site 1",
    )
