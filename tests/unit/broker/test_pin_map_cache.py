"""The pin map cache: parsed pin maps within a memory budget, the rest re-parsed from the store."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from benchmarks.pinmap_gen import PinMapSpec, generate_pinmap

from pinbroker.broker import PinMapRepository, estimate_pin_map_bytes
from pinbroker.errors import PinMapNotFoundError
from pinbroker.pinmap import PinMap, load_pinmap
from pinbroker.store import MemoryStore
from pinbroker.types import PinMapId

XML = {name: generate_pinmap(PinMapSpec(pins=pins, sites=2)).xml for name, pins in
       (("a", 4), ("b", 5), ("c", 6), ("d", 7))}  # fmt: skip
SIZE = {name: estimate_pin_map_bytes(xml) for name, xml in XML.items()}
ROOM_FOR_TWO = SIZE["c"] + SIZE["d"]  # any two of the four fit, no three do


class CountingParse:
    """load_pinmap, counting the parses of each source."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, xml: str, **kwargs: object) -> PinMap:
        source = str(kwargs["source"])
        with self.lock:
            self.counts[source] = self.counts.get(source, 0) + 1
        return load_pinmap(xml, **kwargs)  # type: ignore[arg-type]


Factory = Callable[..., tuple[PinMapRepository, CountingParse]]


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def repository(store: MemoryStore) -> Factory:
    def make(cache_bytes: int = ROOM_FOR_TWO) -> tuple[PinMapRepository, CountingParse]:
        parse = CountingParse()
        return PinMapRepository(store, parse=parse, cache_bytes=cache_bytes), parse

    return make


def _pins(repository: PinMapRepository, name: str) -> int:
    """DUT pins per site of the pin map (the generator adds 4 system pins)."""
    return len(repository.get(name).pin_map.pins) - 4


def test_beyond_the_budget_the_least_recently_used_is_dropped(repository: Factory) -> None:
    repo, parse = repository()
    repo.update("a", XML["a"])
    repo.update("b", XML["b"])
    repo.get("a")  # b is now the least recently used
    repo.update("c", XML["c"])

    assert repo.cached_ids() == ["a", "c"]
    assert repo.cached_bytes == SIZE["a"] + SIZE["c"]
    assert repo.ids() == ["a", "b", "c"]  # every pin map is still registered
    assert parse.counts == {"a": 1, "b": 1, "c": 1}


def test_a_dropped_pin_map_is_parsed_again_from_the_store(repository: Factory) -> None:
    repo, parse = repository()
    for name in "abc":
        repo.update(name, XML[name])

    assert _pins(repo, "a") == 4  # dropped when c came, parsed again now
    assert parse.counts["a"] == 2
    assert repo.cached_ids() == ["c", "a"]
    assert _pins(repo, "a") == 4  # held again: no third parse
    assert parse.counts["a"] == 2


def test_alternating_beyond_the_budget_answers_correctly(repository: Factory) -> None:
    repo, parse = repository(cache_bytes=SIZE["d"])  # room for one
    repo.update("c", XML["c"])
    repo.update("d", XML["d"])
    for _ in range(3):
        assert _pins(repo, "c") == 6
        assert _pins(repo, "d") == 7
    assert parse.counts == {"c": 4, "d": 4}
    assert repo.cached_ids() == ["d"]


def test_a_pin_map_larger_than_the_budget_stays_while_it_is_the_last_used(
    repository: Factory,
) -> None:
    repo, parse = repository(cache_bytes=0)
    repo.update("a", XML["a"])
    assert _pins(repo, "a") == 4
    assert _pins(repo, "a") == 4
    assert parse.counts == {"a": 1}


def test_an_update_replaces_the_cached_pin_map_and_its_size(repository: Factory) -> None:
    repo, _ = repository()
    repo.update("a", XML["a"])
    repo.update("a", XML["d"])
    assert _pins(repo, "a") == 7
    assert repo.cached_bytes == SIZE["d"]


def test_restore_parses_only_what_fits_and_the_rest_on_first_use(
    store: MemoryStore, repository: Factory
) -> None:
    for name in "abcd":
        store.put_pin_map(PinMapId(name), XML[name])
    repo, parse = repository()

    assert repo.restore() == []

    assert repo.ids() == ["a", "b", "c", "d"]
    assert parse.counts == {"a": 1, "b": 1}  # c and d wait for their first use
    assert _pins(repo, "d") == 7
    assert parse.counts == {"a": 1, "b": 1, "d": 1}
    assert repo.cached_ids() == ["b", "d"]


def test_a_stored_pin_map_that_no_longer_loads_is_not_found_on_first_use(
    store: MemoryStore, repository: Factory
) -> None:
    store.put_pin_map(PinMapId("a"), XML["a"])
    store.put_pin_map(PinMapId("broken"), "<PinMap")
    repo, _ = repository(cache_bytes=0)
    assert repo.restore() == []  # "broken" was beyond the budget: not parsed yet

    with pytest.raises(PinMapNotFoundError):
        repo.get("broken")

    assert repo.ids() == ["a"]
    assert store.load_pin_map(PinMapId("broken")) == "<PinMap"  # kept, never deleted


def test_concurrent_gets_of_a_dropped_pin_map_parse_it_once(repository: Factory) -> None:
    repo, parse = repository(cache_bytes=0)
    repo.update("a", XML["a"])
    repo.update("b", XML["b"])  # a dropped
    results: list[int] = []
    start = threading.Barrier(8)

    def get() -> None:
        start.wait()
        results.append(_pins(repo, "a"))

    threads = [threading.Thread(target=get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [4] * 8
    assert parse.counts["a"] == 2


def test_the_xml_is_not_kept_in_memory(repository: Factory) -> None:
    repo, _ = repository()
    stored = repo.update("a", XML["a"])
    assert not hasattr(stored, "xml")
    assert not any(isinstance(value, str) and len(value) > 1000 for value in vars(repo).values())


def test_a_negative_budget_is_refused(store: MemoryStore) -> None:
    with pytest.raises(ValueError, match="cache_bytes"):
        PinMapRepository(store, cache_bytes=-1)
