"""One client process of the history test: random operations, each recorded as a JSON line.

Run as ``python _history_client.py CONFIG_JSON``; the config names the client, the servers'
addresses, the pin map, the sessions' pins, the seed, the number of operations and the output
file. Every operation goes through a randomly chosen server with NI's client API (the drop-in
``session_management``, so reservations are bound to a lease of this process, one per
channel): reserve a random subset of the pins with a random timeout, hold it briefly,
unreserve; register or unregister a session of this client's own. Each record has the
operation, the server, ``invoke`` and ``return`` wall-clock times (``time.time()``; all
processes run on one host) and the outcome (``ok``, else the gRPC status ``code`` and
``details``). Errors are outcomes, never the end of the run; the process exits 0 unless the
script itself is broken.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import IO, Any

import grpc

from ni_measurementlink_service import session_management as sm
from pinbroker.client import LeaseLostError

RESERVATION_ID_ANNOTATION = "pinbroker/reservation_id"
FENCE_ANNOTATION = "pinbroker/fence"


class Recorder:
    def __init__(self, out: IO[str], client: int) -> None:
        self._out = out
        self._client = client

    def write(self, record: dict[str, Any]) -> None:
        self._out.write(json.dumps({"client": self._client, **record}) + "\n")
        self._out.flush()


def _outcome(error: BaseException | None) -> dict[str, Any]:
    if error is None:
        return {"ok": True, "code": None, "details": ""}
    if isinstance(error, LeaseLostError):
        return {"ok": False, "code": "LEASE_LOST", "details": str(error)}
    if isinstance(error, grpc.RpcError) and isinstance(error, grpc.Call):
        return {"ok": False, "code": error.code().name, "details": error.details() or ""}
    return {"ok": False, "code": "EXCEPTION", "details": repr(error)}


def _granted(reservation: sm.MultiSessionReservation) -> list[dict[str, Any]]:
    messages = reservation._grpc_session_info  # the messages as granted, with the annotations
    return [
        {
            "name": m.session.name,
            "reservation_id": int(m.annotations[RESERVATION_ID_ANNOTATION]),
            "fence": int(m.annotations[FENCE_ANNOTATION]),
        }
        for m in messages
    ]


def run(config: dict[str, Any]) -> None:
    rng = random.Random(config["seed"])
    client_id = int(config["client"])
    servers: dict[str, str] = config["servers"]
    channels = {name: grpc.insecure_channel(address) for name, address in servers.items()}
    clients = {name: sm.SessionManagementClient(grpc_channel=c) for name, c in channels.items()}
    context = sm.PinMapContext(pin_map_id=config["pin_map_id"], sites=[0])
    pins: list[str] = config["pins"]
    registered: list[sm.SessionInformation] = []  # registered by this client (acked or not)
    counter = 0
    with Path(config["out"]).open("w", encoding="utf-8") as out:
        record = Recorder(out, client_id).write
        for _ in range(int(config["operations"])):
            server = rng.choice(sorted(servers))
            client = clients[server]
            roll = rng.random()
            if roll < 0.7:
                wanted = sorted(rng.sample(pins, rng.randint(1, 3)))
                timeout = 0.0 if rng.random() < 0.3 else round(rng.uniform(0.1, 1.0), 3)
                invoke = time.time()
                error: BaseException | None = None
                reservation = None
                try:
                    reservation = client.reserve_sessions(context, wanted, timeout=timeout)
                except Exception as exc:
                    error = exc
                returned = time.time()
                sessions = [] if reservation is None else _granted(reservation)
                record(
                    {
                        "op": "reserve",
                        "server": server,
                        "pins": wanted,
                        "timeout": timeout,
                        "invoke": invoke,
                        "return": returned,
                        "sessions": sessions,
                        **_outcome(error),
                    }
                )
                if reservation is None:
                    continue
                time.sleep(rng.uniform(0.0, 0.2))  # the work done while holding
                invoke = time.time()
                error = None
                try:
                    reservation.unreserve()
                except Exception as exc:
                    error = exc
                record(
                    {
                        "op": "unreserve",
                        "server": server,
                        "reservation_id": sessions[0]["reservation_id"] if sessions else None,
                        "sessions": sessions,
                        "invoke": invoke,
                        "return": time.time(),
                        **_outcome(error),
                    }
                )
            elif roll < 0.85 or not registered:
                counter += 1
                name = f"reg-{client_id}-{counter}"
                info = sm.SessionInformation(
                    session_name=name,
                    resource_name=f"R{client_id}-{counter}",
                    channel_list="",
                    instrument_type_id="niDMM",
                    session_exists=True,
                    channel_mappings=[],
                )
                invoke = time.time()
                error = None
                try:
                    client.register_sessions([info])
                except Exception as exc:
                    error = exc
                registered.append(info)
                record(
                    {
                        "op": "register",
                        "server": server,
                        "name": name,
                        "invoke": invoke,
                        "return": time.time(),
                        **_outcome(error),
                    }
                )
            else:
                info = registered.pop(rng.randrange(len(registered)))
                name = info.session_name
                invoke = time.time()
                error = None
                try:
                    client.unregister_sessions([info])
                except Exception as exc:
                    error = exc
                record(
                    {
                        "op": "unregister",
                        "server": server,
                        "name": name,
                        "invoke": invoke,
                        "return": time.time(),
                        **_outcome(error),
                    }
                )
    # The channels stay open: at exit each lease keeper revokes its lease (best effort).


if __name__ == "__main__":
    run(json.loads(sys.argv[1]))
