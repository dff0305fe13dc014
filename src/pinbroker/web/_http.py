"""Serve the web application with uvicorn on the server's existing asyncio loop.

Why the gRPC loop and not a thread of its own: the server already runs one loop in a thread
(``pinbroker.server.app._LoopThread``) that hosts the gRPC server and the lease reaper; uvicorn
is one more task there, started and stopped with the same ``loop_thread.call`` as the rest.
Handlers that read the reservation table run in Starlette's thread pool, so the loop only
parses HTTP and streams events; a second loop would add a thread and a second shutdown path
for nothing. The socket is bound here (port 0 picks a free one) and handed to uvicorn, so the
port is known before the first request and uvicorn configures no logging of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket

import uvicorn
from starlette.applications import Starlette

from pinbroker.web._app import EventStreams

__all__ = ["HttpServer"]

_STARTUP_POLL = 0.01  # seconds between checks that uvicorn finished starting


class HttpServer:
    """uvicorn serving one application on a socket bound by us. Create it with :meth:`start`.

    Attributes:
        port: The port it listens on (the one picked, if 0 was asked for).
    """

    def __init__(
        self,
        server: uvicorn.Server,
        task: asyncio.Task[None],
        sock: socket.socket,
        streams: EventStreams,
    ) -> None:
        self._server = server
        self._task = task
        self._socket = sock
        self._streams = streams
        self.port: int = sock.getsockname()[1]

    @classmethod
    async def start(
        cls, app: Starlette, streams: EventStreams, *, host: str, port: int, grace: float
    ) -> HttpServer:
        """Bind ``host:port`` and start serving ``app`` on the running loop.

        Raises:
            OSError: If the address cannot be used.
        """
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family)
        config = uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",  # our own INFO line names the URL; uvicorn's would repeat it
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=max(1, math.ceil(grace)),
        )
        server = uvicorn.Server(config)
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                sock.close()
                task.result()  # raises what stopped it
                raise OSError(f"the web server on {host}:{port} did not start")
            await asyncio.sleep(_STARTUP_POLL)
        return cls(server, task, sock, streams)

    async def stop(self) -> None:
        """End the event streams, stop accepting, let requests finish; close the socket."""
        self._streams.close()
        self._server.should_exit = True
        try:
            await self._task
        except Exception:  # pragma: no cover - uvicorn already logged it
            pass
        finally:
            with contextlib.suppress(OSError):
                self._socket.close()
