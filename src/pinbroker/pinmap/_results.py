"""Frozen values that the pin map engine answers with (pure: no grpc, no protobuf).

These are the contract between the engine and everything above it; other packages import them
from ``pinbroker.pinmap``, never from this module. The Pin Map and Session Management servicers
convert them to protobuf in ``pinbroker.server._convert_pinmap`` and
``pinbroker.server._convert_sessions`` (ChannelMapping through ``pinbroker._channel_mapping_pb``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pinbroker.types import InstrumentTypeId, SessionName

__all__ = [
    "ChannelMapping",
    "MultiplexerResource",
    "PinDefinition",
    "PinGroupDefinition",
    "RelayDefinition",
    "RelayGroupDefinition",
    "Resolution",
    "SessionResource",
]


@dataclass(frozen=True, slots=True)
class ChannelMapping:
    """One selected connection: a pin or relay on a site wired to an instrument channel.

    Attributes:
        pin_or_relay_name: The pin or relay.
        site: The site; ``SITE_SYSTEM`` (-1) for system pins and relays.
        channel: Channel string as the session uses it (``DCPower1/0``, ``site0/CS``, ``0``,
            ``K3``).
        multiplexer_resource_name: Multiplexer name for a multiplexed connection, else "".
        multiplexer_route: Route name for a multiplexed connection (XML-unescaped), else "".
        multiplexer_type_id: The multiplexer's ``multiplexerTypeId`` for a multiplexed connection,
            else "".
    """

    pin_or_relay_name: str
    site: int
    channel: str
    multiplexer_resource_name: str = ""
    multiplexer_route: str = ""
    multiplexer_type_id: str = ""


@dataclass(frozen=True, slots=True)
class SessionResource:
    """An instrument session selected by a resolution.

    Attributes:
        session_name: Name under which the session is reserved and registered.
        resource_name: Resource name used to open the session in the driver.
        channel_list: ``", "``-joined distinct channels of ``channel_mappings``, in order.
        instrument_type_id: Instrument type id of the session.
        channel_mappings: Every selected connection into this session, in channel_list order.
    """

    session_name: SessionName
    resource_name: str
    channel_list: str
    instrument_type_id: InstrumentTypeId
    channel_mappings: tuple[ChannelMapping, ...]


@dataclass(frozen=True, slots=True)
class MultiplexerResource:
    """A multiplexer used by at least one selected connection.

    Attributes:
        session_name: Session name of the multiplexer (its ``name``).
        resource_name: Resource name of the multiplexer (its ``name``).
        multiplexer_type_id: The ``multiplexerTypeId`` attribute (may be "").
    """

    session_name: SessionName
    resource_name: str
    multiplexer_type_id: str


@dataclass(frozen=True, slots=True)
class Resolution:
    """Answer to "which sessions serve these pins on these sites for this instrument type".

    Attributes:
        sessions: Selected instrument sessions, in pin map declaration order.
        multiplexers: Multiplexers used by the selected connections, in declaration order.
        group_mappings: For each requested name that is a pin or relay group, its flattened
            distinct members (depth-first reference order).
    """

    sessions: tuple[SessionResource, ...]
    multiplexers: tuple[MultiplexerResource, ...]
    group_mappings: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class PinDefinition:
    """A pin as the Pin Map Service's QueryPins reports it."""

    display_name: str
    is_system_pin: bool


@dataclass(frozen=True, slots=True)
class PinGroupDefinition:
    """A pin group: its direct references and its flattened distinct pins."""

    display_name: str
    pin_or_group_references: tuple[str, ...]
    resolved_pins: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RelayDefinition:
    """A relay as the Pin Map Service's QueryRelays reports it."""

    display_name: str
    is_system_relay: bool


@dataclass(frozen=True, slots=True)
class RelayGroupDefinition:
    """A relay group: its direct references and its flattened distinct relays."""

    display_name: str
    relay_or_group_references: tuple[str, ...]
    resolved_relays: tuple[str, ...]
