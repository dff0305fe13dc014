"""ChannelMapping <-> protobuf, shared by the server's and the client's conversion modules."""

from __future__ import annotations

import ni.measurementlink.pinmap.v1.pin_map_service_pb2 as pm_pb2
import ni.measurementlink.sessionmanagement.v1.session_management_service_pb2 as sm_pb2

from pinbroker.pinmap import ChannelMapping

__all__ = ["channel_mapping_from_pb", "channel_mapping_to_session_pb"]


def channel_mapping_from_pb(
    message: sm_pb2.ChannelMapping | pm_pb2.ChannelMapping,
) -> ChannelMapping:
    """Convert a Session Management or Pin Map ChannelMapping message to the domain value."""
    return ChannelMapping(
        pin_or_relay_name=message.pin_or_relay_name,
        site=message.site,
        channel=message.channel,
        multiplexer_resource_name=message.multiplexer_resource_name,
        multiplexer_route=message.multiplexer_route,
        multiplexer_type_id=getattr(message, "multiplexer_type_id", ""),
    )


def channel_mapping_to_session_pb(mapping: ChannelMapping) -> sm_pb2.ChannelMapping:
    """Convert to a Session Management ChannelMapping (which has no multiplexer_type_id)."""
    return sm_pb2.ChannelMapping(
        pin_or_relay_name=mapping.pin_or_relay_name,
        site=mapping.site,
        channel=mapping.channel,
        multiplexer_resource_name=mapping.multiplexer_resource_name,
        multiplexer_route=mapping.multiplexer_route,
    )
