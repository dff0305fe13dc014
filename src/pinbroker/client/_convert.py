"""Protobuf <-> frozen values for the client side.

Values of NI's Pin Map and Session Management messages (session information, channel
mappings, pin map answers) are converted here; the modules that make calls build only request
envelopes from plain fields. The Admin Service's values convert in ``_admin`` (next to their
types), the lease messages in ``_lease``.

Every ``*_from_grpc`` has a ``*_to_grpc`` counterpart where the client sends that message, and
the pair round-trips (tested in ``tests/unit/client/test_client_convert.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

import ni.measurementlink.pinmap.v1.pin_map_service_pb2 as pm_pb2
import ni.measurementlink.sessionmanagement.v1.session_management_service_pb2 as sm_pb2
import session_pb2
from google.protobuf.internal.containers import MessageMap

from pinbroker._channel_mapping_pb import channel_mapping_from_pb as channel_mapping_from_grpc
from pinbroker._channel_mapping_pb import (
    channel_mapping_to_session_pb as channel_mapping_to_grpc,
)
from pinbroker.client._pin_map_values import (
    PinsAndGroups,
    RelaysAndGroups,
    ResourceAccess,
    ResourceAccessInformation,
)
from pinbroker.client._sessions import (
    MultiplexerSessionDetails,
    SessionDetails,
    SessionSnapshot,
    freeze_group_mappings,
)
from pinbroker.pinmap import (
    PinDefinition,
    PinGroupDefinition,
    RelayDefinition,
    RelayGroupDefinition,
)

__all__ = [
    "channel_mapping_from_grpc",
    "channel_mapping_to_grpc",
    "group_mappings_from_grpc",
    "multiplexer_session_from_grpc",
    "multiplexer_session_to_grpc",
    "pins_from_grpc",
    "relays_from_grpc",
    "resource_access_from_grpc",
    "session_details_from_grpc",
    "session_details_to_grpc",
    "session_snapshot_from_grpc",
]


def session_details_from_grpc(message: sm_pb2.SessionInformation) -> SessionDetails:
    """Convert a SessionInformation message, keeping every field."""
    return SessionDetails(
        session_name=message.session.name,
        resource_name=message.resource_name,
        channel_list=message.channel_list,
        instrument_type_id=message.instrument_type_id,
        session_exists=message.session_exists,
        session_reserved=message.session_reserved,
        channel_mappings=tuple(channel_mapping_from_grpc(m) for m in message.channel_mappings),
        annotations=dict(message.annotations),
    )


def session_details_to_grpc(details: SessionDetails) -> sm_pb2.SessionInformation:
    """Convert back to a SessionInformation message with every field set."""
    return sm_pb2.SessionInformation(
        session=session_pb2.Session(name=details.session_name),
        resource_name=details.resource_name,
        channel_list=details.channel_list,
        instrument_type_id=details.instrument_type_id,
        session_exists=details.session_exists,
        session_reserved=details.session_reserved,
        channel_mappings=[channel_mapping_to_grpc(m) for m in details.channel_mappings],
        annotations=details.annotations,
    )


def multiplexer_session_from_grpc(
    message: sm_pb2.MultiplexerSessionInformation,
) -> MultiplexerSessionDetails:
    """Convert a MultiplexerSessionInformation message, keeping every field."""
    return MultiplexerSessionDetails(
        session_name=message.session.name,
        resource_name=message.resource_name,
        multiplexer_type_id=message.multiplexer_type_id,
        session_exists=message.session_exists,
        annotations=dict(message.annotations),
    )


def multiplexer_session_to_grpc(
    details: MultiplexerSessionDetails,
) -> sm_pb2.MultiplexerSessionInformation:
    """Convert back to a MultiplexerSessionInformation message with every field set."""
    return sm_pb2.MultiplexerSessionInformation(
        session=session_pb2.Session(name=details.session_name),
        resource_name=details.resource_name,
        multiplexer_type_id=details.multiplexer_type_id,
        session_exists=details.session_exists,
        annotations=details.annotations,
    )


def group_mappings_from_grpc(
    group_mappings: MessageMap[str, sm_pb2.ResolvedPinsOrRelays]
    | MessageMap[str, pm_pb2.ResolvedPinsOrRelays]
    | Mapping[str, sm_pb2.ResolvedPinsOrRelays],
) -> Mapping[str, tuple[str, ...]]:
    """Convert a ``group_mappings`` map field to group name -> member names."""
    return freeze_group_mappings(
        {name: tuple(value.pin_or_relay_names) for name, value in group_mappings.items()}
    )


def session_snapshot_from_grpc(message: sm_pb2.GetSessionsResponse) -> SessionSnapshot:
    """Convert a GetSessions response."""
    return SessionSnapshot(
        sessions=tuple(session_details_from_grpc(s) for s in message.sessions),
        multiplexer_sessions=tuple(
            multiplexer_session_from_grpc(s) for s in message.multiplexer_sessions
        ),
    )


def pins_from_grpc(message: pm_pb2.QueryPinsResponse) -> PinsAndGroups:
    """Convert a QueryPins response."""
    return PinsAndGroups(
        pins=tuple(
            PinDefinition(display_name=p.display_name, is_system_pin=p.is_system_pin)
            for p in message.pins
        ),
        pin_groups=tuple(
            PinGroupDefinition(
                display_name=g.display_name,
                pin_or_group_references=tuple(g.pin_or_group_references),
                resolved_pins=tuple(g.resolved_pins),
            )
            for g in message.pin_groups
        ),
    )


def relays_from_grpc(message: pm_pb2.QueryRelaysResponse) -> RelaysAndGroups:
    """Convert a QueryRelays response."""
    return RelaysAndGroups(
        relays=tuple(
            RelayDefinition(display_name=r.display_name, is_system_relay=r.is_system_relay)
            for r in message.relays
        ),
        relay_groups=tuple(
            RelayGroupDefinition(
                display_name=g.display_name,
                relay_or_group_references=tuple(g.relay_or_group_references),
                resolved_relays=tuple(g.resolved_relays),
            )
            for g in message.relay_groups
        ),
    )


def resource_access_from_grpc(
    message: pm_pb2.QueryResourceAccessInformationResponse,
) -> ResourceAccess:
    """Convert a QueryResourceAccessInformation response."""
    return ResourceAccess(
        resources=tuple(
            ResourceAccessInformation(
                resource_name=r.resource_name,
                channel_list=r.channel_list,
                instrument_type_id=r.instrument_type_id,
                channel_mappings=tuple(channel_mapping_from_grpc(m) for m in r.channel_mappings),
            )
            for r in message.resource_access_information
        ),
        group_mappings=group_mappings_from_grpc(message.group_mappings),
    )
