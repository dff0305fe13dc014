"""The documented 1.2 API against a real in-process pinbroker server.

Uses the ``server_address`` / ``grpc_channel`` fixtures of ``tests/integration/conftest.py``
and the pin map ``tests/data/client_two_site.pinmap``:

    SmuSite0 = DCPower1/0, DCPower1/1 (VDD, VOUT site 0)   SmuSite1 = DCPower1/2, DCPower1/3
    Scope = SCOPE1 (Signal; system pin TriggerOut)         DMM1 (shared pin Vmeas, sites 0 and 1)
    RelayDriver1 (RelayK per site, system relay SysRelay)  pin group PowerPins = VDD, VOUT
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from ni_measurementlink_service.session_management import (
    INSTRUMENT_TYPE_NI_DCPOWER,
    INSTRUMENT_TYPE_NI_DMM,
    INSTRUMENT_TYPE_NI_FGEN,
    INSTRUMENT_TYPE_NI_RELAY_DRIVER,
    INSTRUMENT_TYPE_NI_SCOPE,
    ChannelMapping,
    MultiSessionReservation,
    PinMapContext,
    SessionManagementClient,
)
from pinbroker.client import PinMapClient

PIN_MAP = Path(__file__).resolve().parents[2] / "data" / "client_two_site.pinmap"
ALL_RESOURCES = {
    "DCPower1/0, DCPower1/1",
    "DCPower1/2, DCPower1/3",
    "SCOPE1",
    "DMM1",
    "RelayDriver1",
}


@pytest.fixture
def pin_map_id(grpc_channel: grpc.Channel) -> str:
    return PinMapClient(grpc_channel=grpc_channel).update_pin_map(str(PIN_MAP))


@pytest.fixture
def client(grpc_channel: grpc.Channel) -> SessionManagementClient:
    return SessionManagementClient(grpc_channel=grpc_channel)


@pytest.fixture
def other_client(server_address: str) -> Iterator[SessionManagementClient]:
    """A second client on its own channel, like another measurement process."""
    channel = grpc.insecure_channel(server_address)
    try:
        yield SessionManagementClient(grpc_channel=channel)
    finally:
        channel.close()


def _status(error: pytest.ExceptionInfo[grpc.RpcError]) -> grpc.StatusCode:
    return error.value.code()  # type: ignore[attr-defined, no-any-return]


def _assert_all_free(client: SessionManagementClient, pin_map_id: str) -> None:
    """Every session of the pin map can be reserved at once, without waiting."""
    with client.reserve_sessions(PinMapContext(pin_map_id, None), timeout=0) as everything:
        assert {i.resource_name for i in everything.session_info} == ALL_RESOURCES


def test_update_pin_map_returns_the_path_as_given(pin_map_id: str) -> None:
    assert pin_map_id == str(PIN_MAP)


def test_reserve_sessions_for_the_whole_pin_map(
    client: SessionManagementClient, pin_map_id: str
) -> None:
    with client.reserve_sessions(PinMapContext(pin_map_id, None)) as reservation:
        infos = reservation.session_info
        assert {i.resource_name for i in infos} == ALL_RESOURCES
        assert all(i.session_name for i in infos)
        assert not any(i.session_exists for i in infos)
        by_resource = {i.resource_name: i for i in infos}
        dmm = by_resource["DMM1"]
        assert dmm.instrument_type_id == INSTRUMENT_TYPE_NI_DMM
        assert list(dmm.channel_mappings) == [
            ChannelMapping("Vmeas", 0, "0"),
            ChannelMapping("Vmeas", 1, "0"),
        ]
        assert by_resource["RelayDriver1"].instrument_type_id == INSTRUMENT_TYPE_NI_RELAY_DRIVER


def test_reserve_session_single(client: SessionManagementClient, pin_map_id: str) -> None:
    context = PinMapContext(pin_map_id, [1])
    with client.reserve_session(context, ["PowerPins"], INSTRUMENT_TYPE_NI_DCPOWER) as reservation:
        info = reservation.session_info
        assert info.resource_name == "DCPower1/2, DCPower1/3"
        assert info.channel_list == "DCPower1/2, DCPower1/3"
        assert list(info.channel_mappings) == [
            ChannelMapping("VDD", 1, "DCPower1/2"),
            ChannelMapping("VOUT", 1, "DCPower1/3"),
        ]


def test_scope_session_includes_the_requested_system_pin(
    client: SessionManagementClient, pin_map_id: str
) -> None:
    context = PinMapContext(pin_map_id, [1])
    with client.reserve_session(context, ["Signal", "TriggerOut"]) as reservation:
        info = reservation.session_info
        assert info.instrument_type_id == INSTRUMENT_TYPE_NI_SCOPE
        assert info.resource_name == "SCOPE1"
        assert set(info.channel_mappings) == {
            ChannelMapping("Signal", 1, "1"),
            ChannelMapping("TriggerOut", -1, "3"),
        }


def test_reserve_session_with_no_matching_session(
    client: SessionManagementClient, other_client: SessionManagementClient, pin_map_id: str
) -> None:
    with pytest.raises(ValueError, match=r"^No sessions reserved\. Expected single session, got 0"):
        client.reserve_session(
            PinMapContext(pin_map_id, None), instrument_type_id=INSTRUMENT_TYPE_NI_FGEN
        )
    _assert_all_free(other_client, pin_map_id)


def test_reserve_session_with_several_sessions_unreserves_them(
    client: SessionManagementClient, other_client: SessionManagementClient, pin_map_id: str
) -> None:
    with pytest.raises(
        ValueError,
        match=r"^Too many sessions reserved\. Expected single session, got 2 sessions\.$",
    ):
        client.reserve_session(PinMapContext(pin_map_id, [0, 1]), ["VDD"])
    _assert_all_free(other_client, pin_map_id)


@pytest.mark.parametrize("timeout", [0, 0.0, None])
def test_zero_timeout_fails_at_once_while_another_client_holds_the_session(
    client: SessionManagementClient,
    other_client: SessionManagementClient,
    pin_map_id: str,
    timeout: float | None,
) -> None:
    context = PinMapContext(pin_map_id, [0])
    with other_client.reserve_session(context, ["Vmeas"]):
        with pytest.raises(grpc.RpcError) as caught:
            client.reserve_sessions(context, ["Vmeas"], timeout=timeout)
        assert _status(caught) == grpc.StatusCode.UNAVAILABLE
    with client.reserve_session(context, ["Vmeas"], timeout=timeout):
        pass


def test_other_sessions_stay_available_while_one_is_held(
    client: SessionManagementClient, other_client: SessionManagementClient, pin_map_id: str
) -> None:
    with (
        other_client.reserve_session(PinMapContext(pin_map_id, [0]), ["PowerPins"]),
        client.reserve_session(PinMapContext(pin_map_id, [1]), ["PowerPins"], timeout=0) as mine,
    ):
        assert mine.session_info.resource_name == "DCPower1/2, DCPower1/3"


def test_positive_timeout_waits_then_fails(
    client: SessionManagementClient, other_client: SessionManagementClient, pin_map_id: str
) -> None:
    context = PinMapContext(pin_map_id, [0])
    with other_client.reserve_session(context, ["Vmeas"]):
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            client.reserve_session(context, ["Vmeas"], timeout=0.3)
        waited = time.monotonic() - started
    assert _status(caught) == grpc.StatusCode.UNAVAILABLE
    assert waited >= 0.25, f"gave up after {waited:.3f} s instead of waiting 0.3 s"


def _reserve_in_thread(
    reserve: Callable[[], MultiSessionReservation],
) -> tuple[threading.Thread, threading.Event, threading.Event, list[object]]:
    """Run ``reserve`` in a thread; events say when it started and when it finished."""
    started, finished = threading.Event(), threading.Event()
    outcome: list[object] = []

    def run() -> None:
        started.set()
        try:
            outcome.append(reserve())
        except BaseException as error:  # handed to the test thread
            outcome.append(error)
        finally:
            finished.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, started, finished, outcome


@pytest.mark.parametrize("timeout", [30.0, -1])
def test_waiting_reservation_gets_the_session_when_it_is_released(
    client: SessionManagementClient,
    other_client: SessionManagementClient,
    pin_map_id: str,
    timeout: float,
) -> None:
    context = PinMapContext(pin_map_id, [1])
    holder = other_client.reserve_sessions(context, ["Vmeas"])
    try:
        thread, started, finished, outcome = _reserve_in_thread(
            lambda: client.reserve_sessions(context, ["Vmeas"], timeout=timeout)
        )
        assert started.wait(10)
        # The session is held, so the waiter cannot finish (a failure would finish it).
        assert not finished.wait(0.3), f"waiter finished while the session was held: {outcome}"
    finally:
        holder.unreserve()
    assert finished.wait(20), "waiter did not get the session after it was released"
    thread.join(5)
    (result,) = outcome
    assert isinstance(result, MultiSessionReservation), result
    assert [i.resource_name for i in result.session_info] == ["DMM1"]
    result.unreserve()


def test_context_manager_unreserves_when_the_block_raises(
    client: SessionManagementClient, other_client: SessionManagementClient, pin_map_id: str
) -> None:
    class MeasurementError(Exception):
        pass

    with (
        pytest.raises(MeasurementError, match="instrument overheated"),
        client.reserve_sessions(PinMapContext(pin_map_id, None)),
    ):
        raise MeasurementError("instrument overheated")
    _assert_all_free(other_client, pin_map_id)


def test_registration_and_session_exists(
    client: SessionManagementClient, other_client: SessionManagementClient, pin_map_id: str
) -> None:
    context = PinMapContext(pin_map_id, [0])
    with client.reserve_session(context, ["Vmeas"]) as reservation:
        info = reservation.session_info
        assert info.session_exists is False
        client.register_sessions([info])
        with pytest.raises(grpc.RpcError) as caught:
            other_client.register_sessions([info])
        assert _status(caught) == grpc.StatusCode.ALREADY_EXISTS
        with pytest.raises(grpc.RpcError) as caught:
            client.register_sessions([info])
        assert _status(caught) == grpc.StatusCode.ALREADY_EXISTS
    with client.reserve_session(context, ["Vmeas"]) as again:
        assert again.session_info.session_exists is True
        client.unregister_sessions([again.session_info])
    with client.reserve_session(context, ["Vmeas"]) as after:
        assert after.session_info.session_exists is False
        client.register_sessions([after.session_info])  # registrable again
        client.unregister_sessions([after.session_info])


def test_reserve_all_registered_sessions(
    client: SessionManagementClient, other_client: SessionManagementClient, pin_map_id: str
) -> None:
    context = PinMapContext(pin_map_id, [1])
    with client.reserve_sessions(context, ["Vmeas", "Signal"]) as reservation:
        registered = reservation.session_info
        client.register_sessions(registered)
    names = {i.session_name for i in registered}
    try:
        with other_client.reserve_all_registered_sessions(timeout=0) as everything:
            infos = everything.session_info
            assert {i.session_name for i in infos} == names
            assert all(i.session_exists for i in infos)
            assert all(i.channel_list == "" for i in infos)
            assert all(list(i.channel_mappings) == [] for i in infos)
            # Held now: another reservation of them fails at once.
            with pytest.raises(grpc.RpcError) as caught:
                client.reserve_sessions(context, ["Vmeas"], timeout=0)
            assert _status(caught) == grpc.StatusCode.UNAVAILABLE
        with other_client.reserve_all_registered_sessions(INSTRUMENT_TYPE_NI_DMM) as dmm_only:
            assert [i.resource_name for i in dmm_only.session_info] == ["DMM1"]
    finally:
        with client.reserve_all_registered_sessions(timeout=10) as cleanup:
            client.unregister_sessions(cleanup.session_info)
    with client.reserve_all_registered_sessions() as nothing_left:
        assert nothing_left.session_info == []


def test_service_errors_pass_through_as_rpc_errors(
    client: SessionManagementClient, pin_map_id: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        client.reserve_sessions(PinMapContext(pin_map_id, None), ["NoSuchPin"])
    assert _status(caught) == grpc.StatusCode.INVALID_ARGUMENT
    assert "NoSuchPin" in caught.value.details()  # type: ignore[attr-defined]
    with pytest.raises(grpc.RpcError) as caught:
        client.reserve_sessions(PinMapContext(pin_map_id, [7]))
    assert _status(caught) == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as caught:
        client.reserve_sessions(PinMapContext("not-registered.pinmap", None))
    assert _status(caught) == grpc.StatusCode.NOT_FOUND
