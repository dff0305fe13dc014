"""Conversion between the session manager's values and Session Management protobuf messages.

The wire's milliseconds and -1 live here only (via ``timeout_from_milliseconds``).
"""

from __future__ import annotations

from collections.abc import Iterable

import session_pb2
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2 as pb

from pinbroker._channel_mapping_pb import channel_mapping_from_pb
from pinbroker._channel_mapping_pb import channel_mapping_to_session_pb as channel_mapping_to_pb
from pinbroker.broker import MultiplexerView, ReserveResult, SessionView
from pinbroker.registry import MultiplexerRecord, SessionRecord
from pinbroker.server._convert_pinmap import group_mappings_to_pb
from pinbroker.types import InstrumentTypeId, SessionName

__all__ = [
    "channel_mapping_from_pb",
    "channel_mapping_to_pb",
    "multiplexer_record_from_pb",
    "multiplexer_view_to_pb",
    "reserve_result_to_pb",
    "session_names_of",
    "session_record_from_pb",
    "session_view_to_pb",
]


def session_view_to_pb(view: SessionView) -> pb.SessionInformation:
    """Convert a session view to SessionInformation."""
    return pb.SessionInformation(
        session=session_pb2.Session(name=view.session_name),
        resource_name=view.resource_name,
        channel_list=view.channel_list,
        instrument_type_id=view.instrument_type_id,
        session_exists=view.session_exists,
        channel_mappings=[channel_mapping_to_pb(m) for m in view.channel_mappings],
        annotations=dict(view.annotations),
        session_reserved=view.session_reserved,
    )


def multiplexer_view_to_pb(view: MultiplexerView) -> pb.MultiplexerSessionInformation:
    """Convert a multiplexer view to MultiplexerSessionInformation."""
    return pb.MultiplexerSessionInformation(
        session=session_pb2.Session(name=view.session_name),
        resource_name=view.resource_name,
        multiplexer_type_id=view.multiplexer_type_id,
        session_exists=view.session_exists,
        annotations=dict(view.annotations),
    )


def reserve_result_to_pb(result: ReserveResult) -> pb.ReserveSessionsResponse:
    """Build a ReserveSessionsResponse."""
    return pb.ReserveSessionsResponse(
        sessions=[session_view_to_pb(s) for s in result.sessions],
        multiplexer_sessions=[multiplexer_view_to_pb(m) for m in result.multiplexers],
        group_mappings=group_mappings_to_pb(result.group_mappings, pb.ResolvedPinsOrRelays),
    )


def session_record_from_pb(info: pb.SessionInformation) -> SessionRecord:
    """Convert SessionInformation sent by a client (RegisterSessions) to a registry record."""
    return SessionRecord(
        session_name=SessionName(info.session.name),
        resource_name=info.resource_name,
        channel_list=info.channel_list,
        instrument_type_id=InstrumentTypeId(info.instrument_type_id),
        channel_mappings=tuple(channel_mapping_from_pb(m) for m in info.channel_mappings),
        annotations=dict(info.annotations),
    )


def multiplexer_record_from_pb(info: pb.MultiplexerSessionInformation) -> MultiplexerRecord:
    """Convert MultiplexerSessionInformation sent by a client to a registry record."""
    return MultiplexerRecord(
        session_name=SessionName(info.session.name),
        resource_name=info.resource_name,
        multiplexer_type_id=info.multiplexer_type_id,
        annotations=dict(info.annotations),
    )


def session_names_of(
    infos: Iterable[pb.SessionInformation | pb.MultiplexerSessionInformation],
) -> list[str]:
    """Return the session names of the given session informations, in order."""
    return [info.session.name for info in infos]
