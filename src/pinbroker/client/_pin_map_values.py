"""Frozen values the pin map client answers with.

Pin, pin group, relay, relay group and channel mapping values are the engine's own
(``pinbroker.pinmap``); this module adds the containers the Pin Map Service's queries
return.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pinbroker.pinmap import (
    ChannelMapping,
    PinDefinition,
    PinGroupDefinition,
    RelayDefinition,
    RelayGroupDefinition,
)

__all__ = [
    "PinsAndGroups",
    "RelaysAndGroups",
    "ResourceAccess",
    "ResourceAccessInformation",
]


@dataclass(frozen=True, slots=True)
class PinsAndGroups:
    """Answer of QueryPins.

    Attributes:
        pins: DUT and system pins, in pin map order.
        pin_groups: Pin groups with their direct references and flattened members.
    """

    pins: tuple[PinDefinition, ...]
    pin_groups: tuple[PinGroupDefinition, ...] = ()

    @property
    def pin_names(self) -> tuple[str, ...]:
        """Names of the pins (not the groups), in order."""
        return tuple(p.display_name for p in self.pins)


@dataclass(frozen=True, slots=True)
class RelaysAndGroups:
    """Answer of QueryRelays.

    Attributes:
        relays: Site and system relays, in pin map order.
        relay_groups: Relay groups with their direct references and flattened members.
    """

    relays: tuple[RelayDefinition, ...]
    relay_groups: tuple[RelayGroupDefinition, ...] = ()

    @property
    def relay_names(self) -> tuple[str, ...]:
        """Names of the relays (not the groups), in order."""
        return tuple(r.display_name for r in self.relays)


@dataclass(frozen=True, slots=True)
class ResourceAccessInformation:
    """One instrument resource selected by QueryResourceAccessInformation.

    Attributes:
        resource_name: Resource name to open a session with.
        channel_list: ``", "``-joined channels of the selected connections.
        instrument_type_id: Instrument type of the resource.
        channel_mappings: One per selected connection, in channel list order, with the
            multiplexer fields (including ``multiplexer_type_id``) the Pin Map Service reports.
    """

    resource_name: str
    channel_list: str
    instrument_type_id: str
    channel_mappings: tuple[ChannelMapping, ...]


@dataclass(frozen=True, slots=True)
class ResourceAccess:
    """Answer of QueryResourceAccessInformation.

    Attributes:
        resources: Selected instrument resources.
        group_mappings: For each requested pin or relay group, its flattened members.
    """

    resources: tuple[ResourceAccessInformation, ...]
    group_mappings: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
