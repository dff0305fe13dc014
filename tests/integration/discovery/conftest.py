"""A real in-process gRPC server serving the Discovery Service, on a free port."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent import futures

import grpc
import grpc.aio
import pytest
from ni.measurementlink.discovery.v1 import discovery_service_pb2_grpc
from ni.measurementlink.discovery.v1.client import DiscoveryClient

from pinbroker.discovery import ServiceRegistry
from pinbroker.server._discovery_service import add_discovery_servicer
from pinbroker.server._errors import ErrorMappingInterceptor
from pinbroker.server.app import _LoopThread

TEST_NODE = "discovery-test-node"

Adder = Callable[[grpc.Server], object]


@contextlib.contextmanager
def _serve(adders: tuple[Adder, ...]) -> Iterator[int]:
    """A grpc.aio server on its own loop thread, with the interceptor pinbroker serves with."""
    executor = futures.ThreadPoolExecutor(max_workers=4)
    loop_thread = _LoopThread()

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server(
            migration_thread_pool=executor, interceptors=[ErrorMappingInterceptor()]
        )
        for add in adders:
            add(server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = loop_thread.call(start())
    try:
        yield port
    finally:
        loop_thread.call(server.stop(None))
        loop_thread.close()
        executor.shutdown(wait=True)


@pytest.fixture
def start_server() -> Iterator[Callable[..., int]]:
    """Start servers on 127.0.0.1, each with the given ``add_*_to_server`` callables; port back."""
    with contextlib.ExitStack() as stack:

        def start(*adders: Adder) -> int:
            return stack.enter_context(_serve(adders))

        yield start


@pytest.fixture
def open_channel() -> Iterator[Callable[[int], grpc.Channel]]:
    """Open ready insecure channels to local ports; closed at teardown."""
    with contextlib.ExitStack() as stack:

        def open_(port: int) -> grpc.Channel:
            channel = stack.enter_context(grpc.insecure_channel(f"127.0.0.1:{port}"))
            grpc.channel_ready_future(channel).result(timeout=10)
            return channel

        yield open_


@pytest.fixture
def registry() -> ServiceRegistry:
    return ServiceRegistry(local_node_url=TEST_NODE)


@pytest.fixture
def discovery_port(registry: ServiceRegistry, start_server: Callable[..., int]) -> int:
    return start_server(lambda server: add_discovery_servicer(server, registry))


@pytest.fixture
def discovery_channel(
    discovery_port: int, open_channel: Callable[[int], grpc.Channel]
) -> grpc.Channel:
    return open_channel(discovery_port)


@pytest.fixture
def stub(discovery_channel: grpc.Channel) -> discovery_service_pb2_grpc.DiscoveryServiceStub:
    return discovery_service_pb2_grpc.DiscoveryServiceStub(discovery_channel)


@pytest.fixture
def ni_discovery_client(stub: discovery_service_pb2_grpc.DiscoveryServiceStub) -> DiscoveryClient:
    # NI's DiscoveryClient 1.2 takes a stub (or a channel pool + the Windows key file), not a
    # channel: DiscoveryClient(stub=..., grpc_channel_pool=...).
    return DiscoveryClient(stub=stub)
