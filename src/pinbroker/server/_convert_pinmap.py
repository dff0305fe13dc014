"""Conversion between the pin map engine's values and the Pin Map Service protobuf messages."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from ni.measurementlink.pinmap.v1 import pin_map_service_pb2 as pb

from pinbroker.pinmap import (
    ChannelMapping,
    PinDefinition,
    PinGroupDefinition,
    RelayDefinition,
    RelayGroupDefinition,
    Resolution,
)

__all__ = [
    "channel_mapping_to_pb",
    "group_mappings_to_pb",
    "pins_to_pb",
    "relays_to_pb",
    "resource_access_to_pb",
]


def channel_mapping_to_pb(mapping: ChannelMapping) -> pb.ChannelMapping:
    """Convert a channel mapping, including the multiplexer type id the Pin Map Service adds."""
    return pb.ChannelMapping(
        pin_or_relay_name=mapping.pin_or_relay_name,
        site=mapping.site,
        channel=mapping.channel,
        multiplexer_resource_name=mapping.multiplexer_resource_name,
        multiplexer_route=mapping.multiplexer_route,
        multiplexer_type_id=mapping.multiplexer_type_id,
    )


def pins_to_pb(
    pins: Iterable[PinDefinition], groups: Iterable[PinGroupDefinition]
) -> pb.QueryPinsResponse:
    """Build a QueryPinsResponse."""
    return pb.QueryPinsResponse(
        pins=[
            pb.PinDefinition(display_name=p.display_name, is_system_pin=p.is_system_pin)
            for p in pins
        ],
        pin_groups=[
            pb.PinGroupDefinition(
                display_name=g.display_name,
                pin_or_group_references=g.pin_or_group_references,
                resolved_pins=g.resolved_pins,
            )
            for g in groups
        ],
    )


def relays_to_pb(
    relays: Iterable[RelayDefinition], groups: Iterable[RelayGroupDefinition]
) -> pb.QueryRelaysResponse:
    """Build a QueryRelaysResponse."""
    return pb.QueryRelaysResponse(
        relays=[
            pb.RelayDefinition(display_name=r.display_name, is_system_relay=r.is_system_relay)
            for r in relays
        ],
        relay_groups=[
            pb.RelayGroupDefinition(
                display_name=g.display_name,
                relay_or_group_references=g.relay_or_group_references,
                resolved_relays=g.resolved_relays,
            )
            for g in groups
        ],
    )


_Resolved = TypeVar("_Resolved")


def group_mappings_to_pb(
    group_mappings: Mapping[str, Sequence[str]],
    message_type: Callable[..., _Resolved],
) -> dict[str, _Resolved]:
    """Convert group mappings to a protobuf map of ``ResolvedPinsOrRelays``.

    Both services define their own ``ResolvedPinsOrRelays`` message; pass the one to build.
    """
    return {
        name: message_type(pin_or_relay_names=members) for name, members in group_mappings.items()
    }


def resource_access_to_pb(resolution: Resolution) -> pb.QueryResourceAccessInformationResponse:
    """Build a QueryResourceAccessInformationResponse from a resolution."""
    return pb.QueryResourceAccessInformationResponse(
        resource_access_information=[
            pb.ResourceAccessInformation(
                resource_name=s.resource_name,
                channel_list=s.channel_list,
                instrument_type_id=s.instrument_type_id,
                channel_mappings=[channel_mapping_to_pb(m) for m in s.channel_mappings],
            )
            for s in resolution.sessions
        ],
        group_mappings=group_mappings_to_pb(resolution.group_mappings, pb.ResolvedPinsOrRelays),
    )
