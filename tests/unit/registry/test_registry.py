"""Registered sessions and multiplexer sessions: all-or-nothing, write-through, thread-safe."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pinbroker.errors import InvalidSessionError, SessionAlreadyRegisteredError
from pinbroker.pinmap import ChannelMapping
from pinbroker.registry import MultiplexerRecord, SessionRecord, SessionRegistry
from pinbroker.store import MemoryStore, SqliteStore, Store
from pinbroker.types import InstrumentTypeId, SessionName


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


class FailingStore(MemoryStore):
    """A MemoryStore whose writes fail when told to."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = False
        self.writes = 0

    def _write(self) -> None:
        self.writes += 1
        if self.failing:
            raise OSError("disk full")

    def add_sessions(self, records: Sequence[SessionRecord]) -> None:
        self._write()
        super().add_sessions(records)

    def remove_sessions(self, session_names: Sequence[SessionName]) -> None:
        self._write()
        super().remove_sessions(session_names)

    def add_multiplexer_sessions(self, records: Sequence[MultiplexerRecord]) -> None:
        self._write()
        super().add_multiplexer_sessions(records)

    def remove_multiplexer_sessions(self, session_names: Sequence[SessionName]) -> None:
        self._write()
        super().remove_multiplexer_sessions(session_names)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.db")
    yield store
    store.close()


# ---------------------------------------------------------------------------- sessions


def test_register_get_and_list_in_registration_order() -> None:
    registry = SessionRegistry()
    registry.register([session("b"), session("a", "niScope")])
    registry.register([session("c")])

    assert registry.get("a") == session("a", "niScope")
    assert registry.get("zzz") is None
    assert registry.is_registered("b")
    assert not registry.is_registered("zzz")
    assert [r.session_name for r in registry.all()] == ["b", "a", "c"]
    assert [r.session_name for r in registry.all("niDCPower")] == ["b", "c"]
    assert [r.session_name for r in registry.all("niScope")] == ["a"]
    assert registry.all("niDMM") == ()


def test_empty_name_rejects_the_whole_call() -> None:
    registry = SessionRegistry()

    with pytest.raises(InvalidSessionError, match=r"session 2 of 2 has an empty name"):
        registry.register([session("a"), session("")])

    assert registry.all() == ()


def test_already_registered_name_rejects_the_whole_call() -> None:
    registry = SessionRegistry()
    registry.register([session("a")])

    with pytest.raises(SessionAlreadyRegisteredError, match="session 'a' is already registered"):
        registry.register([session("b"), session("a")])

    assert [r.session_name for r in registry.all()] == ["a"]
    assert registry.get("a") == session("a")


def test_name_repeated_within_one_call_rejects_it() -> None:
    registry = SessionRegistry()

    with pytest.raises(SessionAlreadyRegisteredError, match="'x'"):
        registry.register([session("x"), session("y"), session("x", "niScope")])

    assert registry.all() == ()


def test_unregister_ignores_unknown_names_and_frees_the_name() -> None:
    registry = SessionRegistry()
    registry.register([session("a"), session("b")])

    removed = registry.unregister(["nope", "b", "b"])

    assert removed == (session("b"),)
    assert registry.unregister(["nope"]) == ()
    assert not registry.is_registered("b")
    registry.register([session("b", "niScope")])
    assert registry.get("b") == session("b", "niScope")


def test_registering_nothing_is_allowed() -> None:
    store = FailingStore()
    registry = SessionRegistry(store)

    registry.register([])
    registry.unregister([])
    registry.register_multiplexers([])
    registry.unregister_multiplexers([])

    assert store.writes == 0


# ---------------------------------------------------------------------------- multiplexers


def test_multiplexer_sessions_are_a_separate_name_space() -> None:
    registry = SessionRegistry()
    registry.register([session("Mux1")])

    registry.register_multiplexers([mux("Mux1"), mux("Mux2", "")])

    assert registry.get_multiplexer("Mux1") == mux("Mux1")
    assert registry.get_multiplexer("nope") is None
    assert registry.get("Mux1") == session("Mux1")
    assert [r.session_name for r in registry.all_multiplexers()] == ["Mux1", "Mux2"]
    assert [r.session_name for r in registry.all_multiplexers("niSwitch")] == ["Mux1"]
    assert registry.is_multiplexer_registered("Mux2")
    assert not registry.is_registered("Mux2")
    with pytest.raises(
        SessionAlreadyRegisteredError, match="multiplexer session 'Mux1' is already registered"
    ):
        registry.register_multiplexers([mux("Mux3"), mux("Mux1")])
    with pytest.raises(InvalidSessionError, match="multiplexer session 1 of 1 has an empty"):
        registry.register_multiplexers([mux("")])
    assert not registry.is_multiplexer_registered("Mux3")
    assert registry.unregister_multiplexers(["Mux1", "nope"]) == (mux("Mux1"),)
    assert not registry.is_multiplexer_registered("Mux1")
    assert registry.is_registered("Mux1")


# ---------------------------------------------------------------------------- store


def test_registrations_are_written_through_and_reloaded(store: Store) -> None:
    registry = SessionRegistry(store)
    registry.register([session("a", user="alice"), session("b")])
    registry.register_multiplexers([mux("m"), mux("n")])
    registry.unregister(["a"])
    registry.unregister_multiplexers(["n"])

    assert store.load_sessions() == [session("b")]
    assert store.load_multiplexer_sessions() == [mux("m")]
    reloaded = SessionRegistry(store)
    assert reloaded.all() == (session("b"),)
    assert reloaded.all_multiplexers() == (mux("m"),)
    with pytest.raises(SessionAlreadyRegisteredError):
        reloaded.register([session("b")])
    with pytest.raises(SessionAlreadyRegisteredError):
        reloaded.register_multiplexers([mux("m")])


def test_a_failing_store_changes_nothing() -> None:
    store = FailingStore()
    registry = SessionRegistry(store)
    registry.register([session("a")])
    registry.register_multiplexers([mux("m")])
    store.failing = True

    with pytest.raises(OSError, match="disk full"):
        registry.register([session("b")])
    with pytest.raises(OSError, match="disk full"):
        registry.unregister(["a"])
    with pytest.raises(OSError, match="disk full"):
        registry.register_multiplexers([mux("n")])
    with pytest.raises(OSError, match="disk full"):
        registry.unregister_multiplexers(["m"])

    assert registry.all() == (session("a"),)
    assert registry.all_multiplexers() == (mux("m"),)
    store.failing = False
    registry.register([session("b")])
    assert store.load_sessions() == [session("a"), session("b")]


def test_an_invalid_call_never_reaches_the_store() -> None:
    store = FailingStore()
    registry = SessionRegistry(store)
    registry.register([session("a")])
    registry.register_multiplexers([mux("m")])
    writes = store.writes

    with pytest.raises(InvalidSessionError):
        registry.register([session("")])
    with pytest.raises(SessionAlreadyRegisteredError):
        registry.register([session("a")])
    with pytest.raises(SessionAlreadyRegisteredError):
        registry.register_multiplexers([mux("m")])
    registry.unregister(["unknown"])
    registry.unregister_multiplexers(["unknown"])

    assert store.writes == writes


# ---------------------------------------------------------------------------- concurrency


def test_concurrent_registration_of_one_name_lets_exactly_one_win() -> None:
    registry = SessionRegistry(MemoryStore())
    threads = 16
    start = threading.Barrier(threads)
    outcomes: list[str] = []
    lock = threading.Lock()

    def register(index: int) -> None:
        start.wait()
        try:
            registry.register([session(f"own-{index}"), session("shared")])
            outcome = "won"
        except SessionAlreadyRegisteredError:
            outcome = "lost"
        with lock:
            outcomes.append(outcome)

    workers = [threading.Thread(target=register, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert sorted(outcomes) == ["lost"] * (threads - 1) + ["won"]
    assert len(registry.all()) == 2


# ---------------------------------------------------------------------------- records


def test_records_are_frozen_hashable_and_copy_their_inputs() -> None:
    annotations = {"ni/registered.username": "alice"}
    mappings = [ChannelMapping("A", 0, "0")]
    record = SessionRecord(
        SessionName("s"),
        "r",
        "0",
        InstrumentTypeId("niDMM"),
        mappings,  # type: ignore[arg-type]
        annotations,
    )
    annotations["ni/registered.username"] = "mallory"
    mappings.clear()

    assert record.annotations == {"ni/registered.username": "alice"}
    assert record.channel_mappings == (ChannelMapping("A", 0, "0"),)
    assert hash(record) == hash(
        SessionRecord(
            SessionName("s"), "r", "0", InstrumentTypeId("niDMM"), record.channel_mappings
        )
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.resource_name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        record.annotations["x"] = "y"  # type: ignore[index]
    with pytest.raises(TypeError, match="not a str -> str pair"):
        MultiplexerRecord(SessionName("m"), "m", "", {"k": 1})  # type: ignore[dict-item]


# ---------------------------------------------------------------------------- property


@given(
    existing=st.sets(st.sampled_from("abcdef"), max_size=4),
    batch=st.lists(st.sampled_from("abcdef") | st.just(""), max_size=6),
)
def test_register_is_all_or_nothing(existing: set[str], batch: list[str]) -> None:
    registry = SessionRegistry(MemoryStore())
    registry.register([session(name) for name in sorted(existing)])
    before = registry.all()
    should_fail = "" in batch or len(set(batch)) < len(batch) or bool(existing & set(batch))

    try:
        registry.register([session(name) for name in batch])
    except (InvalidSessionError, SessionAlreadyRegisteredError):
        assert should_fail
        assert registry.all() == before
    else:
        assert not should_fail
        assert [r.session_name for r in registry.all()] == sorted(existing) + batch
