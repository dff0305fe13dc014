"""``pinbroker.client``'s public API is exactly ``__all__``, and everything in it resolves."""

from __future__ import annotations

import pinbroker.client as client

EXPECTED = {
    "ADDRESS_ENV_VAR",
    "AdminClient",
    "AdminEvent",
    "AdminEventBatch",
    "AdminStatus",
    "ChannelMapping",
    "Clients",
    "Connection",
    "ForceReleaseResult",
    "HeldSession",
    "LeaseInfo",
    "LeaseKeeper",
    "LeaseKind",
    "LeaseLostError",
    "MultiReservation",
    "MultiplexerSessionDetails",
    "OwnerInfo",
    "PinDefinition",
    "PinGroupDefinition",
    "PinMapClient",
    "PinbrokerSessionClient",
    "PinsAndGroups",
    "RelayDefinition",
    "RelayGroupDefinition",
    "RelaysAndGroups",
    "Reservation",
    "ResourceAccess",
    "ResourceAccessInformation",
    "ServerLocation",
    "ServerNotFoundError",
    "SessionDetails",
    "SessionSnapshot",
    "SingleReservation",
    "TLS_CA_ENV_VAR",
    "TLS_CERT_ENV_VAR",
    "TLS_KEY_ENV_VAR",
    "TlsFileError",
    "WaitingRequest",
    "connect",
    "locate_server",
}


def test_all_is_the_expected_public_api() -> None:
    assert set(client.__all__) == EXPECTED
    assert len(client.__all__) == len(EXPECTED)


def test_every_name_in_all_resolves() -> None:
    for name in client.__all__:
        assert getattr(client, name) is not None, name


def test_no_other_public_names() -> None:
    public = {n for n in vars(client) if not n.startswith("_")}
    assert public - set(client.__all__) == {"annotations"}


def test_public_classes_come_from_private_modules_or_the_engine_contract() -> None:
    for name in client.__all__:
        module = getattr(getattr(client, name), "__module__", "pinbroker.client._")
        allowed = ("pinbroker.client._", "pinbroker.pinmap._results", "pinbroker._tls")
        assert module.startswith(allowed), name


def test_session_client_is_a_drop_in_for_the_documented_client() -> None:
    from ni_measurementlink_service import session_management as sm

    assert issubclass(client.PinbrokerSessionClient, sm.SessionManagementClient)
    assert issubclass(client.SingleReservation, sm.SingleSessionReservation)
    assert issubclass(client.MultiReservation, sm.MultiSessionReservation)
