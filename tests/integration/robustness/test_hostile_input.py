"""Hostile pin maps through gRPC against a real server: refused quickly, server unharmed.

Each hostile ``UpdatePinMapFromXml`` must be answered with INVALID_ARGUMENT -- or
RESOURCE_EXHAUSTED where docs/design.md says so: above the 64 MiB message limit (gRPC itself)
and for the parser's own limits (``PinMapTooLargeError``) -- within ``ANSWER_BOUND`` seconds
(a generous robustness bound, not a benchmark), never leak what an entity pointed at, and leave
the server serving: afterwards a valid pin map loads and a reservation works.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable

import grpc
import pytest
from benchmarks.pinmap_gen import PinMapSpec, generate_pinmap
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2 as pm_pb
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2_grpc as pm_grpc

from ni_measurementlink_service.session_management import (
    PinMapContext,
    SessionManagementClient,
)
from pinbroker.errors import PinMapParseError, PinMapTooLargeError
from pinbroker.pinmap import DEFAULT_LIMITS, ParseLimits, load_pinmap
from pinbroker.server.app import DEFAULT_MAX_MESSAGE_BYTES, RunningServer

ANSWER_BOUND = 10.0
"""Seconds a hostile request may take to be answered. Generous on purpose: the worst honest case
(a million unknown elements) takes about 1.7 s alone on a 2-core machine and more while other
tests run, whereas what this guards against (entity expansion, quadratic work) takes minutes or
never ends. Speed itself is measured in ``benchmarks/``."""
NAMESPACE = "http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd"
ROOT = f'<PinMap xmlns="{NAMESPACE}" schemaVersion="1.6">'
VALID = generate_pinmap(PinMapSpec(pins=8, sites=2))
MB = 1_000_000

Call = Callable[[str], grpc.RpcError | None]


def _junk(size: int) -> str:
    """``size`` characters of random printable ASCII (no markup can start)."""
    table = bytes(range(0x21, 0x7F)).replace(b"<", b"").replace(b"&", b"")
    raw = os.urandom(size)
    return raw.translate(bytes(table[b % len(table)] for b in range(256))).decode("ascii")


def _billion_laughs() -> str:
    entities = ['<!ENTITY lol0 "lol">']
    entities += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE PinMap [\n  '
        + "\n  ".join(entities)
        + f'\n]>\n{ROOT}<Pins><DUTPin name="&lol9;"/></Pins></PinMap>'
    )


def _external_entity(uri: str) -> str:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE PinMap [<!ENTITY xxe SYSTEM "{uri}">]>\n'
        f'{ROOT}<Pins><DUTPin name="&xxe;"/></Pins><Sites><Site siteNumber="0"/></Sites>'
        "<Connections/></PinMap>"
    )


def _deep(levels: int) -> str:
    return ROOT + "<Pins>" * levels + "</Pins>" * levels + "</PinMap>"


HOSTILE: dict[str, Callable[[], str]] = {
    "random bytes": lambda: os.urandom(64 * 1024).decode("latin-1"),
    "random bytes after a valid root": lambda: ROOT + os.urandom(64 * 1024).decode("latin-1"),
    "truncated XML": lambda: VALID.xml[: len(VALID.xml) // 2],
    "truncated inside a tag": lambda: VALID.xml[: VALID.xml.index("<Connection ") + 20],
    "50 MB of junk": lambda: _junk(50 * MB),
    "50 MB of junk inside an unclosed root": lambda: ROOT + _junk(50 * MB),
    "100k levels of nesting": lambda: _deep(100_000),
    "billion laughs": _billion_laughs,
    "external entity file:///etc/passwd": lambda: _external_entity("file:///etc/passwd"),
    "external entity http://": lambda: _external_entity("http://192.0.2.1/pinmap.dtd"),
    "parameter entity with external DTD": lambda: (
        '<!DOCTYPE PinMap SYSTEM "http://192.0.2.1/x.dtd">' + ROOT + "</PinMap>"
    ),
    "DOCTYPE after BOM, declaration and comment": lambda: (
        '\ufeff<?xml version="1.0" encoding="utf-8"?><!-- hi -->'
        '<!DOCTYPE PinMap [<!ENTITY a "b">]>' + ROOT + "</PinMap>"
    ),
    "undeclared entity reference": lambda: ROOT + '<Pins><DUTPin name="&xxe;"/></Pins></PinMap>',
    "entity in a namespace declaration": lambda: '<PinMap xmlns="&e;http://x"/>',
    "NUL characters": lambda: ROOT.replace("PinMap ", "PinMap\x00 ") + "</PinMap>",
}


def _expected_status(xml: str) -> grpc.StatusCode:
    """What the server must answer: the status of the error the parser itself raises."""
    try:
        load_pinmap(xml)
    except (PinMapParseError, PinMapTooLargeError) as exc:
        return getattr(grpc.StatusCode, exc.status)
    return grpc.StatusCode.OK


@pytest.fixture
def update(grpc_channel: grpc.Channel) -> Call:
    """Send UpdatePinMapFromXml; return the error (None on success) after checking the time."""
    stub = pm_grpc.PinMapServiceStub(grpc_channel)

    def call(xml: str) -> grpc.RpcError | None:
        request = pm_pb.UpdatePinMapFromXmlRequest(pin_map_id="hostile.pinmap", pin_map_xml=xml)
        began = time.monotonic()
        try:
            stub.UpdatePinMapFromXml(request, timeout=60)
            error = None
        except grpc.RpcError as exc:
            error = exc
        elapsed = time.monotonic() - began
        assert elapsed < ANSWER_BOUND, f"answered after {elapsed:.2f} s"
        return error

    return call


def _assert_still_serving(channel: grpc.Channel) -> None:
    stub = pm_grpc.PinMapServiceStub(channel)
    pin_map_id = stub.UpdatePinMapFromXml(
        pm_pb.UpdatePinMapFromXmlRequest(pin_map_id="valid.pinmap", pin_map_xml=VALID.xml),
        timeout=30,
    ).pin_map_id
    sessions = SessionManagementClient(grpc_channel=channel)
    context = PinMapContext(pin_map_id=pin_map_id, sites=[1])
    with sessions.reserve_sessions(context, VALID.two_session_pins(), timeout=5) as reservation:
        assert len(reservation.session_info) == 2


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_pin_map_is_refused_quickly(
    name: str, update: Call, grpc_channel: grpc.Channel
) -> None:
    xml = HOSTILE[name]()
    expected = _expected_status(xml)
    assert expected in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED), (
        f"the parser itself answered {expected.name} to {name}"
    )

    error = update(xml)

    assert error is not None, f"{name} was accepted"
    assert error.code() == expected, error.details()
    details = error.details() or ""
    assert "root:" not in details, "the answer leaks /etc/passwd"
    assert len(details) < 10_000
    _assert_still_serving(grpc_channel)


def test_xinclude_is_not_processed(update: Call, grpc_channel: grpc.Channel) -> None:
    """An XInclude element is an unknown element: never fetched, never in any answer."""
    xml = (
        ROOT + "<Instruments/><Pins>"
        '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" '
        'parse="text"/><DUTPin name="A"/></Pins><Sites><Site siteNumber="0"/></Sites>'
        "<Connections/></PinMap>"
    )
    error = update(xml)
    if error is not None:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "root:" not in (error.details() or "")
    else:
        pins = pm_grpc.PinMapServiceStub(grpc_channel).QueryPins(
            pm_pb.QueryPinsRequest(pin_map_id="hostile.pinmap")
        )
        assert [pin.display_name for pin in pins.pins] == ["A"]
    _assert_still_serving(grpc_channel)


def test_message_above_the_limit_is_resource_exhausted(
    update: Call, grpc_channel: grpc.Channel
) -> None:
    error = update("x" * (DEFAULT_MAX_MESSAGE_BYTES + 1024))

    assert error is not None
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
    _assert_still_serving(grpc_channel)


def test_parser_limits_are_resource_exhausted(
    start_pinbroker: Callable[..., RunningServer],
) -> None:
    """A pin map beyond a configured parser limit: PinMapTooLargeError -> RESOURCE_EXHAUSTED."""
    server = start_pinbroker(parse_limits=ParseLimits(max_elements=200))
    big = generate_pinmap(PinMapSpec(pins=64, sites=8)).xml
    with grpc.insecure_channel(server.address) as channel:
        stub = pm_grpc.PinMapServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.UpdatePinMapFromXml(
                pm_pb.UpdatePinMapFromXmlRequest(pin_map_id="big.pinmap", pin_map_xml=big),
                timeout=30,
            )
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_elements" in (raised.value.details() or "")
        _assert_still_serving(channel)


def test_element_count_bomb_is_refused_quickly(update: Call, grpc_channel: grpc.Channel) -> None:
    """One element more than the default limit, as tiny unknown elements (16 MB)."""
    count = DEFAULT_LIMITS.max_elements + 1
    xml = ROOT + "<Junk>" + "<x/>" * count + "</Junk></PinMap>"

    error = update(xml)

    assert error is not None
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
    assert "max_elements" in (error.details() or "")
    _assert_still_serving(grpc_channel)


def test_unknown_element_flood_is_answered_quickly(
    update: Call, grpc_channel: grpc.Channel
) -> None:
    """A million unknown elements inside <Pins> (4 MB, well under every limit)."""
    xml = ROOT + "<Pins>" + "<x/>" * 1_000_000 + "</Pins></PinMap>"

    update(xml)  # loading (with warnings) or refusing are both fine; taking long is not

    _assert_still_serving(grpc_channel)


def _retained_bytes(xml: str) -> int:
    """Python memory still allocated after loading ``xml`` while the result is kept."""
    tracemalloc.start()
    try:
        try:
            kept: object = load_pinmap(xml)
        except (PinMapParseError, PinMapTooLargeError) as exc:
            kept = exc
        retained, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del kept
    return retained


MAX_AMPLIFICATION = 10  # retained bytes per byte of XML


def test_a_real_pin_map_keeps_a_few_bytes_per_byte_of_xml() -> None:
    xml = generate_pinmap(PinMapSpec(pins=256, sites=32)).xml
    assert _retained_bytes(xml) < MAX_AMPLIFICATION * len(xml)


def test_unknown_element_flood_does_not_amplify_memory() -> None:
    """200k unknown elements in <Pins>: a registered pin map would keep their warnings forever."""
    xml = ROOT + "<Pins>" + "<x/>" * 200_000 + "</Pins></PinMap>"
    assert _retained_bytes(xml) < MAX_AMPLIFICATION * len(xml)


def test_undecodable_request_is_not_an_internal_error(grpc_channel: grpc.Channel) -> None:
    """Raw bytes that are not valid UTF-8 in the XML field: gRPC cannot decode the request."""
    call = grpc_channel.unary_unary(
        "/ni.measurementlink.pinmap.v1.PinMapService/UpdatePinMapFromXml"
    )
    junk = b"\xff\xfe\xc3\x28" + os.urandom(1000)
    request = pm_pb.UpdatePinMapFromXmlRequest(pin_map_id="raw.pinmap").SerializeToString()
    request += b"\x12" + _varint(len(junk)) + junk  # field 2 (pin_map_xml), length-delimited

    began = time.monotonic()
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=30)
    assert time.monotonic() - began < ANSWER_BOUND
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _assert_still_serving(grpc_channel)


def test_undecodable_request_is_invalid_argument(grpc_channel: grpc.Channel) -> None:
    call = grpc_channel.unary_unary(
        "/ni.measurementlink.pinmap.v1.PinMapService/UpdatePinMapFromXml"
    )
    with pytest.raises(grpc.RpcError) as raised:
        call(b"\x12\x02\xff\xfe", timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid protobuf message" in (raised.value.details() or "")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def test_largest_benchmark_pin_map_loads_through_grpc(grpc_channel: grpc.Channel) -> None:
    """2,048 pins x 256 sites (about 47 MB of XML) fits the default message limit and loads."""
    generated = generate_pinmap(PinMapSpec(pins=2048, sites=256))
    assert len(generated.xml_bytes) < DEFAULT_MAX_MESSAGE_BYTES
    stub = pm_grpc.PinMapServiceStub(grpc_channel)

    pin_map_id = stub.UpdatePinMapFromXml(
        pm_pb.UpdatePinMapFromXmlRequest(pin_map_id="largest.pinmap", pin_map_xml=generated.xml),
        timeout=110,
    ).pin_map_id

    sessions = SessionManagementClient(grpc_channel=grpc_channel)
    context = PinMapContext(pin_map_id=pin_map_id, sites=[255])
    with sessions.reserve_sessions(context, generated.two_session_pins(), timeout=5) as reserved:
        resources = sorted(info.resource_name for info in reserved.session_info)
    assert len(resources) == 2
