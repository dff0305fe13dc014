"""The status page and its JSON API against a real in-process server (``http_port=0``)."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
import httpx
import lxml.html
import pytest
import session_pb2
from ni.measurementlink import pin_map_context_pb2
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2 as pm
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2_grpc as pm_grpc
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2 as sm
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2_grpc as sm_grpc

from pinbroker.events import EventKind
from pinbroker.server.app import RunningServer

PIN_MAP_ID = "web/status.pinmap"
PIN_MAP_XML = """<?xml version="1.0" encoding="utf-8"?>
<PinMap schemaVersion="1.6" xmlns="http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd">
  <Instruments>
    <NIDCPowerInstrument name="SMU1" numberOfChannels="4">
      <ChannelGroup name="Power" />
    </NIDCPowerInstrument>
    <NIDmmInstrument name="DMM1" />
  </Instruments>
  <Pins><DUTPin name="VDD" /><DUTPin name="OUT" /></Pins>
  <Sites><Site siteNumber="0" /><Site siteNumber="1" /></Sites>
  <Connections>
    <Connection pin="VDD" siteNumber="0" instrument="SMU1" channel="0" />
    <Connection pin="VDD" siteNumber="1" instrument="SMU1" channel="1" />
    <Connection pin="OUT" siteNumber="0" instrument="DMM1" channel="0" />
    <Connection pin="OUT" siteNumber="1" instrument="DMM1" channel="0" />
  </Connections>
</PinMap>
"""
ServerFactory = Callable[..., RunningServer]
SMU = "niDCPower-SMU1/0, SMU1/1"  # the channel group is one session
DMM = "niDMM-DMM1"
WAIT = 10.0  # generous bound (seconds) for anything that happens in the server


@pytest.fixture
def server(start_pinbroker: ServerFactory) -> RunningServer:
    return start_pinbroker(http_port=0)


@pytest.fixture
def channel(server: RunningServer) -> Iterator[grpc.Channel]:
    channel = grpc.insecure_channel(server.address)
    grpc.channel_ready_future(channel).result(timeout=WAIT)
    pm_grpc.PinMapServiceStub(channel).UpdatePinMapFromXml(
        pm.UpdatePinMapFromXmlRequest(pin_map_id=PIN_MAP_ID, pin_map_xml=PIN_MAP_XML)
    )
    yield channel
    channel.close()


@pytest.fixture
def stub(channel: grpc.Channel) -> sm_grpc.SessionManagementServiceStub:
    return sm_grpc.SessionManagementServiceStub(channel)


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    assert server.http_url is not None
    with httpx.Client(base_url=server.http_url, timeout=WAIT) as client:
        yield client


def _reserve(
    stub: sm_grpc.SessionManagementServiceStub, pins: list[str], sites: list[int]
) -> sm.ReserveSessionsResponse:
    return stub.ReserveSessions(
        sm.ReserveSessionsRequest(
            pin_map_context=pin_map_context_pb2.PinMapContext(pin_map_id=PIN_MAP_ID, sites=sites),
            pin_or_relay_names=pins,
        )
    )


def _held_and_waiting(
    server: RunningServer, stub: sm_grpc.SessionManagementServiceStub
) -> grpc.Future:
    """Hold the SMU; queue a request for SMU and DMM behind it (returns the waiting call)."""
    _reserve(stub, ["VDD"], [0])
    waiting = stub.ReserveSessions.future(
        sm.ReserveSessionsRequest(
            pin_map_context=pin_map_context_pb2.PinMapContext(pin_map_id=PIN_MAP_ID),
            timeout_in_milliseconds=-1,
        )
    )
    with server.events.subscribe(after=0) as subscription:
        while not server.sessions.table.snapshot().waiting:
            assert subscription.wait(WAIT), "the request did not queue"
    return waiting


def test_http_port_is_picked_and_off_by_default(
    start_pinbroker: ServerFactory, server: RunningServer
) -> None:
    assert server.http_port is not None
    assert server.http_port > 0
    assert server.http_url == f"http://127.0.0.1:{server.http_port}/"
    assert start_pinbroker(in_memory=True, state_dir=None).http_port is None


def test_status_is_the_cli_json(
    server: RunningServer, stub: sm_grpc.SessionManagementServiceStub, http: httpx.Client
) -> None:
    waiting = _held_and_waiting(server, stub)
    try:
        status = http.get("/api/status").json()
    finally:
        waiting.cancel()
    assert set(status) == {"revision", "held", "waiting"}
    [held] = status["held"]
    assert held["session_name"] == SMU
    assert set(held) == {
        "session_name",
        "reservation_id",
        "fence",
        "since",
        "owner",
        "lease",
        "annotations",
    }
    assert held["since"].endswith("Z")
    [entry] = status["waiting"]
    assert entry["position"] == 1
    assert entry["session_names"] == [SMU, DMM]
    assert entry["blocked_by"] == [held["reservation_id"]]
    assert entry["deadline"] is None


def test_pin_maps_list_and_grid(
    server: RunningServer, stub: sm_grpc.SessionManagementServiceStub, http: httpx.Client
) -> None:
    [summary] = http.get("/api/pin-maps").json()["pin_maps"]
    assert summary["id"] == PIN_MAP_ID
    assert summary["pins"] == ["VDD", "OUT"]
    assert summary["sites"] == [0, 1]
    assert summary["instruments"] == 2
    assert summary["loaded"] is not None
    assert summary["loaded"].endswith("Z")

    waiting = _held_and_waiting(server, stub)
    try:
        grid = http.get("/api/pin-maps/" + quote(PIN_MAP_ID, safe="")).json()
        by_query = http.get("/api/pin-maps", params={"id": PIN_MAP_ID}).json()
    finally:
        waiting.cancel()
    assert by_query == grid
    assert grid["id"] == PIN_MAP_ID
    cells = {
        (pin["pin"], site["site"]): site["connections"]
        for pin in grid["pins"]
        for site in pin["sites"]
    }
    [vdd1] = cells[("VDD", 1)]
    assert vdd1["session_name"] == SMU
    assert vdd1["channel"] == "SMU1/1"
    assert vdd1["state"] == "held"
    [out0] = cells[("OUT", 0)]
    assert out0["session_name"] == DMM
    assert out0["state"] == "wanted"
    assert http.get("/api/pin-maps/nope.pinmap").status_code == 404


RELAY_PIN_MAP_ID = "web/relays.pinmap"
RELAY_PIN_MAP_XML = """<?xml version="1.0" encoding="utf-8"?>
<PinMap schemaVersion="1.6" xmlns="http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd">
  <Instruments><NIRelayDriverModule name="RLY1" numberOfControlLines="64" /></Instruments>
  <Pins />
  <Relays><SiteRelay name="K_LOAD" /><SystemRelay name="K_MAIN" /></Relays>
  <Sites><Site siteNumber="0" /><Site siteNumber="1" /></Sites>
  <Connections>
    <RelayConnection relay="K_LOAD" siteNumber="0" relayDriverModule="RLY1" controlLine="K0" />
    <RelayConnection relay="K_LOAD" siteNumber="1" relayDriverModule="RLY1" controlLine="K1" />
    <SystemRelayConnection relay="K_MAIN" relayDriverModule="RLY1" controlLine="K9" />
  </Connections>
</PinMap>
"""


def test_pin_map_grid_has_the_relays(channel: grpc.Channel, http: httpx.Client) -> None:
    pm_grpc.PinMapServiceStub(channel).UpdatePinMapFromXml(
        pm.UpdatePinMapFromXmlRequest(pin_map_id=RELAY_PIN_MAP_ID, pin_map_xml=RELAY_PIN_MAP_XML)
    )
    grid = http.get("/api/pin-maps/" + quote(RELAY_PIN_MAP_ID, safe="")).json()
    assert grid["pins"] == []
    assert [(r["relay"], r["system"]) for r in grid["relays"]] == [
        ("K_LOAD", False),
        ("K_MAIN", True),
    ]
    [k_load, k_main] = grid["relays"]
    assert [site["site"] for site in k_load["sites"]] == [0, 1]
    [k1] = k_load["sites"][1]["connections"]
    assert (k1["session_name"], k1["channel"], k1["state"]) == ("niRelayDriver-RLY1", "K1", "free")
    [system] = k_main["sites"]
    assert system["site"] == -1
    assert system["connections"][0]["channel"] == "K9"
    page = _page(http)
    labels = page.xpath(f'//table[@data-pin-map="{RELAY_PIN_MAP_ID}"]//tbody/tr/th/text()')
    assert labels == ["K_LOAD (relay)", "K_MAIN (system relay)"]


def test_sessions(
    server: RunningServer, stub: sm_grpc.SessionManagementServiceStub, http: httpx.Client
) -> None:
    stub.RegisterSessions(
        sm.RegisterSessionsRequest(
            sessions=[
                sm.SessionInformation(
                    session=session_pb2.Session(name=DMM),
                    resource_name="DMM1",
                    instrument_type_id="niDMM",
                )
            ]
        )
    )
    stub.RegisterMultiplexerSessions(
        sm.RegisterMultiplexerSessionsRequest(
            multiplexer_sessions=[
                sm.MultiplexerSessionInformation(
                    session=session_pb2.Session(name="mux"),
                    resource_name="MUX1",
                    multiplexer_type_id="RelayMux",
                )
            ]
        )
    )
    answer = http.get("/api/sessions").json()
    [session] = answer["sessions"]
    assert session == {
        "session_name": DMM,
        "resource_name": "DMM1",
        "channel_list": "",
        "instrument_type_id": "niDMM",
        "registered": True,
        "state": "free",
    }
    assert answer["multiplexers"] == [
        {
            "session_name": "mux",
            "resource_name": "MUX1",
            "multiplexer_type_id": "RelayMux",
            "registered": True,
        }
    ]


def test_events_since(
    server: RunningServer, stub: sm_grpc.SessionManagementServiceStub, http: httpx.Client
) -> None:
    before = server.events.latest_revision
    _reserve(stub, ["VDD"], [0])
    answer = http.get("/api/events", params={"since": before}).json()
    kinds = [e["kind"] for e in answer["events"]]
    assert "reserved" in kinds
    event = answer["events"][kinds.index("reserved")]
    assert set(event) == {
        "revision",
        "time",
        "kind",
        "session_names",
        "reservation_id",
        "owner",
        "reason",
    }
    assert event["session_names"] == [SMU]
    assert answer["latest_revision"] == server.events.latest_revision
    assert http.get("/api/events", params={"since": "x"}).status_code == 400
    assert http.get("/api/events", params={"since": "-1"}).status_code == 400


def test_stream_delivers_a_reservation(
    server: RunningServer, stub: sm_grpc.SessionManagementServiceStub, http: httpx.Client
) -> None:
    lines: queue.Queue[str] = queue.Queue()
    start = server.events.latest_revision

    def read() -> None:
        headers = {"Last-Event-ID": str(start)}
        with http.stream("GET", "/api/events/stream", headers=headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                lines.put(line)
                if line.startswith("data:") and '"reserved"' in line:
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    _reserve(stub, ["VDD"], [0])
    revision: int | None = None
    while True:
        line = lines.get(timeout=WAIT)
        if line.startswith("id:"):
            revision = int(line.removeprefix("id:"))
        if line.startswith("data:"):
            event = json.loads(line.removeprefix("data:"))
            assert event["revision"] == revision
            if event["kind"] == "reserved":
                assert event["session_names"] == [SMU]
                break
    reader.join(WAIT)
    assert not reader.is_alive()


def _page(http: httpx.Client) -> Any:
    response = http.get("/")
    assert response.headers["content-type"].startswith("text/html")
    return lxml.html.fromstring(response.text)


def test_page_marks_held_sessions_and_queue_entries(
    server: RunningServer, stub: sm_grpc.SessionManagementServiceStub, http: httpx.Client
) -> None:
    waiting = _held_and_waiting(server, stub)
    try:
        page = _page(http)
    finally:
        waiting.cancel()
    held = page.xpath(f'//*[@data-session="{SMU}" and @data-state="held"]')
    assert held, "the held session is not marked"
    assert page.xpath(f'//*[@data-session="{DMM}" and @data-state="wanted"]')
    [entry] = page.xpath("//*[@data-queue-position]")
    assert entry.get("data-queue-position") == "1"
    assert entry.xpath(f'.//*[@data-session="{DMM}"]')
    captions = [c.text_content() for c in page.xpath("//table/caption")]
    assert any(PIN_MAP_ID in c for c in captions)
    assert page.xpath('//form[@class="release"]'), "a local client gets the release form"
    external = "//script[@src] | //link[@href and not(starts-with(@href, 'data:'))]"
    assert not page.xpath(external), "no external assets"


def test_release_from_local_client(
    server: RunningServer, stub: sm_grpc.SessionManagementServiceStub, http: httpx.Client
) -> None:
    _reserve(stub, ["VDD"], [0])
    response = http.post("/api/release", json={"session_names": [SMU], "reason": "stuck"})
    assert response.status_code == 200
    assert response.json() == {"released": [SMU], "not_held": []}
    assert not server.sessions.table.snapshot().held
    [event] = [e for e in server.events.since(0) if e.kind is EventKind.FORCE_RELEASED]
    assert event.session_names == (SMU,)
    assert event.reason.startswith("stuck (by http:127.0.0.1:")


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"session_names": ["x"]}', b'{"session_names": ["x"], "reason": " "}', b"[]"],
)
def test_release_bad_request(http: httpx.Client, body: bytes) -> None:
    response = http.post("/api/release", content=body)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}


def _remote_post(server: RunningServer, body: object, headers: dict[str, str]) -> httpx.Response:
    """POST /api/release as the client 10.0.0.7 (httpx's ASGI transport sets the address)."""
    assert server.web_app is not None
    transport = httpx.ASGITransport(app=server.web_app, client=("10.0.0.7", 1234))

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://pinbroker") as client:
            return await client.post("/api/release", json=body, headers=headers)

    return asyncio.run(post())


def test_release_refused_to_other_hosts(
    server: RunningServer, stub: sm_grpc.SessionManagementServiceStub
) -> None:
    _reserve(stub, ["VDD"], [0])
    body = {"session_names": [SMU], "reason": "mine now"}
    response = _remote_post(server, body, {"Authorization": "Bearer guess"})
    assert response.status_code == 403
    assert set(response.json()) == {"error"}
    assert SMU in server.sessions.table.snapshot().held


def test_release_from_other_host_with_token(start_pinbroker: ServerFactory, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n", encoding="utf-8")
    server = start_pinbroker(http_port=0, admin_token_file=token_file, in_memory=True)
    body = {"session_names": ["nobody-holds-this"], "reason": "cleanup"}
    response = _remote_post(server, body, {"Authorization": "Bearer s3cret"})
    assert response.status_code == 200
    assert response.json() == {"released": [], "not_held": ["nobody-holds-this"]}
