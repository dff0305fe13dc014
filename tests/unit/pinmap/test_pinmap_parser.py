"""What the reader keeps of each element family, and how tolerant it is."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from lxml import etree

from pinbroker.errors import PinMapParseError
from pinbroker.pinmap import (
    ChannelGroup,
    Connection,
    ConnectionKind,
    Element,
    InstrumentKind,
    Multiplexer,
    NameKind,
    Pin,
    PinMap,
    Relay,
    RelayPosition,
    load_pinmap,
)
from pinbroker.pinmap._lines import LineMap
from pinbroker.pinmap._numbers import NumberSyntaxError, parse_channel_ranges, parse_site_list
from pinbroker.types import SessionNaming

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "two_site.pinmap"
NS = 'xmlns="http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd"'


def _minimal(body: str, *, root: str = f'{NS} schemaVersion="1.6"') -> str:
    return f'<?xml version="1.0" encoding="utf-8"?>\n<PinMap {root}>\n{body}\n</PinMap>\n'


def test_declarations_of_the_example(two_site: PinMap) -> None:
    assert two_site.schema_version == "1.6"
    assert two_site.sites == (0, 1)
    assert two_site.warnings == ()
    assert [i.name for i in two_site.instruments] == [
        "SMU1",
        "SMU2",
        "HSD1",
        "HSD2",
        "SCOPE1",
        "DMM1",
        "FGEN1",
        "DAQ_AI",
        "RLY1",
    ]
    assert [i.instrument_type_id for i in two_site.instruments] == [
        "niDCPower",
        "niDCPower",
        "niDigitalPattern",
        "niDigitalPattern",
        "niScope",
        "niDMM",
        "niFGen",
        "niDAQmx",
        "niRelayDriver",
    ]
    assert two_site.multiplexer_definitions == (Multiplexer("MUX1", "DmmMultiplexer", 34),)
    smu1 = two_site.instrument("SMU1")
    assert smu1.kind is InstrumentKind.DCPOWER
    assert smu1.number_of_channels == 4
    assert smu1.channel_groups == (
        ChannelGroup("Power", ("0", "1"), all_channels=False, line=20),
        ChannelGroup("Bias", ("2", "3"), all_channels=False, line=21),
    )
    assert two_site.instrument("HSD2").group == "Digital"
    daq = two_site.instrument("DAQ_AI")
    assert daq.get("taskType") == "AI"
    assert daq.get("channelList") == "DAQ1/ai0:3"
    assert two_site.instrument("RLY1").number_of_channels == 64
    assert two_site.pins[0] == Pin("VDD", is_system=False, line=37)
    assert [p.name for p in two_site.pins if p.is_system] == ["VREF", "TRIG", "SYNC"]
    assert [g.references for g in two_site.pin_groups] == [
        ("VDD", "IBIAS"),
        ("SDA", "SCL"),
        ("I2C", "CS", "TRIG"),
    ]
    assert two_site.relays == (
        Relay("K_LOAD", False, 66, "no load", "1 kOhm load"),
        Relay("K_MAIN", True, 67),
    )
    assert two_site.relay_groups[0].references == ("K_LOAD", "K_MAIN")
    (configuration,) = two_site.relay_configurations
    assert configuration.name == "LoadOn"
    assert configuration.positions == (
        RelayPosition("K_LOAD", "Closed", 77),
        RelayPosition("K_MAIN", "Closed", 78),
    )
    assert two_site.name_kind("AllDigital") is NameKind.PIN_GROUP
    assert two_site.name_kind("K_MAIN") is NameKind.SYSTEM_RELAY
    assert two_site.name_kind("nothing") is None


def test_connections_of_every_kind_are_kept_in_document_order(two_site: PinMap) -> None:
    connections = list(two_site.connections())
    assert two_site.connection_count == len(connections) == 23
    assert connections[0] == Connection(ConnectionKind.PIN, "VDD", (0,), "SMU1", "0", "", "")
    assert connections[4] == Connection(ConnectionKind.SYSTEM_PIN, "VREF", (), "SMU2", "2", "", "")
    assert connections[9].sites == (0, 1)
    routes = [c for c in connections if c.kind is ConnectionKind.MULTIPLEXED]
    assert routes == [
        Connection(ConnectionKind.MULTIPLEXED, "VSENSE", (0,), "DMM1", "0", "MUX1", "ch0->com0"),
        Connection(ConnectionKind.MULTIPLEXED, "VSENSE", (1,), "DMM1", "0", "MUX1", "ch1->com0"),
    ]
    assert connections[-3:] == [
        Connection(ConnectionKind.RELAY, "K_LOAD", (0,), "RLY1", "K0", "", ""),
        Connection(ConnectionKind.RELAY, "K_LOAD", (1,), "RLY1", "K1", "", ""),
        Connection(ConnectionKind.SYSTEM_RELAY, "K_MAIN", (), "RLY1", "K63", "", ""),
    ]


def test_legacy_map_is_read_tolerantly(legacy: PinMap) -> None:
    assert legacy.schema_version == "1.1"
    assert legacy.sites == (0, 1)
    assert legacy.pin_groups == ()
    smu = legacy.instrument("LegacySMU")
    assert smu.channel_groups == (
        ChannelGroup("LegacySMU", (), all_channels=True, line=smu.line, implicit=True),
    )
    named = legacy.instrument("NamedSMU")
    assert named.channel_groups[0].all_channels
    assert not named.channel_groups[0].implicit
    assert legacy.instrument("HSD_A").group is None
    fpga = legacy.instrument("<FPGA resource>")
    assert fpga.kind is InstrumentKind.CUSTOM
    assert fpga.instrument_type_id == "Fpga"
    assert fpga.channels == ("Connector0_Port0_DIO0", "Connector0_Port0_DIO1")
    assert fpga.channel_groups == (
        ChannelGroup("Port0", fpga.channels, all_channels=False, line=fpga.line + 1),
    )
    assert legacy.instrument("GPIB0::22::INSTR").channels == ("0",)
    rfpm = legacy.instrument("RFPM1")
    assert rfpm.instrument_type_id == "niRFPM"
    assert rfpm.get("portsList") == "1-4"
    assert rfpm.get("calibrationFilePath") == ""
    vst = legacy.instrument("VST1")
    assert vst.kind is InstrumentKind.MODEL_BASED
    assert vst.get("instrumentModel") == "mmWave VST \u2013 IF (21 GHz)"
    (resource,) = vst.children
    assert resource.tag == "Resource"
    assert resource.get("owner") == "VST"
    assert resource.children[0].attributes == (
        ("propertyName", "Resource Name"),
        ("propertyValue", "VST_01"),
    )


def test_unknown_instrument_elements_are_kept_with_tag_attributes_and_children(
    legacy: PinMap,
) -> None:
    hsdio = legacy.instrument("HSDIO1")
    assert hsdio.kind is InstrumentKind.OTHER
    assert hsdio.instrument_type_id == "NIHSDIOInstrument"
    assert hsdio.tag == "NIHSDIOInstrument"
    assert hsdio.attributes == (
        ("name", "HSDIO1"),
        ("numberOfChannels", "32"),
        ("futureAttribute", "yes"),
    )
    (extra,) = hsdio.children
    assert extra == Element(
        "Extra",
        (("level", "1"),),
        (Element("Extra", (("level", "2"),), (), extra.line),),
        extra.line,
    )


def test_attribute_values_are_unescaped(legacy: PinMap) -> None:
    assert "<FPGA resource>" in [i.name for i in legacy.instruments]
    resolution = legacy.resolve(names=["X"], naming=SessionNaming.RESOURCE)
    assert [s.resource_name for s in resolution.sessions] == ["<FPGA resource>"]


def test_pin_maps_without_namespace_load_the_same() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    without = text.replace(f" {NS}", "")
    assert NS not in without
    assert load_pinmap(without).resolve() == load_pinmap(text).resolve()


def test_comments_processing_instructions_and_empty_sections_are_ignored() -> None:
    pin_map = load_pinmap(
        _minimal(
            "<!-- c --><?pi x?><Instruments><!-- c --></Instruments><Pins/><PinGroups></PinGroups>"
            "<Relays/><RelayGroups/><RelayConfigurations/><Sites/><Connections/>"
        )
    )
    assert pin_map.sites == ()
    assert pin_map.pins == ()
    assert pin_map.resolve().sessions == ()


def test_tolerated_oddities_become_warnings() -> None:
    pin_map = load_pinmap(
        _minimal(
            "<Sites>\n<Site siteNumber='0'/></Sites>\n"
            "<Future><Thing/></Future>\n"
            "<Pins><DUTPin name='A'><Odd/></DUTPin><Weird/></Pins>",
            root=f'{NS} schemaVersion="2.0"',
        )
    )
    assert pin_map.warnings == (
        "pin map line 2: schemaVersion 2.0 is not 1.x; reading it like the 1.x format",
        "pin map line 5: unknown element <Future> in PinMap ignored",
        "pin map line 6: unexpected <Odd> inside <DUTPin> ignored",
        "pin map line 6: unknown element <Weird> in <Pins> ignored",
    )
    assert [p.name for p in pin_map.pins] == ["A"]


@pytest.mark.parametrize(
    ("root", "message"),
    [
        (NS, "pin map line 2: PinMap is missing attribute 'schemaVersion'"),
        (f'{NS} schemaVersion="one"', "pin map line 2: PinMap has a malformed schemaVersion='one'"),
    ],
)
def test_schema_version_is_required_and_well_formed(root: str, message: str) -> None:
    with pytest.raises(PinMapParseError) as caught:
        load_pinmap(_minimal("<Sites/>", root=root))
    assert caught.value.problems == (message,)


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2", "1.4", "1.5", "1.6", "1.7", "1.9"])
def test_every_1x_schema_version_reads_alike(version: str) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        'schemaVersion="1.6"', f'schemaVersion="{version}"'
    )
    pin_map = load_pinmap(text)
    assert pin_map.schema_version == version
    assert pin_map.resolve() == load_pinmap(EXAMPLE.read_bytes()).resolve()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", (0,)),
        ("0,1", (0, 1)),
        (" 3 , 1 ", (3, 1)),
    ],
)
def test_site_lists(text: str, expected: tuple[int, ...]) -> None:
    assert parse_site_list(text) == expected


@pytest.mark.parametrize("text", ["", "a", "0,", "-1", "1,1", "0;1", "1234567890"])
def test_malformed_site_lists(text: str) -> None:
    with pytest.raises(NumberSyntaxError):
        parse_site_list(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0,1,3", (0, 1, 3)),
        ("0-3", (0, 1, 2, 3)),
        ("0:3", (0, 1, 2, 3)),
        ("0:1,3", (0, 1, 3)),
        (" 5 - 6 , 2", (5, 6, 2)),
        ("7", (7,)),
    ],
)
def test_channel_ranges(text: str, expected: tuple[int, ...]) -> None:
    assert parse_channel_ranges(text, 8) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3-1", "runs backwards"),
        ("0-8", "channel 8 is out of range"),
        ("0,0", "lists channel 0 twice"),
        ("0-2,1", "lists channel 1 twice"),
        ("x", "not a channel number or range"),
        ("", "not a channel number or range"),
        ("0-", "not a channel number or range"),
    ],
)
def test_malformed_channel_ranges(text: str, message: str) -> None:
    with pytest.raises(NumberSyntaxError, match=message):
        parse_channel_ranges(text, 8)


def test_children_of_connections_are_warned_about() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        '<Connection pin="VDD" siteNumber="0" instrument="SMU1" channel="0" />',
        '<Connection pin="VDD" siteNumber="0" instrument="SMU1" channel="0"><Odd/></Connection>',
    )
    pin_map = load_pinmap(text)
    assert pin_map.warnings == ("pin map line 86: unexpected <Odd> inside <Connection> ignored",)
    assert pin_map.resolve() == load_pinmap(EXAMPLE.read_bytes()).resolve()


TRICKY = (
    b"<r>\n<a\n x=\"1>\n2\"\n y='>'/>\n<!-- <fake/>\n -->\n<![CDATA[ <no/>\n ]]><b/>\r<c/>\r\n"
    b'<?pi <x/>\n?><d/><e\n/>\n<f a="&gt;"\n>text</f></r>'
)


@pytest.mark.parametrize(
    "document",
    [
        TRICKY,
        EXAMPLE.read_bytes(),
        (Path(__file__).resolve().parents[3] / "tests/data/legacy_tolerant.pinmap").read_bytes(),
        (
            Path(__file__).resolve().parents[3] / "tests/data/pinmap_invalid/every_problem.pinmap"
        ).read_bytes(),
    ],
)
def test_line_map_agrees_with_libxml2_sourceline(document: bytes) -> None:
    expected = [
        element.sourceline
        for _, element in etree.iterparse(
            io.BytesIO(document), events=("start",), remove_comments=True, remove_pis=True
        )
    ]
    line_map = LineMap(document)
    assert [line_map.line(ordinal) for ordinal in range(1, len(expected) + 1)] == expected
    assert line_map.lines([3, 1, 3]) == {1: expected[0], 3: expected[2]}
