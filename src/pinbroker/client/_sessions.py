"""Frozen values the session client answers with (no protobuf here; see ``_convert``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ni_measurementlink_service.session_management import (
    ChannelMapping as SeedChannelMapping,
)
from ni_measurementlink_service.session_management import (
    SessionInformation,
)
from pinbroker.pinmap import ChannelMapping

__all__ = [
    "Connection",
    "MultiplexerSessionDetails",
    "SessionDetails",
    "SessionSnapshot",
]


def _frozen_mapping(values: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(values))


def _no_annotations() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class SessionDetails:
    """Everything the session management service reports about one instrument session.

    The documented :class:`~ni_measurementlink_service.session_management.SessionInformation`
    shows six of these fields; this value keeps all of them, so sending it back to the service
    (register, unregister) loses nothing.

    Attributes:
        session_name: Name of the session; the unit of reservation and registration.
        resource_name: Resource name to open the session with in the driver.
        channel_list: ``", "``-joined channels of the reserved pins and sites; empty for sessions
            from ``reserve_all_registered_sessions`` and ``get_sessions``.
        instrument_type_id: Instrument type of the session, e.g. ``niDCPower``.
        session_exists: Whether the session is registered (opened by someone).
        session_reserved: Whether the session is reserved.
        channel_mappings: One mapping per selected connection, in ``channel_list`` order. The
            session management service does not report ``multiplexer_type_id``; it is "".
        annotations: Annotations the service attached to the session (e.g. who reserved it).
    """

    session_name: str
    resource_name: str
    channel_list: str
    instrument_type_id: str
    session_exists: bool
    session_reserved: bool = False
    channel_mappings: tuple[ChannelMapping, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=_no_annotations, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_mappings", tuple(self.channel_mappings))
        object.__setattr__(self, "annotations", _frozen_mapping(self.annotations))

    def to_session_information(self) -> SessionInformation:
        """Return the documented 1.2 view of this session (six fields, plain channel mappings)."""
        return SessionInformation(
            session_name=self.session_name,
            resource_name=self.resource_name,
            channel_list=self.channel_list,
            instrument_type_id=self.instrument_type_id,
            session_exists=self.session_exists,
            channel_mappings=[
                SeedChannelMapping(m.pin_or_relay_name, m.site, m.channel)
                for m in self.channel_mappings
            ],
        )


@dataclass(frozen=True, slots=True)
class MultiplexerSessionDetails:
    """What the service reports about one multiplexer session.

    Attributes:
        session_name: Name of the multiplexer session (the multiplexer's name in the pin map).
        resource_name: Resource name to open the multiplexer with in the driver.
        multiplexer_type_id: The multiplexer's ``multiplexerTypeId`` in the pin map (may be "").
        session_exists: Whether the multiplexer session is registered.
        annotations: Annotations the service attached to the session.
    """

    session_name: str
    resource_name: str
    multiplexer_type_id: str = ""
    session_exists: bool = False
    annotations: Mapping[str, str] = field(default_factory=_no_annotations, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "annotations", _frozen_mapping(self.annotations))


@dataclass(frozen=True, slots=True)
class Connection:
    """One pin or relay on one site, wired to a channel of a reserved session.

    Attributes:
        pin_or_relay_name: The pin or relay.
        site: Its site; ``pinbroker.types.SITE_SYSTEM`` (-1) for system pins and relays.
        channel_name: The instrument channel, as the session's channel list spells it.
        session_info: The instrument session the channel belongs to.
        multiplexer_resource_name: Multiplexer the connection is routed through, else "".
        multiplexer_route: Route through that multiplexer, else "".
        multiplexer_session_info: That multiplexer's session, when the reservation reported it.
    """

    pin_or_relay_name: str
    site: int
    channel_name: str
    session_info: SessionDetails
    multiplexer_resource_name: str = ""
    multiplexer_route: str = ""
    multiplexer_session_info: MultiplexerSessionDetails | None = None

    @property
    def instrument_type_id(self) -> str:
        """Instrument type of the session the connection belongs to."""
        return self.session_info.instrument_type_id


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """The sessions the service knows at one moment (reserved or registered).

    Attributes:
        sessions: Instrument sessions that are reserved or registered.
        multiplexer_sessions: Registered multiplexer sessions.
    """

    sessions: tuple[SessionDetails, ...]
    multiplexer_sessions: tuple[MultiplexerSessionDetails, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "sessions", tuple(self.sessions))
        object.__setattr__(self, "multiplexer_sessions", tuple(self.multiplexer_sessions))

    def by_name(self) -> Mapping[str, SessionDetails]:
        """Return the instrument sessions keyed by session name."""
        return MappingProxyType({s.session_name: s for s in self.sessions})


def freeze_group_mappings(
    group_mappings: Mapping[str, Iterable[str]] | None,
) -> Mapping[str, tuple[str, ...]]:
    """Return a read-only copy of group -> members, members as tuples."""
    if not group_mappings:
        return MappingProxyType({})
    return MappingProxyType({k: tuple(v) for k, v in group_mappings.items()})
