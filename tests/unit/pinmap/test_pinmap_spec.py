"""session-mapping.md, rule by rule, on the NI pin maps it cites (skipped without the corpus).

Expected values are the ones NI's own tests assert against the real services (ITR, ASM, I-x,
A-x in the spec's abbreviations) or, where the spec marks a rule [I], this project's decision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    RelayGroupDefinition,
    Resolution,
    load_pinmap_file,
)
from pinbroker.types import SITE_SYSTEM, SessionNaming

pytestmark = pytest.mark.corpus

Loader = Callable[[str], PinMap]
RESOURCE = SessionNaming.RESOURCE

PIN_MAP_A = "PinMapA_3Instruments_3DutPins_2SystemPins_2Sites"
PIN_MAP_B = "PinMapB_3Instruments_3DutPins_2SystemPins_2Sites_SharedPins"
PIN_MAP_C = "PinMapC_MultipleInstrumentsPinsRelaysAndSites"
PIN_MAP_D = "PinMapD_3Instruments_4DutPins_2Sites_2Multiplexers"
A_DCPOWER = "DCPower1/0, DCPower1/1, DCPower1/2, DCPower1/3, DCPower2/1"
B_DCPOWER = "DCPower1/0, DCPower1/2, DCPower2/1"
D_DCPOWER = "DCPower1/0, DCPower1/1, DCPower1/3, DCPower2/2"


def subsets(resolution: Resolution) -> set[tuple[str, int, str, str, str, str]]:
    """(pin, site, resource, channel, multiplexer, route) of every mapping, like NI's tests."""
    return {
        (
            m.pin_or_relay_name,
            m.site,
            s.resource_name,
            m.channel,
            m.multiplexer_resource_name,
            m.multiplexer_route,
        )
        for s in resolution.sessions
        for m in s.channel_mappings
    }


def summary(resolution: Resolution) -> list[tuple[str, str, str]]:
    return [(s.session_name, s.resource_name, s.channel_list) for s in resolution.sessions]


def mapping_count(resolution: Resolution) -> int:
    return sum(len(s.channel_mappings) for s in resolution.sessions)


# (a) resolving pins/relays and sites --------------------------------------------------------


def test_a1_one_mapping_per_connection_and_system_pins_at_site_minus_one(ni_map: Loader) -> None:
    resolution = ni_map(PIN_MAP_A).resolve(sites=[0, 1], names=["A", "B", "C", "S1", "S2"])
    assert subsets(resolution) == {
        ("A", 0, A_DCPOWER, "DCPower1/0", "", ""),
        ("B", 0, A_DCPOWER, "DCPower1/2", "", ""),
        ("C", 0, "SCOPE1", "0", "", ""),
        ("A", 1, A_DCPOWER, "DCPower1/1", "", ""),
        ("B", 1, A_DCPOWER, "DCPower2/1", "", ""),
        ("C", 1, "SCOPE1", "1", "", ""),
        ("S1", SITE_SYSTEM, A_DCPOWER, "DCPower1/3", "", ""),
        ("S2", SITE_SYSTEM, "SCOPE1", "3", "", ""),
    }
    assert mapping_count(resolution) == 8


def test_a2_groups_are_flattened_and_covered_names_add_nothing(ni_map: Loader) -> None:
    pin_map = ni_map(PIN_MAP_C)
    nested = pin_map.resolve(sites=[0, 1], names=["PinGroup2"])
    assert subsets(nested) == {
        ("A", 0, B_DCPOWER, "DCPower1/0", "", ""),
        ("C", 0, "SCOPE1", "2", "", ""),
        ("A", 1, B_DCPOWER, "DCPower1/0", "", ""),
        ("C", 1, "SCOPE1", "2", "", ""),
        ("S1", SITE_SYSTEM, "SCOPE1", "1", "", ""),
    }
    both = pin_map.resolve(sites=[0], names=["PinGroup1", "PinGroup2", "A", "S1"])
    assert mapping_count(both) == 3  # A/0, C/0, S1/-1: nothing twice
    relays = pin_map.resolve(sites=[0], names=["RelayGroup1", "RelayGroup2"])
    assert subsets(relays) == {
        ("RelayUsingSameDriver", 0, "RelayDriver1", "K0", "", ""),
        ("RelayUsingDifferentDrivers", 0, "RelayDriver1", "K10", "", ""),
        ("SystemRelay", SITE_SYSTEM, "RelayDriver1", "K60", "", ""),
    }


def test_a2_pins_and_relays_may_be_mixed(ni_map: Loader) -> None:
    resolution = ni_map(PIN_MAP_C).resolve(sites=[1], names=["B", "RelayUsingSameDriver"])
    assert subsets(resolution) == {
        ("B", 1, B_DCPOWER, "DCPower2/1", "", ""),
        ("RelayUsingSameDriver", 1, "RelayDriver1", "K1", "", ""),
    }


def test_a3_unknown_name_is_invalid_argument(ni_map: Loader) -> None:
    with pytest.raises(UnknownPinOrRelayError) as caught:
        ni_map(PIN_MAP_A).resolve(names=["A", "NoSuchPin"])
    assert caught.value.name == "NoSuchPin"
    assert caught.value.status == "INVALID_ARGUMENT"


def test_a4_no_names_means_every_pin_then_every_relay(ni_map: Loader) -> None:
    everything = ni_map(PIN_MAP_C).resolve(sites=[0])
    named = ni_map(PIN_MAP_C).resolve(
        sites=[0],
        names=[
            "A",
            "B",
            "S1",
            "S2",
            "C",
            "RelayUsingSameDriver",
            "RelayUsingDifferentDrivers",
            "SystemRelay",
        ],
    )
    assert everything == named
    assert {m.pin_or_relay_name for s in everything.sessions for m in s.channel_mappings} == {
        "A",
        "B",
        "C",
        "S1",
        "S2",
        "RelayUsingSameDriver",
        "RelayUsingDifferentDrivers",
        "SystemRelay",
    }
    assert everything.group_mappings == {}


def test_a5_no_sites_means_every_site(ni_map: Loader) -> None:
    pin_map = ni_map(PIN_MAP_A)
    assert pin_map.resolve() == pin_map.resolve(sites=[0, 1])


def test_a6_system_pins_and_relays_come_whatever_the_sites(ni_map: Loader) -> None:
    for site in (0, 1):
        resolution = ni_map(PIN_MAP_B).resolve(sites=[site])
        assert subsets(resolution) == {
            ("A", site, B_DCPOWER, "DCPower1/0", "", ""),
            ("B", site, B_DCPOWER, "DCPower2/1", "", ""),
            ("C", site, "SCOPE1", "2", "", ""),
            ("S1", SITE_SYSTEM, "SCOPE1", "1", "", ""),
            ("S2", SITE_SYSTEM, B_DCPOWER, "DCPower1/2", "", ""),
        }
    relays = ni_map(PIN_MAP_C).resolve(sites=[1], instrument_type_id="niRelayDriver")
    assert subsets(relays) == {
        ("RelayUsingDifferentDrivers", 1, "RelayDriver2", "K10", "", ""),
        ("RelayUsingSameDriver", 1, "RelayDriver1", "K1", "", ""),
        ("SystemRelay", SITE_SYSTEM, "RelayDriver1", "K60", "", ""),
    }


def test_a7_shared_pins_map_once_per_requested_site(ni_map: Loader) -> None:
    resolution = ni_map(PIN_MAP_B).resolve(sites=[0, 1], names=["A", "B", "C", "S1", "S2"])
    assert subsets(resolution) == {
        ("A", 0, B_DCPOWER, "DCPower1/0", "", ""),
        ("B", 0, B_DCPOWER, "DCPower2/1", "", ""),
        ("C", 0, "SCOPE1", "2", "", ""),
        ("A", 1, B_DCPOWER, "DCPower1/0", "", ""),
        ("B", 1, B_DCPOWER, "DCPower2/1", "", ""),
        ("C", 1, "SCOPE1", "2", "", ""),
        ("S1", SITE_SYSTEM, "SCOPE1", "1", "", ""),
        ("S2", SITE_SYSTEM, B_DCPOWER, "DCPower1/2", "", ""),
    }
    (dcpower, _scope) = resolution.sessions
    assert dcpower.channel_list == "DCPower1/0, DCPower2/1, DCPower1/2"


def test_a8_instrument_type_filter(ni_map: Loader) -> None:
    pin_map = ni_map(PIN_MAP_A)
    dcpower = pin_map.resolve(sites=[0, 1], instrument_type_id="niDCPower")
    assert subsets(dcpower) == {
        ("A", 0, A_DCPOWER, "DCPower1/0", "", ""),
        ("B", 0, A_DCPOWER, "DCPower1/2", "", ""),
        ("A", 1, A_DCPOWER, "DCPower1/1", "", ""),
        ("B", 1, A_DCPOWER, "DCPower2/1", "", ""),
        ("S1", SITE_SYSTEM, A_DCPOWER, "DCPower1/3", "", ""),
    }
    scope = pin_map.resolve(sites=[0, 1], instrument_type_id="niScope")
    assert subsets(scope) == {
        ("C", 0, "SCOPE1", "0", "", ""),
        ("C", 1, "SCOPE1", "1", "", ""),
        ("S2", SITE_SYSTEM, "SCOPE1", "3", "", ""),
    }
    assert pin_map.resolve(instrument_type_id="niDMM").sessions == ()


def test_a9_group_mappings_for_requested_groups_only(ni_map: Loader) -> None:
    pin_map = ni_map(PIN_MAP_C)
    assert pin_map.resolve(names=["PinGroup1"]).group_mappings == {"PinGroup1": ("A", "S1")}
    assert pin_map.resolve(names=["A", "S1"]).group_mappings == {}
    nested = pin_map.resolve(names=["PinGroup2", "RelayGroup2", "B"])
    assert nested.group_mappings == {
        "PinGroup2": ("C", "A", "S1"),
        "RelayGroup2": ("RelayUsingSameDriver", "SystemRelay", "RelayUsingDifferentDrivers"),
    }


def test_a10_a_session_comes_only_with_a_selected_mapping(ni_map: Loader) -> None:
    pin1 = ni_map("1Smu2ChannelGroup2Pin1Site").resolve(sites=[0], names=["Pin1"])
    assert summary(pin1) == [("niDCPower-DCPower1/0", "DCPower1/0", "DCPower1/0")]
    site1 = ni_map("1Smu2ChannelGroup2Pin2Site").resolve(
        sites=[1], names=["Pin1", "Pin2"], naming=RESOURCE
    )
    assert summary(site1) == [
        ("DCPower1/2, DCPower1/3", "DCPower1/2, DCPower1/3", "DCPower1/2, DCPower1/3")
    ]


# (b) session formation per instrument type ---------------------------------------------------


def test_b_dcpower_resource_lists_every_connected_channel_of_the_group(ni_map: Loader) -> None:
    assert ni_map(PIN_MAP_A).resolve(names=["A"]).sessions[0].resource_name == A_DCPOWER
    only_group1 = ni_map(PIN_MAP_C).resolve(sites=[0, 1], names=["PinGroup1"])
    assert [s.resource_name for s in only_group1.sessions] == [B_DCPOWER, "SCOPE1"]
    assert ni_map(PIN_MAP_D).resolve(names=["C", "D"]).sessions[0].resource_name == D_DCPOWER
    (session,) = ni_map("1Smu1ChannelGroup2Pin2Site").resolve(sites=[0], names=["Pin1"]).sessions
    assert session.resource_name == "DCPower1/0, DCPower1/1, DCPower1/2, DCPower1/3"
    assert session.channel_list == "DCPower1/0"
    groups = ni_map("1Smu2ChannelGroup2Pin1Site").resolve(naming=RESOURCE)
    assert summary(groups) == [
        ("DCPower1/0", "DCPower1/0", "DCPower1/0"),
        ("DCPower1/2", "DCPower1/2", "DCPower1/2"),
    ]


# ASM configurations whose pin maps are in the corpus: (pin map, pins, sites, resource names
# = pre-Q3 session names, channel lists).
ASM = [
    ("2Fgen2Pin2Site", ["Pin1"], [0], ["FGEN1"], ["0"]),
    ("2Fgen2Pin2Site", ["Pin1", "Pin2"], [0], ["FGEN1"], ["0, 1"]),
    ("2Fgen2Pin2Site", ["Pin1", "Pin2"], [1], ["FGEN2"], ["0, 1"]),
    ("2Fgen2Pin2Site", ["Pin1", "Pin2"], [0, 1], ["FGEN1", "FGEN2"], ["0, 1", "0, 1"]),
    (
        "1Smu1ChannelGroup2Pin2Site",
        ["Pin1", "Pin2"],
        [0],
        ["DCPower1/0, DCPower1/1, DCPower1/2, DCPower1/3"],
        ["DCPower1/0, DCPower1/1"],
    ),
    (
        "1Smu1ChannelGroup2Pin2Site",
        ["Pin1"],
        [0, 1],
        ["DCPower1/0, DCPower1/1, DCPower1/2, DCPower1/3"],
        ["DCPower1/0, DCPower1/2"],
    ),
    (
        "1Smu1ChannelGroup2Pin2Site",
        ["Pin1", "Pin2"],
        [0, 1],
        ["DCPower1/0, DCPower1/1, DCPower1/2, DCPower1/3"],
        ["DCPower1/0, DCPower1/1, DCPower1/2, DCPower1/3"],
    ),
    ("1Smu2ChannelGroup2Pin2Site", ["Pin1"], [0], ["DCPower1/0, DCPower1/1"], ["DCPower1/0"]),
    (
        "1Smu2ChannelGroup2Pin2Site",
        ["Pin1", "Pin2"],
        [0, 1],
        ["DCPower1/0, DCPower1/1", "DCPower1/2, DCPower1/3"],
        ["DCPower1/0, DCPower1/1", "DCPower1/2, DCPower1/3"],
    ),
    ("2Smu2ChannelGroup2Pin2Site", ["Pin1"], [0], ["DCPower1/0, DCPower1/1"], ["DCPower1/0"]),
    (
        "2Smu2ChannelGroup2Pin2Site",
        ["Pin1", "Pin2"],
        [1],
        ["DCPower2/0, DCPower2/1"],
        ["DCPower2/0, DCPower2/1"],
    ),
    (
        "2Smu2ChannelGroup2Pin2Site",
        ["Pin1", "Pin2"],
        [0, 1],
        ["DCPower1/0, DCPower1/1", "DCPower2/0, DCPower2/1"],
        ["DCPower1/0, DCPower1/1", "DCPower2/0, DCPower2/1"],
    ),
]


@pytest.mark.parametrize(("pin_map", "pins", "sites", "resources", "channel_lists"), ASM)
def test_b_acceptance_configurations(
    ni_map: Loader,
    pin_map: str,
    pins: Sequence[str],
    sites: Sequence[int],
    resources: Sequence[str],
    channel_lists: Sequence[str],
) -> None:
    loaded = ni_map(pin_map)
    old = loaded.resolve(sites=sites, names=pins, naming=RESOURCE)
    assert [s.session_name for s in old.sessions] == resources
    assert [s.resource_name for s in old.sessions] == resources
    assert [s.channel_list for s in old.sessions] == channel_lists
    typed = loaded.resolve(sites=sites, names=pins)
    prefix = "niFGen" if pin_map.startswith("2Fgen") else "niDCPower"
    assert [s.session_name for s in typed.sessions] == [f"{prefix}-{r}" for r in resources]


def test_b_digital_pattern_sessions_by_group_with_site_pin_channels(ni_map: Loader) -> None:
    pin_map = ni_map("2Digital2Group4Pin1Site")
    (cs,) = pin_map.resolve(sites=[0], names=["CS"]).sessions
    assert (cs.session_name, cs.resource_name, cs.channel_list) == (
        "niDigitalPattern-DigitalPattern1",
        "DigitalPattern1",
        "site0/CS",
    )
    assert cs.channel_mappings == (ChannelMapping("CS", 0, "site0/CS"),)
    two = pin_map.resolve(sites=[0], names=["CS", "SCLK"], naming=RESOURCE)
    assert summary(two) == [("DigitalPattern1", "DigitalPattern1", "site0/CS, site0/SCLK")]
    sites = pin_map.resolve(sites=[0, 1], names=["CS", "SCLK"], naming=RESOURCE)
    assert [s.session_name for s in sites.sessions] == ["DigitalPattern1", "DigitalPattern2"]
    spec_example = pin_map.resolve(sites=[0], names=["CS", "SCLK", "MOSI", "MISO"])
    assert spec_example.sessions[0].channel_list == "site0/CS, site0/SCLK, site0/MOSI, site0/MISO"


def test_b_digital_instruments_sharing_a_group_share_one_session(ni_map: Loader) -> None:
    (session,) = ni_map("PinMap").resolve(names=["SPI_PINS"], naming=RESOURCE).sessions
    assert session.resource_name == "DigitalPattern1, DigitalPattern2"
    assert session.channel_list.startswith("site0/SCLK, site0/CS, site0/MOSI, site0/MISO, site1/")


def test_b_scope_sessions_by_group_with_plain_channels(ni_map: Loader) -> None:
    resolution = ni_map("2Scope2Pin2Group1Site").resolve(names=["Pin1", "Pin2"])
    assert summary(resolution) == [
        ("niScope-SCOPE1", "SCOPE1", "0"),
        ("niScope-SCOPE2", "SCOPE2", "0"),
    ]


def test_b_dmm_fgen_daqmx_relay_driver_and_custom_sessions(ni_map: Loader) -> None:
    assert summary(ni_map("2Dmm2Pin1Site").resolve()) == [
        ("niDMM-DMM1", "DMM1", "0"),
        ("niDMM-DMM2", "DMM2", "0"),
    ]
    assert summary(ni_map("2Fgen2Pin1Site").resolve(names=["Pin2"])) == [
        ("niFGen-FGEN2", "FGEN2", "0")
    ]
    daqmx = ni_map("2Mio2Pin1Site")
    for naming in SessionNaming:
        assert summary(daqmx.resolve(naming=naming)) == [
            ("Dev1", "Dev1", "Dev1/ai0"),
            ("Dev2", "Dev2", "Dev2/ai0"),
        ]
    assert summary(ni_map("1Daqmx2ChannelGroup2Pin1Site").resolve()) == [
        ("Dev1a", "Dev1a", "Dev1/ai0"),
        ("Dev1b", "Dev1b", "Dev1/ai2"),
    ]
    assert summary(ni_map("2Switch2Relay1Site").resolve()) == [
        ("niRelayDriver-RelayDriver1", "RelayDriver1", "K0"),
        ("niRelayDriver-RelayDriver2", "RelayDriver2", "K1"),
    ]
    assert summary(ni_map("NIVisaDmmMeasurement").resolve()) == [
        ("VisaDmm-GPIB0::3::INSTR", "GPIB0::3::INSTR", "0")
    ]
    visa = ni_map("NIVisaDmmMeasurement").resolve(naming=RESOURCE)
    assert visa.sessions[0].instrument_type_id == "VisaDmm"
    assert visa.sessions[0].session_name == "GPIB0::3::INSTR"


def test_b_typed_session_names_prefix_the_whole_resource_once(ni_map: Loader) -> None:
    resolution = ni_map(PIN_MAP_C).resolve(sites=[0, 1])
    assert [s.session_name for s in resolution.sessions] == [
        f"niDCPower-{B_DCPOWER}",
        "niScope-SCOPE1",
        "niRelayDriver-RelayDriver1",
        "niRelayDriver-RelayDriver2",
    ]
    assert [s.instrument_type_id for s in resolution.sessions] == [
        "niDCPower",
        "niScope",
        "niRelayDriver",
        "niRelayDriver",
    ]


# (c) ordering ---------------------------------------------------------------------------------


def test_c1_dcpower_resource_sorted_by_instrument_then_channel(ni_map: Loader) -> None:
    # PinMap A: system channel DCPower1/3 before DCPower2/1; PinMap D: the multiplexed
    # DCPower1/0, declared last, comes first.
    assert ni_map(PIN_MAP_A).resolve().sessions[0].resource_name == A_DCPOWER
    assert ni_map(PIN_MAP_D).resolve().sessions[0].resource_name == D_DCPOWER


def test_c2_sessions_in_declaration_order_of_their_first_instrument(ni_map: Loader) -> None:
    # PinMap A declares DCPower1, SCOPE1, DCPower2: the DCPower group comes first.
    assert [s.instrument_type_id for s in ni_map(PIN_MAP_A).resolve(names=["C", "B"]).sessions] == [
        "niDCPower",
        "niScope",
    ]
    fgen = ni_map("2Fgen2Pin2Site").resolve(sites=[1, 0], naming=RESOURCE)
    assert [s.session_name for s in fgen.sessions] == ["FGEN1", "FGEN2"]


def test_c3_channels_site_major_in_requested_site_order_system_last(ni_map: Loader) -> None:
    pin_map = ni_map("1Smu1ChannelGroup2Pin2Site")
    forward = pin_map.resolve(sites=[0, 1], names=["Pin1", "Pin2"]).sessions[0]
    assert forward.channel_list == "DCPower1/0, DCPower1/1, DCPower1/2, DCPower1/3"
    assert [(m.pin_or_relay_name, m.site) for m in forward.channel_mappings] == [
        ("Pin1", 0),
        ("Pin2", 0),
        ("Pin1", 1),
        ("Pin2", 1),
    ]
    backward = pin_map.resolve(sites=[1, 0], names=["Pin2", "Pin1"]).sessions[0]
    assert backward.channel_list == "DCPower1/3, DCPower1/2, DCPower1/1, DCPower1/0"
    system_last = ni_map(PIN_MAP_A).resolve(names=["S1", "A"]).sessions[0]
    assert [m.site for m in system_last.channel_mappings] == [0, 1, SITE_SYSTEM]


# (d) multiplexers -----------------------------------------------------------------------------


def test_d1_multiplexed_mappings_carry_multiplexer_and_unescaped_route(ni_map: Loader) -> None:
    resolution = ni_map(PIN_MAP_D).resolve(sites=[0, 1], names=["A", "B", "C", "D"])
    assert subsets(resolution) == {
        ("A", 0, D_DCPOWER, "DCPower1/0", "Multiplexer1", "C1->r0,C2->r0"),
        ("B", 0, D_DCPOWER, "DCPower1/0", "Multiplexer1", "C3->r0,C4->r0"),
        ("C", 0, "SCOPE1", "0", "", ""),
        ("D", 0, D_DCPOWER, "DCPower2/2", "Multiplexer2", "C3->r2,C4->r2"),
        ("A", 1, D_DCPOWER, "DCPower1/1", "", ""),
        ("B", 1, D_DCPOWER, "DCPower2/2", "Multiplexer2", "C1->r2,C2->r2"),
        ("C", 1, "SCOPE1", "1", "", ""),
        ("D", 1, D_DCPOWER, "DCPower1/3", "", ""),
    }
    direct = [
        m for s in resolution.sessions for m in s.channel_mappings if m.pin_or_relay_name == "C"
    ]
    assert all(m.multiplexer_type_id == "" for m in direct)


def test_d1_route_text_is_kept_verbatim(ni_map: Loader) -> None:
    (session,) = ni_map("1Smu2Multiplexer2Pin1Site").resolve(names=["Pin1"]).sessions
    assert session.channel_mappings == (
        ChannelMapping("Pin1", 0, "DCPower1/0", "Multiplexer2", "C1->r2, C2->r2", ""),
    )
    assert session.resource_name == "DCPower1/0, DCPower1/1"


def test_d2_routes_sharing_a_channel_are_separate_mappings(ni_map: Loader) -> None:
    (session,) = ni_map(PIN_MAP_D).resolve(sites=[0], names=["A", "B"]).sessions
    assert [(m.pin_or_relay_name, m.channel) for m in session.channel_mappings] == [
        ("A", "DCPower1/0"),
        ("B", "DCPower1/0"),
    ]
    assert session.channel_list == "DCPower1/0"


def test_d3_multiplexers_used_by_selected_mappings(ni_map: Loader) -> None:
    pin_map = ni_map("1Smu2Multiplexer2Pin1Site")
    assert pin_map.resolve(names=["Pin1"]).multiplexers == (
        MultiplexerResource("Multiplexer2", "Multiplexer2", ""),
    )
    assert pin_map.resolve(names=["Pin1", "Pin2"]).multiplexers == (
        MultiplexerResource("Multiplexer1", "Multiplexer1", ""),
        MultiplexerResource("Multiplexer2", "Multiplexer2", ""),
    )
    assert ni_map(PIN_MAP_D).resolve(names=["C"]).multiplexers == ()


def test_d4_multiplexers_of_the_pin_map_by_site_and_type(ni_map: Loader) -> None:
    pin_map = ni_map(PIN_MAP_D)
    both = (
        MultiplexerResource("Multiplexer1", "Multiplexer1", "MyMultiplexerType"),
        MultiplexerResource("Multiplexer2", "Multiplexer2", "MyMultiplexerType"),
    )
    assert pin_map.multiplexers() == both
    assert pin_map.multiplexers(sites=[0]) == both
    assert pin_map.multiplexers(sites=[1]) == both[1:]
    assert pin_map.multiplexers(multiplexer_type_id="MyMultiplexerType") == both
    assert pin_map.multiplexers(multiplexer_type_id="Other") == ()
    with pytest.raises(UnknownSiteError):
        pin_map.multiplexers(sites=[2])


def test_d5_mappings_carry_the_multiplexer_type_id(ni_map: Loader) -> None:
    resolution = ni_map(PIN_MAP_D).resolve(sites=[1], names=["B"])
    assert resolution.sessions[0].channel_mappings == (
        ChannelMapping("B", 1, "DCPower2/2", "Multiplexer2", "C1->r2,C2->r2", "MyMultiplexerType"),
    )


# (f) errors -----------------------------------------------------------------------------------


def test_f_undefined_site_is_invalid_argument(ni_map: Loader) -> None:
    with pytest.raises(UnknownSiteError) as caught:
        ni_map(PIN_MAP_A).resolve(sites=[0, 2])
    assert caught.value.site == 2
    assert caught.value.status == "INVALID_ARGUMENT"


# (g) Pin Map Service queries ------------------------------------------------------------------


def test_g_query_pins_with_groups_and_type_filter(ni_map: Loader) -> None:
    pin_map = ni_map(PIN_MAP_C)
    pins, groups = pin_map.query_pins()
    assert pins == (
        PinDefinition("A", False),
        PinDefinition("B", False),
        PinDefinition("S1", True),
        PinDefinition("S2", True),
        PinDefinition("C", False),
    )
    assert groups == (
        PinGroupDefinition("PinGroup1", ("A", "S1"), ("A", "S1")),
        PinGroupDefinition("PinGroup2", ("C", "PinGroup1"), ("C", "A", "S1")),
    )
    assert pin_map.query_pins("niDCPower") == (
        (PinDefinition("A", False), PinDefinition("B", False), PinDefinition("S2", True)),
        (),
    )
    assert pin_map.query_pins("niScope") == (
        (PinDefinition("S1", True), PinDefinition("C", False)),
        (),
    )
    assert pin_map.query_pins("niDMM") == ((), ())


def test_g_query_pins_lists_a_group_whose_pins_all_match(ni_map: Loader) -> None:
    pins, groups = ni_map("PinMap").query_pins("niDigitalPattern")
    assert [p.display_name for p in pins] == ["CS", "SCLK", "MOSI", "MISO"]
    assert groups == (
        PinGroupDefinition(
            "SPI_PINS", ("SCLK", "CS", "MOSI", "MISO"), ("SCLK", "CS", "MOSI", "MISO")
        ),
    )


def test_g_query_relays_with_nested_groups_and_type_filter(ni_map: Loader) -> None:
    pin_map = ni_map(PIN_MAP_C)
    relays, groups = pin_map.query_relays()
    assert relays == (
        RelayDefinition("RelayUsingSameDriver", False),
        RelayDefinition("RelayUsingDifferentDrivers", False),
        RelayDefinition("SystemRelay", True),
    )
    assert groups == (
        RelayGroupDefinition(
            "RelayGroup1",
            ("RelayUsingSameDriver", "SystemRelay"),
            ("RelayUsingSameDriver", "SystemRelay"),
        ),
        RelayGroupDefinition(
            "RelayGroup2",
            ("RelayGroup1", "RelayUsingDifferentDrivers"),
            ("RelayUsingSameDriver", "SystemRelay", "RelayUsingDifferentDrivers"),
        ),
    )
    assert pin_map.query_relays("niRelayDriver") == (relays, groups)
    assert pin_map.query_relays("niDCPower") == ((), ())


# Open questions: the project's decisions -------------------------------------------------------


def test_decision_2_cross_type_session_order_follows_declarations(ni_map: Loader) -> None:
    order = [s.instrument_type_id for s in ni_map(PIN_MAP_D).resolve().sessions]
    assert order == ["niDCPower", "niScope"]


def test_decision_8_unconnected_or_filtered_pins_give_no_mapping_and_no_error(
    ni_map: Loader,
) -> None:
    pin_map = ni_map(PIN_MAP_A)
    assert pin_map.resolve(names=["C"], instrument_type_id="niDCPower").sessions == ()
    assert pin_map.resolve(names=["C"], instrument_type_id="NoSuchType").sessions == ()


def test_decision_9_dcpower_without_channel_group_is_one_group_of_all_channels(
    corpus: Path,
) -> None:
    legacy = load_pinmap_file(corpus / "ni__nitsm-python__nidcpower_legacy.pinmap")
    assert summary(legacy.resolve(sites=[1])) == [
        ("niDCPower-DCPower1/0, DCPower1/1", "DCPower1/0, DCPower1/1", "DCPower1/1")
    ]


def test_decision_12_and_14_nested_group_values_and_repeated_sites(ni_map: Loader) -> None:
    pin_map = ni_map(PIN_MAP_C)
    assert pin_map.resolve(names=["PinGroup2"]).group_mappings["PinGroup2"] == ("C", "A", "S1")
    assert pin_map.resolve(sites=[0, 0, 1, 0]) == pin_map.resolve(sites=[0, 1])
