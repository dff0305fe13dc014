"""Frozen values the session manager answers with (converted to protobuf at the edge)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pinbroker.pinmap import ChannelMapping

__all__ = ["MultiplexerView", "ReserveResult", "SessionView"]


@dataclass(frozen=True, slots=True)
class SessionView:
    """An instrument session as the Session Management Service reports it.

    Attributes:
        session_name: Name the session is reserved and registered under.
        resource_name: Resource name to open the session with.
        channel_list: Channels selected by the request ("" for reserve-all-registered).
        instrument_type_id: Instrument type id.
        channel_mappings: Selected connections, in channel_list order.
        session_exists: Whether a session with this name is registered.
        session_reserved: Whether a reservation holds it.
        annotations: The reservation's annotations when reserved, else the registered ones.
    """

    session_name: str
    resource_name: str
    channel_list: str
    instrument_type_id: str
    channel_mappings: tuple[ChannelMapping, ...]
    session_exists: bool
    session_reserved: bool
    annotations: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class MultiplexerView:
    """A multiplexer session as the Session Management Service reports it."""

    session_name: str
    resource_name: str
    multiplexer_type_id: str
    session_exists: bool
    annotations: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ReserveResult:
    """Answer to ReserveSessions: the reserved sessions, multiplexers used, group mappings."""

    sessions: tuple[SessionView, ...]
    multiplexers: tuple[MultiplexerView, ...]
    group_mappings: Mapping[str, tuple[str, ...]]
