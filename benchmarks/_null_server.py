"""A diagnostic server that does no work: canned answers, to find the reserve cycle's floor.

Serves ``grpc.health.v1.Health`` (the same async servicer as pinbroker), ``UpdatePinMapFromXml``
(answers with the id it was given) and ``ReserveSessions`` / ``UnreserveSessions`` that answer
at once with the message pinbroker answers the reserve benchmark's request with (2 sessions,
the same names, channel mappings and fencing annotations, 595 bytes), on ``grpc.aio`` in a
process of its own, like ``pinbroker serve``. NI's client cycling against it costs what the
cycle costs with a server that takes no time at all: the client's own work (building the
request, converting the answer into ``SessionInformation`` values) and gRPC's for these
messages. Its ratio to 2 x Health.Check is the best any server can reach in that benchmark.

Prints ``pinbroker listening on HOST:PORT`` like ``pinbroker serve`` and stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import grpc
import grpc.aio
import session_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from ni.measurementlink.pinmap.v1 import pin_map_service_pb2, pin_map_service_pb2_grpc
from ni.measurementlink.sessionmanagement.v1 import session_management_service_pb2 as sm_pb2
from ni.measurementlink.sessionmanagement.v1 import (
    session_management_service_pb2_grpc as sm_grpc,
)


def _answer() -> sm_pb2.ReserveSessionsResponse:
    smu = ", ".join(f"SMU_00000/{n}" for n in range(12))
    fencing = {"pinbroker/reservation_id": "1", "pinbroker/fence": "1"}
    return sm_pb2.ReserveSessionsResponse(
        sessions=[
            sm_pb2.SessionInformation(
                session=session_pb2.Session(name=f"niDCPower-{smu}"),
                resource_name=smu,
                channel_list="SMU_00000/0",
                instrument_type_id="niDCPower",
                channel_mappings=[
                    sm_pb2.ChannelMapping(pin_or_relay_name="VDD0000", channel="SMU_00000/0")
                ],
                session_reserved=True,
                annotations=fencing,
            ),
            sm_pb2.SessionInformation(
                session=session_pb2.Session(name="niDigitalPattern-HSD_00000"),
                resource_name="HSD_00000",
                channel_list="site0/DIO0000",
                instrument_type_id="niDigitalPattern",
                channel_mappings=[
                    sm_pb2.ChannelMapping(pin_or_relay_name="DIO0000", channel="site0/DIO0000")
                ],
                session_reserved=True,
                annotations=fencing,
            ),
        ]
    )


class _Sessions(sm_grpc.SessionManagementServiceServicer):
    def __init__(self) -> None:
        self._answer = _answer()

    async def ReserveSessions(
        self,
        request: sm_pb2.ReserveSessionsRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> sm_pb2.ReserveSessionsResponse:
        return self._answer

    async def UnreserveSessions(
        self,
        request: sm_pb2.UnreserveSessionsRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> sm_pb2.UnreserveSessionsResponse:
        return sm_pb2.UnreserveSessionsResponse()


class _PinMaps(pin_map_service_pb2_grpc.PinMapServiceServicer):
    async def UpdatePinMapFromXml(
        self,
        request: pin_map_service_pb2.UpdatePinMapFromXmlRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> pin_map_service_pb2.PinMap:
        return pin_map_service_pb2.PinMap(pin_map_id=request.pin_map_id)


async def _serve() -> None:
    server = grpc.aio.server()
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    sm_grpc.add_SessionManagementServiceServicer_to_server(_Sessions(), server)
    pin_map_service_pb2_grpc.add_PinMapServiceServicer_to_server(_PinMaps(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"pinbroker listening on 127.0.0.1:{port}", flush=True)
    await stop.wait()
    await server.stop(0)


def main() -> int:
    asyncio.run(_serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
