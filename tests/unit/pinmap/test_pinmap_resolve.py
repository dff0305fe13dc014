"""Resolution on our own pin maps: every rule, including those no NI test pins down ([I])."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinbroker.errors import UnknownPinOrRelayError, UnknownSiteError
from pinbroker.pinmap import (
    ChannelMapping,
    MultiplexerResource,
    PinDefinition,
    PinGroupDefinition,
    PinMap,
    RelayDefinition,
    Resolution,
    load_pinmap,
)
from pinbroker.types import SITE_SYSTEM, SessionNaming

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "two_site.pinmap"
RESOURCE = SessionNaming.RESOURCE


def summary(resolution: Resolution) -> list[tuple[str, str, str, str]]:
    return [
        (s.session_name, s.instrument_type_id, s.resource_name, s.channel_list)
        for s in resolution.sessions
    ]


def pins_and_sites(resolution: Resolution) -> list[tuple[str, int]]:
    return [(m.pin_or_relay_name, m.site) for s in resolution.sessions for m in s.channel_mappings]


def edited_example(*edits: tuple[str, str]) -> PinMap:
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return load_pinmap(text)


def test_everything_of_the_example(two_site: PinMap) -> None:
    resolution = two_site.resolve()
    assert summary(resolution) == [
        ("niDCPower-SMU1/0, SMU2/0", "niDCPower", "SMU1/0, SMU2/0", "SMU1/0, SMU2/0"),
        ("niDCPower-SMU1/2, SMU1/3", "niDCPower", "SMU1/2, SMU1/3", "SMU1/2, SMU1/3"),
        ("niDCPower-SMU2/2", "niDCPower", "SMU2/2", "SMU2/2"),
        (
            "niDigitalPattern-HSD1, HSD2",
            "niDigitalPattern",
            "HSD1, HSD2",
            "site0/SDA, site0/SCL, site0/CS, site1/SDA, site1/SCL, site1/CS, TRIG",
        ),
        ("niScope-SCOPE1", "niScope", "SCOPE1", "0, 1, 3"),
        ("niDMM-DMM1", "niDMM", "DMM1", "0"),
        ("niFGen-FGEN1", "niFGen", "FGEN1", "0, 1"),
        ("DAQ_AI", "niDAQmx", "DAQ_AI", "DAQ1/ai0, DAQ1/ai1"),
        ("niRelayDriver-RLY1", "niRelayDriver", "RLY1", "K0, K1, K63"),
    ]
    assert resolution.multiplexers == (MultiplexerResource("MUX1", "MUX1", "DmmMultiplexer"),)
    assert resolution.group_mappings == {}
    assert two_site.session_names() == tuple(s.session_name for s in resolution.sessions)


def test_resource_naming_uses_the_resource_name(two_site: PinMap) -> None:
    resolution = two_site.resolve(naming=RESOURCE)
    assert [s.session_name for s in resolution.sessions] == [
        s.resource_name for s in resolution.sessions
    ]
    assert two_site.session_names(RESOURCE)[-2:] == ("DAQ_AI", "RLY1")


def test_all_names_means_pins_in_declaration_order_then_relays(two_site: PinMap) -> None:
    order = [
        m.pin_or_relay_name
        for s in two_site.resolve(sites=[0]).sessions
        for m in s.channel_mappings
    ]
    assert order == [
        "VDD",
        "IBIAS",
        "VREF",
        "SDA",
        "SCL",
        "CS",
        "TRIG",
        "VOUT",
        "SYNC",
        "VSENSE",
        "CLKIN",
        "TEMP",
        "K_LOAD",
        "K_MAIN",
    ]


def test_mappings_are_site_major_in_requested_order_with_system_last(two_site: PinMap) -> None:
    (digital,) = two_site.resolve(sites=[1, 0], names=["TRIG", "SCL", "SDA"]).sessions
    assert pins_and_sites(Resolution((digital,), (), {})) == [
        ("SCL", 1),
        ("SDA", 1),
        ("SCL", 0),
        ("SDA", 0),
        ("TRIG", SITE_SYSTEM),
    ]
    assert digital.channel_list == "site1/SCL, site1/SDA, site0/SCL, site0/SDA, TRIG"


def test_system_pins_come_with_any_site_and_use_site_minus_one(two_site: PinMap) -> None:
    resolution = two_site.resolve(sites=[1], names=["VREF", "SYNC", "K_MAIN"])
    assert pins_and_sites(resolution) == [
        ("VREF", SITE_SYSTEM),
        ("SYNC", SITE_SYSTEM),
        ("K_MAIN", SITE_SYSTEM),
    ]


def test_shared_pin_maps_once_per_requested_site_on_the_same_channel(two_site: PinMap) -> None:
    (digital,) = two_site.resolve(names=["CS"]).sessions
    assert digital.channel_mappings == (
        ChannelMapping("CS", 0, "site0/CS"),
        ChannelMapping("CS", 1, "site1/CS"),
    )
    (only_one,) = two_site.resolve(sites=[1], names=["CS"]).sessions
    assert only_one.channel_mappings == (ChannelMapping("CS", 1, "site1/CS"),)


def test_groups_flatten_depth_first_and_deduplicate(two_site: PinMap) -> None:
    resolution = two_site.resolve(sites=[0], names=["SDA", "AllDigital", "I2C", "SDA"])
    assert resolution.group_mappings == {
        "AllDigital": ("SDA", "SCL", "CS", "TRIG"),
        "I2C": ("SDA", "SCL"),
    }
    assert pins_and_sites(resolution) == [("SDA", 0), ("SCL", 0), ("CS", 0), ("TRIG", SITE_SYSTEM)]
    with pytest.raises(TypeError):
        resolution.group_mappings["I2C"] = ()  # type: ignore[index]


def test_relay_groups_and_relays(two_site: PinMap) -> None:
    resolution = two_site.resolve(sites=[1], names=["AllRelays"])
    assert resolution.group_mappings == {"AllRelays": ("K_LOAD", "K_MAIN")}
    (relays,) = resolution.sessions
    assert relays.channel_mappings == (
        ChannelMapping("K_LOAD", 1, "K1"),
        ChannelMapping("K_MAIN", SITE_SYSTEM, "K63"),
    )


def test_dcpower_group_spanning_instruments_is_one_session(two_site: PinMap) -> None:
    (power,) = two_site.resolve(names=["VDD"]).sessions
    assert power.resource_name == "SMU1/0, SMU2/0"
    assert [m.channel for m in power.channel_mappings] == ["SMU1/0", "SMU2/0"]


def test_type_filter_and_a_name_of_another_type(two_site: PinMap) -> None:
    assert summary(two_site.resolve(instrument_type_id="niFGen")) == [
        ("niFGen-FGEN1", "niFGen", "FGEN1", "0, 1")
    ]
    assert two_site.resolve(names=["VDD"], instrument_type_id="niScope").sessions == ()
    filtered = two_site.resolve(names=["VSENSE", "VOUT"], instrument_type_id="niDMM")
    assert [s.resource_name for s in filtered.sessions] == ["DMM1"]
    assert filtered.multiplexers == (MultiplexerResource("MUX1", "MUX1", "DmmMultiplexer"),)
    assert two_site.resolve(names=["VSENSE"], instrument_type_id="niScope").multiplexers == ()


def test_multiplexed_routes(two_site: PinMap) -> None:
    (dmm,) = two_site.resolve(sites=[1], names=["VSENSE"]).sessions
    assert dmm.channel_mappings == (
        ChannelMapping("VSENSE", 1, "0", "MUX1", "ch1->com0", "DmmMultiplexer"),
    )
    assert two_site.multiplexers(sites=[1]) == (
        MultiplexerResource("MUX1", "MUX1", "DmmMultiplexer"),
    )


def test_unknown_names_and_sites_are_errors_that_name_them(two_site: PinMap) -> None:
    with pytest.raises(UnknownPinOrRelayError, match="'VDD3'"):
        two_site.resolve(names=["VDD", "VDD3"])
    with pytest.raises(UnknownPinOrRelayError):
        two_site.resolve(names=[""])
    with pytest.raises(UnknownSiteError, match="site 2 is not defined") as caught:
        two_site.resolve(sites=[0, 2])
    assert caught.value.site == 2
    with pytest.raises(UnknownSiteError):
        two_site.resolve(sites=[SITE_SYSTEM])


def test_errors_name_the_pin_map_source(two_site: PinMap) -> None:
    with pytest.raises(UnknownSiteError, match=r"two_site\.pinmap"):
        two_site.resolve(sites=[9])
    anonymous = load_pinmap(EXAMPLE.read_bytes(), source="my-pin-map-id")
    with pytest.raises(UnknownPinOrRelayError, match="in pin map 'my-pin-map-id'"):
        anonymous.resolve(names=["nope"])


def test_query_pins_and_relays(two_site: PinMap) -> None:
    pins, groups = two_site.query_pins()
    assert len(pins) == 12
    assert pins[-3:] == (
        PinDefinition("VREF", True),
        PinDefinition("TRIG", True),
        PinDefinition("SYNC", True),
    )
    assert groups[2] == PinGroupDefinition(
        "AllDigital", ("I2C", "CS", "TRIG"), ("SDA", "SCL", "CS", "TRIG")
    )
    digital_pins, digital_groups = two_site.query_pins("niDigitalPattern")
    assert [p.display_name for p in digital_pins] == ["SDA", "SCL", "CS", "TRIG"]
    assert [g.display_name for g in digital_groups] == ["I2C", "AllDigital"]
    power_pins, power_groups = two_site.query_pins("niDCPower")
    assert [p.display_name for p in power_pins] == ["VDD", "IBIAS", "VREF"]
    assert [g.display_name for g in power_groups] == ["PowerPins"]
    assert two_site.query_relays() == two_site.query_relays("niRelayDriver")
    assert two_site.query_relays()[0] == (
        RelayDefinition("K_LOAD", False),
        RelayDefinition("K_MAIN", True),
    )
    assert two_site.query_relays("niDCPower") == ((), ())


def test_query_results_are_cached_values(two_site: PinMap) -> None:
    assert two_site.query_pins("niScope") is two_site.query_pins("niScope")


def test_dcpower_channels_sort_numerically() -> None:
    pin_map = edited_example(
        (
            '<NIDCPowerInstrument name="SMU1" numberOfChannels="4">',
            '<NIDCPowerInstrument name="SMU1" numberOfChannels="24">',
        ),
        (
            '<ChannelGroup name="Bias" channels="2:3" />',
            '<ChannelGroup name="Bias" channels="2:23" />',
        ),
        (
            '<Connection pin="IBIAS" siteNumber="1" instrument="SMU1" channel="3" />',
            '<Connection pin="IBIAS" siteNumber="1" instrument="SMU1" channel="10" />',
        ),
    )
    (bias,) = pin_map.resolve(names=["IBIAS"], naming=RESOURCE).sessions
    assert bias.resource_name == "SMU1/2, SMU1/10"
    (reverse,) = pin_map.resolve(sites=[1, 0], names=["IBIAS"]).sessions
    assert reverse.channel_list == "SMU1/10, SMU1/2"


def test_dcpower_instruments_in_declaration_order_not_alphabetical() -> None:
    smu1 = (
        '<NIDCPowerInstrument name="SMU1" numberOfChannels="4">\n'
        '\t\t\t<ChannelGroup name="Power" channels="0-1" />\n'
        '\t\t\t<ChannelGroup name="Bias" channels="2:3" />\n'
        "\t\t</NIDCPowerInstrument>\n"
    )
    pin_map = edited_example(
        (smu1, ""),
        (
            '<NIDigitalPatternInstrument name="HSD1"',
            smu1 + '<NIDigitalPatternInstrument name="HSD1"',
        ),
    )
    (power, *_) = pin_map.resolve(names=["VDD", "VREF"], naming=RESOURCE).sessions
    assert power.resource_name == "SMU2/0, SMU1/0"
    assert [s.resource_name for s in pin_map.resolve(names=["VREF", "VDD"]).sessions] == [
        "SMU2/0, SMU1/0",
        "SMU2/2",
    ]


def test_scope_group_over_two_instruments_qualifies_channels() -> None:
    pin_map = edited_example(
        (
            '<NIScopeInstrument name="SCOPE1" numberOfChannels="4" group="Scope" />',
            '<NIScopeInstrument name="SCOPE1" numberOfChannels="4" group="Scope" />'
            '<NIScopeInstrument name="SCOPE2" numberOfChannels="4" group="Scope" />',
        ),
        (
            '<Connection pin="VOUT" siteNumber="1" instrument="SCOPE1" channel="1" />',
            '<Connection pin="VOUT" siteNumber="1" instrument="SCOPE2" channel="1" />',
        ),
    )
    (scope,) = pin_map.resolve(names=["VOUT", "SYNC"]).sessions
    assert (scope.session_name, scope.resource_name) == (
        "niScope-SCOPE1, SCOPE2",
        "SCOPE1, SCOPE2",
    )
    assert scope.channel_list == "SCOPE1/0, SCOPE2/1, SCOPE1/3"


def test_instruments_of_a_group_without_connections_stay_out_of_the_resource() -> None:
    pin_map = edited_example(
        (
            '<NIDigitalPatternInstrument name="HSD2" numberOfChannels="32" group="Digital" />',
            '<NIDigitalPatternInstrument name="HSD2" numberOfChannels="32" group="Digital" />'
            '<NIDigitalPatternInstrument name="HSD3" numberOfChannels="32" group="Digital" />',
        ),
    )
    (digital,) = pin_map.resolve(names=["SDA"], naming=RESOURCE).sessions
    assert digital.resource_name == "HSD1, HSD2"


def test_legacy_sessions(legacy: PinMap) -> None:
    assert summary(legacy.resolve()) == [
        (
            "niDCPower-LegacySMU/0, LegacySMU/1",
            "niDCPower",
            "LegacySMU/0, LegacySMU/1",
            "LegacySMU/0, LegacySMU/1",
        ),
        ("niDCPower-NamedSMU/3", "niDCPower", "NamedSMU/3", "NamedSMU/3"),
        (
            "niDigitalPattern-HSD_A, HSD_B",
            "niDigitalPattern",
            "HSD_A, HSD_B",
            "site0/D0, site0/D1, site1/D0, site1/D1",
        ),
        ("niScope-SCOPE_A", "niScope", "SCOPE_A", "0"),
        ("niScope-SCOPE_B", "niScope", "SCOPE_B", "0"),
        ("VisaDmm-GPIB0::22::INSTR", "VisaDmm", "GPIB0::22::INSTR", "0"),
        (
            "Fpga-<FPGA resource>",
            "Fpga",
            "<FPGA resource>",
            "Connector0_Port0_DIO0, Connector0_Port0_DIO1",
        ),
        ("niRFPM-RFPM1", "niRFPM", "RFPM1", "port1, port2"),
        ("niModelBasedInstrument-VST1", "niModelBasedInstrument", "VST1", "if0, if1"),
        ("NIHSDIOInstrument-HSDIO1", "NIHSDIOInstrument", "HSDIO1", "7"),
    ]
    assert summary(legacy.resolve(instrument_type_id="Fpga", sites=[1])) == [
        ("Fpga-<FPGA resource>", "Fpga", "<FPGA resource>", "Connector0_Port0_DIO1")
    ]


def test_resolution_values_are_frozen(two_site: PinMap) -> None:
    session = two_site.resolve(names=["VDD"]).sessions[0]
    with pytest.raises(AttributeError):
        session.resource_name = "x"  # type: ignore[misc]
    assert isinstance(session.channel_mappings, tuple)
