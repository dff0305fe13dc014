"""Which instrument session each connection belongs to (session-mapping.md section b).

Session keys:

* ``niDCPower``: the ``ChannelGroup`` name, across all DCPower instruments; an instrument with no
  ``ChannelGroup`` is one group of all its channels, kept apart from named groups;
* ``niDigitalPattern``: the ``group`` attribute (instruments with equal groups share a session;
  instruments without ``group`` share the one default session, as TSM did before groups);
* ``niScope``: the ``group`` attribute (an instrument without ``group`` is its own session);
* every other type: the instrument (DAQmx task, relay driver module, custom ``Instrument``...).

Sessions are numbered in pin map declaration order of their first instrument (and, within a
DCPower instrument, of their first channel group); that number is their order in answers.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from pinbroker.pinmap._model import Instrument, InstrumentKind
from pinbroker.types import (
    INSTRUMENT_TYPE_NI_DAQMX,
    InstrumentTypeId,
    SessionName,
    SessionNaming,
)

__all__ = ["ChannelStyle", "SessionPlan", "SessionSpec", "plan_sessions", "resource_names"]


class ChannelStyle(enum.IntEnum):
    """How a mapping's channel string is formed."""

    AS_STORED = 0
    """The row's stored channel: verbatim, or ``<instrument>/<n>`` already for DCPower."""
    QUALIFIED = 1
    """``<instrument>/<channel>`` (scope session spanning several instruments)."""
    DIGITAL = 2
    """``site<N>/<pin>``; a system pin's channel is its bare name."""


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """An instrument session the pin map defines, with its names precomputed.

    Attributes:
        rank: Position in declaration order (answers list sessions by rank).
        instrument_type_id: The session's instrument type id.
        resource_name: Resource name used to open the session.
        style: How channel strings of its mappings are formed.
        typed_name: Session name under ``SessionNaming.TYPED``.
        connected: True if some connection of the pin map uses the session.
    """

    rank: int
    instrument_type_id: InstrumentTypeId
    resource_name: str
    style: ChannelStyle
    typed_name: SessionName
    connected: bool

    def session_name(self, naming: SessionNaming) -> SessionName:
        """Return the session name under ``naming``."""
        if naming is SessionNaming.TYPED:
            return self.typed_name
        return SessionName(self.resource_name)


@dataclass(slots=True)
class SessionPlan:
    """Session keys of a pin map before its connections are read.

    Attributes:
        kinds: Per session rank, the instrument kind that forms it.
        type_ids: Per session rank, its instrument type id.
        members: Per session rank, the instruments that may contribute to it, in declaration
            order.
        instrument_session: Non-DCPower instrument name -> session rank.
        dcpower_session: DCPower instrument name -> channel -> session rank (key ``-1``: the
            group that takes every channel).
    """

    kinds: list[InstrumentKind]
    type_ids: list[InstrumentTypeId]
    members: list[list[str]]
    instrument_session: dict[str, int]
    dcpower_session: dict[str, dict[int, int]]


def plan_sessions(
    instruments: Sequence[Instrument], dcpower_groups: dict[str, dict[int, str]]
) -> SessionPlan:
    """Number the sessions of ``instruments`` (declaration order) and map instruments to them.

    Args:
        instruments: The validated instruments, in declaration order (multiplexers excluded).
        dcpower_groups: DCPower instrument -> channel -> group name, as validation built it.

    Returns:
        The plan.
    """
    plan = SessionPlan([], [], [], {}, {})
    ranks: dict[Hashable, int] = {}
    members: list[dict[str, None]] = []

    def rank_of(key: Hashable, instrument: Instrument) -> int:
        rank = ranks.get(key)
        if rank is None:
            rank = ranks[key] = len(plan.kinds)
            plan.kinds.append(instrument.kind)
            plan.type_ids.append(instrument.instrument_type_id)
            members.append({})
        members[rank][instrument.name] = None
        return rank

    for instrument in instruments:
        kind = instrument.kind
        if kind is InstrumentKind.DCPOWER:
            implicit = {group.name for group in instrument.channel_groups if group.implicit}
            channels = plan.dcpower_session.setdefault(instrument.name, {})
            group_rank: dict[str, int] = {}
            for group in instrument.channel_groups:
                key = ("dcpower-instrument" if group.name in implicit else "dcpower", group.name)
                group_rank[group.name] = rank_of(key, instrument)
            for channel, group_name in dcpower_groups.get(instrument.name, {}).items():
                channels[channel] = group_rank[group_name]
        elif kind is InstrumentKind.DIGITAL_PATTERN:
            plan.instrument_session[instrument.name] = rank_of(
                ("digital", instrument.group), instrument
            )
        elif kind is InstrumentKind.SCOPE and instrument.group is not None:
            plan.instrument_session[instrument.name] = rank_of(
                ("scope", instrument.group), instrument
            )
        else:
            plan.instrument_session[instrument.name] = rank_of(
                ("instrument", instrument.name), instrument
            )
    plan.members = [list(names) for names in members]
    return plan


def resource_names(
    plan: SessionPlan,
    instrument_ranks: dict[str, int],
    connected_instruments: list[set[str]],
    connected_dcpower: list[set[tuple[int, int]]],
    instrument_names: Sequence[str],
) -> tuple[SessionSpec, ...]:
    """Finish the sessions once the connections are known.

    Args:
        plan: The session plan.
        instrument_ranks: Instrument name -> declaration position.
        connected_instruments: Per session, the instruments some connection uses.
        connected_dcpower: Per DCPower session, the (instrument position, channel) pairs some
            connection uses.
        instrument_names: Instrument names by declaration position.

    Returns:
        One spec per session, indexed by rank.
    """
    specs: list[SessionSpec] = []
    for rank, kind in enumerate(plan.kinds):
        style = ChannelStyle.AS_STORED
        connected = bool(connected_instruments[rank] or connected_dcpower[rank])
        if kind is InstrumentKind.DCPOWER:
            resource = ", ".join(
                f"{instrument_names[position]}/{channel}"
                for position, channel in sorted(connected_dcpower[rank])
            )
        elif kind in (InstrumentKind.DIGITAL_PATTERN, InstrumentKind.SCOPE):
            used = sorted(connected_instruments[rank], key=instrument_ranks.__getitem__)
            resource = ", ".join(used) if used else ", ".join(plan.members[rank])
            if kind is InstrumentKind.DIGITAL_PATTERN:
                style = ChannelStyle.DIGITAL
            elif len(used) > 1:
                style = ChannelStyle.QUALIFIED
        else:
            resource = plan.members[rank][0]
        type_id = plan.type_ids[rank]
        typed = resource if type_id == INSTRUMENT_TYPE_NI_DAQMX else f"{type_id}-{resource}"
        specs.append(SessionSpec(rank, type_id, resource, style, SessionName(typed), connected))
    return tuple(specs)
