"""Both stores keep the same promises: round trips, order, atomic batches, closed state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pinbroker.errors import SessionAlreadyRegisteredError
from pinbroker.pinmap import ChannelMapping
from pinbroker.registry import MultiplexerRecord, SessionRecord
from pinbroker.reservation import FakeClock, Reservation, ReservationId, ReservationTable
from pinbroker.store import MemoryStore, SqliteStore, Store
from pinbroker.types import InstrumentTypeId, PinMapId, SessionName

RID = ReservationId
SN = SessionName


def session(name: str, **annotations: str) -> SessionRecord:
    return SessionRecord(
        SN(name),
        resource_name=f"PXI1Slot2, {name}",
        channel_list="DCPower1/0, DCPower1/10",
        instrument_type_id=InstrumentTypeId("niDCPower"),
        channel_mappings=(
            ChannelMapping("VDD", 0, "DCPower1/0"),
            ChannelMapping("VCC", -1, "DCPower1/10", "Mux1", "C1->r2, C2->r2", "niSwitch"),
            ChannelMapping("Ω pin", 3, "DCPower1/0", "", "", ""),
        ),
        annotations=annotations,
    )


def mux(name: str, type_id: str = "niSwitch") -> MultiplexerRecord:
    return MultiplexerRecord(SN(name), f"{name}/res", type_id, {"ni/registered.username": "bob"})


def reservation(rid: int, names: tuple[str, ...], owner: str = "alice") -> Reservation:
    return Reservation(RID(rid), tuple(SN(n) for n in names), owner, {"k": "v"}, 1700000123.25)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.db")
    yield store
    store.close()


def put(store: Store, r: Reservation) -> None:
    store.put_reservation(r.id, r.session_names, r.owner, r.annotations, r.acquired_at)


# ---------------------------------------------------------------------------- pin maps


def test_pin_maps_round_trip_in_insertion_order(store: Store) -> None:
    store.put_pin_map(PinMapId("b.pinmap"), "<PinMap b/>")
    store.put_pin_map(PinMapId("a.pinmap"), "<PinMap a/>")
    store.put_pin_map(PinMapId("c.pinmap"), "<PinMap c='ü'/>")
    store.put_pin_map(PinMapId("b.pinmap"), "<PinMap b2/>")  # update keeps its place
    store.delete_pin_map(PinMapId("a.pinmap"))
    store.delete_pin_map(PinMapId("unknown"))

    assert store.load_pin_maps() == [
        ("b.pinmap", "<PinMap b2/>"),
        ("c.pinmap", "<PinMap c='ü'/>"),
    ]

    store.put_pin_map(PinMapId("a.pinmap"), "<PinMap a/>")  # re-added: last
    assert [pin_map_id for pin_map_id, _ in store.load_pin_maps()] == [
        "b.pinmap",
        "c.pinmap",
        "a.pinmap",
    ]


# ---------------------------------------------------------------------------- sessions


def test_sessions_round_trip_with_nested_fields(store: Store) -> None:
    records = [session("s2", **{"ni/registered.hostname": "h", "ü": "✓"}), session("s1")]
    store.add_sessions(records)
    store.add_sessions([session("s3")])
    store.remove_sessions([SN("s1"), SN("unknown")])

    assert store.load_sessions() == [records[0], session("s3")]
    assert store.load_sessions()[0].channel_mappings == records[0].channel_mappings


@pytest.mark.parametrize(("batch", "culprit"), [(["new", "old"], "old"), (["new", "new"], "new")])
def test_adding_a_stored_or_repeated_session_writes_nothing(
    store: Store, batch: list[str], culprit: str
) -> None:
    store.add_sessions([session("old")])

    with pytest.raises(SessionAlreadyRegisteredError, match=f"session '{culprit}'"):
        store.add_sessions([session(name) for name in batch])

    assert store.load_sessions() == [session("old")]


def test_multiplexer_sessions_round_trip(store: Store) -> None:
    store.add_multiplexer_sessions([mux("m2"), mux("m1", "")])
    store.add_sessions([session("m1")])  # a separate name space
    with pytest.raises(SessionAlreadyRegisteredError, match="multiplexer session 'm1'"):
        store.add_multiplexer_sessions([mux("m3"), mux("m1")])
    store.remove_multiplexer_sessions([SN("m2"), SN("unknown")])

    assert store.load_multiplexer_sessions() == [mux("m1", "")]
    assert store.load_sessions() == [session("m1")]


# ---------------------------------------------------------------------------- reservations


def test_reservations_round_trip_by_id(store: Store) -> None:
    put(store, reservation(9, ("Z", "A", "M"), "bob"))
    put(store, reservation(2, ("B",)))

    assert store.load_reservations() == [
        reservation(2, ("B",)),
        reservation(9, ("Z", "A", "M"), "bob"),
    ]
    loaded = store.load_reservations()[1]
    assert (loaded.annotations, loaded.acquired_at) == ({"k": "v"}, 1700000123.25)


def test_put_replaces_a_reservation(store: Store) -> None:
    put(store, reservation(1, ("A", "B")))
    store.put_reservation(RID(1), [SN("B"), SN("C")], "carol", {"x": "y"}, 5.0)

    assert store.load_reservations() == [
        Reservation(RID(1), (SN("B"), SN("C")), "carol", {"x": "y"}, 5.0)
    ]
    put(store, reservation(2, ("A",)))  # A was freed by the replacement


def test_put_refuses_a_session_of_another_reservation(store: Store) -> None:
    put(store, reservation(1, ("A",)))

    with pytest.raises(ValueError, match="session 'A' belongs to reservation 1, not 2"):
        put(store, reservation(2, ("B", "A")))
    with pytest.raises(ValueError, match="holds no session"):
        store.put_reservation(RID(3), [], "x", {}, 0.0)

    assert store.load_reservations() == [reservation(1, ("A",))]


def test_deleting_reservation_sessions_shrinks_and_drops(store: Store) -> None:
    put(store, reservation(1, ("A", "B", "C")))
    put(store, reservation(2, ("D",)))

    store.delete_reservation_sessions([SN("B"), SN("D"), SN("unknown")])

    assert store.load_reservations() == [reservation(1, ("A", "C"))]
    store.delete_reservation(RID(1))
    store.delete_reservation(RID(42))
    assert store.load_reservations() == []
    put(store, reservation(3, ("A", "B", "C", "D")))  # every session is free again


def test_a_table_journals_into_the_store_and_restores_from_it(store: Store) -> None:
    clock = FakeClock()
    table = ReservationTable(clock=clock, journal=store)
    first = table.reserve(["A", "B"], owner="alice", timeout=0, annotations={"u": "alice"})
    table.reserve(["C"], owner="bob", timeout=0)
    table.release(["B", "C"])

    assert store.load_reservations() == [
        Reservation(first.id, (SN("A"),), "alice", {"u": "alice"}, first.acquired_at)
    ]

    restarted = ReservationTable(clock=clock, journal=store)
    restarted.restore(store.load_reservations())
    assert restarted.annotations_of("A") == {"u": "alice"}
    assert restarted.reserve(["B"], owner="carol", timeout=0).id > first.id
    restarted.release(["A"])
    assert [r.session_names for r in store.load_reservations()] == [(SN("B"),)]


# ---------------------------------------------------------------------------- closing


def test_a_closed_store_refuses_everything(store: Store) -> None:
    store.close()
    store.close()

    with pytest.raises(ValueError, match="closed"):
        store.load_pin_maps()
    with pytest.raises(ValueError, match="closed"):
        store.add_sessions([session("s")])
    with pytest.raises(ValueError, match="closed"):
        put(store, reservation(1, ("A",)))
