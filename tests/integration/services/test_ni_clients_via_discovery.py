"""NI's clients find pinbroker's services through pinbroker's own Discovery Service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from ni.measurementlink.discovery.v1 import discovery_service_pb2_grpc
from ni.measurementlink.discovery.v1.client import DiscoveryClient
from ni.measurementlink.pinmap.v1.client import PinMapClient
from ni.measurementlink.sessionmanagement.v1.client import PinMapContext, SessionManagementClient
from ni_grpc_extensions.channelpool import GrpcChannelPool

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "two_site.pinmap"


@pytest.fixture
def channel_pool() -> Iterator[GrpcChannelPool]:
    with GrpcChannelPool() as pool:
        yield pool


def test_ni_clients_resolve_pinbroker_through_discovery(
    grpc_channel: grpc.Channel, channel_pool: GrpcChannelPool
) -> None:
    # NI's DiscoveryClient 1.2 reads its key file only on Windows; on Linux it takes a stub.
    discovery = DiscoveryClient(
        stub=discovery_service_pb2_grpc.DiscoveryServiceStub(grpc_channel),
        grpc_channel_pool=channel_pool,
    )
    pin_maps = PinMapClient(discovery_client=discovery, grpc_channel_pool=channel_pool)
    sessions = SessionManagementClient(discovery_client=discovery, grpc_channel_pool=channel_pool)

    pin_map_id = pin_maps.update_pin_map(EXAMPLE)
    assert pin_map_id == str(EXAMPLE)
    with sessions.reserve_sessions(
        PinMapContext(pin_map_id=pin_map_id, sites=[1]), instrument_type_id="niScope"
    ) as reservation:
        assert [info.session_name for info in reservation.session_info] == ["niScope-SCOPE1"]
