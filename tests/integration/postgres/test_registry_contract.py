"""One contract, two implementations: registrations, pin maps and events on SQLite and PostgreSQL.

Each test runs against the single-host state (``SessionRegistry`` over a ``SqliteStore``, the
SQLite store's pin maps, an ``EventLog`` restored from the store) and against
``pinbroker.cluster``'s shared ones on a fresh database. The shared-only tests at the end check
what a second server sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pinbroker.broker import PinMapRepository
from pinbroker.broker._pinmaps import PinMapStore
from pinbroker.cluster import Database, SharedEventLog, SharedPinMapStore, SharedRegistry, migrate
from pinbroker.errors import (
    InvalidSessionError,
    PinMapAlreadyExistsError,
    PinMapNotFoundError,
    SessionAlreadyRegisteredError,
)
from pinbroker.events import EventKind, EventLog
from pinbroker.pinmap import ChannelMapping
from pinbroker.registry import (
    MultiplexerRecord,
    SessionRecord,
    SessionRegistry,
    SessionRegistryLike,
)
from pinbroker.store import EventWriter, SqliteStore
from pinbroker.types import InstrumentTypeId, PinMapId, SessionName

PIN_MAP = """<?xml version="1.0" encoding="utf-8"?>
<PinMap schemaVersion="1.1" xmlns="http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd">
  <Instruments>
    <NIDCPowerInstrument name="SMU1" numberOfChannels="4">
      <ChannelGroup name="CommonDCPowerChannelGroup" />
    </NIDCPowerInstrument>
  </Instruments>
  <Pins><DUTPin name="VDD" /></Pins>
  <Sites><Site siteNumber="0" /><Site siteNumber="1" /></Sites>
  <Connections>
    <Connection pin="VDD" siteNumber="0" instrument="SMU1" channel="0" />
    <Connection pin="VDD" siteNumber="1" instrument="SMU1" channel="1" />
  </Connections>
</PinMap>
"""


def session(name: str, type_id: str = "niDCPower", **annotations: str) -> SessionRecord:
    return SessionRecord(
        SessionName(name),
        resource_name=f"{name}-resource",
        channel_list="0, 1",
        instrument_type_id=InstrumentTypeId(type_id),
        channel_mappings=(
            ChannelMapping("A", 0, "0"),
            ChannelMapping("B", -1, "1", "Mux1", "C1->r0", "niSwitch"),
        ),
        annotations=annotations,
    )


def mux(name: str, type_id: str = "niSwitch") -> MultiplexerRecord:
    return MultiplexerRecord(SessionName(name), f"{name}-resource", type_id, {"k": "v"})


@dataclass
class State:
    registry: SessionRegistryLike
    pin_maps: PinMapStore
    events: EventLog
    reopen_registry: object  # () -> SessionRegistryLike: the state as a restarted server sees it


@pytest.fixture(params=["sqlite", "postgres"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[State]:
    if request.param == "sqlite":
        path = tmp_path / "state.db"
        store = SqliteStore(path)
        writer = EventWriter(store, keep=100)
        events = EventLog(capacity=100, on_append=writer.submit)

        def reopen_sqlite() -> SessionRegistryLike:
            return SessionRegistry(store)

        yield State(SessionRegistry(store), store, events, reopen_sqlite)
        writer.close()
        store.close()
        return
    database = Database(request.getfixturevalue("postgres_url"))
    migrate(database)
    shared_events = SharedEventLog(database, capacity=100)

    def reopen_shared() -> SessionRegistryLike:
        return SharedRegistry(database)

    yield State(SharedRegistry(database), SharedPinMapStore(database), shared_events, reopen_shared)
    database.close()


def test_register_get_and_list_in_registration_order(state: State) -> None:
    registry = state.registry
    registry.register([session("b"), session("a", "niScope", note="x")])
    registry.register([session("c")])
    assert registry.get("a") == session("a", "niScope", note="x")
    assert dict(registry.get("a").annotations) == {"note": "x"}  # type: ignore[union-attr]
    assert registry.get("zzz") is None
    assert registry.is_registered("b")
    assert [r.session_name for r in registry.all()] == ["b", "a", "c"]
    assert [r.session_name for r in registry.all("niDCPower")] == ["b", "c"]
    assert registry.all("niDMM") == ()


def test_register_is_all_or_nothing(state: State) -> None:
    registry = state.registry
    registry.register([session("a")])
    with pytest.raises(SessionAlreadyRegisteredError, match="session 'a' is already registered"):
        registry.register([session("b"), session("a")])
    with pytest.raises(SessionAlreadyRegisteredError, match="'x'"):
        registry.register([session("x"), session("y"), session("x", "niScope")])
    with pytest.raises(InvalidSessionError, match=r"session 2 of 2 has an empty name"):
        registry.register([session("z"), session("")])
    assert [r.session_name for r in registry.all()] == ["a"]


def test_unregister_ignores_unknown_names_and_frees_the_name(state: State) -> None:
    registry = state.registry
    registry.register([session("a"), session("b")])
    assert registry.unregister(["nope", "b", "b"]) == (session("b"),)
    assert registry.unregister(["nope"]) == ()
    registry.register([session("b", "niScope")])
    assert registry.get("b") == session("b", "niScope")


def test_multiplexers_are_a_separate_name_space(state: State) -> None:
    registry = state.registry
    registry.register([session("Mux1")])
    registry.register_multiplexers([mux("Mux1"), mux("Mux2", "")])
    assert registry.get_multiplexer("Mux1") == mux("Mux1")
    assert registry.is_multiplexer_registered("Mux2")
    assert [r.session_name for r in registry.all_multiplexers("niSwitch")] == ["Mux1"]
    with pytest.raises(SessionAlreadyRegisteredError, match="multiplexer session 'Mux2'"):
        registry.register_multiplexers([mux("Mux2")])
    assert registry.unregister_multiplexers(["Mux1"]) == (mux("Mux1"),)
    assert registry.get("Mux1") == session("Mux1")


def test_batch_lookups(state: State) -> None:
    registry = state.registry
    registry.register([session("a"), session("b")])
    registry.register_multiplexers([mux("m1"), mux("m2")])
    assert registry.registered_among(["b", "zzz", "a", "m1"]) == {"a", "b"}
    assert registry.registered_among([]) == frozenset()
    assert registry.multiplexers_among(["m2", "a", "nope"]) == {"m2": mux("m2")}
    assert registry.multiplexers_among([]) == {}


def test_registrations_survive_a_restart(state: State) -> None:
    state.registry.register([session("a")])
    state.registry.register_multiplexers([mux("m")])
    again = state.reopen_registry()  # type: ignore[operator]
    assert again.get("a") == session("a")
    assert again.get_multiplexer("m") == mux("m")


def test_pin_maps_store_replace_and_delete(state: State) -> None:
    store = state.pin_maps
    store.put_pin_map(PinMapId("one"), "<a/>")
    store.put_pin_map(PinMapId("two"), "<b/>")
    store.put_pin_map(PinMapId("one"), "<c/>")  # keeps its position
    assert store.load_pin_maps() == [("one", "<c/>"), ("two", "<b/>")]
    assert store.load_pin_map(PinMapId("two")) == "<b/>"
    assert store.load_pin_map(PinMapId("three")) is None


def test_events_are_numbered_from_one(state: State) -> None:
    first = state.events.append(EventKind.REGISTERED, session_names=["a"], reason="r")
    second = state.events.append(EventKind.UNREGISTERED, session_names=["a"])
    assert (first.revision, second.revision) == (1, 2)
    assert [e.kind for e in state.events.since(0)] == [
        EventKind.REGISTERED,
        EventKind.UNREGISTERED,
    ]


# ---------------------------------------------------------------------------- two servers


@pytest.fixture
def database(postgres_url: str) -> Iterator[Database]:
    shared = Database(postgres_url)
    migrate(shared)
    yield shared
    shared.close()


def test_a_registration_through_one_server_is_seen_at_once_by_another(
    database: Database, postgres_url: str
) -> None:
    other = Database(postgres_url)
    try:
        SharedRegistry(database).register([session("a")])
        assert SharedRegistry(other).get("a") == session("a")
        with pytest.raises(SessionAlreadyRegisteredError):
            SharedRegistry(other).register([session("a")])
    finally:
        other.close()


def test_a_pin_map_created_through_one_server_is_found_by_another(database: Database) -> None:
    first = PinMapRepository(SharedPinMapStore(database), shared=True)
    second = PinMapRepository(SharedPinMapStore(database), shared=True)
    first.create("map", PIN_MAP)
    assert second.get("map").pin_map.sites == (0, 1)
    with pytest.raises(PinMapAlreadyExistsError):
        second.create("map", PIN_MAP)
    with pytest.raises(PinMapNotFoundError):
        second.get("nope")
    one_site = PIN_MAP.replace('<Site siteNumber="1" />', "").replace(
        '<Connection pin="VDD" siteNumber="1" instrument="SMU1" channel="1" />', ""
    )
    first.update("map", one_site)
    second.forget("map")  # what the pinbroker_pin_maps notification does
    assert second.get("map").pin_map.sites == (0,)


def test_events_of_one_server_reach_another(database: Database) -> None:
    first = SharedEventLog(database, capacity=10)
    second = SharedEventLog(database, capacity=10)
    first.append(EventKind.PIN_MAP_LOADED, reason="map")
    second.pull()
    assert [(e.revision, e.reason) for e in second.since(0)] == [(1, "map")]
    second.append(EventKind.PIN_MAP_LOADED, reason="again")
    first.pull()
    assert [e.revision for e in first.since(0)] == [1, 2]
