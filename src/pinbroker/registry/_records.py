"""Frozen records of registered sessions and multiplexer sessions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pinbroker._annotations import EMPTY_ANNOTATIONS, freeze_annotations
from pinbroker.pinmap import ChannelMapping
from pinbroker.types import InstrumentTypeId, SessionName

__all__ = ["MultiplexerRecord", "SessionRecord"]


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """An instrument session registered as open (RegisterSessions), keyed by its name.

    Attributes:
        session_name: The key; never empty once registered.
        resource_name: Resource name the session was opened with.
        channel_list: Channel list as the client sent it.
        instrument_type_id: Instrument type id (``niDCPower``, a custom id, ...).
        channel_mappings: The connections the client sent, in order.
        annotations: Registration annotations (read-only; excluded from hashing).

    Raises:
        TypeError: On construction, if an annotation key or value is not a ``str``.
    """

    session_name: SessionName
    resource_name: str
    channel_list: str
    instrument_type_id: InstrumentTypeId
    channel_mappings: tuple[ChannelMapping, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=lambda: EMPTY_ANNOTATIONS, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_mappings", tuple(self.channel_mappings))
        object.__setattr__(self, "annotations", freeze_annotations(self.annotations))


@dataclass(frozen=True, slots=True)
class MultiplexerRecord:
    """A multiplexer session registered as open (RegisterMultiplexerSessions).

    Attributes:
        session_name: The key; never empty once registered.
        resource_name: Resource name of the multiplexer.
        multiplexer_type_id: The multiplexer's type id (may be "").
        annotations: Registration annotations (read-only; excluded from hashing).

    Raises:
        TypeError: On construction, if an annotation key or value is not a ``str``.
    """

    session_name: SessionName
    resource_name: str
    multiplexer_type_id: str = ""
    annotations: Mapping[str, str] = field(default_factory=lambda: EMPTY_ANNOTATIONS, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "annotations", freeze_annotations(self.annotations))
