"""Reserve, inspect, register and clean up instrument sessions on a running pinbroker.

Start a server in one terminal::

    pinbroker serve

then, in another::

    python examples/reserve_and_register.py                 # uses examples/two_site.pinmap
    python examples/reserve_and_register.py --pin-map my.pinmap --site 0

What it does, step by step (each step is the call a measurement or a TestStand sequence makes):

1. load the pin map into the Pin Map Service (its id is the file path);
2. ask the pin map which pins are wired to NI-DCPower and NI-SCOPE instruments;
3. reserve the sessions serving those pins on one site, and print each pin's connection;
4. register the sessions ("they are open now"), then release the reservation;
5. as a cleanup step would: reserve every registered session, unregister it ("closed"),
   and release that reservation too.

The server is found through ``--address``, else ``$PINBROKER_ADDRESS``, else the discovery key
file ``pinbroker serve`` writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ni_measurementlink_service.session_management import (
    INSTRUMENT_TYPE_NI_DCPOWER,
    INSTRUMENT_TYPE_NI_SCOPE,
    PinMapContext,
)
from pinbroker.client import ServerNotFoundError, connect

DEFAULT_PIN_MAP = Path(__file__).with_name("two_site.pinmap")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pin-map", type=Path, default=DEFAULT_PIN_MAP, help="the .pinmap file")
    parser.add_argument("--site", type=int, default=1, help="site to reserve (default 1)")
    parser.add_argument("--address", help="host:port of pinbroker (default: discover it)")
    args = parser.parse_args(argv)

    if not args.pin_map.is_file():
        print(f"error: pin map {args.pin_map} not found (use --pin-map)", file=sys.stderr)
        return 2
    try:
        clients = connect(args.address)
    except ServerNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    with clients:
        # 1. Load the pin map. By convention its id is the file path.
        pin_map_id = clients.pin_map.update_pin_map(str(args.pin_map))
        print(f"Loaded pin map {pin_map_id} into pinbroker at {clients.location.address}")

        # 2. Which pins does each instrument type serve? Ask the pin map, don't hard-code names.
        pins: list[str] = []
        for instrument_type in (INSTRUMENT_TYPE_NI_DCPOWER, INSTRUMENT_TYPE_NI_SCOPE):
            names = clients.pin_map.query_pins(pin_map_id, instrument_type).pin_names
            print(f"  {instrument_type} pins: {', '.join(names) or '(none)'}")
            pins.extend(name for name in names if name not in pins)
        if not pins:
            print("error: the pin map has no NI-DCPower or NI-SCOPE pins", file=sys.stderr)
            return 1

        # 3. Reserve the sessions for those pins on one site. Leaving the `with` block
        #    unreserves them, even if the block raises.
        sessions = clients.session_management
        context = PinMapContext(pin_map_id=pin_map_id, sites=[args.site])
        with sessions.reserve_sessions(context, pins, timeout=10) as reservation:
            print(f"\nReserved {len(reservation.session_info)} session(s) for site {args.site}:")
            for info in reservation.session_info:
                print(f"  {info.session_name}  ({info.instrument_type_id}, {info.resource_name})")
            print("Connections (site -1 = system pins):")
            for connection in reservation.get_connections():
                print(
                    f"  site {connection.site:>2}  {connection.pin_or_relay_name:<12} -> "
                    f"{connection.session_info.resource_name}  channel {connection.channel_name}"
                )

            # 4. A measurement would open driver sessions here, then tell the session manager
            #    they are open so later steps reuse them instead of opening them again.
            sessions.register_sessions(reservation.session_info)
            print("Registered them as open.")
        print("Released the reservation (the sessions stay registered).")

        # 5. A cleanup step (TestStand's ProcessCleanup) finds every open session this way,
        #    closes it, unregisters it, and releases the reservation.
        with sessions.reserve_all_registered_sessions(timeout=10) as cleanup:
            for info in cleanup.session_info:
                print(f"Cleanup: closing and unregistering {info.session_name}")
            sessions.unregister_sessions(cleanup.session_info)
        print("Done: nothing registered, nothing reserved.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
