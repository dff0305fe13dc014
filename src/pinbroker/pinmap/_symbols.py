"""Name tables shared by validation, indexing and resolution."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from pinbroker.pinmap._model import Instrument, Multiplexer

__all__ = ["PIN_KINDS", "RELAY_KINDS", "NameKind", "Symbols"]


class NameKind(enum.Enum):
    """What a name in the pin/relay name space denotes."""

    DUT_PIN = "DUT pin"
    SYSTEM_PIN = "system pin"
    PIN_GROUP = "pin group"
    SITE_RELAY = "site relay"
    SYSTEM_RELAY = "system relay"
    RELAY_GROUP = "relay group"


PIN_KINDS = frozenset({NameKind.DUT_PIN, NameKind.SYSTEM_PIN})
RELAY_KINDS = frozenset({NameKind.SITE_RELAY, NameKind.SYSTEM_RELAY})


@dataclass(slots=True)
class Symbols:
    """Name tables built while validating, reused by indexing.

    Attributes:
        names: Pin, pin group, relay and relay group names -> what they are.
        instruments: Instrument name -> instrument (multiplexers excluded).
        multiplexers: Multiplexer name -> multiplexer.
        sites: Site numbers in declaration order (duplicates removed).
        site_lists: Each distinct ``siteNumber`` text of the connections -> its sites.
        targets: Each distinct instrument (or relay driver) named by a connection.
        dcpower_pairs: Each distinct (DCPower instrument, channel) pair of the connections.
        dcpower_groups: DCPower instrument name -> channel number -> channel group name; the
            key ``-1`` holds the group that covers all channels, if any.
    """

    names: dict[str, NameKind] = field(default_factory=dict)
    instruments: dict[str, Instrument] = field(default_factory=dict)
    multiplexers: dict[str, Multiplexer] = field(default_factory=dict)
    sites: list[int] = field(default_factory=list)
    site_lists: dict[str, tuple[int, ...]] = field(default_factory=dict)
    targets: set[str] = field(default_factory=set)
    dcpower_pairs: list[tuple[str, str]] = field(default_factory=list)
    dcpower_groups: dict[str, dict[int, str]] = field(default_factory=dict)
