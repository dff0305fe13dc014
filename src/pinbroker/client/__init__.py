"""Clients for pinbroker's services (also usable against NI's own services).

Start with :func:`connect`, which finds a running ``pinbroker serve`` and returns ready clients::

    from pinbroker.client import connect
    from ni_measurementlink_service.session_management import PinMapContext

    with connect() as clients:
        pin_map_id = clients.pin_map.update_pin_map("two_site.pinmap")
        context = PinMapContext(pin_map_id=pin_map_id, sites=[1])
        with clients.session_management.reserve_sessions(context, ["VDD"]) as reservation:
            for connection in reservation.get_connections():
                print(connection.pin_or_relay_name, connection.channel_name)

:class:`PinbrokerSessionClient` is a drop-in for the documented 1.2 ``SessionManagementClient``
whose reservations also resolve connections; :class:`PinMapClient` loads and queries pin maps;
:class:`AdminClient` shows who holds and waits, follows the event history and force releases
(``pinbroker status|events|release``).

Against pinbroker, reservations are bound to a lease of the client process (one per channel,
kept alive in the background, revoked at exit): ``client.lease`` is its :class:`LeaseKeeper`,
and releasing a reservation whose lease was lost raises :class:`LeaseLostError`.

:func:`connect` dials over TLS when given a CA (``tls_ca=``, else ``$PINBROKER_TLS_CA``), with
a client certificate for mutual TLS (``tls_cert=``/``tls_key=``, else ``$PINBROKER_TLS_CERT``
and ``$PINBROKER_TLS_KEY``); unusable TLS files raise :class:`TlsFileError`.
"""

from __future__ import annotations

from pinbroker._tls import TlsFileError
from pinbroker.client._admin import AdminClient
from pinbroker.client._admin_values import (
    AdminEvent,
    AdminEventBatch,
    AdminStatus,
    ForceReleaseResult,
    HeldSession,
    LeaseInfo,
    LeaseKind,
    OwnerInfo,
    WaitingRequest,
)
from pinbroker.client._connect import (
    ADDRESS_ENV_VAR,
    Clients,
    ServerLocation,
    ServerNotFoundError,
    connect,
    locate_server,
)
from pinbroker.client._lease import LeaseKeeper, LeaseLostError
from pinbroker.client._pin_map import PinMapClient
from pinbroker.client._pin_map_values import (
    PinsAndGroups,
    RelaysAndGroups,
    ResourceAccess,
    ResourceAccessInformation,
)
from pinbroker.client._reservation import MultiReservation, Reservation, SingleReservation
from pinbroker.client._session_client import PinbrokerSessionClient
from pinbroker.client._sessions import (
    Connection,
    MultiplexerSessionDetails,
    SessionDetails,
    SessionSnapshot,
)
from pinbroker.client._tls import TLS_CA_ENV_VAR, TLS_CERT_ENV_VAR, TLS_KEY_ENV_VAR
from pinbroker.pinmap import (
    ChannelMapping,
    PinDefinition,
    PinGroupDefinition,
    RelayDefinition,
    RelayGroupDefinition,
)

__all__ = [
    "ADDRESS_ENV_VAR",
    "TLS_CA_ENV_VAR",
    "TLS_CERT_ENV_VAR",
    "TLS_KEY_ENV_VAR",
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
    "TlsFileError",
    "WaitingRequest",
    "connect",
    "locate_server",
]
