"""Fuzzing the pin map loader: it loads or raises its own errors -- never anything else.

Inputs are (1) pin maps we wrote (generated ones, ``tests/data/*.pinmap``,
``examples/*.pinmap``) and, when ``../shared/pinmaps`` is present, a sample of NI's public pin
maps, mutated by byte flips, deletions, insertions of XML-significant fragments, truncations,
duplicated lines and attribute value swaps/replacements; and (2) random element trees built from
the pin map vocabulary (right and wrong sections, known and unknown tags and attributes, odd
values). Each must either load -- and then resolve without error -- or raise
``PinMapParseError`` / ``PinMapTooLargeError``, whether given as bytes or as text, with default
or tiny size limits.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
from benchmarks.pinmap_gen import PinMapSpec, generate_pinmap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from pinbroker.errors import PinbrokerError, PinMapParseError, PinMapTooLargeError
from pinbroker.pinmap import DEFAULT_LIMITS, ParseLimits, PinMap, load_pinmap

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO.parent / "shared" / "pinmaps"
CORPUS_SAMPLE = 24
NAMESPACE = "http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd"

FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _own_pin_maps() -> list[tuple[str, bytes]]:
    seeds = [
        (f"generated {spec}", generate_pinmap(spec).xml_bytes)
        for spec in (
            PinMapSpec(pins=8, sites=2),
            PinMapSpec(pins=4, sites=3, share_instruments=False),
            PinMapSpec(pins=1, sites=1, system_pins=0, site_relays=0, system_relays=0),
        )
    ]
    for folder in (REPO / "tests" / "data", REPO / "examples"):
        seeds += [
            (str(p.relative_to(REPO)), p.read_bytes()) for p in sorted(folder.glob("*.pinmap"))
        ]
    return seeds


def _corpus_sample() -> list[tuple[str, bytes]]:
    if not CORPUS.is_dir():
        return []
    files = sorted(CORPUS.glob("*.pinmap"))
    step = max(1, len(files) // CORPUS_SAMPLE)
    return [(p.name, p.read_bytes()) for p in files[::step][:CORPUS_SAMPLE]]


OWN = _own_pin_maps()
SAMPLE = _corpus_sample()

FRAGMENTS = [
    b"<",
    b">",
    b"/>",
    b'"',
    b"'",
    b"=",
    b"&",
    b"&amp;",
    b"&#0;",
    b"&#x110000;",
    b"&undefined;",
    b"<![CDATA[x]]>",
    b"<?pi data?>",
    b"<!-- c -->",
    b"<!DOCTYPE PinMap>",
    b'<!DOCTYPE PinMap [<!ENTITY a "aaaaaaaa">]>',
    b'<!ENTITY e SYSTEM "file:///etc/passwd">',
    b"&e;",
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xc3\x28",
    b"\xe2\x80\x93",
    b"\r\n",
    b'<Connection pin="X" siteNumber="0" instrument="Y" channel="0"/>',
    b'<DUTPin name="DIO0000"/>',
    b'<Site siteNumber="0"/>',
    b'<ChannelGroup name="G" channels="0-99999"/>',
    b'<PinReference pin="AllDutPins"/>',
    b'xmlns="urn:other"',
    b'xmlns:p="urn:p" p:name="x"',
]
ODD_VALUES = [
    "",
    " ",
    "-1",
    "0",
    "1",
    "999999999",
    "99999999999999999999",
    "0-",
    "5-1",
    "1:0",
    "0,0",
    "0,,1",
    "a,b",
    " 3 ",
    "1.5",
    "1e3",
    "\u2013",
    "K999",
    "port1",
    "AllDutPins",
    "DIO0000",
    "SMU_00000",
    "Open",
    "Half",
    "\U0001f600",
]
ATTRIBUTE = re.compile(rb'="([^"<&]*)"')


@st.composite
def mutated(draw: st.DrawFn, seeds: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    name, original = draw(st.sampled_from(seeds))
    data = bytearray(original)
    operations = draw(st.lists(st.integers(0, 6), min_size=1, max_size=6))
    for operation in operations:
        size = len(data)
        at = draw(st.integers(0, max(0, size)))
        if operation == 0 and size:  # flip a bit
            index = min(at, size - 1)
            data[index] ^= 1 << draw(st.integers(0, 7))
        elif operation == 1:  # delete a run
            del data[at : at + draw(st.integers(1, 64))]
        elif operation == 2:  # insert a fragment or random bytes
            piece = draw(st.one_of(st.sampled_from(FRAGMENTS), st.binary(min_size=1, max_size=16)))
            data[at:at] = piece
        elif operation == 3:  # truncate
            del data[at:]
        elif operation == 4:  # duplicate a line
            start = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at)
            line = bytes(data[start : end + 1 if end >= 0 else size])
            data[start:start] = line
        else:  # swap two attribute values, or replace one with an odd value
            values = list(ATTRIBUTE.finditer(bytes(data)))
            if not values:
                continue
            first = draw(st.sampled_from(values))
            if operation == 5:
                second = draw(st.sampled_from(values))
                a, b = sorted((first, second), key=lambda m: m.start(1))
                if a.start(1) == b.start(1):
                    continue
                data[b.start(1) : b.end(1)] = a.group(1)
                data[a.start(1) : a.end(1)] = b.group(1)
            else:
                odd = draw(st.sampled_from(ODD_VALUES)).encode("utf-8")
                data[first.start(1) : first.end(1)] = odd
    return f"{name} after {operations}", bytes(data)


LIMITS = st.one_of(
    st.just(DEFAULT_LIMITS),
    st.builds(
        ParseLimits,
        max_bytes=st.integers(1, 4096),
        max_depth=st.integers(1, 8),
        max_elements=st.integers(1, 200),
    ),
)


def _check_loads_or_fails_cleanly(data: bytes | str, limits: ParseLimits) -> PinMap | None:
    """Load ``data``; return the pin map, or None after checking the loader's own error."""
    error: PinbrokerError | None = None
    try:
        pin_map = load_pinmap(data, source="fuzz", limits=limits)
    except (PinMapParseError, PinMapTooLargeError) as exc:
        error = exc
    if error is not None:
        assert str(error)
        if isinstance(error, PinMapParseError):
            assert error.line is None or error.line >= 1
            assert error.problems
        return None
    # Whatever loads can be resolved (all sites, all names) without an unexpected exception;
    # a documented request error (e.g. mixed DAQmx task types) is a PinbrokerError.
    with contextlib.suppress(PinbrokerError):
        pin_map.resolve()
    return pin_map


def _both_forms(data: bytes, limits: ParseLimits) -> None:
    _check_loads_or_fails_cleanly(data, limits)
    # The server hands the parser text: decode as it would arrive (lone surrogates included).
    _check_loads_or_fails_cleanly(data.decode("utf-8", errors="surrogateescape"), limits)


def test_the_seed_pin_maps_load() -> None:
    """The fuzzer starts from valid maps (else it would only test the first error path)."""
    for name, data in OWN:
        assert isinstance(load_pinmap(data, source=name), PinMap), name


@FUZZ
@given(case=mutated(OWN), limits=LIMITS)
def test_mutated_own_pin_maps(case: tuple[str, bytes], limits: ParseLimits) -> None:
    _both_forms(case[1], limits)


@pytest.mark.corpus
@pytest.mark.skipif(not SAMPLE, reason=f"NI pin map corpus not available ({CORPUS})")
@FUZZ
@given(case=mutated(SAMPLE or [("none", b"")]), limits=LIMITS)
def test_mutated_corpus_pin_maps(case: tuple[str, bytes], limits: ParseLimits) -> None:
    _both_forms(case[1], limits)


# ---------------------------------------------------------------------------- random trees

SECTIONS = [
    "Instruments",
    "Pins",
    "PinGroups",
    "Relays",
    "RelayGroups",
    "RelayConfigurations",
    "Sites",
    "Connections",
]
ITEMS = [
    "NIDCPowerInstrument",
    "NIDigitalPatternInstrument",
    "NIScopeInstrument",
    "NIDmmInstrument",
    "NIFGenInstrument",
    "NIDAQmxTask",
    "NIRelayDriverModule",
    "NIRFPMInstrument",
    "NIModelBasedInstrument",
    "Instrument",
    "Multiplexer",
    "ChannelGroup",
    "Channel",
    "DUTPin",
    "SystemPin",
    "PinGroup",
    "PinReference",
    "SiteRelay",
    "SystemRelay",
    "RelayGroup",
    "RelayReference",
    "RelayConfiguration",
    "RelayPosition",
    "Site",
    "Connection",
    "SystemConnection",
    "MultiplexedConnection",
    "MultiplexedDUTPinRoute",
    "RelayConnection",
    "SystemRelayConnection",
    "Resource",
    "UserData",
    "Unknown",
]
ATTRIBUTES = [
    "name",
    "numberOfChannels",
    "numberOfControlLines",
    "group",
    "channels",
    "id",
    "instrumentTypeId",
    "multiplexerTypeId",
    "taskType",
    "channelList",
    "pin",
    "relay",
    "siteNumber",
    "instrument",
    "channel",
    "multiplexer",
    "routeName",
    "relayDriverModule",
    "controlLine",
    "position",
    "portsList",
    "schemaVersion",
    "other",
]
NAMES = ["A", "B", "C", "G", "K0", "SMU1", "HSD1", "MUX1", "RLY1", "Dev1/ai0"]
XML_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), max_codepoint=0x2FFF),
    max_size=12,
)
VALUES = st.one_of(st.sampled_from(NAMES), st.sampled_from(ODD_VALUES), XML_TEXT)


def _tag(local: str, namespaced: bool) -> str:
    return f"{{{NAMESPACE}}}{local}" if namespaced else local


@st.composite
def element(draw: st.DrawFn, depth: int) -> etree._Element:
    tag = draw(st.sampled_from(ITEMS))
    node = etree.Element(_tag(tag, draw(st.booleans())))
    for key in draw(st.lists(st.sampled_from(ATTRIBUTES), max_size=5, unique=True)):
        node.set(key, draw(VALUES))
    if depth > 0:
        for child in draw(st.lists(element(depth - 1), max_size=2)):
            node.append(child)
    return node


@st.composite
def pin_map_tree(draw: st.DrawFn) -> bytes:
    root_tag = draw(st.sampled_from(["PinMap", "PinMap", "PinMap", "Pins", "Other"]))
    root = etree.Element(_tag(root_tag, draw(st.booleans())), nsmap={None: NAMESPACE})
    if draw(st.booleans()):
        root.set("schemaVersion", draw(st.sampled_from(["1.6", "1.0", "2.0", "x", ""])))
    for section in draw(st.lists(st.sampled_from([*SECTIONS, "Junk"]), max_size=6)):
        node = etree.SubElement(root, _tag(section, draw(st.booleans())))
        for child in draw(st.lists(element(1), max_size=4)):
            node.append(child)
        if draw(st.booleans()):
            node.text = draw(XML_TEXT)
    data: bytes = etree.tostring(root, xml_declaration=draw(st.booleans()), encoding="utf-8")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data


@settings(FUZZ, max_examples=150)
@given(data=pin_map_tree(), limits=LIMITS)
def test_random_element_trees(data: bytes, limits: ParseLimits) -> None:
    _both_forms(data, limits)


def test_a_valid_tree_built_like_the_random_ones_loads() -> None:
    """Namespaced tags and nsmap as the random trees use them are what a real pin map has."""
    root = etree.Element(_tag("PinMap", True), nsmap={None: NAMESPACE}, schemaVersion="1.6")
    instruments = etree.SubElement(root, _tag("Instruments", True))
    etree.SubElement(instruments, _tag("NIDmmInstrument", True), name="DMM1")
    pins = etree.SubElement(root, _tag("Pins", True))
    etree.SubElement(pins, _tag("DUTPin", True), name="A")
    sites = etree.SubElement(root, _tag("Sites", True))
    etree.SubElement(sites, _tag("Site", True), siteNumber="0")
    connections = etree.SubElement(root, _tag("Connections", True))
    etree.SubElement(
        connections,
        _tag("Connection", True),
        pin="A",
        siteNumber="0",
        instrument="DMM1",
        channel="0",
    )
    pin_map = _check_loads_or_fails_cleanly(etree.tostring(root), DEFAULT_LIMITS)
    assert pin_map is not None
    assert [s.resource_name for s in pin_map.resolve().sessions] == ["DMM1"]
