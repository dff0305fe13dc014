"""Both stores keep ownership, fences, high-water marks, leases and events the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pinbroker.events import Event, EventKind, EventOwner
from pinbroker.reservation import (
    ClientIdentity,
    DeleteSessions,
    LeaseId,
    LeaseRecord,
    PutReservation,
    Reservation,
    ReservationId,
)
from pinbroker.store import MemoryStore, SqliteStore, Store
from pinbroker.types import SessionName

RID = ReservationId
SN = SessionName

ALICE = ClientIdentity(
    hostname="bench-7", username="alice", pid=4242, program="python measure.py ü", peer="ipv4:1:2"
)


def held(
    rid: int,
    fences: dict[str, int],
    *,
    lease_id: int | None = 7,
    client: ClientIdentity = ALICE,
) -> Reservation:
    """A reservation of the sessions named in ``fences``, in that order."""
    return Reservation(
        RID(rid),
        tuple(SN(n) for n in fences),
        "alice",
        {"k": "v"},
        1700000123.25,
        lease_id,
        client,
        {SN(n): f for n, f in fences.items()},
    )


def grant(store: Store, *reservations: Reservation) -> None:
    store.apply_journal([PutReservation(r) for r in reservations])


def release(store: Store, *names: str) -> None:
    store.apply_journal([DeleteSessions(tuple(SN(n) for n in names))])


def event(
    revision: int,
    kind: EventKind = EventKind.RESERVED,
    *,
    session_names: tuple[str, ...] = (),
    reservation_id: int | None = None,
    owner: EventOwner | None = None,
    reason: str = "",
) -> Event:
    return Event(
        revision, 1700000000.0 + revision, kind, session_names, reservation_id, owner, reason
    )


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.db")
    yield store
    store.close()


# ---------------------------------------------------------------------------- reservations


def test_the_journal_round_trips_lease_client_and_fences(store: Store) -> None:
    first = held(3, {"B": 4, "A": 1})
    second = held(5, {"C": 2}, lease_id=None, client=ClientIdentity(peer="ipv6:[::1]:5"))
    grant(store, first, second)

    assert store.load_reservations() == [first, second]
    loaded = store.load_reservations()[0]
    assert (loaded.lease_id, loaded.client) == (7, ALICE)
    assert dict(loaded.fences) == {"B": 4, "A": 1}
    assert loaded.session_names == ("B", "A")
    assert store.load_reservations()[1].client.pid is None


def test_put_reservation_writes_no_lease_client_or_fences(store: Store) -> None:
    grant(store, held(1, {"A": 3}))
    store.put_reservation(RID(1), [SN("A"), SN("B")], "bob", {}, 2.0)

    (loaded,) = store.load_reservations()
    assert loaded == Reservation(RID(1), (SN("A"), SN("B")), "bob", {}, 2.0)
    assert (loaded.lease_id, loaded.client, dict(loaded.fences)) == (None, ClientIdentity(), {})
    assert store.load_fences() == {"A": 3}  # the high-water mark stays


def test_a_zero_fence_means_none(store: Store) -> None:
    grant(store, held(1, {"A": 0, "B": 2}))

    assert dict(store.load_reservations()[0].fences) == {"B": 2}
    assert store.load_fences() == {"B": 2}


def test_releasing_some_sessions_keeps_the_rest_with_owner_and_fences(store: Store) -> None:
    grant(store, held(1, {"A": 1, "B": 2, "C": 3}))
    release(store, "B")

    assert store.load_reservations() == [held(1, {"A": 1, "C": 3})]


# ---------------------------------------------------------------------------- high-water marks


def test_session_fences_keep_the_maximum_across_releases(store: Store) -> None:
    assert store.load_fences() == {}
    grant(store, held(1, {"A": 5, "B": 1}))
    release(store, "A", "B")
    grant(store, held(2, {"A": 3}))  # lower than before: the mark stays at 5
    release(store, "A")
    grant(store, held(3, {"B": 9}))
    store.delete_reservation(RID(3))

    assert store.load_reservations() == []
    assert store.load_fences() == {"A": 5, "B": 9}


def test_reservation_id_high_survives_deletes_and_lower_ids(store: Store) -> None:
    assert store.load_reservation_id_high() == 0
    grant(store, held(5, {"A": 1}))
    grant(store, held(3, {"B": 1}))
    store.delete_reservation(RID(5))
    release(store, "B")

    assert store.load_reservations() == []
    assert store.load_reservation_id_high() == 5
    store.put_reservation(RID(8), [SN("C")], "carol", {}, 0.0)
    assert store.load_reservation_id_high() == 8


def test_a_refused_batch_raises_no_high_water_mark(store: Store) -> None:
    grant(store, held(1, {"A": 1}))

    with pytest.raises(ValueError, match="session 'A' belongs to reservation 1, not 9"):
        grant(store, held(8, {"X": 4}), held(9, {"A": 2}))

    assert store.load_reservations() == [held(1, {"A": 1})]
    assert store.load_fences() == {"A": 1}
    assert store.load_reservation_id_high() == 1


# ---------------------------------------------------------------------------- leases


def test_leases_round_trip_by_id_and_ids_are_never_reused(store: Store) -> None:
    assert (store.load_leases(), store.load_lease_id_high()) == ([], 0)
    nine = LeaseRecord(LeaseId(9), 10.0, ALICE, 1700000000.5)
    two = LeaseRecord(LeaseId(2), 2.5, ClientIdentity(), 1700000001.0)
    store.put_lease(nine)
    store.put_lease(two)
    store.put_lease(LeaseRecord(LeaseId(4), 1.0, ClientIdentity(hostname="h"), 3.0))
    replaced = LeaseRecord(LeaseId(2), 30.0, ClientIdentity(username="bob"), 4.0)
    store.put_lease(replaced)

    assert store.load_leases() == [
        replaced,
        LeaseRecord(LeaseId(4), 1.0, ClientIdentity("h"), 3.0),
        nine,
    ]
    store.delete_leases([9, 4, 1234])
    assert store.load_leases() == [replaced]
    assert store.load_lease_id_high() == 9


# ---------------------------------------------------------------------------- events


def test_events_round_trip_oldest_first(store: Store) -> None:
    events = [
        event(1, EventKind.QUEUED, session_names=("A", "Ω"), reservation_id=3),
        event(2, EventKind.EXPIRED, owner=EventOwner("ipv4:1:2", "h", "u", 42), reason="lease 7"),
        event(3, EventKind.PIN_MAP_LOADED),
    ]
    store.append_events(events[:2], keep=100)
    store.append_events(events[2:], keep=100)

    assert store.load_events(100) == events
    assert store.load_events(2) == events[1:]
    assert store.load_events(0) == []
    assert store.load_events(100)[1].owner == EventOwner("ipv4:1:2", "h", "u", 42)
    assert store.load_events(100)[0].owner is None


def test_events_keep_only_the_newest_revisions(store: Store) -> None:
    store.append_events([event(r) for r in range(1, 11)], keep=4)
    assert [e.revision for e in store.load_events(100)] == [7, 8, 9, 10]

    store.append_events([event(11), event(12)], keep=4)
    assert [e.revision for e in store.load_events(100)] == [9, 10, 11, 12]

    store.append_events([event(13)], keep=0)
    assert store.load_events(100) == []


def test_an_event_with_a_stored_revision_replaces_it(store: Store) -> None:
    store.append_events([event(1), event(2)], keep=10)
    store.append_events([event(2, EventKind.RELEASED, reason="again")], keep=10)

    assert store.load_events(10) == [event(1), event(2, EventKind.RELEASED, reason="again")]


def test_negative_keep_or_limit_is_refused(store: Store) -> None:
    store.append_events([event(1)], keep=10)

    with pytest.raises(ValueError, match="keep must be >= 0, not -1"):
        store.append_events([event(2)], keep=-1)
    with pytest.raises(ValueError, match="limit must be >= 0, not -1"):
        store.load_events(-1)
    assert store.load_events(10) == [event(1)]


# ---------------------------------------------------------------------------- closing


def test_a_closed_store_refuses_the_new_methods(store: Store) -> None:
    store.close()

    with pytest.raises(ValueError, match="closed"):
        store.put_lease(LeaseRecord(LeaseId(1), 1.0, ClientIdentity(), 0.0))
    with pytest.raises(ValueError, match="closed"):
        store.load_fences()
    with pytest.raises(ValueError, match="closed"):
        store.load_reservation_id_high()
    with pytest.raises(ValueError, match="closed"):
        store.append_events([event(1)], keep=1)
    with pytest.raises(ValueError, match="closed"):
        store.load_events(1)
