"""--max-hold and --release-on-disconnect as a pure policy over the table (fake clock)."""

from __future__ import annotations

from pinbroker.broker import HoldWatch
from pinbroker.events import EventKind, EventLog
from pinbroker.reservation import ClientIdentity, FakeClock, ReservationTable

ALICE = ClientIdentity(peer="ipv4:127.0.0.1:5000")
BOB = ClientIdentity(peer="ipv4:127.0.0.1:5001")


def _table() -> tuple[FakeClock, EventLog, ReservationTable]:
    clock = FakeClock()
    events = EventLog()
    return clock, events, ReservationTable(clock=clock, events=events)


def _hold(table: ReservationTable, names: list[str], client: ClientIdentity, lease: int | None):
    ticket = table.request(names, owner=client.peer, client=client, lease_id=lease)
    return table.wait(ticket, 0)


def test_max_hold_releases_only_what_is_held_too_long() -> None:
    clock, events, table = _table()
    watch = HoldWatch(table, now=clock.now, max_hold=10.0)
    _hold(table, ["A"], ALICE, None)
    clock.advance(6)
    _hold(table, ["B"], BOB, 7)  # a leased hold is bounded too
    clock.advance(4.5)

    watch.scan()

    assert not table.is_reserved("A")
    assert table.is_reserved("B")
    expired = [e for e in events.since(0) if e.kind is EventKind.EXPIRED]
    assert [(e.session_names, e.reason) for e in expired] == [
        (("A",), "held longer than --max-hold 10 s")
    ]
    clock.advance(6)
    watch.scan()
    assert not table.is_reserved("B")


def test_release_on_disconnect_waits_for_the_grace_then_releases() -> None:
    clock, events, table = _table()
    watch = HoldWatch(table, now=clock.now, release_on_disconnect=5.0)
    _hold(table, ["A"], ALICE, None)
    _hold(table, ["B"], BOB, None)

    watch.scan({BOB.peer})  # ALICE's connection is gone from now on
    clock.advance(4.9)
    watch.scan({BOB.peer})
    assert table.is_reserved("A")
    clock.advance(0.2)
    watch.scan({BOB.peer})

    assert not table.is_reserved("A")
    assert table.is_reserved("B")
    (event,) = [e for e in events.since(0) if e.kind is EventKind.EXPIRED]
    assert event.session_names == ("A",)
    assert "--release-on-disconnect" in event.reason
    assert ALICE.peer in event.reason


def test_a_connection_seen_again_within_the_grace_keeps_the_hold() -> None:
    clock, _, table = _table()
    watch = HoldWatch(table, now=clock.now, release_on_disconnect=5.0)
    _hold(table, ["A"], ALICE, None)

    watch.scan(set())
    clock.advance(4)
    watch.scan({ALICE.peer})  # the connection is back (reported again): the clock restarts
    clock.advance(4)
    watch.scan(set())
    clock.advance(4)
    watch.scan(set())

    assert table.is_reserved("A")


def test_leased_holds_are_left_to_their_lease() -> None:
    clock, _, table = _table()
    watch = HoldWatch(table, now=clock.now, release_on_disconnect=1.0)
    _hold(table, ["A"], ALICE, 3)

    watch.scan(set())
    clock.advance(10)
    watch.scan(set())

    assert table.is_reserved("A")


def test_period_follows_the_shortest_limit() -> None:
    _, _, table = _table()
    assert HoldWatch(table, now=lambda: 0.0, max_hold=8, release_on_disconnect=2).period() == 0.5
    assert HoldWatch(table, now=lambda: 0.0, max_hold=3600).period() == 5.0
    assert HoldWatch(table, now=lambda: 0.0, release_on_disconnect=0.1).period() == 0.1
