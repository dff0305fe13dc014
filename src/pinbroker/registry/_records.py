"""Frozen records of registered sessions and multiplexer sessions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pinbroker.pinmap._results import ChannelMapping
from pinbroker.types import InstrumentTypeId, SessionName

__all__ = ["MultiplexerRecord", "SessionRecord"]

_EMPTY: Mapping[str, str] = MappingProxyType({})


def _freeze(annotations: Mapping[str, str]) -> Mapping[str, str]:
    """Return a read-only copy of ``annotations``.

    Raises:
        TypeError: If a key or value is not a ``str``.
    """
    if not annotations:
        return _EMPTY
    copy = dict(annotations)
    for key, value in copy.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"annotation {key!r}: {value!r} is not a str -> str pair")
    return MappingProxyType(copy)


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
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_mappings", tuple(self.channel_mappings))
        object.__setattr__(self, "annotations", _freeze(self.annotations))


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
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "annotations", _freeze(self.annotations))
