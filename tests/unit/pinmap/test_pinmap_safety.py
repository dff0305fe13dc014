"""Hostile and oversized input: refused quickly, never expanded, never fetched."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pinbroker.errors import PinMapParseError, PinMapTooLargeError
from pinbroker.pinmap import DEFAULT_LIMITS, ParseLimits, load_pinmap, load_pinmap_file
from pinbroker.pinmap._parser import parse_pinmap

DATA = Path(__file__).resolve().parents[3] / "tests" / "data"
HOSTILE = DATA / "pinmap_hostile"
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "two_site.pinmap"

DTD_REFUSED = "DTDs are not allowed in pin maps"


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("billion_laughs.pinmap", 2),
        ("xxe_file.pinmap", 2),
        ("xxe_http.pinmap", 3),
        ("doctype_plain.pinmap", 5),
        ("doctype_utf16.pinmap", 2),
    ],
)
def test_any_doctype_is_refused_with_its_line(name: str, line: int) -> None:
    with pytest.raises(PinMapParseError) as caught:
        load_pinmap_file(HOSTILE / name)
    assert DTD_REFUSED in str(caught.value)
    assert caught.value.line == line
    assert caught.value.source == str(HOSTILE / name)
    assert caught.value.problems[0].startswith(f"pin map line {line}: {DTD_REFUSED}")


def test_external_entities_are_never_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the pin map loader opened a network connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    for name in ("xxe_http.pinmap", "xxe_file.pinmap"):
        with pytest.raises(PinMapParseError, match=DTD_REFUSED):
            load_pinmap_file(HOSTILE / name)


def test_the_parser_refuses_a_dtd_even_if_the_prolog_scan_is_bypassed() -> None:
    data = (HOSTILE / "billion_laughs.pinmap").read_bytes()
    with pytest.raises(PinMapParseError, match=DTD_REFUSED) as caught:
        parse_pinmap(data, DEFAULT_LIMITS, "direct")
    assert caught.value.line == 2
    assert "lol" not in str(caught.value)


def test_doctype_in_a_str_is_refused() -> None:
    text = (HOSTILE / "xxe_file.pinmap").read_text(encoding="utf-8")
    with pytest.raises(PinMapParseError, match=DTD_REFUSED):
        load_pinmap(text)


def test_too_deep_nesting_names_the_limit() -> None:
    with pytest.raises(PinMapTooLargeError, match="max_depth=64") as caught:
        load_pinmap_file(HOSTILE / "too_deep.pinmap")
    assert "line 5" in str(caught.value)
    assert str(HOSTILE / "too_deep.pinmap") in str(caught.value)


def test_depth_limit_is_configurable() -> None:
    data = EXAMPLE.read_bytes()
    load_pinmap(data, limits=ParseLimits(max_depth=4))
    with pytest.raises(PinMapTooLargeError, match="max_depth=3"):
        load_pinmap(data, limits=ParseLimits(max_depth=3))


def test_too_many_bytes_names_the_limit() -> None:
    data = EXAMPLE.read_bytes()
    limits = ParseLimits(max_bytes=len(data) - 1)
    with pytest.raises(PinMapTooLargeError, match=f"max_bytes={len(data) - 1}"):
        load_pinmap(data, limits=limits)
    with pytest.raises(PinMapTooLargeError, match="max_bytes"):
        load_pinmap(data.decode("utf-8"), limits=limits)
    with pytest.raises(PinMapTooLargeError, match=f"{EXAMPLE}: pin map is {len(data)} bytes"):
        load_pinmap_file(EXAMPLE, limits=limits)
    load_pinmap(data, limits=ParseLimits(max_bytes=len(data)))


def test_too_many_elements_names_the_limit() -> None:
    data = EXAMPLE.read_bytes()
    count = data.count(b"<") - data.count(b"</") - data.count(b"<?") - data.count(b"<!--")
    load_pinmap(data, limits=ParseLimits(max_elements=count))
    with pytest.raises(PinMapTooLargeError, match=f"max_elements={count - 1}"):
        load_pinmap(data, limits=ParseLimits(max_elements=count - 1))


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        ParseLimits(max_depth=0)


@pytest.mark.parametrize(
    ("xml", "line", "fragment"),
    [
        (b"", 1, "no root element"),
        (b"\xef\xbb\xbf  \n", 2, "no root element"),
        (b'<PinMap schemaVersion="1.6">\n<Pins>\n</Pinz></PinMap>', 3, "malformed XML"),
        (b'<PinMap schemaVersion="1.6">\n<Pins>\n', 3, "malformed XML"),
        (b'<PinMap schemaVersion="1.6">\n<Pins a="&undefined;"/></PinMap>', 2, "undefined"),
        (b'<PinMap schemaVersion="1.6"><Pins/></PinMap>\n<PinMap/>', 2, "malformed XML"),
    ],
)
def test_malformed_xml_reports_the_line(xml: bytes, line: int, fragment: str) -> None:
    with pytest.raises(PinMapParseError) as caught:
        load_pinmap(xml)
    assert caught.value.line == line
    assert fragment in str(caught.value)


def test_wrong_root_element_is_refused() -> None:
    with pytest.raises(PinMapParseError, match=r"root element is <Pins>, expected <PinMap>"):
        load_pinmap(b'<?xml version="1.0"?>\n<Pins/>')
    with pytest.raises(PinMapParseError, match="expected <PinMap>"):
        load_pinmap(b'<PinMap xmlns="urn:other" schemaVersion="1.6"/>')


def test_utf16_and_str_input_load_like_utf8_bytes() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    expected = load_pinmap(EXAMPLE.read_bytes()).resolve()
    utf16 = text.replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")
    assert load_pinmap(utf16).resolve() == expected
    assert load_pinmap(text).resolve() == expected
    assert load_pinmap("\ufeff" + text).resolve() == expected
    assert load_pinmap(b"\xef\xbb\xbf" + EXAMPLE.read_bytes()).resolve() == expected


ROOT = (
    '<PinMap xmlns="http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd" '
    'schemaVersion="1.6">'
)


def test_an_element_bomb_is_refused_before_parsing() -> None:
    limits = ParseLimits(max_elements=1000)
    xml = ROOT + "<Junk>" + "<x/>" * 1000 + "</Junk></PinMap>"
    with pytest.raises(
        PinMapTooLargeError, match=r"about 1002 elements, more than max_elements=1000"
    ):
        load_pinmap(xml, limits=limits)
    commented = ROOT + "<!-- <x/> </x> -->" * 2000 + "<Sites/></PinMap>"
    assert load_pinmap(commented, limits=limits).sites == ()


def test_a_flood_of_unknown_elements_keeps_a_bounded_number_of_warnings() -> None:
    pin_map = load_pinmap(ROOT + "<Pins>" + "<x/>" * 5000 + '<DUTPin name="A"/></Pins></PinMap>')
    assert len(pin_map.warnings) == 101
    assert pin_map.warnings[0] == "pin map line 1: unknown element <x> in <Pins> ignored"
    assert pin_map.warnings[-1] == "pin map: 4900 more warnings like these are not listed"
    assert [pin.name for pin in pin_map.pins] == ["A"]


def test_a_flood_of_problems_lists_a_bounded_number() -> None:
    rows = "".join(
        f'<Connection pin="A" siteNumber="0" instrument="NOPE" channel="{i}"/>\n'
        for i in range(10_005)
    )
    xml = (
        ROOT + '\n<Pins><DUTPin name="A"/></Pins><Sites><Site siteNumber="0"/></Sites>\n'
        f"<Connections>\n{rows}</Connections></PinMap>"
    )
    with pytest.raises(PinMapParseError) as caught:
        load_pinmap(xml)
    problems = caught.value.problems
    assert len(problems) == 10_001
    assert problems[0] == "pin map line 4: Connection refers to unknown instrument 'NOPE'"
    assert problems[-1] == "pin map: 5 more problems are not listed"
