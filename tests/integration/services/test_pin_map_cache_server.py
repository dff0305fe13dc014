"""The pin map cache through a real server: more pin maps than fit, all answer correctly."""

from __future__ import annotations

import logging
from collections.abc import Callable

import grpc
import pytest
from benchmarks.pinmap_gen import PinMapSpec, generate_pinmap
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2 as pm
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2_grpc as pm_grpc

from pinbroker.broker import estimate_pin_map_bytes
from pinbroker.server.app import RunningServer

SPECS = {
    "first.pinmap": PinMapSpec(pins=256, sites=16),
    "second.pinmap": PinMapSpec(pins=300, sites=16),
}
SYSTEM_PINS = 4


def _query(address: str, rounds: int) -> list[tuple[str, int]]:
    answers = []
    with grpc.insecure_channel(address) as channel:
        stub = pm_grpc.PinMapServiceStub(channel)
        for _ in range(rounds):
            for pin_map_id in SPECS:
                pins = stub.QueryPins(pm.QueryPinsRequest(pin_map_id=pin_map_id)).pins
                answers.append((pin_map_id, len(pins)))
    return answers


def test_two_large_pin_maps_with_room_for_one_both_answer(
    start_pinbroker: Callable[..., RunningServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pinbroker.broker")
    xml = {pin_map_id: generate_pinmap(spec).xml for pin_map_id, spec in SPECS.items()}
    room_for_one = max(estimate_pin_map_bytes(text) for text in xml.values())
    expected = [(pin_map_id, spec.pins + SYSTEM_PINS) for pin_map_id, spec in SPECS.items()] * 3

    server = start_pinbroker(pin_map_cache_bytes=room_for_one)
    with grpc.insecure_channel(server.address) as channel:
        stub = pm_grpc.PinMapServiceStub(channel)
        for pin_map_id, text in xml.items():
            stub.UpdatePinMapFromXml(
                pm.UpdatePinMapFromXmlRequest(pin_map_id=pin_map_id, pin_map_xml=text)
            )
    assert _query(server.address, rounds=3) == expected
    reparsed = [r for r in caplog.records if "parsed again from the store" in r.getMessage()]
    assert len(reparsed) == 6  # each query found the other pin map in memory
    server.stop()

    # After a restart only what fits is parsed up front; the other is parsed on first use.
    restarted = start_pinbroker(pin_map_cache_bytes=room_for_one)
    assert _query(restarted.address, rounds=3) == expected
