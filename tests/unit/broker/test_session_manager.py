"""The session manager and pin map repository, without a server."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from pinbroker.broker import PinMapRepository, SessionManager
from pinbroker.errors import (
    InvalidPinMapIdError,
    PinMapAlreadyExistsError,
    PinMapNotFoundError,
    PinMapParseError,
    ReservationTimeoutError,
    ResourceExhaustedError,
    UnreserveError,
)
from pinbroker.pinmap import ChannelMapping
from pinbroker.registry import SessionRecord, SessionRegistry
from pinbroker.reservation import ReservationTable
from pinbroker.store import MemoryStore
from pinbroker.types import InstrumentTypeId, PinMapId, SessionName, SessionNaming

XML = """<?xml version="1.0" encoding="utf-8"?>
<PinMap schemaVersion="1.6" xmlns="http://www.ni.com/TestStand/SemiconductorModule/PinMap.xsd">
  <Instruments>
    <NIDCPowerInstrument name="SMU1" numberOfChannels="2">
      <ChannelGroup name="G" />
    </NIDCPowerInstrument>
    <NIDAQmxTask name="Task1" taskType="AI" channelList="Dev1/ai0, Dev1/ai1" />
  </Instruments>
  <Pins><DUTPin name="VDD" /><DUTPin name="SENSE" /></Pins>
  <Sites><Site siteNumber="0" /><Site siteNumber="1" /></Sites>
  <Connections>
    <Connection pin="VDD" siteNumber="0" instrument="SMU1" channel="0" />
    <Connection pin="VDD" siteNumber="1" instrument="SMU1" channel="1" />
    <Connection pin="SENSE" siteNumber="0" instrument="Task1" channel="Dev1/ai0" />
    <Connection pin="SENSE" siteNumber="1" instrument="Task1" channel="Dev1/ai1" />
  </Connections>
</PinMap>
"""


class FailingReleaseStore(MemoryStore):
    """A store whose release of reservations fails (a full disk, say)."""

    def delete_reservation_sessions(self, session_names: Sequence[SessionName]) -> None:
        raise OSError("disk full")


def _manager(
    store: MemoryStore | None = None,
    *,
    naming: SessionNaming = SessionNaming.TYPED,
    max_waiters: int = 8,
) -> SessionManager:
    store = store or MemoryStore()
    pin_maps = PinMapRepository(store)
    pin_maps.update("pm", XML)
    return SessionManager(
        pin_maps,
        ReservationTable(journal=store),
        SessionRegistry(store),
        store,
        naming=naming,
        max_waiters=max_waiters,
    )


def _reserve(manager: SessionManager, *, sites: Sequence[int] = (), timeout: float | None = 0):
    return manager.reserve_sessions(
        pin_map_id="pm",
        sites=sites,
        names=[],
        instrument_type_id="",
        timeout=timeout,
        annotations={"who": "test"},
        owner="unit",
    )


def test_session_names_follow_the_naming_setting() -> None:
    typed = _reserve(_manager())
    assert [s.session_name for s in typed.sessions] == ["niDCPower-SMU1/0, SMU1/1", "Task1"]
    plain = _reserve(_manager(naming=SessionNaming.RESOURCE))
    assert [s.session_name for s in plain.sessions] == ["SMU1/0, SMU1/1", "Task1"]


def test_reserve_marks_exists_and_reserved_and_annotations() -> None:
    manager = _manager()
    manager.register_sessions(
        [
            SessionRecord(
                session_name=SessionName("Task1"),
                resource_name="Task1",
                channel_list="Dev1/ai0",
                instrument_type_id=InstrumentTypeId("niDAQmx"),
                channel_mappings=(ChannelMapping("SENSE", 0, "Dev1/ai0"),),
            )
        ]
    )
    result = _reserve(manager, sites=[1])
    flags = {s.session_name: (s.session_exists, s.session_reserved) for s in result.sessions}
    assert flags == {"niDCPower-SMU1/0, SMU1/1": (False, True), "Task1": (True, True)}
    for s in result.sessions:  # the caller's annotations, plus the grant's fencing token
        assert dict(s.annotations) == {
            "who": "test",
            "pinbroker/reservation_id": "1",
            "pinbroker/fence": "1",
        }
    sessions, _ = manager.get_sessions()
    assert {s.session_name: s.session_reserved for s in sessions} == {
        "Task1": True,
        "niDCPower-SMU1/0, SMU1/1": True,
    }
    manager.unreserve_sessions([s.session_name for s in result.sessions])
    sessions, _ = manager.get_sessions()
    assert [(s.session_name, s.session_reserved) for s in sessions] == [("Task1", False)]


def test_unreserve_failure_is_resource_exhausted_and_changes_nothing() -> None:
    manager = _manager(FailingReleaseStore())
    result = _reserve(manager)
    with pytest.raises(UnreserveError, match="OSError"):
        manager.unreserve_sessions([result.sessions[0].session_name])
    assert manager.table.is_reserved(result.sessions[0].session_name)


def test_waiting_slots_are_capped_but_free_sessions_are_still_granted() -> None:
    manager = _manager(max_waiters=1)
    held = _reserve(manager, sites=[0], timeout=0)
    assert held.sessions
    waiting = threading.Event()
    outcome: list[BaseException | None] = []

    def wait_forever() -> None:
        def on_cancel(callback: object) -> bool:
            waiting.set()
            return True

        try:
            manager.reserve_sessions(
                pin_map_id="pm",
                sites=[0],
                names=[],
                instrument_type_id="",
                timeout=None,
                annotations={},
                owner="waiter",
                on_cancel=on_cancel,
            )
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=wait_forever)
    thread.start()
    assert waiting.wait(10)
    # The only waiting slot is taken: a request that would have to wait is refused ...
    with pytest.raises(ResourceExhaustedError, match="too many reservation requests"):
        _reserve(manager, sites=[0], timeout=5)
    manager.shutdown()
    thread.join(10)
    assert len(outcome) == 1
    assert type(outcome[0]).__name__ == "ShuttingDownError"


def test_reserve_timeout_names_the_holder() -> None:
    manager = _manager()
    _reserve(manager, sites=[0])
    with pytest.raises(ReservationTimeoutError, match="unit"):
        _reserve(manager, sites=[1])


def test_repository_rules() -> None:
    store = MemoryStore()
    repository = PinMapRepository(store)
    with pytest.raises(InvalidPinMapIdError):
        repository.create("with space", XML)
    with pytest.raises(InvalidPinMapIdError):
        repository.update("", XML)
    repository.create("a", XML)
    with pytest.raises(PinMapAlreadyExistsError):
        repository.create("a", XML)
    with pytest.raises(PinMapParseError):
        repository.update("a", "<PinMap")
    assert store.load_pin_map(PinMapId("a")) == XML  # the failed update changed nothing
    with pytest.raises(PinMapNotFoundError):
        repository.get("b")
    # a pin map id may be a path with spaces when updated (NI's client sends file paths)
    repository.update("/tmp/my pins/x.pinmap", XML)
    restored = PinMapRepository(store)
    assert restored.restore() == []
    assert restored.ids() == ["a", "/tmp/my pins/x.pinmap"]


def test_restore_reports_a_stored_pin_map_that_no_longer_loads() -> None:
    store = MemoryStore()
    store.put_pin_map("broken", "<PinMap")  # type: ignore[arg-type]
    repository = PinMapRepository(store)
    problems = repository.restore()
    assert len(problems) == 1
    assert "broken" in problems[0]
    assert store.load_pin_maps() == [("broken", "<PinMap")]
