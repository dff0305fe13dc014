"""The pin map engine: parse NI ``.pinmap`` XML, validate it, and resolve pins x sites to sessions.

Pure Python (lxml only): no grpc, no protobuf. Typical use::

    from pinbroker.pinmap import load_pinmap_file

    pin_map = load_pinmap_file("examples/two_site.pinmap")
    resolution = pin_map.resolve(sites=[0], names=["VDD"], instrument_type_id="niDCPower")
    for session in resolution.sessions:
        print(session.session_name, session.channel_list)

Behaviour follows ``docs/pinmap-engine.md`` and the project's session-mapping specification.
"""

from __future__ import annotations

from pinbroker.pinmap._limits import DEFAULT_LIMITS, ParseLimits
from pinbroker.pinmap._model import (
    ChannelGroup,
    Connection,
    ConnectionKind,
    Element,
    Instrument,
    InstrumentKind,
    Multiplexer,
    Pin,
    PinGroup,
    Relay,
    RelayConfiguration,
    RelayGroup,
    RelayPosition,
)
from pinbroker.pinmap._parser import PINMAP_NAMESPACE
from pinbroker.pinmap._pinmap import PinMap, load_pinmap, load_pinmap_file
from pinbroker.pinmap._results import (
    ChannelMapping,
    MultiplexerResource,
    PinDefinition,
    PinGroupDefinition,
    RelayDefinition,
    RelayGroupDefinition,
    Resolution,
    SessionResource,
)
from pinbroker.pinmap._validate import NameKind

__all__ = [
    "DEFAULT_LIMITS",
    "PINMAP_NAMESPACE",
    "ChannelGroup",
    "ChannelMapping",
    "Connection",
    "ConnectionKind",
    "Element",
    "Instrument",
    "InstrumentKind",
    "Multiplexer",
    "MultiplexerResource",
    "NameKind",
    "ParseLimits",
    "Pin",
    "PinDefinition",
    "PinGroup",
    "PinGroupDefinition",
    "PinMap",
    "Relay",
    "RelayConfiguration",
    "RelayDefinition",
    "RelayGroup",
    "RelayGroupDefinition",
    "RelayPosition",
    "Resolution",
    "SessionResource",
    "load_pinmap",
    "load_pinmap_file",
]
